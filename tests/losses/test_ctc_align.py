"""The CTC alignment loss against a slow, obviously-correct reference: every alignment path of a
tiny case enumerated by brute force, the scores written out as cosines, the norm term as a loop.
Value and gradients must agree (issue 15, item 6)."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from susurrus.losses.ctc_align import AlignHead, align_loss

E = 6  # embedding width
VOCAB = [7, 2, 11]  # the LLM token ids the targets use; classes 1, 2, 3 (0 is the blank)


class Identity:
    """A 'model' whose audio embeddings are its input: the loss sees exactly what we give it."""

    def audio_embeddings(self, feats: torch.Tensor, lengths: torch.Tensor):
        return feats, lengths


def collapse(path: tuple[int, ...]) -> list[int]:
    """CTC's many-to-one map: merge repeats, then drop blanks."""
    out, prev = [], None
    for c in path:
        if c != prev and c != 0:
            out.append(c)
        prev = c
    return out


def brute_force_nll(logp: torch.Tensor, classes: list[int]) -> torch.Tensor | None:
    """-log sum over every path of length T that collapses to `classes` (None: no such path)."""
    T, V = logp.shape
    scores = [sum(logp[t, c] for t, c in enumerate(path))
              for path in itertools.product(range(V), repeat=T) if collapse(path) == classes]
    return -torch.logsumexp(torch.stack(scores), 0) if scores else None


def reference(audio: torch.Tensor, lengths: list[int], targets: list[list[int]],
              table: torch.Tensor, blank: torch.Tensor, scale: float, norm_weight: float
              ) -> torch.Tensor:
    """The loss written out: cosine scores, brute-force CTC, per target token, plus the norm."""
    vocab = sorted(set(VOCAB))
    keys = [blank] + [table[v] for v in vocab]  # class c scores against keys[c]
    total_nll = torch.zeros(())
    for b, n in enumerate(lengths):
        rows = []
        for t in range(n):
            a = audio[b, t]
            cos = torch.stack([a @ k / (a.norm() * k.norm()) for k in keys])
            rows.append(torch.log_softmax(scale * cos, 0))
        classes = [vocab.index(i) + 1 for i in targets[b]]
        nll = brute_force_nll(torch.stack(rows), classes)
        if nll is not None:  # an impossible target counts 0 (zero_infinity), as in training
            total_nll = total_nll + nll
    ctc = total_nll / sum(len(t) for t in targets)
    target_norm = torch.stack([table[v].norm() for v in vocab]).mean()
    penalties = [(audio[b, t].norm() / target_norm - 1) ** 2
                 for b, n in enumerate(lengths) for t in range(n)]
    return ctc + norm_weight * torch.stack(penalties).mean()


@pytest.mark.parametrize(
    ("lengths", "targets"),
    [
        ([5, 3], [[7, 2], [11]]),  # two rows of different lengths (padding must not count)
        ([4, 4], [[2, 2], [7, 11, 2]]),  # a repeated token needs a blank between
        ([5, 2], [[11, 7, 11], [2, 2]]),  # row 1 cannot fit [2, blank, 2] in 2 frames: 0
    ],
)
def test_the_loss_and_its_gradients_match_the_brute_force_reference(lengths, targets) -> None:
    g = torch.Generator().manual_seed(sum(lengths) + len(targets[1]))
    table = torch.randn(12, E, generator=g)
    head = AlignHead(table, VOCAB, scale=3.0)
    with torch.no_grad():
        head.blank.copy_(torch.randn(E, generator=g))
    audio = torch.randn(2, max(lengths), E, generator=g)
    audio[1, lengths[1]:] = 100.0  # padding: would change the result if it were read
    x = audio.clone().requires_grad_(True)
    loss, logp, n = align_loss(Identity(), head, x, torch.tensor(lengths), targets,
                               norm_weight=0.3)
    loss.backward()
    assert logp.shape == (2, max(lengths), len(VOCAB) + 1) and n.tolist() == lengths

    x_ref = audio.clone().requires_grad_(True)
    blank_ref = head.blank.detach().clone().requires_grad_(True)
    expected = reference(x_ref, lengths, targets, table, blank_ref, 3.0, 0.3)
    expected.backward()
    assert math.isfinite(loss.item())
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5, abs=1e-6)
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(head.blank.grad, blank_ref.grad, rtol=1e-4, atol=1e-6)
    assert torch.all(x.grad[1, lengths[1]:] == 0)  # padding gets no gradient


def test_the_brute_force_reference_is_a_distribution_over_targets() -> None:
    """Sanity of the reference itself: over every possible target, path probabilities sum to 1."""
    logp = torch.log_softmax(torch.randn(4, 3, generator=torch.Generator().manual_seed(0)), -1)
    targets = {tuple(collapse(p)) for p in itertools.product(range(3), repeat=4)}
    total = sum(math.exp(-float(brute_force_nll(logp, list(t)))) for t in targets)
    assert total == pytest.approx(1.0, abs=1e-5)
