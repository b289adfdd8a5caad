"""Whisper distillation (paper 002, issue 17): the batch and the loss of one training step.

Not yet a `Task` (not in TASKS): building the student (frozen encoder but its last layers),
`prepare` (segments manifest -> windows -> log-mel features, the teacher cache), validation and
save/load come with the first training run. What is here is what every step computes:

    loss = w_ce · CE(labels) + w_ot · OT(student logits, teacher top-K)
           + w_rep · Rep(pooled decoder states, teacher context vector)

- CE: teacher forcing on the window's target (timestamps included, the prompt not predicted).
- OT (`susurrus.losses.ot_distill`): student positions are the logits that predict a *text*
  token of the target (a timestamp or <|endoftext|> has no characters), each with that token's
  span in the window's text; teacher positions are the cached tokens of the same text.
- Rep (`susurrus.losses.representation`): the decoder's last states over the positions that
  predict the target (prompt and pads left out), projected onto the teacher's context vector.

Shapes: B windows, L decoder positions, V Whisper vocabulary, M teacher positions, K top-K,
H teacher context width.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from susurrus.data.longform_windows import WhisperTarget
from susurrus.data.teacher_cache import TeacherChunk
from susurrus.losses.ot_distill import OTDistillConfig, OTDistillLoss
from susurrus.losses.representation import RepresentationLoss

IGNORE = -100  # label of a position the CE does not score


@dataclass
class DistillBatch:
    """Teacher-forcing inputs and the teacher's targets of B windows."""

    decoder_input_ids: torch.Tensor  # (B, L) long, padded with <|endoftext|>
    labels: torch.Tensor  # (B, L) long, IGNORE on the prompt, sot and pads
    student_spans: torch.Tensor  # (B, L, 2) long: span of the token position l predicts
    student_mask: torch.Tensor  # (B, L) bool: position l predicts a text token
    teacher_probs: torch.Tensor  # (B, M, K)
    teacher_spans: torch.Tensor  # (B, M, 2) long
    teacher_mask: torch.Tensor  # (B, M) bool
    context: torch.Tensor  # (B, H)

    def to(self, device: torch.device) -> DistillBatch:
        return DistillBatch(**{k: v.to(device) for k, v in self.__dict__.items()})


def collate(targets: list[WhisperTarget], teachers: list[TeacherChunk], texts: list[str],
            pad_id: int) -> DistillBatch:
    """One batch from each window's Whisper target, its teacher chunk and its text (the teacher
    must have read exactly the text the target's spans index into)."""
    for t, text in zip(teachers, texts, strict=True):
        if t.text != text:
            raise ValueError(f"teacher chunk {t.id} read {t.text[:40]!r}..., the window's text "
                             f"is {text[:40]!r}...; recompute the teacher cache for this manifest")
    b = len(targets)
    length = max(len(t.tokens) for t in targets) - 1
    m = max(t.ids.shape[0] for t in teachers)
    k = teachers[0].probs.shape[1]
    out = DistillBatch(
        decoder_input_ids=torch.full((b, length), pad_id, dtype=torch.long),
        labels=torch.full((b, length), IGNORE, dtype=torch.long),
        student_spans=torch.zeros(b, length, 2, dtype=torch.long),
        student_mask=torch.zeros(b, length, dtype=torch.bool),
        teacher_probs=torch.zeros(b, m, k), teacher_spans=torch.zeros(b, m, 2, dtype=torch.long),
        teacher_mask=torch.zeros(b, m, dtype=torch.bool),
        context=torch.stack([torch.from_numpy(t.context) for t in teachers]).float())
    for i, (tgt, tch) in enumerate(zip(targets, teachers, strict=True)):
        n = len(tgt.tokens) - 1
        out.decoder_input_ids[i, :n] = torch.tensor(tgt.tokens[:-1])
        first = tgt.first_label - 1  # position l predicts token l + 1
        out.labels[i, first:n] = torch.tensor(tgt.tokens[tgt.first_label:])
        for pos, span in enumerate(tgt.spans[1:]):
            if span is not None and pos >= first:
                out.student_spans[i, pos] = torch.tensor(span)
                out.student_mask[i, pos] = True
        mm = tch.ids.shape[0]
        out.teacher_probs[i, :mm] = torch.from_numpy(tch.probs)
        out.teacher_spans[i, :mm] = torch.from_numpy(tch.spans.astype("int64"))
        out.teacher_mask[i, :mm] = True
    return out


@dataclass(frozen=True)
class DistillWeights:
    """How much each part counts."""

    ce: float = 1.0  # cross-entropy on the target
    ot: float = 1.0  # token-level OT distillation
    rep: float = 1.0  # representation loss


class WhisperDistillLoss(nn.Module):
    """CE + OT + representation for a Hugging Face Whisper; owns the representation projection
    (which trains with the student)."""

    def __init__(self, decoder_width: int, context_width: int,
                 weights: DistillWeights | None = None, ot: OTDistillConfig | None = None,
                 rep_distance: str = "cosine") -> None:
        super().__init__()
        self.weights = weights or DistillWeights()
        self.ot = OTDistillLoss(ot)
        self.rep = RepresentationLoss(decoder_width, context_width, rep_distance)  # type: ignore[arg-type]

    def forward(self, model: Any, features: torch.Tensor, batch: DistillBatch
                ) -> tuple[torch.Tensor, dict[str, float]]:
        """features (B, mels, frames) log-mel -> (total loss, each part's value)."""
        out = model(input_features=features, decoder_input_ids=batch.decoder_input_ids,
                    output_hidden_states=True)
        logits = out.logits  # (B, L, V)
        ce = F.cross_entropy(logits.transpose(1, 2).float(), batch.labels, ignore_index=IGNORE)
        ot = self.ot(logits, batch.student_spans, batch.student_mask, batch.teacher_probs,
                     batch.teacher_spans, batch.teacher_mask)
        states = out.decoder_hidden_states[-1]  # (B, L, D)
        rep = self.rep(states, batch.labels != IGNORE, batch.context)
        w = self.weights
        total = w.ce * ce + w.ot * ot + w.rep * rep
        return total, {"ce": ce.item(), "ot": ot.item(), "rep": rep.item()}
