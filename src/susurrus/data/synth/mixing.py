"""Signal plumbing: trim, level, lay turns end to end, overlap talkers, write files atomically.

Arrays are 16 kHz mono float32 (T samples).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16_000
TARGET_RMS = 0.08  # about -22 dBFS: every part is brought to the same speech level
PEAK = 0.95  # final files are scaled down (never up) so their peak stays below this
EDGE = 0.05  # seconds of the engine's own silence kept around trimmed speech


def trim(audio: np.ndarray, threshold: float = 0.01) -> np.ndarray:
    """Drop leading/trailing silence (below `threshold` x peak), keeping EDGE seconds."""
    loud = np.flatnonzero(np.abs(audio) > threshold * (np.abs(audio).max() + 1e-9))
    if loud.size == 0:
        return audio
    edge = int(EDGE * SAMPLE_RATE)
    return audio[max(0, loud[0] - edge):loud[-1] + 1 + edge]


def level(audio: np.ndarray, gain_db: float = 0.0) -> np.ndarray:
    """Scale to TARGET_RMS (plus gain_db); RMS over the louder half so pauses do not count."""
    frames = np.abs(audio)
    loud = frames[frames >= np.median(frames)] if frames.size else frames
    rms = float(np.sqrt(np.mean(loud ** 2))) if loud.size else 0.0
    if rms < 1e-6:
        return audio
    return (audio * (TARGET_RMS / rms) * 10 ** (gain_db / 20)).astype(np.float32)


def limit(audio: np.ndarray) -> np.ndarray:
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    return (audio * (PEAK / peak)).astype(np.float32) if peak > PEAK else audio


def sequence(parts: Sequence[np.ndarray], gaps: Sequence[float]) -> tuple[np.ndarray, list[int]]:
    """Parts end to end with `gaps` seconds of silence before each -> (signal, start samples)."""
    pieces, starts, at = [], [], 0
    for audio, gap in zip(parts, gaps, strict=True):
        silence = int(round(gap * SAMPLE_RATE))
        pieces.append(np.zeros(silence, dtype=np.float32))
        at += silence
        starts.append(at)
        pieces.append(audio)
        at += len(audio)
    return limit(np.concatenate(pieces)), starts


def overlap_offsets(lengths: Sequence[int], fractions: Sequence[float]) -> list[int]:
    """Talker k starts `fractions[k]` of talker k-1's length after talker k-1 starts."""
    offsets = [0]
    for k in range(1, len(lengths)):
        offsets.append(offsets[-1] + int(fractions[k] * lengths[k - 1]))
    return offsets


def noise(n: int, seed: int) -> np.ndarray:
    """Stationary brown-ish noise (white noise, one-pole low-pass), unit RMS, deterministic."""
    from scipy.signal import lfilter

    white = np.random.default_rng(seed).standard_normal(n)
    colored = lfilter([1.0], [1.0, -0.9], white)
    return (colored / (np.sqrt(np.mean(colored ** 2)) + 1e-12)).astype(np.float32)


def mix(sources: Sequence[np.ndarray], offsets: Sequence[int], snr_db: float | None,
        seed: int) -> np.ndarray:
    """Sum the (already levelled) sources at their offsets, add noise at `snr_db` if given."""
    total = max(o + len(s) for s, o in zip(sources, offsets, strict=True))
    out = np.zeros(total, dtype=np.float32)
    for s, o in zip(sources, offsets, strict=True):
        out[o:o + len(s)] += s
    if snr_db is not None:
        speech_rms = float(np.sqrt(np.mean(out ** 2)))
        out += noise(total, seed) * speech_rms * 10 ** (-snr_db / 20)
    return limit(out)


def write_atomic(audio: np.ndarray, path: Path) -> None:
    """FLAC 16-bit via a `.partial` name renamed at the end: a crash never leaves a file that
    looks finished."""
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    sf.write(str(tmp), np.clip(audio, -1.0, 1.0), SAMPLE_RATE, format="FLAC", subtype="PCM_16")
    os.replace(tmp, path)
