"""Segment pooling: identity at k = 1, the target mean length, cuts where the features change."""

from __future__ import annotations

import pytest
import torch

from susurrus.compression import AvgPoolCompressor, AvgPoolConfig, SegmentCompressor, SegmentConfig
from tests.compression.common import D, padded_batch, random_samples


def segment(k: int) -> SegmentCompressor:
    return SegmentCompressor(D, SegmentConfig(k=k))


def segment_lengths(ids: torch.Tensor) -> list[int]:
    """ids (T,) of one sample -> lengths of its segments, checking they are 0, 1, ... in order."""
    ids = ids[ids >= 0]
    assert ids[0] == 0 and ((ids[1:] - ids[:-1]) >= 0).all() and ((ids[1:] - ids[:-1]) <= 1).all()
    return torch.bincount(ids).tolist()


def test_k_1_is_the_identity():
    lengths = [12, 5, 1]
    x, lens = padded_batch(random_samples(lengths), T=12, garbage=0.0)
    y, out_lengths = segment(1)(x, lens)
    assert out_lengths.tolist() == lengths
    assert torch.equal(y, x)


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 6, 7, 8])
def test_mean_segment_length_is_k_on_random_features(k):
    x = torch.randn(3, 200, D, generator=torch.Generator().manual_seed(k))
    ids = segment(k).segment_ids(x, torch.tensor([200, 200, 200]))
    for b in range(3):
        sizes = segment_lengths(ids[b])
        assert len(sizes) == -(-200 // k) and sum(sizes) == 200 and min(sizes) >= 1
        if 200 % k == 0:
            assert len(sizes) == 200 // k
        assert sum(sizes) / len(sizes) == pytest.approx(k, rel=0.05)
    # the cuts follow the features: with random frames the segments are not all of length k
    if k > 1:
        assert len(set(segment_lengths(ids[0]))) > 1


def test_cuts_land_where_the_features_change():
    g = torch.Generator().manual_seed(0)
    true_sizes = [3, 5, 2, 4, 6]  # 20 frames, 5 segments: k = 4 asks for exactly 4 cuts
    centers = torch.randn(len(true_sizes), D, generator=g)
    frames = torch.cat([c + 0.01 * torch.randn(n, D, generator=g)
                        for c, n in zip(centers, true_sizes, strict=True)])
    c = segment(4)
    ids = c.segment_ids(frames[None], torch.tensor([20]))
    assert segment_lengths(ids[0]) == true_sizes
    y, out_lengths = c(frames[None], torch.tensor([20]))
    means = torch.stack([s.mean(0) for s in frames.split(true_sizes)])
    assert out_lengths.tolist() == [5]
    torch.testing.assert_close(y[0], means, rtol=1e-6, atol=1e-6)


def test_one_cut_per_transition():
    """A transition blurred over two frames raises two neighbouring changes; only the larger,
    the local peak, becomes a cut, even when the other beats a real but smaller change."""
    e = torch.eye(D)
    a, b, c = e[0], e[1], e[1] + 0.6 * e[3]  # b -> c: a small change (cosine distance 0.14)
    mid = e[0] + 1.2 * e[1] + e[2]  # a -> mid: 0.46 (a peak), mid -> b: 0.35 (not a peak)
    frames = torch.stack([a, a, a, mid, b, b, b, b, c, c, c, c])  # 12 frames, k = 4 -> 2 cuts
    ids = segment(4).segment_ids(frames[None], torch.tensor([12]))
    assert segment_lengths(ids[0]) == [3, 5, 4]  # top-2 changes alone would give [3, 1, 8]


def test_equals_avgpool_on_piecewise_constant_features_of_length_k():
    """When the features change exactly every k frames, segments are avgpool's windows."""
    k, n = 3, 6
    x = torch.randn(n, D).repeat_interleave(k, dim=0)[None]  # (1, 18, D)
    lens = torch.tensor([n * k])
    y_seg, _ = segment(k)(x, lens)
    y_avg, _ = AvgPoolCompressor(D, AvgPoolConfig(k=k))(x, lens)
    torch.testing.assert_close(y_seg, y_avg)


def test_deterministic_and_differentiable_pooling():
    x, lens = padded_batch(random_samples([30, 17]), T=30)
    c = segment(3)
    assert torch.equal(c.segment_ids(x, lens), c.segment_ids(x.clone(), lens))
    x.requires_grad_(True)
    y, _ = c(x, lens)
    y.sum().backward()
    # each valid frame gets 1 / (its segment's length) per feature
    ids = c.segment_ids(x, lens)
    for b, L in enumerate(lens.tolist()):
        sizes = torch.tensor(segment_lengths(ids[b]), dtype=x.dtype)
        expected = (1 / sizes)[ids[b, :L]][:, None].expand(L, D)
        torch.testing.assert_close(x.grad[b, :L], expected)


def test_no_parameters():
    assert list(segment(3).parameters()) == []
