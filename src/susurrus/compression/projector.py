"""The projector: audio tokens (width D_out of the compressor) -> the LLM's embedding width.

A two-layer MLP applied to each token on its own, as in SLAM-ASR; padding tokens stay zero so a
padded batch can be spliced into the LLM's input embeddings with the masks it came with.

Shapes: B batch, N tokens, D compressor output width, E LLM width.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from susurrus.compression.base import check_positive_int, frame_mask


@dataclass(frozen=True)
class ProjectorConfig:
    """Options of `Projector`."""

    hidden_dim: int | None = None  # width of the middle layer; None: the LLM width

    def __post_init__(self) -> None:
        if self.hidden_dim is not None:
            check_positive_int("ProjectorConfig", "hidden_dim", self.hidden_dim)


class Projector(nn.Module):
    """Linear -> GELU -> Linear per token: (B, N, D) -> (B, N, E), zeros past the lengths."""

    def __init__(self, in_dim: int, out_dim: int, config: ProjectorConfig = ProjectorConfig()):
        super().__init__()
        check_positive_int("Projector", "in_dim", in_dim)
        check_positive_int("Projector", "out_dim", out_dim)
        self.in_dim, self.out_dim = in_dim, out_dim
        hidden = config.hidden_dim or out_dim
        self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.GELU(), nn.Linear(hidden, out_dim))

    def forward(self, y: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """y (B, N, D), lengths (B,) valid tokens -> (B, N, E); tokens past lengths are 0."""
        assert y.dim() == 3 and y.shape[-1] == self.in_dim, (
            f"expected y (B, N, {self.in_dim}), got {tuple(y.shape)}")
        assert lengths.shape == y.shape[:1], (
            f"expected lengths ({y.shape[0]},), got {tuple(lengths.shape)}")
        out = self.net(y)  # (B, N, E)
        valid = frame_mask(lengths, y.shape[1])[..., None]  # (B, N, 1)
        return torch.where(valid, out, torch.zeros((), dtype=out.dtype, device=out.device))
