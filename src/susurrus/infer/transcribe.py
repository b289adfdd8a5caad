"""`susurrus.transcribe`: the one Python API the CLI wraps, over any recognizer.

The model picks the recognizer (`susurrus.infer.registry`): a Whisper on the `torch` engine
(susurrus decoding) or `faster-whisper` (CTranslate2), or a speech LLM. A prompt the recognizer
cannot read is refused before any decoding.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from susurrus.audio.io import SAMPLE_RATE, as_waveform
from susurrus.infer.recognizer import AudioTooLongError, check_prompt
from susurrus.infer.registry import DEFAULT_MODEL, EngineName, load_recognizer
from susurrus.infer.transcript import Transcript
from susurrus.infer.whisper_longform import LongFormOptions


def transcribe(
    audio: str | Path | np.ndarray,
    *,
    model: str = DEFAULT_MODEL,
    engine: EngineName = "torch",
    prompt: str | None = None,
    sample_rate: int | None = None,
    device: str = "cpu",
    options: LongFormOptions | tuple | None = None,
    on_progress: Callable[[float], None] | None = None,
) -> Transcript:
    """Transcribe a file (any format ffmpeg reads) or an array of samples, of any length.

    audio: a path, or a (T,) / (T, C) array with its `sample_rate` (resampled to 16 kHz).
    prompt: context text (names, the previous conversation) given to the decoder; a model that
    reads none (a speech LLM) raises IncompatibleOptionError.
    model: an embedded name (e.g. the shipped speech LLM `speech-llm-tiny`), a checkpoint or run
    folder, or a hub id.
    options: the model family's own decoding options (LongFormOptions for Whisper,
    GenerateOptions for a speech LLM), or a tuple of several families' (each takes its own).
    Long inputs are decoded in 30-s windows (Whisper: each prompted with the text before it); the
    result covers the whole input.
    """
    source = str(audio) if isinstance(audio, (str, Path)) else "<array>"
    wave = as_waveform(audio, sample_rate=sample_rate, name=source)
    recognizer = load_recognizer(model, engine, device, options)
    check_prompt(recognizer, prompt)
    t0 = time.perf_counter()
    try:
        [hyp] = recognizer.recognize([wave], prompt=prompt, on_progress=on_progress)
    except AudioTooLongError as e:
        raise e.named(source) from None
    wall = time.perf_counter() - t0
    return Transcript(source=source, text=hyp.text, segments=hyp.segments,
                      duration=wave.shape[0] / SAMPLE_RATE, model=model,
                      engine=recognizer.name, wall_seconds=wall, issues=list(hyp.issues),
                      talkers=hyp.talkers())
