"""Audio-token compression between the speech encoder and the LLM, and the projector after it.

Every compressor maps encoder frames x (B, T, D) with lengths (B,) to tokens y (B, N, D_out) with
out_lengths (B,), zeros past them; pick one by name with `build_compressor`.
`AbstractCompressor` instead gives K tokens per prior conversation turn, whatever its length
(paper 000).
"""

from susurrus.compression.abstract import AbstractCompressor, AbstractConfig
from susurrus.compression.avgpool import AvgPoolCompressor, AvgPoolConfig
from susurrus.compression.base import Compressor
from susurrus.compression.projector import Projector, ProjectorConfig
from susurrus.compression.query import QueryCompressor, QueryConfig
from susurrus.compression.registry import COMPRESSORS, CompressorBuilder, build_compressor
from susurrus.compression.segment import SegmentCompressor, SegmentConfig
from susurrus.compression.stack import StackCompressor, StackConfig

__all__ = [
    "COMPRESSORS",
    "AbstractCompressor",
    "AbstractConfig",
    "AvgPoolCompressor",
    "AvgPoolConfig",
    "Compressor",
    "CompressorBuilder",
    "Projector",
    "ProjectorConfig",
    "QueryCompressor",
    "QueryConfig",
    "SegmentCompressor",
    "SegmentConfig",
    "StackCompressor",
    "StackConfig",
    "build_compressor",
]
