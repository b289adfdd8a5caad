"""Windowed learned queries: gradients, window locality, empty windows."""

from __future__ import annotations

import pytest
import torch

from susurrus.compression import QueryCompressor, QueryConfig
from tests.compression.common import D, padded_batch, random_samples


def query(K: int = 2, w: int = 4) -> QueryCompressor:
    torch.manual_seed(0)
    return QueryCompressor(D, QueryConfig(num_queries=K, window=w, num_heads=2))


def test_gradient_flows_to_the_queries_and_the_frames():
    c = query()
    x, lens = padded_batch(random_samples([10, 3]), T=10)
    x.requires_grad_(True)
    y, _ = c(x, lens)
    y.pow(2).sum().backward()
    assert c.block.queries.grad is not None and c.block.queries.grad.abs().sum() > 0
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in c.parameters())
    assert x.grad[0].abs().sum() > 0


def test_empty_windows_give_zeros_not_nan_even_with_nan_padding():
    c = query(K=3, w=4)
    x, lens = padded_batch(random_samples([13, 1, 0]), T=13, garbage=float("nan"))
    y, out_lengths = c(x, lens)
    assert out_lengths.tolist() == [12, 3, 0]
    assert torch.isfinite(y).all()
    assert (y[1, 3:] == 0).all() and (y[2] == 0).all()
    y.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in c.parameters())


def test_a_window_sees_only_its_own_frames():
    c = query(K=2, w=4)
    x = torch.randn(1, 12, D)
    changed = x.clone()
    changed[0, 4:8] += 1.0  # window 1 only
    with torch.no_grad():
        y, _ = c(x, torch.tensor([12]))
        y2, _ = c(changed, torch.tensor([12]))
    assert torch.equal(y[0, :2], y2[0, :2]) and torch.equal(y[0, 4:], y2[0, 4:])
    assert not torch.allclose(y[0, 2:4], y2[0, 2:4])


def test_queries_give_different_tokens():
    with torch.no_grad():
        y, _ = query(K=2, w=4)(torch.randn(1, 4, D), torch.tensor([4]))
    assert not torch.allclose(y[0, 0], y[0, 1])


def test_heads_must_divide_the_width():
    with pytest.raises(ValueError, match="num_heads"):
        QueryCompressor(D, QueryConfig(num_heads=3))


@pytest.mark.parametrize("field, value", [("num_queries", 0), ("window", 0), ("num_heads", -1),
                                          ("mlp_ratio", 1.5), ("dropout", 1.0)])
def test_config_names_the_bad_field(field, value):
    with pytest.raises(ValueError, match=f"QueryConfig.{field}"):
        QueryConfig(**{field: value})
