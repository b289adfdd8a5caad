"""Relational distillation of a teacher's per-talker states into talker branches (paper 003's
LLM-SOT teacher, issue 18 item 3; relational knowledge distillation, Park et al. 2019).

Each talker of a batch is one pair: the student's vector (branch k's states mean-pooled over
the valid frames, width D) and the teacher's (the LLM's states pooled over talker k's tokens,
width E). The loss makes the cosine similarities among the student's vectors match those among
the teacher's:

    loss = mean over pairs i != j of (cos(s_i - s̄, s_j - s̄) - cos(t_i - t̄, t_j - t̄))^2

(s̄, t̄ the batch's means: the angles are taken about the batch's centre, so a component all
talkers share, such as a branch's bias, neither hides the differences nor must be unlearned).

Why relational rather than a projection of the branches onto the LLM width:
- **no trained parameters**: a projection would be a training-only layer the model must carry
  (the generic loop optimizes the model's parameters) and the checkpoint must drop; here the
  branches themselves move;
- **width-free**: D = 384 and E = 576 (or any teacher) compare through their similarities;
- **what it teaches** is what the separator needs: two talkers saying different things (the
  teacher's states differ) get different branch summaries, talkers saying similar things similar
  ones, across the mixtures of the batch too;
- **cheap on a CPU**: O((B·S)² + B·S·T·D) per step, no forced alignment.

The teacher's vectors are standardized per dimension (mean and spread over the cache) by the
caller, so that no few large dimensions of the LLM's states decide every angle.

Shapes: N talkers of the batch, D student width, E teacher width.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def similarities(x: torch.Tensor) -> torch.Tensor:
    """(N, W) -> (N, N) cosine similarities of the vectors about their mean."""
    x = F.normalize(x.float() - x.float().mean(0), dim=-1)
    return x @ x.T


class RelationalDistillLoss(nn.Module):
    """Mean squared difference of the off-diagonal cosine similarities (see the module)."""

    def forward(self, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        """student (N, D), teacher (N, E) -> scalar; 0 (with a gradient path) when N < 2."""
        assert student.shape[0] == teacher.shape[0], (student.shape, teacher.shape)
        n = student.shape[0]
        if n < 2:
            return student.sum() * 0.0
        off = ~torch.eye(n, dtype=torch.bool, device=student.device)
        diff = similarities(student) - similarities(teacher.to(student.device))
        return diff[off].pow(2).mean()
