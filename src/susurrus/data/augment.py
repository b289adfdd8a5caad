"""Augmentation that changes the voice and the channel of 16-kHz mono speech (issue 16, item 2).

Small pieces, each picked by name from `PIECES`, chained in a fixed physical order: the talker
(speed, tempo, pitch), the room (reverb), the scene (noise), then the channel (band-limit,
telephone, codec). `draw_chain` draws one chain per (seed, utterance id, variant) from its own
RNG, so variant k of an utterance is always the same audio, whichever process makes it and in
whatever order; variant 0 is the clean original (an empty chain), so a feature cache keyed by
(utterance id, variant) holds the clean features under variant 0.

How each piece is done, and why:
- speed: polyphase resampling (scipy `resample_poly`), which changes tempo and pitch together as
  Kaldi's 0.9/1.0/1.1 perturbation does (Ko et al. 2015); exact length n/f, no subprocess.
- tempo, pitch: `sox tempo` / `sox pitch` (WSOLA) through a pipe: numpy/scipy have no
  time-scale modification, and sox's is reliable, fast and deterministic. Pitch output is trimmed
  or padded to the input's exact length. Without sox they raise `MissingDependencyError`.
- reverb: a synthetic room impulse response (a unit direct path then exponentially decaying noise
  with the drawn RT60), `fftconvolve` in full, so the tail lengthens and the onset stays.
- noise: white, pink (1/f) or babble (the utterance itself, shifted and summed) scaled so the SNR
  against the signal is exactly the drawn one.
- bandlimit: a zero-phase Butterworth band-pass with drawn edges.
- telephone: 8-kHz resample, 300-3400 Hz band-pass, 8-bit mu-law companding, back to 16 kHz.
- codec: an ffmpeg round trip through libopus or libmp3lame at a low bitrate, trimmed or padded
  to the input's length; a missing encoder raises `MissingDependencyError` naming it.
Clipping: a chain never hard-clips; if its output peaks above 1 the whole waveform is scaled down
to a peak of `PEAK` (a gain change, which keeps SNRs and adds no distortion).
"""

from __future__ import annotations

import functools
import hashlib
import json
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import numpy as np

from susurrus.errors import BadAudioError, BadRecipeError, MissingDependencyError

SAMPLE_RATE = 16_000
# Bump when a piece's arithmetic changes: cached features of old variants must not be reused.
VERSION = 1
PEAK = 0.99  # the peak a chain's output is scaled to when it would exceed 1
ORDER = ("speed", "tempo", "pitch", "reverb", "noise", "bandlimit", "telephone", "codec")
NoiseKind = Literal["white", "pink", "babble"]
Codec = Literal["opus", "mp3"]
_ENCODERS = {"opus": ("libopus", "ogg"), "mp3": ("libmp3lame", "mp3")}


@dataclass(frozen=True)
class AugmentConfig:
    """Which pieces an augmented variant may get, how often, and over which ranges."""

    # Probability that each piece (a name in ORDER) is in a variant's chain; absent = never.
    probabilities: dict[str, float] = field(default_factory=lambda: {
        "speed": 0.5, "tempo": 0.2, "pitch": 0.3, "reverb": 0.3, "noise": 0.5,
        "bandlimit": 0.15, "telephone": 0.1, "codec": 0.1})
    # Speed factors drawn uniformly (>1 = faster and higher); Kaldi's three by default.
    speed_factors: tuple[float, ...] = (0.9, 1.0, 1.1)
    # Tempo factor range (length / factor, pitch kept), drawn uniformly.
    tempo_range: tuple[float, float] = (0.85, 1.15)
    # Pitch shift range in semitones (length kept), drawn uniformly.
    pitch_semitones: tuple[float, float] = (-3.0, 3.0)
    # Reverberation time RT60 range in seconds (time for the tail to decay by 60 dB).
    rt60_range: tuple[float, float] = (0.15, 0.8)
    # Signal-to-noise ratio range in dB for the noise piece.
    snr_db_range: tuple[float, float] = (5.0, 25.0)
    # Noise kinds drawn uniformly: white, pink (1/f) or babble (the utterance, shifted and summed).
    noise_kinds: tuple[NoiseKind, ...] = ("white", "pink", "babble")
    # Band-limit low edge range (Hz) and high edge range (Hz), each drawn uniformly.
    bandlimit_low_hz: tuple[float, float] = (50.0, 400.0)
    bandlimit_high_hz: tuple[float, float] = (3000.0, 7000.0)
    # Lossy codecs drawn uniformly for the codec piece (ffmpeg encoders libopus, libmp3lame).
    codecs: tuple[Codec, ...] = ("opus", "mp3")
    # Codec bitrate range in kbit/s, drawn uniformly and rounded to an integer.
    codec_kbps: tuple[float, float] = (8.0, 32.0)

    def __post_init__(self) -> None:
        errors = _config_errors(self)
        if errors:
            raise BadRecipeError("augment: " + "; ".join(errors))


