"""The first pass a speech LLM reads (issue 16, lever 4): a Whisper model decoded greedily.

Temperature 0 with no fallback ladder, no timestamps, no previous-text prompt: the same decoding
makes the training hypotheses (`susurrus.data.hypotheses.HypothesisCache`) and the ones read at
inference, so the LLM meets at test time the errors it learned to correct.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import torch

from susurrus.data.hypotheses import FIRST_PASS_ENGINES
from susurrus.infer.whisper_longform import LongFormOptions
from susurrus.models.speech_llm.generation import GeneratedRow

OPTIONS = LongFormOptions(temperatures=(0.0,), timestamps=False,
                          condition_on_previous_text=False)


@lru_cache(maxsize=2)
def first_pass_recognizer(name: str, engine: str = "faster-whisper", device: str = "cpu"):
    """The Whisper recognizer whose greedy transcripts a speech LLM reads (loaded once)."""
    from susurrus.infer.whisper import FasterWhisperRecognizer, TorchWhisperRecognizer

    if engine not in FIRST_PASS_ENGINES:
        raise ValueError(f"first-pass engine {engine!r}: choose one of "
                         f"{', '.join(FIRST_PASS_ENGINES)}")
    if engine == "faster-whisper":
        return FasterWhisperRecognizer(name, device=device, options=OPTIONS)
    return TorchWhisperRecognizer(name, device=device, options=OPTIONS)


def first_pass_texts(name: str, engine: str, clips: Sequence) -> list[str]:
    """The first pass's transcript of each 16-kHz mono clip (each at most 30 s), stripped."""
    if not clips:
        return []
    return [r.text.strip() for r in first_pass_recognizer(name, engine).recognize(list(clips))]


@lru_cache(maxsize=2)
def _scorer(name: str, device: str = "cpu"):
    """The first pass's Whisper weights on the torch engine (either engine runs the same
    weights), for scoring given texts, which CTranslate2 cannot do."""
    from susurrus.infer.whisper_decoding import WindowDecoder
    from susurrus.pretrained import load_whisper

    model, tokenizer = load_whisper(name)
    return WindowDecoder(model.to(device), tokenizer)


def first_pass_logprobs(name: str, clips: Sequence,
                        candidates: Sequence[Sequence[str]]) -> list[list[float]]:
    """Each 16-kHz mono clip's (at most 30 s) candidate transcripts -> their log-probabilities
    under the first-pass Whisper `name` (`WindowDecoder.score`)."""
    from susurrus.audio.features import N_FRAMES_CHUNK, N_SAMPLES_CHUNK, log_mel_spectrogram

    decoder = _scorer(name)
    n_mels = decoder.model.config.num_mel_bins
    out = []
    for clip, texts in zip(clips, candidates, strict=True):
        mel = log_mel_spectrogram(clip, n_mels=n_mels, padding=N_SAMPLES_CHUNK)
        out.append(decoder.score(decoder.encode(mel[None, :, :N_FRAMES_CHUNK]), texts))
    return out


def joint_choice(model, feats: torch.Tensor, feat_lengths: torch.Tensor, clips: Sequence,
                 firsts: Sequence[str], rows: Sequence[GeneratedRow],
                 context: Sequence[list] | None = None) -> list[GeneratedRow]:
    """Each window's transcript: the LLM's row, or the first pass's own text `firsts[i]`
    (as a greedy row), whichever has the higher log p_Whisper(text | audio) + log p_LLM(text |
    audio, first pass): a product of the two experts, with no weight to tune.

    Why (issue 16): on held-out voices the LLM reads the audio worse than the Whisper it
    corrects, and no single model knows which one is right for a window; Whisper gives a text it
    did not hear a low score, the LLM one that its reading contradicts. feats (B, T, D),
    lengths (B,), one clip, first-pass text and LLM row per window; `context`, each window's
    prior turns (`PriorTurn`s) as the LLM read them (a conversation session).
    """
    llm_texts = [model.decode_text(r.ids) for r in rows]
    todo = [i for i, (w, t) in enumerate(zip(firsts, llm_texts, strict=True))
            if w.strip() != t.strip()]
    if not todo:
        return list(rows)
    pair = [i for i in todo for _ in (0, 1)]
    texts = [t for i in todo for t in (firsts[i], llm_texts[i])]
    llm = model.score_texts(feats[pair], feat_lengths[pair], texts,
                            [list(context[i]) for i in pair] if context else None,
                            hypotheses=[model.hypothesis_ids(firsts[i]) for i in pair])
    whisper = first_pass_logprobs(model.first_pass, [clips[i] for i in todo],
                                  [(firsts[i], llm_texts[i]) for i in todo])
    out = list(rows)
    for k, i in enumerate(todo):
        first = whisper[k][0] + llm[2 * k]
        if first > whisper[k][1] + llm[2 * k + 1]:
            ids = model.tokenizer(firsts[i].strip(), add_special_tokens=False)["input_ids"]
            out[i] = GeneratedRow(ids, from_first_pass=True)
    return out
