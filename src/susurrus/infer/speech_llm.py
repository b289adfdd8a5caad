"""The speech-LLM recognizer: a checkpoint folder, a run folder, or a shipped name.

The encoder reads at most 30 s, but the speech LLMs are trained on turns and sentence-cut segments
of at most 20 s, so longer audio is cut into windows of at most 20 s, each ending at the quietest
100 ms of its last 5 s (never mid-word where a pause exists). (On a 3-min read file,
speech-llm-tiny-v2 with 30-s windows lost 2 of 36 sentences and looped once; with 20-s windows
it lost none: docs/generalization.md.) the windows of
every input of a batch are decoded as one batch and every window becomes a segment, so nothing
past 30 s is dropped. Conversations go through `ConversationSession` (paper 000). A model with
a first pass (issue 16) reads a Whisper transcript of each window next to its audio tokens.

A window whose decoding went wrong is reported on the result (`Recognition.issues`), never
silently dropped: empty or punctuation-only text from a window that holds speech (`has_speech`),
far fewer tokens than its seconds of speech (`speech_seconds`) carry, a looping tail the
repetition guard cut, or a row that reached its length limit.

A model trained with serialized output training (its recipe's `model.sot`, paper 003's LLM-SOT
teacher) writes every talker of a mixture in onset order, joined by a speaker-change token: its
hypothesis holds one `TalkerStream` per talker (`sot_streams`). It reads a mixture whole, so an
input over 30 s is refused (`AudioTooLongError`): windows of a longer file cannot be stitched per
talker (which line of window 2 is talker 1 of window 1 is unknown).
"""

from __future__ import annotations

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
from susurrus.infer.transcript import Segment, WindowIssue
from susurrus.models.speech_llm.generation import GeneratedRow, GenerateOptions
from susurrus.models.speech_llm.model import MIN_SAMPLES, SpeechLLM
from susurrus.train.sot import SOT_MAX_SECONDS, SOT_TALKERS, split_sot

WINDOW_SECONDS = 20.0  # the longest utterance the speech LLMs train on
SEARCH_SECONDS = 5.0  # where, before a window's end, to look for a pause to cut at
FRAME = SAMPLE_RATE // 10  # 100-ms energy frames, for cutting and for finding speech
SPEECH_BELOW_LOUDEST_DB = 35.0  # a frame within this many dB of the file's loud level is active
SPEECH_FLOOR_DBFS = -50.0  # ... and at least this loud (a quiet file is not all speech)
SPEECH_MIN_SECONDS = 0.5  # a window with this much active audio holds speech
MIN_TOKENS_PER_SPEECH_SECOND = 1.0  # speech runs at 2-4 tokens/s: far fewer means text is missing


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


def frame_db(audio: np.ndarray) -> np.ndarray:
    """RMS level of each whole 100-ms frame, in dB relative to full scale (-inf for zeros)."""
    n = audio.shape[0] // FRAME * FRAME
    frames = audio[:n].astype(np.float64).reshape(-1, FRAME)
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10((frames ** 2).mean(1))


def speech_seconds(audio: np.ndarray, spans: list[tuple[int, int]]) -> list[float]:
    """Seconds of speech in each (start, end) span of `audio`, by a simple energy VAD.

    A 100-ms frame is active when its RMS is within SPEECH_BELOW_LOUDEST_DB of the file's loud
    level (its 99th-percentile frame, robust to clicks) and above SPEECH_FLOOR_DBFS. Silence, or
    a quiet gap between loud talk, is not speech.
    """
    db = frame_db(audio)
    if db.size == 0 or not np.isfinite(db).any():
        return [0.0] * len(spans)
    loud = float(np.percentile(db[np.isfinite(db)], 99))
    active = db >= max(loud - SPEECH_BELOW_LOUDEST_DB, SPEECH_FLOOR_DBFS)
    return [float(active[s // FRAME: -(-e // FRAME)].sum()) * FRAME / SAMPLE_RATE
            for s, e in spans]


def has_speech(audio: np.ndarray, spans: list[tuple[int, int]]) -> list[bool]:
    """Whether each span holds speech: SPEECH_MIN_SECONDS of active frames (`speech_seconds`)."""
    return [t >= SPEECH_MIN_SECONDS - 1e-9 for t in speech_seconds(audio, spans)]


def window_issues(start: float, end: float, text: str, row: GeneratedRow,
                  speech: float) -> list[WindowIssue]:
    """What went wrong in one window with `speech` seconds of speech: no text (or too little for
    its speech), a loop cut, the length limit hit."""
    kinds, speaks = [], speech >= SPEECH_MIN_SECONDS - 1e-9
    if speaks and not any(ch.isalnum() for ch in text):
        kinds.append("no_text")
    elif speaks and len(row.ids) < MIN_TOKENS_PER_SPEECH_SECOND * speech:
        kinds.append("little_text")
    if row.looped:
        kinds.append("loop")
    if row.hit_limit:
        kinds.append("length_limit")
    return [WindowIssue(start, end, k) for k in kinds]


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
                 options: GenerateOptions | None = None, engine: str = "torch") -> None:
        if engine != "torch":  # before anything loads
            raise IncompatibleOptionError(
                f"engine {engine!r}: {model} is a speech-LLM checkpoint; it runs on the torch "
                "engine only (use engine 'torch', i.e. drop --engine)")
        if isinstance(model, SpeechLLM):
            self.model, self.model_name = model.eval(), "the speech LLM"
        else:
            from susurrus.models.speech_llm.checkpoint import load_for_inference

            self.model, self.model_name = load_for_inference(model, device=device), model
        # a SOT model writes up to SOT_TALKERS transcripts: its length limit scales with them
        scale = SOT_TALKERS if self.model.sot else 1
        self.options = options or GenerateOptions(
            tokens_per_second=GenerateOptions.tokens_per_second * scale)
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
        hyps = None
        if model.first_pass:  # generative error correction: a Whisper transcript of each window
            from susurrus.infer.first_pass import first_pass_texts

            hyps = [model.hypothesis_ids(t) for t in first_pass_texts(
                model.first_pass, model.first_pass_engine, clips)]
        with torch.inference_mode():
            feats, feat_lengths = model.encode_audio(clips)
            generated = model.generate_rows(feats, feat_lengths, self.options, hypotheses=hyps)
        n_audio = iter(model.compressor.out_lengths(feat_lengths).tolist())  # audio tokens read
        rows = iter(generated)
        done = 0.0
        for b, row_spans in enumerate(spans):
            for (s, e), speech in zip(row_spans, speech_seconds(audio[b], row_spans),
                                      strict=True):
                row = next(rows)
                text = model.decode_text(row.ids)
                if model.sot:
                    out[b].streams = sot_streams(text, s / SAMPLE_RATE, e / SAMPLE_RATE,
                                                 row.ids, int(next(n_audio)))
                else:
                    out[b].streams[0].segments.append(Segment(
                        s / SAMPLE_RATE, e / SAMPLE_RATE, (" " + text) if text else "",
                        list(row.ids), audio_tokens=int(next(n_audio))))
                out[b].issues += window_issues(s / SAMPLE_RATE, e / SAMPLE_RATE, text, row, speech)
                if on_progress:
                    on_progress(done + e / SAMPLE_RATE)
            done += audio[b].shape[0] / SAMPLE_RATE
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
