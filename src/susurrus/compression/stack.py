"""Frame stacking: k consecutive frames become one token k times as wide (SLAM-ASR, k = 5).

Nothing is averaged away: the projector after it sees every frame, only fewer, wider tokens.

Shapes: B batch, T encoder frames, N = ceil(T / k) tokens, D encoder width.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from susurrus.compression.base import ceil_div, check_inputs, check_positive_int, zero_padding


@dataclass(frozen=True)
class StackConfig:
    """Options of `StackCompressor`."""

    k: int = 5  # frames per token; SLAM-ASR's 5 turns Whisper's 50 frames/s into 10 tokens/s

    def __post_init__(self) -> None:
        check_positive_int("StackConfig", "k", self.k)


class StackCompressor(nn.Module):
    """Concatenate k consecutive frames: (B, T, D) -> (B, ceil(T / k), k * D)."""

    def __init__(self, in_dim: int, config: StackConfig = StackConfig()) -> None:
        super().__init__()
        self.in_dim, self.k = in_dim, config.k

    @property
    def out_dim(self) -> int:
        return self.k * self.in_dim

    def tokens_per_second(self, frames_per_second: float = 50.0) -> float:
        return frames_per_second / self.k

    def out_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """Tokens per sample: ceil(lengths / k)."""
        return ceil_div(lengths, self.k)

    def forward(
        self, x: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, T, D), lengths (B,) -> y (B, ceil(T / k), k * D), out_lengths (B,).

        Token n is frames nk .. nk + k - 1 side by side; a sample's last, partial group is
        zero-padded, and tokens past out_lengths are zeros.
        """
        check_inputs(x, lengths, self.in_dim)
        B, T, D = x.shape
        N = ceil_div(T, self.k)
        x = zero_padding(x, lengths)
        x = F.pad(x, (0, 0, 0, N * self.k - T))  # (B, N * k, D)
        y = x.reshape(B, N, self.k * D)
        return y, self.out_lengths(lengths)
