"""Token-level distillation across two tokenizers by optimal transport (paper 002, issue 17).

The student (Whisper) and the teacher (an LLM) read the same reference text, each in its own
tokens. For one sample, with n valid student positions and m valid teacher positions:

    cost    C_ij = w_span · (1 − IoU(span_i, span_j)) + w_dist · D_ij
    D_ij    = Σ_k | sort↓(softmax(z_i))_k − sort↓(q_j)_k |,  k = 1..K          (ULD, top-K)
    plan    P = argmin_{P ≥ 0, P1 = a, Pᵀ1 = b}  ⟨P, C⟩ − ε H(P)                 (Sinkhorn)
    loss    Σ_ij P_ij · D_ij,  P a constant                                    (mean over samples)

- **Span term.** IoU of the two tokens' character spans in the shared text
  (`susurrus.data.token_spans`): 0 cost for the same characters, 1 for none in common. It is what
  decides *which* teacher position teaches which student position; it carries no gradient.
- **Distribution term.** ULD's sorted-probability L1 over the top K (arXiv 2402.12030): it needs
  no shared vocabulary, and the teacher is cached as its top-K probabilities only. Sorting drops
  token identity, so D alone cannot match positions (every confident token looks alike): keep
  w_dist small next to w_span (defaults 1 and 0.1).
- **Marginals.** "chars" (default): a token's mass is its number of characters, normalised per
  sample. Both tokenizations tile the same non-space characters, so mass is text, and the
  character-level coupling (P_ij ∝ characters in common) is a feasible plan: the span cost of
  matching by text is then zero and OT does not have to break ties by distribution. With
  "uniform" (1/n, 1/m), a student token of 1 character and one of 5 must receive equal teacher
  mass, which forces wrong matches when the tokenizers split a word differently. A token with
  an empty span (whitespace only; the tail of a split character) has no mass under "chars": it
  is left out like a pad.
- **The plan is a constant** (computed under no_grad). By the envelope theorem the gradient of
  the entropic OT value W_ε(C) = min_P ⟨P, C⟩ − εH(P) with respect to C is the optimal plan P*,
  so ∂/∂z Σ P*_ij D_ij = (1/w_dist) ∂W_ε/∂z exactly: nothing is lost by not backpropagating
  through the Sinkhorn iterations, and memory stays that of one cost matrix.
- **Per sample, masked.** No pad position enters a plan (its marginal is 0: log-mass −∞), and
  the plans of different samples never mix. The official code instead pools all positions of
  the batch, pads included, into one GeomLoss point cloud of learned projections (NOTES-002);
  that variant is not offered: its value depends on how much padding a batch has and its
  projections may collapse, and GeomLoss is not a dependency here.

Shapes: B samples, N student positions, M teacher positions (both padded), V student vocabulary,
K teacher top-k.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from susurrus.fields import check_fields, raise_problems


@dataclass(frozen=True)
class OTDistillConfig:
    """The token-level OT distillation loss."""

    span_weight: float = 1.0  # w_span: weight of 1 − IoU of character spans in the cost
    distance_weight: float = 0.1  # w_dist: weight of ULD's sorted top-K L1 in the cost
    epsilon: float = 0.05  # entropic regularisation; costs lie in [0, w_span + 2 w_dist]
    iterations: int = 100  # Sinkhorn iterations (log domain)
    marginals: Literal["chars", "uniform"] = "chars"  # a token's mass: its characters, or equal

    def __post_init__(self) -> None:
        problems = check_fields(self, {"span_weight": (0, False), "distance_weight": (0, False),
                                       "epsilon": (0, True), "iterations": (1, False)}, ())
        if self.marginals not in ("chars", "uniform"):
            problems.append(("marginals", f"must be chars or uniform, got {self.marginals!r}"))
        if self.span_weight == 0 and self.distance_weight == 0:
            problems.append(("span_weight", "span_weight and distance_weight cannot both be 0"))
        raise_problems(problems)


def log_sinkhorn(cost: torch.Tensor, log_a: torch.Tensor, log_b: torch.Tensor,
                 epsilon: float, iterations: int) -> torch.Tensor:
    """Entropic OT plans in the log domain, one per sample.

    cost (B, N, M); log_a (B, N) and log_b (B, M) the log-marginals, each summing to 1 over its
    valid entries, −inf for masked ones -> log P (B, N, M), −inf wherever a row or column is
    masked. Alternates u = log a − LSE_j(v_j − C_ij/ε), v = log b − LSE_i(u_i − C_ij/ε); the
    columns' marginals are exact after the last step, the rows' up to convergence.
    Every sample needs at least one valid row and one valid column.
    """
    k = -cost / epsilon  # (B, N, M)
    v = torch.where(torch.isfinite(log_b), 0.0, float("-inf")).to(log_b.dtype)  # masked: none
    u = log_a
    for _ in range(iterations):
        u = log_a - torch.logsumexp(k + v[:, None, :], dim=2)
        v = log_b - torch.logsumexp(k + u[:, :, None], dim=1)
    return k + u[:, :, None] + v[:, None, :]


def span_iou(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """student (B, N, 2), teacher (B, M, 2) character spans [start, end) -> IoU (B, N, M);
    0 where both spans are empty (the same as `susurrus.data.token_spans.overlap_matrix`)."""
    s, t = student.float(), teacher.float()
    inter = (torch.minimum(s[:, :, None, 1], t[:, None, :, 1])
             - torch.maximum(s[:, :, None, 0], t[:, None, :, 0])).clamp(min=0)
    union = (s[:, :, 1] - s[:, :, 0])[:, :, None] + (t[:, :, 1] - t[:, :, 0])[:, None, :] - inter
    return torch.where(union > 0, inter / union.clamp(min=1e-9), torch.zeros_like(inter))


def _wide(x: torch.Tensor) -> torch.Tensor:
    """At least float32 (bf16/fp16 logits are widened; float64 stays float64)."""
    return x.to(torch.promote_types(x.dtype, torch.float32))


def sorted_topk_l1(student_logits: torch.Tensor, teacher_probs: torch.Tensor) -> torch.Tensor:
    """ULD's distance: student_logits (B, N, V), teacher_probs (B, M, K) -> (B, N, M), the L1
    between the K largest student probabilities and the teacher's K, each sorted descending."""
    k = teacher_probs.shape[-1]
    top = _wide(student_logits).softmax(-1).topk(k, dim=-1).values  # (B, N, K), descending
    ref = _wide(teacher_probs).sort(dim=-1, descending=True).values  # (B, M, K)
    return torch.cdist(top, ref, p=1)


