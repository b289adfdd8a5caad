"""Paper 003's training losses for a multi-talker CTC model (issue 18).

Serialized CTC (the authors' earlier code, NOTES-003): branch k is trained on the k-th talker
in order of onset, so no permutation search is needed; the order is the serialized-output
(SOT) order ESPnet's `sot_asr1` uses. Two talkers can start at the same moment (LibriMix
`min`/`max` mixtures start every source at t = 0), where "first" has no acoustic meaning, so a
rule must decide:

    talkers are sorted by (onset frame, -duration, manifest index)

- onset frame: the offset in whole encoder frames (20 ms, `TIE_SECONDS`): two talkers whose
  onsets fall in the same frame start together, as far as the model can hear;
- ties go to the **longer** talker first (duration, or characters of its text when the duration
  is unknown): the talker still speaking after the others stop is an acoustic cue the model can
  learn, where a speaker id or file order is not;
- then the manifest order, so the rule is total and deterministic.

Branches beyond a mixture's talker count are trained towards silence (an empty CTC target: all
blanks), so an over-counting talker-count head decodes empty streams rather than echoes.

Permutation-invariant CTC (`pit=True`, ESPnet `pit_espnet_model.py`) is the comparison: the n
talkers of a mixture go to its first n branches in the permutation of least total loss.

The talker-count head is trained by cross-entropy (class c = c + 1 talkers). A distillation
term (the LLM-SOT teacher's cached states, issue 18 item 3) plugs in as a `DistillTerm`.

Shapes: B batch, S branches (max talkers), T frames, C classes (blank = 0), D branch width.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn

TIE_SECONDS = 0.02  # one Whisper encoder frame: onsets within the same frame are simultaneous


@dataclass(frozen=True)
class TalkerRef:
    """What the ordering needs of one talker of a mixture."""

    offset: float  # seconds from the start of the mixture
    text: str  # its reference
    duration: float | None = None  # seconds of its speech, when known


def onset_order(talkers: Sequence[TalkerRef]) -> list[int]:
    """Indices of `talkers` in serialized order (see the module docstring for the tie rule)."""
    def key(i: int) -> tuple[int, float, int]:
        t = talkers[i]
        length = t.duration if t.duration is not None else float(len(t.text))
        return (round(t.offset / TIE_SECONDS), -length, i)

    return sorted(range(len(talkers)), key=key)


def serialized_targets(talkers: Sequence[TalkerRef], branches: int,
                       encode: Callable[[str], list[int]]) -> list[list[int]]:
    """One CTC target per branch: talker k by onset on branch k, empty targets after the last.

    `encode` maps a text to class ids (never the blank). More talkers than branches is a
    ValueError (the caller names the mixture).
    """
    if len(talkers) > branches:
        raise ValueError(f"{len(talkers)} talkers, but the model has {branches} branches")
    ordered = [encode(talkers[i].text) for i in onset_order(talkers)]
    return ordered + [[] for _ in range(branches - len(ordered))]


class DistillTerm(Protocol):
    """A distillation term from cached teacher states (issue 18 item 3): the lead's LLM-SOT
    teacher plugs in here. It reads the branches' states and returns a scalar loss."""

    def __call__(self, branches: torch.Tensor, lengths: torch.Tensor,
                 ids: Sequence[str]) -> torch.Tensor:
        """branches (B, S, T, D), lengths (B,), the examples' ids -> scalar."""
        ...


def ctc_matrix(log_probs: torch.Tensor, lengths: torch.Tensor,
               targets: Sequence[Sequence[int]]) -> torch.Tensor:
    """CTC loss of every branch of one sample against every target, per target symbol.

    log_probs (S, T, C), lengths () valid frames, N targets -> (S, N). An empty target's loss
    (the all-blank path's) is divided by the frames instead: the mean -log P(blank), on the
    scale of a per-symbol loss rather than hundreds of times it.
    """
    S, T, C = log_probs.shape
    N = len(targets)
    lp = log_probs.repeat_interleave(N, dim=0)  # (S*N, T, C): branch s, target n at s*N + n
    tgt = [list(targets[n]) for _ in range(S) for n in range(N)]
    flat = torch.tensor([c for t in tgt for c in t], dtype=torch.long, device=log_probs.device)
    tlen = torch.tensor([len(t) for t in tgt], dtype=torch.long, device=log_probs.device)
    loss = F.ctc_loss(lp.transpose(0, 1).float(), flat, lengths.expand(S * N).long(), tlen,
                      blank=0, reduction="none", zero_infinity=True)  # (S*N,)
    per = torch.where(tlen > 0, tlen, lengths.expand(S * N).long()).clamp(min=1)
    return (loss / per).view(S, N)


@dataclass(frozen=True)
class LossWeights:
    """How much each part of the multi-talker loss counts."""

    ctc: float = 1.0  # serialized (or PIT) CTC over the talker branches
    count: float = 0.5  # cross-entropy of the talker-count head
    idle: float = 1.0  # the all-blank target of branches beyond a mixture's talkers
    distill: float = 0.0  # the distillation term, when one is given

    def __post_init__(self) -> None:
        for name in ("ctc", "count", "idle", "distill"):
            if getattr(self, name) < 0:
                raise ValueError(f"LossWeights.{name} must be >= 0, got {getattr(self, name)}")


