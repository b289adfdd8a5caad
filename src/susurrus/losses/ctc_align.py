"""CTC of audio tokens against the LLM's own token embeddings: the speech LLM's alignment loss.

Each audio token is scored against the LLM's input-embedding table (cosine similarity, restricted
to the tokens the training targets use, plus a learned blank); CTC against the transcript's token
ids pulls the audio tokens of a word onto the embeddings of that word's tokens. A norm term keeps
the audio tokens at the length of real token embeddings (cosine scores say nothing about length).

Shapes: B batch, N audio tokens, E LLM width, V' the vocabulary subset (+1 for the blank, index 0).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from susurrus.models.speech_llm.model import SpeechLLM


class AlignHead(nn.Module):
    """Scores audio tokens (B, N, E) against a fixed subset of the LLM's token embeddings."""

    def __init__(self, table: torch.Tensor, vocab: Sequence[int], scale: float = 20.0) -> None:
        super().__init__()
        vocab = sorted(set(int(v) for v in vocab))
        if not vocab:
            raise ValueError("AlignHead needs at least one vocabulary token")
        rows = table.detach().float()[torch.tensor(vocab)]  # (V'-1, E)
        self.register_buffer("keys", F.normalize(rows, dim=-1), persistent=False)
        self.register_buffer("target_norm", rows.norm(dim=-1).mean(), persistent=False)
        self.blank = nn.Parameter(torch.randn(table.shape[1]) / table.shape[1] ** 0.5)
        self.scale = scale
        self.index = {v: i + 1 for i, v in enumerate(vocab)}  # token id -> class (0 = blank)

    def classes(self, ids: Sequence[int]) -> list[int]:
        return [self.index[i] for i in ids]

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """audio (B, N, E) -> log-probabilities (B, N, V') over blank + the vocabulary subset."""
        keys = torch.cat([F.normalize(self.blank, dim=-1)[None], self.keys])  # (V', E)
        logits = self.scale * F.normalize(audio.float(), dim=-1) @ keys.T
        return logits.log_softmax(-1)


def align_loss(model: SpeechLLM, head: AlignHead, feats: torch.Tensor,
               lengths: torch.Tensor, targets: list[list[int]], norm_weight: float = 0.1
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """CTC loss (per target token) plus the norm term; also the log-probs (B, N, V') and counts."""
    audio, n = model.audio_embeddings(feats, lengths)  # (B, N, E), (B,)
    logp = head(audio)
    classes = [head.classes(t) for t in targets]
    flat = torch.tensor([c for row in classes for c in row], dtype=torch.long)
    tlen = torch.tensor([len(row) for row in classes], dtype=torch.long)
    ctc = F.ctc_loss(logp.transpose(0, 1), flat.to(logp.device), n, tlen.to(logp.device),
                     blank=0, reduction="sum", zero_infinity=True) / tlen.sum().clamp(min=1)
    valid = torch.arange(audio.shape[1], device=audio.device)[None] < n[:, None]  # (B, N)
    norms = audio.float().norm(dim=-1)[valid]
    norm = ((norms / head.target_norm - 1) ** 2).mean()
    return ctc + norm_weight * norm, logp, n


def greedy_classes(logp: torch.Tensor, n: int) -> list[int]:
    """Best path of one row's log-probs (N, V'): repeats merged, blanks dropped."""
    best = logp[:n].argmax(-1).tolist()
    out, prev = [], 0
    for c in best:
        if c != prev and c != 0:
            out.append(c)
        prev = c
    return out