class OTDistillLoss(nn.Module):
    """Σ_ij P_ij D_ij per sample, P the Sinkhorn plan of span + distribution costs (module
    docstring); the mean over samples that have a valid student and a valid teacher token."""

    def __init__(self, config: OTDistillConfig | None = None) -> None:
        super().__init__()
        self.config = config or OTDistillConfig()

    def _log_mass(self, spans: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, L, 2), (B, L) -> log-marginal (B, L): −inf for pads (and empty spans by chars)."""
        if self.config.marginals == "chars":
            weight = (spans[..., 1] - spans[..., 0]).clamp(min=0).double() * mask
        else:
            weight = mask.double()
        total = weight.sum(-1, keepdim=True)
        return torch.where(weight > 0, weight.log() - total.clamp(min=1e-9).log(),
                           torch.full_like(weight, float("-inf")))

    def plan(self, student_logits: torch.Tensor, student_spans: torch.Tensor,
             student_mask: torch.Tensor, teacher_probs: torch.Tensor,
             teacher_spans: torch.Tensor, teacher_mask: torch.Tensor
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The plans (B, N, M) (0 off the valid entries; no gradient), the distances D
        (B, N, M) (with gradient to the student logits) and which samples count (B,) bool."""
        c = self.config
        assert student_logits.shape[:2] == student_spans.shape[:2] == student_mask.shape
        assert teacher_probs.shape[:2] == teacher_spans.shape[:2] == teacher_mask.shape
        # pads are zeroed first: whatever they hold (even nan) reaches neither value nor gradient
        student_logits = torch.where(student_mask[..., None], student_logits,
                                     torch.zeros_like(student_logits))
        teacher_probs = torch.where(teacher_mask[..., None], teacher_probs,
                                    torch.zeros_like(teacher_probs))
        dist = sorted_topk_l1(student_logits, teacher_probs)  # (B, N, M)
        with torch.no_grad():
            log_a = self._log_mass(student_spans, student_mask).to(dist.dtype)
            log_b = self._log_mass(teacher_spans, teacher_mask).to(dist.dtype)
            valid = torch.isfinite(log_a).any(-1) & torch.isfinite(log_b).any(-1)  # (B,)
            # a sample without valid tokens gets dummy uniform marginals, then weight 0
            log_a = torch.where(valid[:, None], log_a, -math.log(log_a.shape[1]))
            log_b = torch.where(valid[:, None], log_b, -math.log(log_b.shape[1]))
            cost = (c.span_weight * (1 - span_iou(student_spans, teacher_spans)).to(dist.dtype)
                    + c.distance_weight * dist.detach())
            log_p = log_sinkhorn(cost, log_a, log_b, c.epsilon, c.iterations)
            plan = log_p.exp() * valid[:, None, None]
        return plan, dist, valid

    def forward(self, student_logits: torch.Tensor, student_spans: torch.Tensor,
                student_mask: torch.Tensor, teacher_probs: torch.Tensor,
                teacher_spans: torch.Tensor, teacher_mask: torch.Tensor) -> torch.Tensor:
        """student_logits (B, N, V) at the positions that predict the reference's tokens,
        student_spans (B, N, 2) long, student_mask (B, N) bool (True = a real text token);
        teacher_probs (B, M, K) the cached top-K probabilities, teacher_spans (B, M, 2),
        teacher_mask (B, M) -> scalar loss (0 with a gradient when no sample counts)."""
        plan, dist, valid = self.plan(student_logits, student_spans, student_mask,
                                      teacher_probs, teacher_spans, teacher_mask)
        # where(): a pad's distance may be anything (even nan), and 0 · nan is nan
        per_sample = torch.where(plan > 0, plan * dist, torch.zeros_like(dist)).sum((1, 2))
        return per_sample.sum() / valid.sum().clamp(min=1)
