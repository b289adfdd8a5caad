"""The first pass a speech LLM reads (issue 16, lever 4): a Whisper model decoded greedily; and
the joint choice between the LLM's transcript and Whisper's own answer (issue 16, lever 4c), and
Whisper's n-best texts (lever 4d).

Temperature 0 with no fallback ladder, no timestamps, no previous-text prompt: the same decoding
makes the training hypotheses (`susurrus.data.hypotheses.HypothesisCache`) and the ones read at
inference, so the LLM meets at test time the errors it learned to correct. Whisper's answer is
that text unless it fails Whisper's own checks, then its temperature fallback's
(`first_passes`); `joint_choice` keeps, per window, whichever of the answer and the LLM's text
both models score higher.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

import torch

from susurrus.data.hypotheses import FIRST_PASS_ENGINES
from susurrus.infer.context_candidates import candidates, context_phrases
from susurrus.infer.suspect import speech_seconds, too_little_text
from susurrus.infer.transcript import Segment
from susurrus.infer.whisper_decoding import compression_ratio
from susurrus.infer.whisper_longform import LongFormOptions
from susurrus.models.speech_llm.generation import GeneratedRow

OPTIONS = LongFormOptions(temperatures=(0.0,), timestamps=False,
                          condition_on_previous_text=False)


# What Whisper itself answers for a window: greedy, retried hotter where that fails its own checks
ANSWER_OPTIONS = replace(OPTIONS, temperatures=LongFormOptions().temperatures)


@lru_cache(maxsize=4)
def first_pass_recognizer(name: str, engine: str = "faster-whisper", device: str = "cpu",
                          fallback: bool = False):
    """The Whisper recognizer whose greedy transcripts a speech LLM reads (loaded once); with
    `fallback`, the same decoding with Whisper's temperature fallback (`ANSWER_OPTIONS`)."""
    from susurrus.infer.whisper import FasterWhisperRecognizer, TorchWhisperRecognizer

    if engine not in FIRST_PASS_ENGINES:
        raise ValueError(f"first-pass engine {engine!r}: choose one of "
                         f"{', '.join(FIRST_PASS_ENGINES)}")
    options = ANSWER_OPTIONS if fallback else OPTIONS
    if engine == "faster-whisper":
        return FasterWhisperRecognizer(name, device=device, options=options)
    return TorchWhisperRecognizer(name, device=device, options=options)


@dataclass(frozen=True)
class FirstPass:
    """A window's first pass: what the speech LLM reads, and what Whisper itself answers."""

    read: str  # the greedy transcript (stripped), decoded as the training hypotheses were
    # Whisper's own answer: `read`, or where that greedy decoding fails Whisper's checks (a
    # loop, too unlikely: `failed`), the text of its temperature fallback
    answer: str
    # more of Whisper's texts of the window: its beam search's n-best (`beam_texts`), those
    # that differ from `read` and `answer`; they compete in `joint_choice` too
    alternatives: tuple[str, ...] = ()


def failed(segments: Sequence[Segment], options: LongFormOptions = ANSWER_OPTIONS) -> bool:
    """openai/whisper's test of a decoding to be retried hotter: a segment whose text
    compresses too well (a loop) or whose mean token log-probability is too low."""
    return any(compression_ratio(s.text) > options.compression_ratio_threshold
               or s.avg_logprob < options.logprob_threshold for s in segments)


def first_passes(name: str, engine: str, clips: Sequence, answers: bool = True,
                 nbest: int = 0) -> list[FirstPass]:
    """Each 16-kHz mono clip's (at most 30 s) first pass; with `answers` off, no fallback is
    decoded (every answer is the greedy text); with `nbest` > 1 (and `answers`), the texts of a
    beam search of that width are the alternatives."""
    if not clips:
        return []
    greedy = first_pass_recognizer(name, engine).recognize(list(clips))
    retry = [i for i, r in enumerate(greedy) if answers and failed(r.segments)]
    hotter = first_pass_recognizer(name, engine, fallback=True).recognize(
        [clips[i] for i in retry]) if retry else []
    out = [FirstPass(r.text.strip(), r.text.strip()) for r in greedy]
    for i, r in zip(retry, hotter, strict=True):
        out[i] = FirstPass(out[i].read, r.text.strip())
    if answers and nbest > 1:
        out = [replace(f, alternatives=tuple(t for t in dict.fromkeys(texts)
                                             if t and t not in (f.read, f.answer)))
               for f, texts in zip(out, beam_texts(name, clips, nbest), strict=True)]
    return out


