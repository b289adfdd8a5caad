"""Transcription with a trained speech LLM (a checkpoint folder, a run folder, or a shipped name).

The encoder reads at most 30 s, so longer audio is cut into windows of at most 30 s, each ending
at the quietest 100 ms of its last 5 s (never mid-word where a pause exists); the windows are
decoded as one batch and every window becomes a segment, so nothing past 30 s is dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from susurrus.audio.io import SAMPLE_RATE
from susurrus.infer.transcript import Segment
from susurrus.models.speech_llm.generation import GenerateOptions

WINDOW_SECONDS = 30.0
SEARCH_SECONDS = 5.0  # where, before a window's end, to look for a pause to cut at
MIN_SAMPLES = 400  # one STFT frame: shorter audio holds no speech to transcribe


def speech_llm_folder(model: str) -> str:
    """An embedded speech-LLM name -> its installed folder; anything else as given."""
    from susurrus.pretrained.registry import EMBEDDED, resolve

    return resolve(model, "speech-llm") if model in EMBEDDED else model


def is_speech_llm(model: str) -> bool:
    """Whether `model` names a speech-LLM checkpoint (embedded name or folder)."""
    from susurrus.models.speech_llm.checkpoint import find_checkpoint
    from susurrus.pretrained.registry import EMBEDDED

    if model in EMBEDDED:
        return EMBEDDED[model].kind == "speech-llm"
    path = Path(model).expanduser()
    return path.is_dir() and find_checkpoint(path) is not None


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


class SpeechLLMEngine:
    """A `SpeechLLM` behind the same `segments()` interface as the Whisper engines."""

    name = "speech-llm"

    def __init__(self, model: str, device: str = "cpu", options: GenerateOptions | None = None):
        from susurrus.models.speech_llm.checkpoint import load_speech_llm

        self.model = load_speech_llm(speech_llm_folder(model)).to(device)
        self.model.merge_lora()  # inference only: adapters folded into the weights, no overhead
        self.device = device
        self.options = options or GenerateOptions()
        self.tokenizer = self.model.tokenizer

    def segments(self, audio: np.ndarray, prompt: str | None,
                 on_progress: Callable[[float], None] | None = None) -> list[Segment]:
        if prompt:
            raise ValueError("a speech-LLM checkpoint takes no text prompt; run it with "
                             "context 'none'")
        spans = [(s, e) for s, e in split_windows(audio) if e - s >= MIN_SAMPLES]
        if not spans:
            return []
        with torch.inference_mode():
            feats, feat_lengths = self.model.encode_audio([audio[s:e] for s, e in spans])
            ids = self.model.generate(feats, feat_lengths, self.options)
        n_audio = self.model.compressor.out_lengths(feat_lengths)  # audio tokens read
        out = []
        for (s, e), row, n in zip(spans, ids, n_audio.tolist(), strict=True):
            text = self.model.decode_text(row)
            out.append(Segment(s / SAMPLE_RATE, e / SAMPLE_RATE, (" " + text) if text else "",
                               list(row), audio_tokens=int(n)))
            if on_progress:
                on_progress(e / SAMPLE_RATE)
        return out
