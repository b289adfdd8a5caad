"""Learned latent queries per window (a one-layer, windowed Q-Former / Perceiver resampler).

The frames are cut into windows of w frames; K learned queries cross-attend to each window's
valid frames and come out as that window's K tokens, so the rate is K * 50 / w tokens/s for
Whisper and a window never sees beyond its own w frames (any length of audio works). The frames
carry the encoder's positional embeddings, so attention needs none of its own. Unlike the pooling
compressors this one has parameters and must be trained (with the projector/adapters).

Shapes: B batch, T encoder frames, W = ceil(T / w) windows, K queries per window,
N = W * K tokens, D width.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from susurrus.compression.base import ceil_div, check_inputs, check_positive_int, frame_mask


@dataclass(frozen=True)
class QueryConfig:
    """Options of `QueryCompressor`."""

    num_queries: int = 1  # K: learned queries, hence tokens, per window
    window: int = 5  # w: frames per window; K = 1, w = 5 gives 10 tokens/s like stacking k = 5
    num_heads: int = 8  # attention heads; must divide the encoder width D
    mlp_ratio: int = 4  # the MLP's hidden width is mlp_ratio * D
    dropout: float = 0.0  # on attention weights and the MLP output (training only)

    def __post_init__(self) -> None:
        for name in ("num_queries", "window", "num_heads", "mlp_ratio"):
            check_positive_int("QueryConfig", name, getattr(self, name))
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"QueryConfig.dropout must be in [0, 1), got {self.dropout!r}")


class LatentQueries(nn.Module):
    """K learned queries cross-attend to a group of frames: (G, w, D) + valid (G, w) -> (G, K, D).

    One pre-norm block on the queries: q = q + attn(norm(q), norm(frames)); q = q + mlp(norm(q)).
    A group with no valid frame comes out as zeros. Shared by the windowed `query` compressor and
    the per-turn abstract context compressor.
    """

    def __init__(self, dim: int, num_queries: int, num_heads: int, mlp_ratio: int = 4,
                 dropout: float = 0.0) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"num_heads ({num_heads}) must divide the encoder width {dim}")
        self.K = num_queries
        self.queries = nn.Parameter(torch.randn(num_queries, dim) * 0.02)  # (K, D)
        self.norm_q = nn.LayerNorm(dim)
        self.norm_kv = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, num_heads, dropout=dropout, batch_first=True)
        self.norm_mlp = nn.LayerNorm(dim)
        hidden = mlp_ratio * dim
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim),
                                 nn.Dropout(dropout))

    def forward(self, x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        G, w, D = x.shape
        # Zero the padding first (`where`, so even NaN garbage cannot reach values or grads).
        x = torch.where(valid[..., None], x, torch.zeros((), dtype=x.dtype, device=x.device))
        frames = self.norm_kv(x)  # (G, w, D)
        has_frames = valid.any(dim=1)  # (G,)
        # A group with no valid frame would softmax over nothing (NaN in some torch versions and
        # kernels): let it attend to its zeros instead, and drop its tokens below.
        ignore = ~valid & has_frames[:, None]  # (G, w) key padding mask
        q = self.queries.to(x.dtype).expand(G, self.K, D)  # (G, K, D)
        h = self.norm_q(q)
        q = q + self.attn(h, frames, frames, key_padding_mask=ignore, need_weights=False)[0]
        q = q + self.mlp(self.norm_mlp(q))  # (G, K, D)
        return torch.where(has_frames[:, None, None], q,
                           torch.zeros((), dtype=q.dtype, device=q.device))


class QueryCompressor(nn.Module):
    """K learned queries per window of w frames: (B, T, D) -> (B, ceil(T / w) * K, D)."""

    def __init__(self, in_dim: int, config: QueryConfig = QueryConfig()) -> None:
        super().__init__()
        if in_dim % config.num_heads:
            raise ValueError(f"QueryConfig.num_heads ({config.num_heads}) must divide the "
                             f"encoder width {in_dim}")
        self.in_dim, self.K, self.w = in_dim, config.num_queries, config.window
        self.block = LatentQueries(in_dim, config.num_queries, config.num_heads,
                                   config.mlp_ratio, config.dropout)

    @property
    def out_dim(self) -> int:
        return self.in_dim

    def tokens_per_second(self, frames_per_second: float = 50.0) -> float:
        return self.K * frames_per_second / self.w

    def out_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """Tokens per sample: K for every window holding at least one valid frame."""
        return ceil_div(lengths, self.w) * self.K

    def forward(
        self, x: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, T, D), lengths (B,) -> y (B, ceil(T / w) * K, D), out_lengths (B,).

        Tokens nK .. nK + K - 1 are window n's; windows past a sample's end give zeros.
        """
        check_inputs(x, lengths, self.in_dim)
        B, T, D = x.shape
        W = ceil_div(T, self.w)
        valid = frame_mask(lengths, W * self.w)  # (B, W * w)
        x = F.pad(x, (0, 0, 0, W * self.w - T))  # (B, W * w, D)
        q = self.block(x.reshape(B * W, self.w, D), valid.reshape(B * W, self.w))  # (B W, K, D)
        return q.reshape(B, W * self.K, D), self.out_lengths(lengths)
