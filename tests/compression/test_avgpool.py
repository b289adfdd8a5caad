"""Average pooling against a slow, obviously-correct reference."""

from __future__ import annotations

import pytest
import torch

from susurrus.compression import AvgPoolCompressor, AvgPoolConfig
from tests.compression.common import D, padded_batch, random_samples


def reference_avgpool(x: torch.Tensor, length: int, k: int) -> torch.Tensor:
    """One sample (T, D): the mean of each window's valid frames, a Python loop per window."""
    tokens = []
    for start in range(0, length, k):
        frames = [x[t] for t in range(start, min(start + k, length))]
        tokens.append(sum(frames) / len(frames))
    return torch.stack(tokens) if tokens else torch.zeros(0, x.shape[-1])


@pytest.mark.parametrize("k", [1, 2, 3, 4, 7])
def test_matches_the_reference(k):
    lengths = [29, 13, 1, 6, 30]
    x, lens = padded_batch(random_samples(lengths), T=30)
    y, out_lengths = AvgPoolCompressor(D, AvgPoolConfig(k=k))(x, lens)
    assert y.shape == (5, -(-30 // k), D)
    for b, L in enumerate(lengths):
        ref = reference_avgpool(x[b], L, k)
        assert out_lengths[b] == len(ref)
        torch.testing.assert_close(y[b, : len(ref)], ref, rtol=1e-6, atol=1e-6)


def test_last_partial_window_averages_only_its_valid_frames():
    x = torch.tensor([[[1.0], [3.0], [5.0], [100.0]]])  # frame 3 is padding
    y, out_lengths = AvgPoolCompressor(1, AvgPoolConfig(k=2))(x, torch.tensor([3]))
    assert out_lengths.tolist() == [2] and y.flatten().tolist() == [2.0, 5.0]


def test_k_1_is_the_identity():
    x = torch.randn(2, 7, D)
    y, _ = AvgPoolCompressor(D, AvgPoolConfig(k=1))(x, torch.tensor([7, 7]))
    assert torch.equal(y, x)
