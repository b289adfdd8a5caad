"""`MultiTalkerCTC` (paper 003): a Whisper encoder, a separator into S talker branches, a CTC
head per branch and a talker-count head over the pooled encoder states.

    out = model(mel, mel_lengths)                  # MultiTalkerOutput
    counts = model.count(out)                      # (B,) talkers, 1..S
    texts = model.decode(out, counts)              # per sample, `counts[b]` branch texts

At inference no LLM runs: the cost is the encoder, the separator and S linear layers. The
count head decides how many branches are decoded (an oracle count can be given instead). The
branches are in serialized order: branch k holds the k-th talker by onset
(`susurrus.losses.serialized_ctc`), so "decode 2" means the first two talkers.

Shapes: B batch, M mel bins, T mel frames (100/s), T' encoder frames (50/s), D encoder width,
S branches, C classes (blank = 0, then the alphabet).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import torch
from torch import nn

from susurrus.encoders.whisper import AnyLengthWhisperEncoder


@dataclass
class MultiTalkerOutput:
    """What one forward pass gives."""

    log_probs: torch.Tensor  # (B, S, T', C) CTC log-probabilities per branch
    lengths: torch.Tensor  # (B,) valid encoder frames
    count_logits: torch.Tensor  # (B, S) class c = c + 1 talkers
    branches: torch.Tensor  # (B, S, T', D) the separator's states (a distillation reads them)


@dataclass(frozen=True)
class BranchText:
    """A decoded branch: its text and the frames of its first and last character."""

    text: str
    first: int  # encoder frame of the first emitted character (-1: nothing emitted)
    last: int  # encoder frame of the last one


class CharVocab:
    """Characters <-> CTC classes (0 = blank)."""

    def __init__(self, alphabet: str) -> None:
        self.alphabet = alphabet
        self.index = {c: i + 1 for i, c in enumerate(alphabet)}

    def __len__(self) -> int:
        return len(self.alphabet) + 1

    def encode(self, text: str) -> list[int]:
        """Lower-cased, accents stripped ('š' -> 's', as the WER normalizer does), characters
        outside the alphabet dropped, runs of spaces made one."""
        plain = unicodedata.normalize("NFKD", text.lower())
        return [self.index[c] for c in " ".join(plain.split()) if c in self.index]

    def greedy(self, log_probs: torch.Tensor) -> BranchText:
        """(T', C) -> the best class per frame, repeats merged, blanks dropped."""
        out, frames, prev = [], [], 0
        for t, c in enumerate(log_probs.argmax(-1).tolist()):
            if c != prev and c != 0:
                out.append(self.alphabet[c - 1])
                frames.append(t)
            prev = c
        text = " ".join("".join(out).split())
        return BranchText(text, frames[0] if frames else -1, frames[-1] if frames else -1)


class MultiTalkerCTC(nn.Module):
    """Encoder -> separator -> S CTC heads; the count head reads the pooled encoder states."""

    def __init__(self, encoder: AnyLengthWhisperEncoder, separator: nn.Module, branches: int,
                 vocab: CharVocab, count_hidden: int = 128, train_layers: int = 0) -> None:
        super().__init__()
        self.encoder, self.separator, self.vocab = encoder, separator, vocab
        self.max_talkers = branches
        self.train_layers = train_layers
        D = encoder.d_model
        self.heads = nn.ModuleList(nn.Linear(D, len(vocab)) for _ in range(branches))
        self.count_head = nn.Sequential(nn.Linear(D, count_hidden), nn.ReLU(),
                                        nn.Linear(count_hidden, branches))
        self.set_trainable()

    def set_trainable(self) -> None:
        """Only the top `train_layers` encoder layers (and its final norm) train with the rest."""
        self.encoder.requires_grad_(False)
        if self.train_layers:
            layers = self.encoder.layers
            if self.train_layers > len(layers):
                raise ValueError(f"model.train_layers: the encoder has {len(layers)} layers, "
                                 f"got {self.train_layers}")
            for layer in layers[len(layers) - self.train_layers:]:
                layer.requires_grad_(True)
            self.encoder.layer_norm.requires_grad_(True)

    @property
    def frames_per_second(self) -> float:
        return self.encoder.frames_per_second

    def forward(self, inputs: torch.Tensor, lengths: torch.Tensor,
                encoded: bool = False) -> MultiTalkerOutput:
        """inputs (B, M, T) log-mel with lengths (B,) mel frames, or with `encoded` the frozen
        encoder's output (B, T', D) with lengths (B,) encoder frames (a task caches it when no
        encoder layer trains) -> MultiTalkerOutput (see its fields' shapes)."""
        if encoded:
            assert self.train_layers == 0, "encoder states given, but encoder layers train"
            hidden = inputs
        else:
            with torch.set_grad_enabled(torch.is_grad_enabled() and self.train_layers > 0):
                hidden, lengths = self.encoder(inputs, lengths)  # (B, T', D), (B,)
        valid = (torch.arange(hidden.shape[1], device=hidden.device)[None]
                 < lengths[:, None]).to(hidden.dtype)  # (B, T')
        hidden = hidden * valid[..., None]
        branches = self.separator(hidden, lengths)  # (B, S, T', D)
        assert branches.shape[1] == self.max_talkers, branches.shape
        log_probs = torch.stack([head(branches[:, s]) for s, head in enumerate(self.heads)],
                                dim=1).log_softmax(-1)  # (B, S, T', C)
        pooled = hidden.sum(1) / valid.sum(1, keepdim=True).clamp(min=1)  # (B, D)
        return MultiTalkerOutput(log_probs, lengths, self.count_head(pooled), branches)

    @staticmethod
    def count(out: MultiTalkerOutput) -> torch.Tensor:
        """(B,) the count head's talkers, 1..S."""
        return out.count_logits.argmax(-1) + 1

    def decode(self, out: MultiTalkerOutput, counts: torch.Tensor | list[int] | None = None
               ) -> list[list[BranchText]]:
        """Greedy CTC of the first `counts[b]` branches of each sample (None: the count head's).
        A count outside 1..S is a ValueError."""
        counts = self.count(out) if counts is None else counts
        counts = [int(c) for c in counts]
        bad = [c for c in counts if not 1 <= c <= self.max_talkers]
        if bad:
            raise ValueError(f"talker counts must be in 1..{self.max_talkers}, got {bad}")
        return [[self.vocab.greedy(out.log_probs[b, s, : int(out.lengths[b])]) for s in range(n)]
                for b, n in enumerate(counts)]
