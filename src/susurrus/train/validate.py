"""Validation during training: greedy transcripts of cached features, scored by corpus WER.

A model trained with context reads each turn's earlier turns (with their reference transcripts:
oracle context, which keeps validation batched; `susurrus eval` measures own-hypothesis context).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from susurrus.data.manifest import Utterance
from susurrus.metrics.scores import CpErrorCounts, ErrorCounts, cp_word_errors, word_errors
from susurrus.models.speech_llm.generation import GenerateOptions
from susurrus.models.speech_llm.model import SpeechLLM
from susurrus.train.data import FeatureCache
from susurrus.train.sot import SOT_TALKERS


@torch.no_grad()
def transcribe_cached(model: SpeechLLM, cache: FeatureCache, utts: Sequence[Utterance],
                      batch_size: int = 8, options: GenerateOptions | None = None,
                      context_turns: int | None = None,
                      first_pass: Sequence[str] | None = None) -> list[str]:
    """Hypotheses for `utts` from their cached encoder features, batched by duration.

    With a context model, each turn reads up to `context_turns` earlier turns of its session
    among `utts` (None: all), with their references as transcripts. A model with a first pass
    reads `first_pass`, each utterance's first-pass transcript.
    """
    from susurrus.train.data import prior_turns
    was_training = model.training
    model.eval()
    device = next(p for p in model.parameters()).device
    feats = [cache.get(u) for u in utts]
    priors = prior_turns(utts, context_turns) if model.context != "none" else None

    def ids_of(u: Utterance) -> list[int]:
        return model.tokenizer(u.text.strip(), add_special_tokens=False)["input_ids"]

    order = sorted(range(len(utts)), key=lambda i: feats[i].shape[0])
    hyps: list[str] = [""] * len(utts)
    for s in range(0, len(order), batch_size):
        idx = order[s : s + batch_size]
        lengths = torch.tensor([feats[i].shape[0] for i in idx])
        x = feats[idx[0]].new_zeros(len(idx), int(lengths.max()), feats[idx[0]].shape[1])
        for b, i in enumerate(idx):
            x[b, : feats[i].shape[0]] = feats[i]
        context = None
        if priors is not None:
            context = model.prior_turns([[(feats[j].to(device), ids_of(utts[j]))
                                          for j in priors[i]] for i in idx], model.context)
        read = (None if first_pass is None
                else [model.hypothesis_ids(first_pass[i]) for i in idx])
        ids = model.generate(x.to(device), lengths.to(device), options, context, read)
        for b, i in enumerate(idx):
            hyps[i] = model.decode_text(ids[b])
    model.train(was_training)
    return hyps


def validation_wer(model: SpeechLLM, cache: FeatureCache, utts: Sequence[Utterance],
                   context_turns: int | None = None,
                   first_pass: Sequence[str] | None = None) -> float:
    """Corpus WER (Whisper-normalized) of greedy transcripts of `utts`."""
    hyps = transcribe_cached(model, cache, utts, context_turns=context_turns,
                             first_pass=first_pass)
    counts = sum((word_errors(u.text, h) for u, h in zip(utts, hyps, strict=True)), ErrorCounts())
    return counts.rate



def validation_cpwer(model: SpeechLLM, cache: FeatureCache, utts: Sequence[Utterance],
                     first_pass: Sequence[str] | None = None) -> CpErrorCounts:
    """cpWER counts of a SOT model's greedy transcripts of mixtures `utts`, each split into
    talker streams at the speaker-change token (paper 003's LLM-SOT teacher)."""
    from susurrus.train.sot import split_sot

    options = GenerateOptions(tokens_per_second=GenerateOptions.tokens_per_second * SOT_TALKERS)
    hyps = transcribe_cached(model, cache, utts, options=options, first_pass=first_pass)
    counts = [cp_word_errors([t.text for t in u.talkers] if u.is_mixture else [u.text],
                             split_sot(h)) for u, h in zip(utts, hyps, strict=True)]
    return sum(counts[1:], counts[0])
