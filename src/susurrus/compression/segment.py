"""Unsupervised segment-wise pooling: cut where the features change, average each segment
(arXiv 2511.20973, "unsupervised segmentation" followed by average pooling within segments).

Boundaries come from the features alone, with no learned parameters: the change at frame t is the
cosine distance between frames t - 1 and t, and a sample of L frames is cut at its
ceil(L / k) - 1 largest changes, local peaks first. So the token count is the same as uniform
pooling's (mean segment length k), only the cuts move to where the sound changes, e.g. phone or
word boundaries and the edges of silences. Pooling is differentiable; the choice of cuts is not
(and needs not be: it has no parameters).

Why these choices:
- cosine, not Euclidean: encoder frames differ a lot in norm (loud vs quiet), and a change of
  loudness alone should not cost a token.
- peaks first: one transition usually raises the change of two or three neighbouring frames;
  taking them all would spend tokens on one-frame segments inside a single transition. Local
  maxima (one per transition) are ranked above every non-peak, then by size.
- an exact count per sample: the LLM's token budget is known before running the encoder, and
  comparisons with `avgpool`/`stack` at the same k are at the same rate.

Shapes: B batch, T encoder frames, N = ceil(T / k) tokens, D width.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from susurrus.compression.base import (
    ceil_div,
    check_inputs,
    check_positive_int,
    frame_mask,
    segment_mean,
)


@dataclass(frozen=True)
class SegmentConfig:
    """Options of `SegmentCompressor`."""

    k: int = 3  # target mean segment length in frames; L frames give exactly ceil(L / k) tokens

    def __post_init__(self) -> None:
        check_positive_int("SegmentConfig", "k", self.k)


class SegmentCompressor(nn.Module):
    """Mean of each feature-change segment: (B, T, D) -> (B, ceil(T / k), D)."""

    def __init__(self, in_dim: int, config: SegmentConfig = SegmentConfig()) -> None:
        super().__init__()
        self.in_dim, self.k = in_dim, config.k

    @property
    def out_dim(self) -> int:
        return self.in_dim

    def tokens_per_second(self, frames_per_second: float = 50.0) -> float:
        """The mean rate: segment lengths vary, their mean is k (exactly, when k divides L)."""
        return frames_per_second / self.k

    def out_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """Segments (tokens) per sample: ceil(lengths / k)."""
        return ceil_div(lengths, self.k)

    @torch.no_grad()
    def segment_ids(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """x (B, T, D), lengths (B,) -> (B, T) segment index of each frame, -1 past the length.

        Segments are contiguous, numbered 0, 1, ... in time, ceil(L / k) of them for L frames.
        """
        check_inputs(x, lengths, self.in_dim)
        B, T, _ = x.shape
        starts = torch.zeros(B, T, dtype=torch.bool, device=x.device)  # a segment starts at t
        if T >= 2:
            starts[:, 1:] = self._cuts(x, lengths)
        ids = starts.long().cumsum(dim=1)  # (B, T)
        return torch.where(frame_mask(lengths, T), ids, -1)

    def _cuts(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, T - 1) bool: cut before frame j + 1; ceil(L / k) - 1 cuts in each sample."""
        B, T, _ = x.shape
        xf = x.float()  # rank changes in float32 whatever the model's dtype
        change = 1 - F.cosine_similarity(xf[:, 1:], xf[:, :-1], dim=-1)  # (B, T - 1)
        # Only cuts between two valid frames count: padding never competes or neighbours.
        valid = frame_mask(lengths - 1, T - 1)  # (B, T - 1)
        change = torch.where(valid, change, float("-inf"))
        edge = change.new_full((B, 1), float("-inf"))
        left = torch.cat([edge, change[:, :-1]], dim=1)
        right = torch.cat([change[:, 1:], edge], dim=1)
        peak = valid & (change >= left) & (change > right)  # a plateau peaks at its last frame
        # Rank by (peak, change), both descending; stable sorts break ties by time.
        by_change = change.argsort(dim=1, descending=True, stable=True)
        by_peak = peak.gather(1, by_change).byte().argsort(dim=1, descending=True, stable=True)
        order = by_change.gather(1, by_peak)  # (B, T - 1) candidates, best first
        rank = torch.empty_like(order).scatter_(
            1, order, torch.arange(T - 1, device=x.device).expand(B, T - 1))
        n_cuts = self.out_lengths(lengths) - 1  # (B,), at most L - 1 (the valid candidates)
        return rank < n_cuts[:, None]

    def forward(
        self, x: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, T, D), lengths (B,) -> y (B, ceil(T / k), D), out_lengths (B,).

        Token n is the mean of segment n's frames; zeros past out_lengths. With k = 1 every frame
        is its own segment and y equals x (on valid frames).
        """
        ids = self.segment_ids(x, lengths)
        return segment_mean(x, ids, ceil_div(x.shape[1], self.k)), self.out_lengths(lengths)