def _range_error(name: str, lo_hi: tuple[float, float], low: float, high: float) -> str | None:
    if len(lo_hi) != 2 or not low <= lo_hi[0] <= lo_hi[1] <= high:
        return f"{name}: a (low, high) pair with {low} <= low <= high <= {high}, got {lo_hi}"
    return None


def _config_errors(c: AugmentConfig) -> list[str]:
    """Every invalid field of `c`, each naming it (all reported at once, STYLE.md rule 4)."""
    errors = [f"probabilities.{k}: unknown piece; choose from {', '.join(ORDER)}"
              for k in c.probabilities if k not in PIECES]
    errors += [f"probabilities.{k}: a probability in [0, 1], got {p}"
               for k, p in c.probabilities.items() if not 0.0 <= p <= 1.0]
    if not c.speed_factors or not all(0.5 <= f <= 2.0 for f in c.speed_factors):
        errors.append(f"speed_factors: factors in [0.5, 2], got {c.speed_factors}")
    errors += [e for e in (
        _range_error("tempo_range", c.tempo_range, 0.5, 2.0),
        _range_error("pitch_semitones", c.pitch_semitones, -12.0, 12.0),
        _range_error("rt60_range", c.rt60_range, 0.05, 3.0),
        _range_error("snr_db_range", c.snr_db_range, -10.0, 60.0),
        _range_error("bandlimit_low_hz", c.bandlimit_low_hz, 0.0, 1000.0),
        _range_error("bandlimit_high_hz", c.bandlimit_high_hz, 2000.0, 7900.0),
        _range_error("codec_kbps", c.codec_kbps, 6.0, 128.0)) if e]
    if not c.noise_kinds or not set(c.noise_kinds) <= {"white", "pink", "babble"}:
        errors.append(f"noise_kinds: some of white, pink, babble; got {c.noise_kinds}")
    if not c.codecs or not set(c.codecs) <= set(_ENCODERS):
        errors.append(f"codecs: some of {', '.join(_ENCODERS)}; got {c.codecs}")
    return errors


@dataclass(frozen=True)
class Step:
    """One drawn piece of a chain: its registry name and the parameters it was drawn with."""

    name: str  # a key of PIECES
    params: dict[str, Any]  # what `Piece.apply` reads; `seed` where the piece needs random samples

    def __str__(self) -> str:
        shown = ", ".join(f"{k}={_fmt(v)}" for k, v in self.params.items() if k != "seed")
        return f"{self.name}({shown})"


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


@dataclass(frozen=True)
class Piece:
    """A swappable augmentation: draw parameters from the config, then apply them to audio."""

    draw: Callable[[np.random.Generator, AugmentConfig], dict[str, Any]]
    apply: Callable[..., np.ndarray]  # apply(audio (T,) float32, **params) -> (T',) float32


# --- the talker: speed, tempo, pitch ----------------------------------------------------------

def speed(audio: np.ndarray, factor: float) -> np.ndarray:
    """Resample to play `factor` times faster, pitch up by the same ratio; (T,) -> (~T/f,)."""
    from scipy.signal import resample_poly

    ratio = Fraction(factor).limit_denominator(100)
    if ratio == 1:
        return audio.astype(np.float32, copy=True)
    return resample_poly(audio, ratio.denominator, ratio.numerator).astype(np.float32)


def _sox(audio: np.ndarray, effect: list[str]) -> np.ndarray:
    """Run one sox effect over raw float32 samples through pipes."""
    if shutil.which("sox") is None:
        raise MissingDependencyError(
            f"augment: the {effect[0]} piece needs `sox`; install it with scripts/setup.sh "
            "(apt-get install sox) or set its probability to 0")
    raw = ["-t", "raw", "-r", str(SAMPLE_RATE), "-e", "floating-point", "-b", "32", "-c", "1"]
    cmd = ["sox", "-D", "-V1", *raw, "-", *raw, "-", *effect]
    proc = subprocess.run(cmd, input=np.ascontiguousarray(audio, np.float32).tobytes(),
                          capture_output=True)
    if proc.returncode != 0:
        raise RuntimeError(f"sox {' '.join(effect)} failed: {proc.stderr.decode()[-300:]}")
    return np.frombuffer(proc.stdout, dtype=np.float32).copy()


