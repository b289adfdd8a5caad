"""Uniform average pooling: the mean of every k consecutive frames (the paper's fixed-rate
baseline; arXiv 2511.20973).

Unlike `nn.AvgPool1d` over a padded batch, a sample's last, partial window averages only its own
valid frames, so padding never changes a token.

Shapes: B batch, T encoder frames, N = ceil(T / k) tokens, D width.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from susurrus.compression.base import (
    ceil_div,
    check_inputs,
    check_positive_int,
    frame_mask,
    segment_mean,
)


@dataclass(frozen=True)
class AvgPoolConfig:
    """Options of `AvgPoolCompressor`."""

    k: int = 3  # frames per token (kernel = stride); 3 gives the paper's 3x fewer tokens

    def __post_init__(self) -> None:
        check_positive_int("AvgPoolConfig", "k", self.k)


class AvgPoolCompressor(nn.Module):
    """Mean of k consecutive valid frames: (B, T, D) -> (B, ceil(T / k), D)."""

    def __init__(self, in_dim: int, config: AvgPoolConfig = AvgPoolConfig()) -> None:
        super().__init__()
        self.in_dim, self.k = in_dim, config.k

    @property
    def out_dim(self) -> int:
        return self.in_dim

    def tokens_per_second(self, frames_per_second: float = 50.0) -> float:
        return frames_per_second / self.k

    def out_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """Tokens per sample: ceil(lengths / k)."""
        return ceil_div(lengths, self.k)

    def forward(
        self, x: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, T, D), lengths (B,) -> y (B, ceil(T / k), D), out_lengths (B,).

        Token n is the mean of the valid frames among nk .. nk + k - 1; zeros past out_lengths.
        """
        check_inputs(x, lengths, self.in_dim)
        B, T, _ = x.shape
        t = torch.arange(T, device=x.device)
        ids = torch.where(frame_mask(lengths, T), t[None] // self.k, -1)  # (B, T)
        return segment_mean(x, ids, ceil_div(T, self.k)), self.out_lengths(lengths)
