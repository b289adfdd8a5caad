"""What every audio-token compressor offers, and the masking/pooling helpers they share.

A compressor sits between the speech encoder and the LLM: it turns T encoder frames (50/s for
Whisper) into N <= T audio tokens, so that the LLM's attention pays for fewer positions.

Shapes: B batch, T encoder frames, N output tokens, D encoder width, D_out output width.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class Compressor(Protocol):
    """(B, T, D) encoder frames + lengths -> (B, N, D_out) audio tokens + token counts."""

    @property
    def out_dim(self) -> int:
        """D_out, the width of each output token."""
        ...

    def tokens_per_second(self, frames_per_second: float = 50.0) -> float:
        """Output tokens per second of audio; for variable-length ones, the target mean rate."""
        ...

    def out_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """(B,) frame counts -> (B,) token counts: the ones `forward` returns, without it."""
        ...

    def forward(
        self, x: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, T, D), lengths (B,) -> y (B, N, D_out), out_lengths (B,); y is 0 past them."""
        ...


def ceil_div(a: torch.Tensor | int, b: int) -> torch.Tensor | int:
    """ceil(a / b) for non-negative integers (tensors elementwise)."""
    return -(-a // b)


def check_inputs(x: torch.Tensor, lengths: torch.Tensor, in_dim: int) -> None:
    """Assert x is (B, T, in_dim) and lengths (B,) integers in [0, T]."""
    assert x.dim() == 3, f"expected x (B, T, D), got shape {tuple(x.shape)}"
    B, T, D = x.shape
    assert D == in_dim, f"expected width D={in_dim}, got x {tuple(x.shape)}"
    assert lengths.shape == (B,), f"expected lengths ({B},), got {tuple(lengths.shape)}"
    assert not lengths.is_floating_point(), f"lengths must be integers, got {lengths.dtype}"
    assert B == 0 or 0 <= int(lengths.min()) <= int(lengths.max()) <= T, (
        f"lengths {lengths.tolist()} must lie in [0, T={T}]")


def frame_mask(lengths: torch.Tensor, T: int) -> torch.Tensor:
    """lengths (B,) -> (B, T) bool, True on a sample's valid frames."""
    return torch.arange(T, device=lengths.device)[None] < lengths[:, None]


def zero_padding(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """x (B, T, D) with every frame past its sample's length set to 0.

    `where`, not a multiply: garbage in the padding (even inf/NaN) must not leak into values or
    gradients.
    """
    valid = frame_mask(lengths, x.shape[1])[..., None]  # (B, T, 1)
    return torch.where(valid, x, torch.zeros((), dtype=x.dtype, device=x.device))


def segment_mean(x: torch.Tensor, segment_ids: torch.Tensor, n_segments: int) -> torch.Tensor:
    """Average the frames of each segment: x (B, T, D), segment_ids (B, T) -> (B, N, D).

    segment_ids[b, t] in [0, N) names frame t's segment; -1 drops the frame (padding). Segments
    with no frame come out as zeros. Differentiable in x (not in the ids).
    """
    B, T, D = x.shape
    assert segment_ids.shape == (B, T), f"segment_ids {tuple(segment_ids.shape)} != ({B}, {T})"
    # Dropped frames go to a spare slot N that is cut off afterwards, so nothing of theirs
    # (not even a NaN) reaches a kept segment.
    ids = torch.where(segment_ids < 0, n_segments, segment_ids)  # (B, T)
    sums = x.new_zeros(B, n_segments + 1, D).scatter_add(1, ids[..., None].expand(B, T, D), x)
    counts = x.new_zeros(B, n_segments + 1).scatter_add(1, ids, x.new_ones(B, T))
    return sums[:, :n_segments] / counts[:, :n_segments, None].clamp(min=1)  # (B, N, D)


def check_positive_int(owner: str, name: str, value: object) -> None:
    """Raise ValueError naming `owner.name` unless value is an int >= 1 (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{owner}.{name} must be an integer >= 1, got {value!r}")
