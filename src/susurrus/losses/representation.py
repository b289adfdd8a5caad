"""Representation distillation (paper 002, issue 17): the student's decoder states, pooled over
the real target positions and projected, against a target vector of the chunk.

    pooled  h̄ = Σ_n m_n h_n / Σ_n m_n                  mean over real positions (m = mask)
    z       = W h̄ + c                                  learned projection, D -> E
    cosine: 1 − ⟨z, t⟩ / (‖z‖ ‖t‖)                      (default)
    mse:    ‖z − t‖² / E

The target t is the teacher LLM's context vector of the chunk, or the embedded MiniLM sentence
embedding of its reference (which, and the ablation, is the benchmark's business: the loss takes
any (B, E) vector). Mean pooling over the mask, not the last position: the official code reads
the decoder state at the last position of labels padded to 128, usually a pad (NOTES-002).
Cosine by default: it ignores the target's scale, which differs between an LLM's hidden state
and a unit-norm sentence embedding; the official loss (MSE of L2-normalised vectors) is
2 − 2·cos, the same up to a factor. Samples without a real position are left out.

Shapes: B batch, N target positions, D decoder width, E target width.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn


def masked_mean(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """states (B, N, D), mask (B, N) bool -> (B, D), the mean over the True positions (0 for a
    row without one). Pad positions reach neither the value nor the gradient."""
    m = mask[..., None]
    kept = torch.where(m, states, torch.zeros_like(states))
    return kept.sum(1) / m.sum(1).clamp(min=1).to(states.dtype)


class RepresentationLoss(nn.Module):
    """Pooled, projected decoder states against a target vector per sample."""

    def __init__(self, width: int, target_width: int,
                 distance: Literal["cosine", "mse"] = "cosine") -> None:
        super().__init__()
        if distance not in ("cosine", "mse"):
            raise ValueError(f"RepresentationLoss: distance must be cosine or mse, "
                             f"got {distance!r}")
        self.distance = distance
        self.proj = nn.Linear(width, target_width)

    def forward(self, states: torch.Tensor, mask: torch.Tensor,
                target: torch.Tensor) -> torch.Tensor:
        """states (B, N, D) decoder states, mask (B, N) bool (True = a real target position),
        target (B, E) -> scalar: the mean distance over samples with a real position."""
        assert states.shape[:2] == mask.shape and target.shape[0] == states.shape[0]
        z = self.proj(masked_mean(states, mask))  # (B, E)
        t = target.to(z.dtype)
        if self.distance == "cosine":
            per = 1 - F.cosine_similarity(z, t, dim=-1, eps=1e-8)
        else:
            per = (z - t).pow(2).mean(-1)
        valid = mask.any(-1)
        return torch.where(valid, per, torch.zeros_like(per)).sum() / valid.sum().clamp(min=1)
