"""The speech-LLM recognizer: a checkpoint folder, a run folder, or a shipped name.

The encoder reads at most 30 s, but the speech LLMs are trained on turns and sentence-cut segments
of at most 20 s, so longer audio is cut into windows of at most 20 s, each ending at the quietest
100 ms of its last 5 s (never mid-word where a pause exists). (On a 3-min read file,
speech-llm-tiny-v2 with 30-s windows lost 2 of 36 sentences and looped once; with 20-s windows
it lost none: docs/generalization.md.) the windows of
every input of a batch are decoded as one batch and every window becomes a segment, so nothing
past 30 s is dropped. Conversations go through `ConversationSession` (paper 000). A model with
a first pass (issue 16) reads a Whisper transcript of each window next to its audio tokens.

A window whose decoding went wrong (`susurrus.infer.suspect`: empty or punctuation-only text from
a window that holds speech, far fewer tokens than its seconds of speech carry, a looping tail
the repetition guard cut, or a row that reached its length limit) is decoded again
hotter, as Whisper does (`decode_with_fallback`: `best_of` seeded samples at each temperature of
`GenerateOptions.fallback`); a window still wrong after the last is reported on the result
(`Recognition.issues`) with its first decoding, never silently dropped. Each segment says the
temperature that wrote it.

A model trained with serialized output training (its recipe's `model.sot`, paper 003's LLM-SOT
teacher) writes every talker of a mixture in onset order, joined by a speaker-change token: its
hypothesis holds one `TalkerStream` per talker (`sot_streams`). It reads a mixture whole, so an
input over 30 s is refused (`AudioTooLongError`): windows of a longer file cannot be stitched per
talker (which line of window 2 is talker 1 of window 1 is unknown).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from susurrus.audio.io import SAMPLE_RATE
from susurrus.context import ContextMode
from susurrus.errors import IncompatibleOptionError
from susurrus.infer.recognizer import (
    AudioTooLongError,
    Capabilities,
    MaxTurns,
    Progress,
    Recognition,
    TalkerStream,
    check_context,
    check_prompt,
)
from susurrus.infer.session import ConversationSession
from susurrus.infer.suspect import FRAME, speech_seconds, window_issues
from susurrus.infer.transcript import Segment
from susurrus.models.speech_llm.generation import (
    GeneratedRow,
    GenerateOptions,
    decode_with_fallback,
)
from susurrus.models.speech_llm.model import MIN_SAMPLES, SpeechLLM
from susurrus.train.sot import SOT_MAX_SECONDS, SOT_TALKERS, split_sot

WINDOW_SECONDS = 20.0  # the longest utterance the speech LLMs train on
SEARCH_SECONDS = 5.0  # where, before a window's end, to look for a pause to cut at
def split_windows(audio: np.ndarray, window: float = WINDOW_SECONDS,
                  search: float = SEARCH_SECONDS) -> list[tuple[int, int]]:
    """(start, end) sample spans covering `audio` in order, each at most `window` seconds."""
    n, max_len = audio.shape[0], int(window * SAMPLE_RATE)
    hop = FRAME
    spans, start = [], 0
    while n - start > max_len:
        lo, hi = start + max_len - int(search * SAMPLE_RATE), start + max_len
        frames = audio[lo:hi][: (hi - lo) // hop * hop].reshape(-1, hop)
        end = lo + (int(np.argmin((frames.astype(np.float64) ** 2).sum(1))) + 1) * hop
        spans.append((start, end))
        start = end
    spans.append((start, n))
    return spans


def sot_streams(text: str, start: float, end: float, ids: list[int],
                audio_tokens: int) -> list[TalkerStream]:
    """A SOT window's transcript -> one stream per talker, labelled talker1, talker2, ... in the
    order written (`susurrus.train.sot.split_sot`, the rule its validation scores by).

    The LLM writes no times: each stream is one segment spanning the whole window. One pass wrote
    every stream, so its token ids and audio tokens are on the first stream's segment. Nothing
    written is one stream with empty text.
    """
    texts = split_sot(text) or [""]
    return [TalkerStream([Segment(start, end, (" " + t) if t else "",
                                  list(ids) if k == 0 else [],
                                  audio_tokens=audio_tokens if k == 0 else 0)],
                         speaker=f"talker{k + 1}") for k, t in enumerate(texts)]


class SpeechLLMRecognizer:
    """A `SpeechLLM` behind the `Recognizer` interface."""

    name = "speech-llm"
    kind = "a speech LLM"

    def __init__(self, model: str | SpeechLLM, device: str = "cpu",
                 options: GenerateOptions | None = None, engine: str = "torch",
                 fallback: tuple[float, ...] | None = None) -> None:
        """`fallback`, when given, replaces the options' fallback temperatures (() = none)."""
        if engine != "torch":  # before anything loads
            raise IncompatibleOptionError(
                f"engine {engine!r}: {model} is a speech-LLM checkpoint; it runs on the torch "
                "engine only (use engine 'torch', i.e. drop --engine; or choose a Whisper model, "
                "e.g. --model whisper-tiny.en)")
        if isinstance(model, SpeechLLM):
            self.model, self.model_name = model.eval(), "the speech LLM"
        else:
            from susurrus.models.speech_llm.checkpoint import load_for_inference

            self.model, self.model_name = load_for_inference(model, device=device), model
        # a SOT model writes up to SOT_TALKERS transcripts: its length limit scales with them
        scale = SOT_TALKERS if self.model.sot else 1
        self.options = options or GenerateOptions(
            tokens_per_second=GenerateOptions.tokens_per_second * scale)
        if fallback is not None:
            self.options = replace(self.options, fallback=fallback)
        self.capabilities = Capabilities(prompt=False, contexts=self.model.context_modes(),
                                         streams=scale, batch=True, timestamps=False)

    def _spans(self, audio) -> list[list[tuple[int, int]]]:
        """Each input's windows as (start, end) samples: 20-s windows, or with a SOT model the
        whole input (over 30 s: an AudioTooLongError)."""
        if not self.model.sot:
            return [[(s, e) for s, e in split_windows(a) if e - s >= MIN_SAMPLES] for a in audio]
        for i, a in enumerate(audio):
            if a.shape[0] > SOT_MAX_SECONDS * SAMPLE_RATE:
                raise AudioTooLongError(
                    f"input {i}", a.shape[0] / SAMPLE_RATE, SOT_MAX_SECONDS,
                    f"{self.model_name} is a SOT speech LLM (one stream per talker), which "
                    "reads a mixture whole: its windows cannot be stitched per talker")
        return [[(0, a.shape[0])] if a.shape[0] >= MIN_SAMPLES else [] for a in audio]

    def recognize(self, audio, prompt: str | None = None,
                  on_progress: Progress | None = None) -> list[Recognition]:
        """Every input's windows decoded as one batch; a window is a segment (a SOT model: one
        window per input, one stream per talker)."""
        check_prompt(self, prompt)
        spans = self._spans(audio)
        clips = [a[s:e] for a, row in zip(audio, spans, strict=True) for s, e in row]
        out = [Recognition([TalkerStream([])]) for _ in audio]
        if not clips:
            return out
        model = self.model
        hyps = firsts = None
        if model.first_pass:  # generative error correction: a Whisper transcript of each window
            from susurrus.infer.first_pass import first_passes, joint_choice

            firsts = first_passes(model.first_pass, model.first_pass_engine, clips,
                                  answers=self.options.first_pass_choice == "joint",
                                  nbest=self.options.first_pass_nbest)
            hyps = [model.hypothesis_ids(f.read) for f in firsts]
        window_spans = [(b, s, e) for b, row in enumerate(spans) for s, e in row]
        speech = [t for b, row in enumerate(spans) for t in speech_seconds(audio[b], row)]

        def decode(rows: list[int], options: GenerateOptions) -> list[GeneratedRow]:
            return model.generate_rows(feats[rows], feat_lengths[rows], options,
                                       hypotheses=[hyps[i] for i in rows] if hyps else None)

        def suspect(i: int, row: GeneratedRow) -> bool:
            _, s, e = window_spans[i]
            return bool(window_issues(s / SAMPLE_RATE, e / SAMPLE_RATE,
                                      model.decode_text(row.ids), row, speech[i]))

        with torch.inference_mode():
            feats, feat_lengths = model.encode_audio(clips)
            generated = decode_with_fallback(decode, len(clips), self.options, suspect)
            if firsts is not None and self.options.first_pass_choice == "joint":
                generated = joint_choice(model, feats, feat_lengths, clips, firsts, generated)
        n_audio = iter(model.compressor.out_lengths(feat_lengths).tolist())  # audio tokens read
        # progress: seconds of every earlier input, then this input's windows
        before = np.cumsum([0] + [a.shape[0] for a in audio]) / SAMPLE_RATE
        for i, ((b, s, e), row) in enumerate(zip(window_spans, generated, strict=True)):
            text = model.decode_text(row.ids)
            if model.sot:
                out[b].streams = sot_streams(text, s / SAMPLE_RATE, e / SAMPLE_RATE,
                                             row.ids, int(next(n_audio)))
            else:
                out[b].streams[0].segments.append(Segment(
                    s / SAMPLE_RATE, e / SAMPLE_RATE, (" " + text) if text else "",
                    list(row.ids), avg_logprob=row.avg_logprob,
                    audio_tokens=int(next(n_audio)), temperature=row.temperature,
                    first_pass=row.from_first_pass))
            out[b].issues += window_issues(s / SAMPLE_RATE, e / SAMPLE_RATE, text, row,
                                           speech[i])
            if on_progress:
                on_progress(float(before[b]) + e / SAMPLE_RATE)
        return out

    def _no_sot_session(self) -> None:
        """A SOT model writes every talker of one mixture: it keeps no conversation."""
        if self.model.sot:
            raise IncompatibleOptionError(
                f"{self.model_name} is a SOT speech LLM (one stream per talker of a mixture): "
                "it transcribes mixtures one at a time and keeps no conversation; drop the "
                "session")

    def session(self, context: ContextMode | None = None,
                max_turns: MaxTurns = "trained") -> ConversationSession:
        self._no_sot_session()
        check_context(self, context or self.model.context)
        return ConversationSession(self.model, context, max_turns, self.options)

    def restore_session(self, path: str | Path,
                        max_turns: MaxTurns | None = None) -> ConversationSession:
        self._no_sot_session()
        kwargs = {} if max_turns is None else {"max_turns": max_turns}
        return ConversationSession.restore(path, self.model, options=self.options,
                                           **kwargs)
