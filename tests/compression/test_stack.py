"""Stacking against a frame-by-frame reference."""

from __future__ import annotations

import pytest
import torch

from susurrus.compression import StackCompressor, StackConfig
from tests.compression.common import D, padded_batch, random_samples


def reference_stack(x: torch.Tensor, length: int, k: int) -> torch.Tensor:
    """One sample (T, D): each group of k valid frames side by side, zeros for missing frames."""
    tokens = []
    for start in range(0, length, k):
        frames = [x[t] if t < length else torch.zeros(x.shape[-1]) for t in range(start, start + k)]
        tokens.append(torch.cat(frames))
    return torch.stack(tokens) if tokens else torch.zeros(0, k * x.shape[-1])


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_matches_the_reference(k):
    lengths = [23, 10, 1, 4]
    x, lens = padded_batch(random_samples(lengths), T=24)
    y, out_lengths = StackCompressor(D, StackConfig(k=k))(x, lens)
    assert y.shape == (4, -(-24 // k), k * D)
    for b, L in enumerate(lengths):
        ref = reference_stack(x[b], L, k)
        assert out_lengths[b] == len(ref)
        assert torch.equal(y[b, : len(ref)], ref)


def test_k_1_is_the_identity():
    x = torch.randn(2, 7, D)
    y, out_lengths = StackCompressor(D, StackConfig(k=1))(x, torch.tensor([7, 7]))
    assert torch.equal(y, x) and out_lengths.tolist() == [7, 7]


def test_default_is_slam_asr_k_5():
    c = StackCompressor(1280)
    assert c.k == 5 and c.out_dim == 6400 and c.tokens_per_second() == 10.0
