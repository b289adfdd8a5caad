"""`susurrus.transcribe`: the one Python API the CLI wraps.

Engines are small classes behind one Protocol, picked by name: `torch` runs our converted Hugging
Face weights with susurrus's own long-form loop; `faster-whisper` runs the same weights through
CTranslate2 (the peer users would pick), for side-by-side comparison.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
import torch

from susurrus.audio.io import SAMPLE_RATE, as_waveform
from susurrus.infer.transcript import Segment, Transcript
from susurrus.infer.whisper_decoding import WindowDecoder
from susurrus.infer.whisper_longform import LongFormOptions, transcribe_longform

EngineName = Literal["torch", "faster-whisper"]
# The default stays Whisper tiny.en: the shipped speech LLM (`speech-llm-tiny`) beats it on the
# synthetic test split it was trained for, but not on held-out voices (see the README).
DEFAULT_MODEL = "whisper-tiny.en"


class Engine(Protocol):
    name: str

    def segments(self, audio: np.ndarray, prompt: str | None,
                 on_progress: Callable[[float], None] | None) -> list[Segment]:
        """(T,) 16-kHz samples -> time-ordered segments covering the whole input."""


class TorchWhisperEngine:
    """Hugging Face Whisper weights + susurrus decoding (`whisper_decoding`, `whisper_longform`)."""

    name = "torch"

    def __init__(self, model: str, device: str = "cpu", options: LongFormOptions | None = None):
        from susurrus.pretrained import load_whisper

        hf_model, tokenizer = load_whisper(model)
        self.decoder = WindowDecoder(hf_model.to(device), tokenizer)
        self.options = options or LongFormOptions()

    def segments(self, audio, prompt, on_progress=None):
        return transcribe_longform(self.decoder, audio, prompt, self.options, on_progress)


class FasterWhisperEngine:
    """The same Whisper weights run by faster-whisper (CTranslate2), greedy like ours."""

    name = "faster-whisper"

    def __init__(self, model: str, device: str = "cpu", options: LongFormOptions | None = None,
                 compute_type: str = "float32"):
        import ctranslate2
        from faster_whisper import WhisperModel

        from susurrus.pretrained import ct2_whisper_dir

        self.options = options or LongFormOptions()
        # The fallback temperatures sample. CTranslate2 seeds each worker thread's generator, on
        # its first draw, from a process-wide seed that defaults to a random one: unset, the
        # same audio gives other text in another process. Set before the model (and so its
        # threads) exists, one run's text depends only on the seed and the order of the calls.
        ctranslate2.set_random_seed(self.options.seed)
        self.model = WhisperModel(ct2_whisper_dir(model), device=device, compute_type=compute_type,
                                  cpu_threads=torch.get_num_threads())

    def segments(self, audio, prompt, on_progress=None):
        o = self.options
        segs, _ = self.model.transcribe(
            audio, language="en", beam_size=1, temperature=list(o.temperatures),
            initial_prompt=prompt, condition_on_previous_text=o.condition_on_previous_text,
            compression_ratio_threshold=o.compression_ratio_threshold,
            log_prob_threshold=o.logprob_threshold, no_speech_threshold=o.no_speech_threshold,
            without_timestamps=not o.timestamps, vad_filter=False,
        )
        out = []
        for s in segs:  # a generator: decoding happens while we iterate
            out.append(Segment(s.start, s.end, s.text, list(s.tokens), s.avg_logprob,
                               s.no_speech_prob))
            if on_progress:
                on_progress(s.end)
        return out


ENGINES: dict[str, type] = {"torch": TorchWhisperEngine, "faster-whisper": FasterWhisperEngine}


@lru_cache(maxsize=4)
def get_engine(model: str = DEFAULT_MODEL, engine: EngineName = "torch", device: str = "cpu",
               options: LongFormOptions | None = None) -> Engine:
    """A loaded engine, kept for reuse: loading costs more than a short transcription.

    A speech-LLM checkpoint (folder or shipped name) runs on its own engine whatever `engine`
    says for Whisper models, except that asking faster-whisper to run it is an error.
    """
    from susurrus.infer.speech_llm_engine import SpeechLLMEngine, is_speech_llm

    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; choose from {sorted(ENGINES)}")
    if is_speech_llm(model):
        if engine != "torch":
            raise ValueError(f"{model} is a speech-LLM checkpoint; it runs on the torch engine "
                             "only (drop --engine)")
        return SpeechLLMEngine(model, device=device)
    return ENGINES[engine](model, device=device, options=options)


def transcribe(
    audio: str | Path | np.ndarray,
    *,
    model: str = DEFAULT_MODEL,
    engine: EngineName = "torch",
    prompt: str | None = None,
    sample_rate: int | None = None,
    device: str = "cpu",
    options: LongFormOptions | None = None,
    on_progress: Callable[[float], None] | None = None,
) -> Transcript:
    """Transcribe a file (any format ffmpeg reads) or an array of samples, of any length.

    audio: a path, or a (T,) / (T, C) array with its `sample_rate` (resampled to 16 kHz).
    prompt: context text (names, the previous conversation) given to the decoder.
    model: an embedded name (e.g. the shipped speech LLM `speech-llm-tiny`), a checkpoint or run
    folder, or a hub id.
    Long inputs are decoded in 30-s windows (Whisper: each prompted with the text before it); the
    result covers the whole input.
    """
    source = str(audio) if isinstance(audio, (str, Path)) else "<array>"
    wave = as_waveform(audio, sample_rate=sample_rate, name=source)
    eng = get_engine(model, engine, device, options)
    t0 = time.perf_counter()
    segments = eng.segments(wave, prompt, on_progress)
    wall = time.perf_counter() - t0
    text = "".join(s.text for s in segments).strip()
    return Transcript(source=source, text=text, segments=segments,
                      duration=wave.shape[0] / SAMPLE_RATE, model=model, engine=eng.name,
                      wall_seconds=wall)