def beam_texts(name: str, clips: Sequence, n: int) -> list[list[str]]:
    """Each 16-kHz mono clip's (at most 30 s) `n` best texts by the first-pass Whisper's beam
    search of width `n` (no timestamps, no prompt; stripped), best first.

    Why (issue 16): Whisper's greedy text and the LLM's often both miss a name that one of
    Whisper's near-best texts spells; on 120 dev turns a name occurs in one of the 5 best texts
    for 0.42 of the mentions, in the greedy text for 0.31. Decoded by CTranslate2 (the weights
    of either engine; faster-whisper's own `transcribe` returns one text)."""
    import ctranslate2
    import numpy as np

    from susurrus.audio.features import N_FRAMES_CHUNK

    model = first_pass_recognizer(name, "faster-whisper").model
    tokenizer = model.hf_tokenizer
    prompt = [tokenizer.token_to_id("<|startoftranscript|>"),
              tokenizer.token_to_id("<|notimestamps|>")]
    out = []
    for clip in clips:
        feats = model.feature_extractor(np.asarray(clip, dtype=np.float32))[:, :N_FRAMES_CHUNK]
        feats = np.pad(feats, ((0, 0), (0, N_FRAMES_CHUNK - feats.shape[1])))
        x = ctranslate2.StorageView.from_array(np.ascontiguousarray(feats[None], np.float32))
        [result] = model.model.generate(x, [prompt], beam_size=n, num_hypotheses=n,
                                        max_length=model.max_length)
        out.append([tokenizer.decode(ids).strip() for ids in result.sequences_ids])
    return out


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
                 firsts: Sequence[FirstPass], rows: Sequence[GeneratedRow],
                 context: Sequence[list] | None = None,
                 context_candidates: int = 0) -> list[GeneratedRow]:
    """Each window's transcript: the LLM's row, or Whisper's own answer `firsts[i].answer`
    (as a greedy row), whichever has the higher log p_Whisper(text | audio) + log p_LLM(text |
    audio, first pass read): a product of the two experts, with no weight to tune.

    The answer is Whisper's text after its own checks, not the greedy text the LLM reads: a
    greedy first pass that loops is what the LLM, which reads it, finds cheapest to copy, so
    it would win the choice (on test-ood a 6-s turn came back as "my own" 73 times).

    Why (issue 16): on held-out voices the LLM reads the audio worse than the Whisper it
    corrects, and no single model knows which one is right for a window; Whisper gives a text it
    did not hear a low score, the LLM one that its reading contradicts. feats (B, T, D),
    lengths (B,), one clip, first-pass text and LLM row per window.

    Whisper's other n-best texts of the window (`FirstPass.alternatives`, lever 4d) compete
    too; one that wins is a row with `from_first_pass` set, like the answer. An n-best text too
    short for the window's speech (the suspect check's "little text", `too_little_text`) does
    not compete: beam search also ends texts early, and a shorter text scores higher under both
    models (on test-ood, "Welcome back." won a 7-s turn; 8 such turns won without this check).

    `context`, each window's prior turns (`PriorTurn`s) as the LLM read them (a conversation
    session): the LLM scores with them, and up to `context_candidates` more texts per window
    compete (lever 5c): the answer and the LLM's text with a stretch respelled as a phrase of
    those turns' transcripts (`susurrus.infer.context_candidates`). A candidate that wins is a
    row with `from_context` set.

    Whisper scores every text without the earlier turns: it is the check on the audio alone.
    Given them as its prompt (the previous text), it too favoured texts that paste the context
    ("I'm sorry to hear that" became "... the Tesla Cybertrik in Kiela Bond", a phrase of an
    earlier turn), and on 8 test-ood conversations WER rose from 0.376 to 0.388.
    """
    llm_texts = [model.decode_text(r.ids).strip() for r in rows]
    answers = [f.answer.strip() for f in firsts]

    def pieces(word: str) -> int:
        return len(model.tokenizer(" " + word, add_special_tokens=False)["input_ids"])

    # each window's distinct texts: Whisper's answer first, then the LLM's, Whisper's other
    # n-best texts, then the context candidates; `whispers` marks those Whisper wrote
    texts: list[list[str]] = []
    whispers: list[set[int]] = []
    for i, own in enumerate(zip(answers, llm_texts, strict=True)):
        more: list[str] = []
        if context and context_candidates and any(p.text.strip() for p in context[i]):
            phrases = context_phrases([p.text for p in context[i]], pieces)
            more = list(dict.fromkeys(c for text in dict.fromkeys(own)
                                      for c in candidates(text, phrases, context_candidates)))
        alternatives = [t.strip() for t in firsts[i].alternatives]
        if alternatives:
            clip = clips[i]
            speech = speech_seconds(clip, [(0, len(clip))])[0]
            alternatives = [t for t in alternatives if not too_little_text(
                len(model.tokenizer(t, add_special_tokens=False)["input_ids"]), speech)]
        ts = list(dict.fromkeys([*own, *alternatives]))
        ts += [c for c in more if c not in ts][:context_candidates]
        texts.append(ts)
        whispers.append({c for c, t in enumerate(ts)
                         if t == own[0] or (t in alternatives and t != own[1])})
    todo = [i for i, ts in enumerate(texts) if len(ts) > 1]
    if not todo:
        return list(rows)
    pair = [i for i in todo for _ in texts[i]]
    flat = [t for i in todo for t in texts[i]]
    llm = model.score_texts(feats[pair], feat_lengths[pair], flat,
                            [list(context[i]) for i in pair] if context else None,
                            hypotheses=[model.hypothesis_ids(firsts[i].read) for i in pair])
    whisper = first_pass_logprobs(model.first_pass, [clips[i] for i in todo],
                                  [texts[i] for i in todo])
    out = list(rows)
    at = 0
    for k, i in enumerate(todo):
        n, own = len(texts[i]), texts[i].index(llm_texts[i])
        total = [whisper[k][c] + llm[at + c] for c in range(n)]
        at += n
        best = max(range(n), key=lambda c: (total[c], c == own))  # a tie keeps the LLM's row
        if best == own:
            continue
        ids = model.tokenizer(texts[i][best], add_special_tokens=False)["input_ids"]
        out[i] = GeneratedRow(ids, from_first_pass=best in whispers[i],
                              from_context=best not in whispers[i])
    return out
