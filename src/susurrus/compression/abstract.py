"""Abstract Compression of a prior turn (paper 000): its whole audio -> K learned latent tokens.

Where the `query` compressor gives K tokens per window of w frames (a rate in tokens per second),
this one gives K tokens per *turn*, whatever its length: K learned queries cross-attend to all of
the turn's valid encoder frames. A conversation's prior turns then cost K audio tokens each in the
LLM's context instead of their full audio-token sequences, while their transcripts stay explicit.

Shapes: B turns, T encoder frames, K latents, D encoder width.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from susurrus.compression.base import check_inputs, check_positive_int, frame_mask
from susurrus.compression.query import LatentQueries


@dataclass(frozen=True)
class AbstractConfig:
    """Options of `AbstractCompressor`."""

    num_latents: int = 4  # K: tokens per prior turn
    num_heads: int = 4  # attention heads; must divide the encoder width D
    mlp_ratio: int = 4

    def __post_init__(self) -> None:
        for name in ("num_latents", "num_heads", "mlp_ratio"):
            check_positive_int("AbstractConfig", name, getattr(self, name))


class AbstractCompressor(nn.Module):
    """(B, T, D) frames of B turns + lengths -> (B, K, D) latents; a turn of 0 frames gives 0s."""

    def __init__(self, in_dim: int, config: AbstractConfig = AbstractConfig()) -> None:
        super().__init__()
        check_positive_int("AbstractCompressor", "in_dim", in_dim)
        if in_dim % config.num_heads:
            raise ValueError(f"AbstractConfig.num_heads ({config.num_heads}) must divide the "
                             f"encoder width {in_dim}")
        self.in_dim, self.K = in_dim, config.num_latents
        self.block = LatentQueries(in_dim, config.num_latents, config.num_heads, config.mlp_ratio)

    @property
    def out_dim(self) -> int:
        return self.in_dim

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        check_inputs(x, lengths, self.in_dim)
        return self.block(x, frame_mask(lengths, x.shape[1]))  # (B, K, D)
