"""The speech-LLM recognizer: a checkpoint folder, a run folder, or a shipped name.

The encoder reads at most 30 s, so longer audio is cut into windows of at most 30 s, each ending
at the quietest 100 ms of its last 5 s (never mid-word where a pause exists); the windows of
every input of a batch are decoded as one batch and every window becomes a segment, so nothing
past 30 s is dropped. Conversations go through `ConversationSession` (paper 000).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from susurrus.audio.io import SAMPLE_RATE
from susurrus.context import ContextMode
from susurrus.errors import IncompatibleOptionError
from susurrus.infer.recognizer import (
    Capabilities,
    MaxTurns,
    Progress,
    Recognition,
    TalkerStream,
    check_context,
    check_prompt,
)
from susurrus.infer.session import ConversationSession
from susurrus.infer.transcript import Segment
from susurrus.models.speech_llm.generation import GenerateOptions
from susurrus.models.speech_llm.model import MIN_SAMPLES, SpeechLLM

WINDOW_SECONDS = 30.0
SEARCH_SECONDS = 5.0  # where, before a window's end, to look for a pause to cut at


def split_windows(audio: np.ndarray, window: float = WINDOW_SECONDS,
                  search: float = SEARCH_SECONDS) -> list[tuple[int, int]]:
    """(start, end) sample spans covering `audio` in order, each at most `window` seconds."""
    n, max_len = audio.shape[0], int(window * SAMPLE_RATE)
    hop = SAMPLE_RATE // 10  # 100-ms energy frames
    spans, start = [], 0
    while n - start > max_len:
        lo, hi = start + max_len - int(search * SAMPLE_RATE), start + max_len
        frames = audio[lo:hi][: (hi - lo) // hop * hop].reshape(-1, hop)
        end = lo + (int(np.argmin((frames.astype(np.float64) ** 2).sum(1))) + 1) * hop
        spans.append((start, end))
        start = end
    spans.append((start, n))
    return spans


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
        self.options = options or GenerateOptions()
        self.capabilities = Capabilities(prompt=False, contexts=self.model.context_modes(),
                                         streams=1, batch=True, timestamps=False)

    def recognize(self, audio, prompt: str | None = None,
                  on_progress: Progress | None = None) -> list[Recognition]:
        """Every input's windows decoded as one batch; a window is a segment."""
        check_prompt(self, prompt)
        spans = [[(s, e) for s, e in split_windows(a) if e - s >= MIN_SAMPLES] for a in audio]
        clips = [a[s:e] for a, row in zip(audio, spans, strict=True) for s, e in row]
        out = [Recognition([TalkerStream([])]) for _ in audio]
        if not clips:
            return out
        model = self.model
        with torch.inference_mode():
            feats, feat_lengths = model.encode_audio(clips)
            ids = model.generate(feats, feat_lengths, self.options)
        n_audio = iter(model.compressor.out_lengths(feat_lengths).tolist())  # audio tokens read
        rows = iter(ids)
        done = 0.0
        for b, row_spans in enumerate(spans):
            for s, e in row_spans:
                tokens = next(rows)
                text = model.decode_text(tokens)
                out[b].streams[0].segments.append(Segment(
                    s / SAMPLE_RATE, e / SAMPLE_RATE, (" " + text) if text else "", list(tokens),
                    audio_tokens=int(next(n_audio))))
                if on_progress:
                    on_progress(done + e / SAMPLE_RATE)
            done += audio[b].shape[0] / SAMPLE_RATE
        return out

    def session(self, context: ContextMode | None = None,
                max_turns: MaxTurns = "trained") -> ConversationSession:
        check_context(self, context or self.model.context)
        return ConversationSession(self.model, context, max_turns, self.options)

    def restore_session(self, path: str | Path,
                        max_turns: MaxTurns | None = None) -> ConversationSession:
        kwargs = {} if max_turns is None else {"max_turns": max_turns}
        return ConversationSession.restore(path, self.model, options=self.options,
                                           **kwargs)
