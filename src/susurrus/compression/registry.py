"""Compressors by name: `build_compressor("stack", 1280, k=5)`.

Each entry pairs a frozen options dataclass with the module it configures, so the valid option
names are the dataclass's fields and an unknown one is refused before anything is built (recipes
name a compressor and give numbers, never architecture).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from susurrus.compression.avgpool import AvgPoolCompressor, AvgPoolConfig
from susurrus.compression.base import Compressor, check_positive_int
from susurrus.compression.query import QueryCompressor, QueryConfig
from susurrus.compression.segment import SegmentCompressor, SegmentConfig
from susurrus.compression.stack import StackCompressor, StackConfig


@dataclass(frozen=True)
class CompressorBuilder:
    """How to build one kind of compressor from the encoder width and its options."""

    config: type  # frozen dataclass of the options, one field each (e.g. StackConfig)
    module: Callable[[int, Any], Compressor]  # (in_dim, config) -> the compressor
    description: str  # one line for listings

    @property
    def options(self) -> list[str]:
        """The option names this compressor accepts."""
        return [f.name for f in fields(self.config)]

    def __call__(self, in_dim: int, **options: Any) -> Compressor:
        return self.module(in_dim, self.config(**options))


COMPRESSORS: dict[str, CompressorBuilder] = {
    "stack": CompressorBuilder(StackConfig, StackCompressor,
                               "concatenate k frames into one k*D-wide token (SLAM-ASR)"),
    "avgpool": CompressorBuilder(AvgPoolConfig, AvgPoolCompressor,
                                 "average every k frames (uniform pooling)"),
    "segment": CompressorBuilder(SegmentConfig, SegmentCompressor,
                                 "average within feature-change segments, mean length k"),
    "query": CompressorBuilder(QueryConfig, QueryCompressor,
                               "K learned queries attend to each window of w frames"),
}


def build_compressor(name: str, in_dim: int, **options: Any) -> Compressor:
    """The compressor called `name` over encoder width `in_dim`, with its options.

    Raises ValueError for an unknown name (listing the valid ones), for unknown options (all of
    them at once, listing the valid ones) and for invalid values (naming the field).
    """
    if name not in COMPRESSORS:
        raise ValueError(f"unknown compressor {name!r}; valid: {', '.join(COMPRESSORS)}")
    check_positive_int("build_compressor", "in_dim", in_dim)
    builder = COMPRESSORS[name]
    unknown = sorted(set(options) - set(builder.options))
    if unknown:
        raise ValueError(f"compressor {name!r} has no option(s) {', '.join(unknown)}; "
                         f"valid: {', '.join(builder.options)}")
    return builder(in_dim, **options)
