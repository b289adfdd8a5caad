"""Compressors by name; unknown names, options and bad values are refused, listing valid ones."""

from __future__ import annotations

import dataclasses

import pytest

from susurrus.compression import (
    COMPRESSORS,
    AvgPoolCompressor,
    QueryCompressor,
    SegmentCompressor,
    StackCompressor,
    StackConfig,
    build_compressor,
)


def test_builds_each_by_name_with_its_options():
    assert isinstance(build_compressor("stack", 8, k=2), StackCompressor)
    assert isinstance(build_compressor("avgpool", 8), AvgPoolCompressor)
    assert isinstance(build_compressor("segment", 8, k=4), SegmentCompressor)
    q = build_compressor("query", 8, num_queries=2, window=6, num_heads=4)
    assert isinstance(q, QueryCompressor) and q.tokens_per_second() == pytest.approx(50 / 3)
    assert build_compressor("stack", 8, k=2).out_dim == 16


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown compressor 'conv'") as err:
        build_compressor("conv", 8)
    assert all(name in str(err.value) for name in COMPRESSORS)


def test_unknown_options_are_all_reported_with_the_valid_ones():
    with pytest.raises(ValueError) as err:
        build_compressor("query", 8, stride=2, kernel=3, window=4)
    msg = str(err.value)
    assert "kernel" in msg and "stride" in msg
    assert "valid: num_queries, window, num_heads, mlp_ratio, dropout" in msg


def test_bad_values_name_the_field():
    with pytest.raises(ValueError, match="StackConfig.k"):
        build_compressor("stack", 8, k=0)
    with pytest.raises(ValueError, match="AvgPoolConfig.k"):
        build_compressor("avgpool", 8, k=True)
    with pytest.raises(ValueError, match="in_dim"):
        build_compressor("stack", 0)


def test_configs_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        StackConfig().k = 2  # type: ignore[misc]