class MultiTalkerLoss(nn.Module):
    """Serialized (or PIT) CTC over the branches + count cross-entropy (+ distillation)."""

    def __init__(self, weights: LossWeights | None = None, pit: bool = False,
                 distill: DistillTerm | None = None) -> None:
        super().__init__()
        self.weights = weights or LossWeights()
        self.pit = pit
        self.distill = distill

    def forward(self, log_probs: torch.Tensor, lengths: torch.Tensor, count_logits: torch.Tensor,
                targets: Sequence[Sequence[Sequence[int]]], branches: torch.Tensor | None = None,
                ids: Sequence[str] = ()) -> tuple[torch.Tensor, dict[str, float]]:
        """log_probs (B, S, T, C), lengths (B,), count_logits (B, S); targets[b] = the talkers'
        targets of sample b in serialized order (1..S of them); branches (B, S, T, D) for the
        distillation term -> (total, each part's value)."""
        B, S = log_probs.shape[:2]
        w = self.weights
        if self.pit:
            ctc, idle = self._pit_terms(log_probs, lengths, targets)
        else:
            ctc, idle = serialized_terms(log_probs, lengths, targets)
        counts = torch.tensor([len(t) - 1 for t in targets], device=count_logits.device)
        count = F.cross_entropy(count_logits.float(), counts)
        total = w.ctc * ctc + w.idle * idle + w.count * count
        parts = {"ctc": ctc.item(), "idle": idle.item(), "count": count.item()}
        if self.distill is not None and w.distill > 0:
            if branches is None:
                raise ValueError("a distillation term needs the branches' states")
            distill = self.distill(branches, lengths, ids)
            total = total + w.distill * distill
            parts["distill"] = distill.item()
        return total, parts

    @staticmethod
    def _pit_terms(log_probs: torch.Tensor, lengths: torch.Tensor,
                   targets: Sequence[Sequence[Sequence[int]]]) -> tuple[torch.Tensor, torch.Tensor]:
        """(PIT CTC, idle) means, one sample at a time: every branch against every target."""
        B, S = log_probs.shape[:2]
        ctc_terms, idle_terms = [], []
        for b in range(B):
            n = len(targets[b])
            assert 1 <= n <= S, f"sample {b}: {n} talkers for {S} branches"
            m = ctc_matrix(log_probs[b, :n], lengths[b], targets[b])  # (n, n)
            perms = list(itertools.permutations(range(n)))
            costs = torch.stack([sum(m[k, p[k]] for k in range(n)) for p in perms])
            ctc_terms.append(costs.min() / n)
            if n < S:
                idle = ctc_matrix(log_probs[b, n:], lengths[b], [[]])  # (S - n, 1)
                idle_terms.append(idle.mean())
        ctc = torch.stack(ctc_terms).mean()
        idle = torch.stack(idle_terms).mean() if idle_terms else ctc.new_zeros(())
        return ctc, idle


def serialized_terms(log_probs: torch.Tensor, lengths: torch.Tensor,
                     targets: Sequence[Sequence[Sequence[int]]]
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """Serialized CTC and the idle branches' all-blank loss, in one CTC call for the batch.

    log_probs (B, S, T, C), lengths (B,), targets[b] = sample b's n_b talker targets -> (ctc,
    idle): branch k < n_b against talker k (loss per target symbol), branches k >= n_b against
    the empty target (loss per frame); each averaged over a sample's branches, then over the
    samples (idle: over those with an idle branch). The same numbers as `ctc_matrix`'s diagonal
    sample by sample, with one kernel for the batch instead of two per sample (a GPU step's
    launches and host syncs were most of the loss's time).
    """
    B, S, T, C = log_probs.shape
    device = log_probs.device
    n = torch.tensor([len(t) for t in targets], device=device)  # (B,)
    assert bool(((n >= 1) & (n <= S)).all()), f"talker counts {n.tolist()} for {S} branches"
    tgt = [list(targets[b][s]) if s < len(targets[b]) else [] for b in range(B) for s in range(S)]
    flat = torch.tensor([c for t in tgt for c in t], dtype=torch.long, device=device)
    tlen = torch.tensor([len(t) for t in tgt], dtype=torch.long, device=device)  # (B*S,)
    frames = lengths.long().repeat_interleave(S)  # (B*S,)
    loss = F.ctc_loss(log_probs.reshape(B * S, T, C).transpose(0, 1).float(), flat, frames,
                      tlen, blank=0, reduction="none", zero_infinity=True)
    per = torch.where(tlen > 0, tlen, frames).clamp(min=1)
    loss = (loss / per).view(B, S)
    talking = torch.arange(S, device=device)[None] < n[:, None]  # (B, S)
    ctc = ((loss * talking).sum(1) / n).mean()
    idle_n = S - n
    has_idle = idle_n > 0
    if not bool(has_idle.any()):
        return ctc, ctc.new_zeros(())
    idle = (loss * ~talking).sum(1)[has_idle] / idle_n[has_idle]
    return ctc, idle.mean()