def _fit_length(audio: np.ndarray, n: int) -> np.ndarray:
    """Trim or zero-pad (at the end) to exactly `n` samples."""
    if len(audio) >= n:
        return audio[:n]
    return np.concatenate([audio, np.zeros(n - len(audio), np.float32)])


def tempo(audio: np.ndarray, factor: float) -> np.ndarray:
    """Play `factor` times faster keeping the pitch (sox WSOLA); (T,) -> (~T/f,)."""
    return _sox(audio, ["tempo", "-s", f"{factor:.6f}"])


def pitch(audio: np.ndarray, semitones: float) -> np.ndarray:
    """Shift the pitch by `semitones` keeping the length (sox); (T,) -> (T,)."""
    return _fit_length(_sox(audio, ["pitch", f"{100.0 * semitones:.3f}"]), len(audio))


# --- the room and the scene: reverb, noise ------------------------------------------------------

def room_impulse_response(rt60: float, seed: int) -> np.ndarray:
    """A synthetic RIR: a unit direct path, then Gaussian noise decaying 60 dB in `rt60` s; (L,)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(rt60 * SAMPLE_RATE)) / SAMPLE_RATE
    # amplitude e^{-6.908 t / rt60}: energy falls by 60 dB (10^-6) at t = rt60
    rir = rng.standard_normal(len(t)) * np.exp(-np.log(1000.0) * t / rt60) * 0.3
    rir[0] = 1.0  # the direct path: the onset arrives first and undelayed
    return rir.astype(np.float32)


def reverb(audio: np.ndarray, rt60: float, seed: int) -> np.ndarray:
    """Convolve with a synthetic RIR, RMS kept; (T,) -> (T + L - 1,) (the tail lengthens)."""
    from scipy.signal import fftconvolve

    wet = fftconvolve(audio, room_impulse_response(rt60, seed), mode="full")
    rms_in, rms_out = _rms(audio), _rms(wet)
    gain = rms_in / rms_out if rms_out > 0 else 1.0
    return (wet * gain).astype(np.float32)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if len(x) else 0.0


def make_noise(kind: NoiseKind, audio: np.ndarray, seed: int) -> np.ndarray:
    """Unscaled noise of `audio`'s length: white, pink (1/f power) or babble of the audio itself."""
    rng = np.random.default_rng(seed)
    n = len(audio)
    if kind == "white":
        return rng.standard_normal(n)
    if kind == "pink":
        spectrum = np.fft.rfft(rng.standard_normal(n))
        f = np.arange(len(spectrum), dtype=np.float64)
        f[0] = 1.0
        return np.fft.irfft(spectrum / np.sqrt(f), n)
    # babble: 4-6 circularly shifted, sign-flipped copies of the utterance (other "talkers")
    talkers = [np.roll(audio, int(rng.integers(n // 5, n - n // 5 + 1)))[::-1]
               for _ in range(int(rng.integers(4, 7)))]
    return np.sum(talkers, axis=0, dtype=np.float64)


def add_noise(audio: np.ndarray, kind: NoiseKind, snr_db: float, seed: int) -> np.ndarray:
    """Add noise scaled so 10 log10(P_signal / P_noise) is exactly `snr_db`; (T,) -> (T,)."""
    noise = make_noise(kind, audio, seed)
    p_signal, p_noise = _rms(audio) ** 2, _rms(noise) ** 2
    if p_signal == 0.0 or p_noise == 0.0:
        return audio.astype(np.float32, copy=True)
    noise *= np.sqrt(p_signal / (p_noise * 10.0 ** (snr_db / 10.0)))
    return (audio + noise).astype(np.float32)


# --- the channel: band-limit, telephone, codec --------------------------------------------------

def band_pass(audio: np.ndarray, low_hz: float, high_hz: float, rate: int = SAMPLE_RATE,
              order: int = 8) -> np.ndarray:
    """Zero-phase Butterworth band-pass (filtfilt: -6 dB at each edge); (T,) -> (T,)."""
    from scipy.signal import butter, sosfiltfilt

    sos = butter(order, [low_hz, high_hz], btype="bandpass", fs=rate, output="sos")
    padlen = min(3 * 2 * len(sos), len(audio) - 1)  # short clips: filtfilt needs padlen < T
    return sosfiltfilt(sos, audio, padlen=max(padlen, 0)).astype(np.float32)


def mu_law(audio: np.ndarray, bits: int = 8) -> np.ndarray:
    """Compand to `bits`-bit mu-law codes and back (G.711's quantization); (T,) -> (T,)."""
    mu = 2**bits - 1
    x = np.clip(audio, -1.0, 1.0)
    code = np.round((np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu) + 1) / 2 * mu)
    y = 2 * code / mu - 1
    return (np.sign(y) * np.expm1(np.abs(y) * np.log1p(mu)) / mu).astype(np.float32)


def telephone(audio: np.ndarray) -> np.ndarray:
    """A narrowband call: 8 kHz, 300-3400 Hz, 8-bit mu-law, back to 16 kHz; (T,) -> (T,)."""
    from scipy.signal import resample_poly

    narrow = band_pass(resample_poly(audio, 1, 2), 300.0, 3400.0, rate=8_000)
    return _fit_length(resample_poly(mu_law(narrow), 2, 1).astype(np.float32), len(audio))


def codec(audio: np.ndarray, codec: Codec, kbps: int) -> np.ndarray:
    """Encode with ffmpeg's libopus / libmp3lame at `kbps` and decode; (T,) -> (T,)."""
    encoder, container = _ENCODERS[codec]
    if shutil.which("ffmpeg") is None or encoder not in _ffmpeg_encoders():
        raise MissingDependencyError(
            f"augment: the codec piece needs ffmpeg with the {encoder} encoder; install ffmpeg "
            f"(scripts/setup.sh) or drop {codec!r} from codecs")
    pcm = ["-f", "f32le", "-ar", str(SAMPLE_RATE), "-ac", "1"]
    with tempfile.TemporaryDirectory(prefix="susurrus-codec-") as tmp:
        coded = Path(tmp) / f"x.{container}"
        _ffmpeg([*pcm, "-i", "pipe:0", "-c:a", encoder, "-b:a", f"{kbps}k", str(coded)],
                audio.astype(np.float32).tobytes())
        out = _ffmpeg(["-i", str(coded), *pcm, "pipe:1"], b"")
    return _fit_length(np.frombuffer(out, dtype=np.float32).copy(), len(audio))


def _ffmpeg(args: list[str], stdin: bytes) -> bytes:
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-threads", "1", *args]
    proc = subprocess.run(cmd, input=stdin, capture_output=True)
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg {' '.join(args)} failed: {proc.stderr.decode()[-300:]}")
    return proc.stdout


@functools.lru_cache(maxsize=1)
def _ffmpeg_encoders() -> str:
    proc = subprocess.run(["ffmpeg", "-hide_banner", "-encoders"], capture_output=True, text=True)
    return proc.stdout


# --- the registry, chains ----------------------------------------------------------------------

def _uniform(rng: np.random.Generator, lo_hi: tuple[float, float]) -> float:
    return float(rng.uniform(lo_hi[0], lo_hi[1]))


def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(2**31))


PIECES: dict[str, Piece] = {
    "speed": Piece(lambda r, c: {"factor": float(r.choice(c.speed_factors))}, speed),
    "tempo": Piece(lambda r, c: {"factor": _uniform(r, c.tempo_range)}, tempo),
    "pitch": Piece(lambda r, c: {"semitones": _uniform(r, c.pitch_semitones)}, pitch),
    "reverb": Piece(lambda r, c: {"rt60": _uniform(r, c.rt60_range), "seed": _seed(r)}, reverb),
    "noise": Piece(lambda r, c: {"kind": str(r.choice(c.noise_kinds)),
                                 "snr_db": _uniform(r, c.snr_db_range), "seed": _seed(r)},
                   add_noise),
    "bandlimit": Piece(lambda r, c: {"low_hz": _uniform(r, c.bandlimit_low_hz),
                                     "high_hz": _uniform(r, c.bandlimit_high_hz)}, band_pass),
    "telephone": Piece(lambda r, c: {}, telephone),
    "codec": Piece(lambda r, c: {"codec": str(r.choice(c.codecs)),
                                 "kbps": round(_uniform(r, c.codec_kbps))}, codec),
}
assert tuple(PIECES) == ORDER


def variant_rng(seed: int, utt_id: str, variant: int) -> np.random.Generator:
    """The RNG of one (seed, utterance, variant): stable across processes (no salted `hash`)."""
    digest = hashlib.sha256(utt_id.encode()).digest()
    return np.random.default_rng([seed, variant, int.from_bytes(digest[:8], "little")])


def draw_chain(config: AugmentConfig, seed: int, utt_id: str = "", variant: int = 1
               ) -> tuple[Step, ...]:
    """The pieces variant `variant` of `utt_id` gets, in ORDER; variant 0 is the clean original.

    Every piece's coin and parameters are drawn whether or not it is used, so changing one
    probability does not reshuffle the other pieces' parameters.
    """
    if variant < 0:
        raise BadRecipeError(f"augment: variant must be >= 0 (0 = clean), got {variant}")
    if variant == 0:
        return ()
    rng = variant_rng(seed, utt_id, variant)
    chain = []
    for name in ORDER:
        coin, params = rng.random(), PIECES[name].draw(rng, config)
        if coin < config.probabilities.get(name, 0.0):
            chain.append(Step(name, params))
    return tuple(chain)


def apply_chain(audio: np.ndarray, chain: tuple[Step, ...]) -> np.ndarray:
    """Run `chain` over `audio` (T,), keeping the peak <= 1 by a gain; returns (T',) float32."""
    audio = np.asarray(audio)
    if audio.ndim != 1 or not np.issubdtype(audio.dtype, np.floating) or len(audio) < 2:
        raise BadAudioError(f"augment: audio must be a 1-D float waveform of >= 2 samples at "
                            f"{SAMPLE_RATE} Hz, got {audio.dtype} of shape {audio.shape}")
    if not np.all(np.isfinite(audio)):
        raise BadAudioError("augment: audio has NaN or infinite samples")
    out = audio.astype(np.float32, copy=True)
    for step in chain:
        out = PIECES[step.name].apply(out, **step.params)
    assert out.ndim == 1 and np.all(np.isfinite(out)), (step, out.shape)
    peak = float(np.max(np.abs(out))) if len(out) else 0.0
    if peak > 1.0:
        out *= PEAK / peak  # a gain, not a clip: no distortion, the SNR is kept
    return out


def augment(audio: np.ndarray, config: AugmentConfig, seed: int, utt_id: str = "",
            variant: int = 1) -> np.ndarray:
    """Variant `variant` of utterance `utt_id` (0 = a copy of the clean audio); (T,) -> (T',)."""
    return apply_chain(audio, draw_chain(config, seed, utt_id, variant))


def utterance_variant(audio: np.ndarray, config: AugmentConfig | None, seed: int, utt_id: str,
                      variant: int, max_samples: int, min_samples: int = 2) -> np.ndarray:
    """The audio a training variant hears: variant 0, or a clip too short to augment, is the
    clean `audio`; an augmented one that outgrows `max_samples` is the clean audio too (its
    words are kept rather than cut). One rule for the encoder features and the first-pass
    hypotheses of a variant (`train.data.FeatureCache`, `data.hypotheses`)."""
    if not variant or config is None or audio.size <= min_samples:
        return audio
    augmented = augment(audio, config, seed, utt_id, variant=variant)
    return augmented if augmented.size <= max_samples else audio


def time_scale(chain: tuple[Step, ...]) -> float:
    """What a chain does to time: a moment t of the clean audio is at t * scale in its output
    (speed and tempo by factor f give 1/f each; the other pieces keep time, reverb only adds a
    tail). What timestamp targets of augmented audio must be multiplied by."""
    scale = 1.0
    for step in chain:
        if step.name == "speed":  # the resampling ratio actually used, not the drawn float
            scale /= float(Fraction(step.params["factor"]).limit_denominator(100))
        elif step.name == "tempo":
            scale /= step.params["factor"]
    return scale


def describe(chain: tuple[Step, ...]) -> str:
    """What a chain does, in order, e.g. 'speed(factor=1.1) -> noise(kind=pink, snr_db=12.3)'."""
    return " -> ".join(str(step) for step in chain) if chain else "clean"



def fingerprint(config: AugmentConfig, seed: int) -> str:
    """A short stable key of (VERSION, config, seed): with (utterance id, variant) it names one
    augmented waveform, so a feature cache can key `{utt_id}/{variant}` under this fingerprint."""
    blob = json.dumps({"version": VERSION, "seed": seed, "config": asdict(config)},
                      sort_keys=True, default=list)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
