"""Validation during training: greedy transcripts of cached features, scored by corpus WER."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from susurrus.data.manifest import Utterance
from susurrus.evaluate.metrics import ErrorCounts, word_errors
from susurrus.models.generation import GenerateOptions
from susurrus.models.speech_llm import SpeechLLM
from susurrus.train.data import FeatureCache


@torch.no_grad()
def transcribe_cached(model: SpeechLLM, cache: FeatureCache, utts: Sequence[Utterance],
                      batch_size: int = 8, options: GenerateOptions | None = None) -> list[str]:
    """Hypotheses for `utts` from their cached encoder features, batched by duration."""
    was_training = model.training
    model.eval()
    device = next(p for p in model.parameters()).device
    feats = [cache.get(u) for u in utts]
    order = sorted(range(len(utts)), key=lambda i: feats[i].shape[0])
    hyps: list[str] = [""] * len(utts)
    for s in range(0, len(order), batch_size):
        idx = order[s : s + batch_size]
        lengths = torch.tensor([feats[i].shape[0] for i in idx])
        x = feats[idx[0]].new_zeros(len(idx), int(lengths.max()), feats[idx[0]].shape[1])
        for b, i in enumerate(idx):
            x[b, : feats[i].shape[0]] = feats[i]
        ids = model.generate(x.to(device), lengths.to(device), options)
        for b, i in enumerate(idx):
            hyps[i] = model.decode_text(ids[b])
    model.train(was_training)
    return hyps


def validation_wer(model: SpeechLLM, cache: FeatureCache, utts: Sequence[Utterance]) -> float:
    """Corpus WER (Whisper-normalized) of greedy transcripts of `utts`."""
    hyps = transcribe_cached(model, cache, utts)
    counts = sum((word_errors(u.text, h) for u, h in zip(utts, hyps, strict=True)), ErrorCounts())
    return counts.rate
