"""Whether a decoded window went wrong: where the audio holds speech, and what a window's text
and its decoding's guards say (issue 16).

A window is suspect when it holds speech (`has_speech`: a simple energy VAD) but its text is
empty or punctuation only, when it has far fewer tokens than its seconds of speech carry, when
the repetition guard cut a looping tail, or when it reached its length limit. The speech-LLM
recognizer decodes such a window again hotter and reports it if it stays suspect; a
conversation session does the same for each turn.
"""

from __future__ import annotations

import numpy as np

from susurrus.audio.io import SAMPLE_RATE
from susurrus.infer.transcript import WindowIssue
from susurrus.models.speech_llm.generation import GeneratedRow

FRAME = SAMPLE_RATE // 10  # 100-ms energy frames, for cutting and for finding speech
SPEECH_BELOW_LOUDEST_DB = 35.0  # a frame within this many dB of the file's loud level is active
SPEECH_FLOOR_DBFS = -50.0  # ... and at least this loud (a quiet file is not all speech)
SPEECH_MIN_SECONDS = 0.5  # a window with this much active audio holds speech
MIN_TOKENS_PER_SPEECH_SECOND = 1.0  # speech runs at 2-4 tokens/s: far fewer means text is missing


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


def too_little_text(tokens: int, speech: float) -> bool:
    """Whether `tokens` of text are far fewer than `speech` seconds of speech carry (at least
    SPEECH_MIN_SECONDS of it): the "little text" check of `window_issues`."""
    return speech >= SPEECH_MIN_SECONDS - 1e-9 and tokens < MIN_TOKENS_PER_SPEECH_SECOND * speech


def window_issues(start: float, end: float, text: str, row: GeneratedRow,
                  speech: float) -> list[WindowIssue]:
    """What went wrong in one window with `speech` seconds of speech: no text (or too little for
    its speech), a loop cut, the length limit hit."""
    kinds, speaks = [], speech >= SPEECH_MIN_SECONDS - 1e-9
    if speaks and not any(ch.isalnum() for ch in text):
        kinds.append("no_text")
    elif too_little_text(len(row.ids), speech):
        kinds.append("little_text")
    if row.looped:
        kinds.append("loop")
    if row.hit_limit:
        kinds.append("length_limit")
    return [WindowIssue(start, end, k) for k in kinds]
