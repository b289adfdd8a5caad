"""Audio input: any file ffmpeg or libsndfile reads -> 16 kHz mono float32, with typed errors.

Every error names the file (or `<array>` for in-memory audio) and says what to do.
"""

from __future__ import annotations

import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np

from susurrus.errors import BadAudioError

SAMPLE_RATE = 16_000
SILENCE_PEAK = 1e-4  # below -80 dBFS everywhere: nothing a recognizer could hear


class AudioError(BadAudioError):
    """Base class of audio input errors; `.source` is the file (or '<array>')."""

    def __init__(self, source: str | Path, message: str) -> None:
        self.source = str(source)
        super().__init__(f"{source}: {message}")


class AudioFileNotFoundError(AudioError, FileNotFoundError):
    """The path does not exist."""


class AudioDecodeError(AudioError):
    """The file exists but no decoder could read it (corrupt, truncated, or not audio)."""


class EmptyAudioError(AudioError):
    """The audio (or the requested segment) has no samples."""


class SilentAudioError(AudioError):
    """Every sample is (near) zero."""


class InvalidSamplesError(AudioError):
    """NaN or infinite samples."""


class SampleRateError(AudioError):
    """An in-memory array came with a missing or impossible sample rate."""


class SegmentError(AudioError):
    """start/duration do not describe a segment inside the file."""


def _resample(audio: np.ndarray, sr: int) -> np.ndarray:
    if sr == SAMPLE_RATE:
        return audio
    from scipy.signal import resample_poly

    ratio = Fraction(SAMPLE_RATE, sr).limit_denominator(1000)
    return resample_poly(audio, ratio.numerator, ratio.denominator).astype(np.float32)


def _read_soundfile(path: Path, start: float, duration: float | None) -> tuple[np.ndarray, int]:
    import soundfile as sf

    with sf.SoundFile(str(path)) as f:
        sr = f.samplerate
        first = int(round(start * sr))
        if first > f.frames:
            raise SegmentError(path, f"start={start}s is past the end ({f.frames / sr:.2f}s)")
        n = -1 if duration is None else int(round(duration * sr))
        if duration is not None and first + n > f.frames + int(0.01 * sr):
            raise SegmentError(
                path,
                f"start={start}s + duration={duration}s is past the end ({f.frames / sr:.2f}s)",
            )
        f.seek(first)
        data = f.read(frames=n, dtype="float32", always_2d=True)
    return data.mean(axis=1), sr


def _read_ffmpeg(path: Path, start: float, duration: float | None) -> np.ndarray:
    if shutil.which("ffmpeg") is None:
        raise AudioDecodeError(path, "libsndfile cannot read it and ffmpeg is not installed "
                                     "(apt-get install ffmpeg)")
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-ss", f"{start}", "-i", str(path)]
    if duration is not None:
        cmd += ["-t", f"{duration}"]
    cmd += ["-f", "f32le", "-ac", "1", "-ar", str(SAMPLE_RATE), "-"]
    proc = subprocess.run(cmd, capture_output=True)
    if proc.returncode != 0:
        msg = proc.stderr.decode(errors="replace").strip().splitlines()
        raise AudioDecodeError(path, f"cannot decode ({msg[-1] if msg else 'ffmpeg failed'})")
    return np.frombuffer(proc.stdout, dtype=np.float32).copy()


def check_samples(audio: np.ndarray, source: str | Path, allow_silence: bool = False) -> np.ndarray:
    """Validate decoded samples: non-empty, finite, not all silent. Returns float32 mono."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1:
        raise AudioError(source, f"expected mono samples (1-D), got shape {audio.shape}")
    if audio.size == 0:
        raise EmptyAudioError(source, "no audio samples (empty file or empty segment)")
    if not np.isfinite(audio).all():
        bad = int((~np.isfinite(audio)).sum())
        raise InvalidSamplesError(source, f"{bad} NaN/inf samples; the file is damaged")
    if not allow_silence and float(np.abs(audio).max()) < SILENCE_PEAK:
        raise SilentAudioError(source, "all samples are silent (peak below -80 dBFS)")
    return audio


def load_audio(
    path: str | Path,
    start: float = 0.0,
    duration: float | None = None,
    allow_silence: bool = False,
) -> np.ndarray:
    """Read `path` (or the segment [start, start+duration) seconds) as 16 kHz mono float32.

    wav/flac/ogg/mp3 are read with libsndfile; anything else ffmpeg can decode goes through ffmpeg.
    Returns: (T,) float32 samples at 16 kHz.
    """
    path = Path(path)
    if not path.exists():
        raise AudioFileNotFoundError(path, "no such file")
    if path.is_dir():
        raise AudioDecodeError(path, "is a folder, not an audio file")
    if path.name.endswith((".jsonl", ".jsonl.gz", ".json")):
        raise AudioDecodeError(path, "is a manifest, not an audio file: score it with `susurrus "
                                     "eval --manifest`, or read its conversations with "
                                     "`susurrus transcribe --session`")
    if start < 0 or (duration is not None and duration <= 0):
        raise SegmentError(path, f"bad segment start={start}, duration={duration}: "
                                 "start must be >= 0 and duration > 0")
    if path.stat().st_size == 0:
        raise EmptyAudioError(path, "the file is empty (0 bytes)")
    import soundfile as sf

    try:
        audio, sr = _read_soundfile(path, start, duration)
        audio = _resample(audio, sr)
    except (sf.LibsndfileError, RuntimeError):
        audio = _read_ffmpeg(path, start, duration)
        if audio.size == 0 and start > 0:
            # ffmpeg gives no samples (and no error) when seeking past the end: report it as
            # the libsndfile path does, not as an empty file.
            raise SegmentError(path, f"start={start}s is past the end of the audio") from None
    return check_samples(audio, path, allow_silence)


def as_waveform(
    audio: np.ndarray | str | Path,
    sample_rate: int | None = None,
    name: str = "<array>",
    allow_silence: bool = False,
) -> np.ndarray:
    """API entry: a path is loaded; an array must say its `sample_rate` and is resampled to 16 kHz.

    Arrays may be (T,) or (T, channels) / (channels, T) with few channels; they are mixed to mono.
    """
    if isinstance(audio, (str, Path)):
        return load_audio(audio, allow_silence=allow_silence)
    arr = np.asarray(audio)
    if sample_rate is None:
        raise SampleRateError(name, "an audio array needs its sample rate: pass sample_rate=...")
    if not isinstance(sample_rate, (int, np.integer)) or sample_rate < 1000:
        raise SampleRateError(
            name, f"sample_rate={sample_rate!r} is not a plausible rate in Hz (e.g. 16000)"
        )
    if not np.issubdtype(arr.dtype, np.number):
        raise AudioError(name, f"expected numeric samples, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.integer):
        info = np.iinfo(arr.dtype)
        if info.min < 0:  # signed PCM: full scale is 2**(bits-1), so int16 -32768 -> -1.0
            arr = arr.astype(np.float64) / -float(info.min)
        else:  # unsigned PCM (e.g. 8-bit WAV) is offset by half its range
            half = float(info.max // 2 + 1)
            arr = (arr.astype(np.float64) - half) / half
    if arr.ndim == 2:
        arr = arr.mean(axis=1 if arr.shape[1] <= 8 else 0)
    arr = arr.astype(np.float32)
    if arr.size and np.isfinite(arr).all():
        arr = _resample(arr, int(sample_rate))
    return check_samples(arr, name, allow_silence)
