"""Local text-to-speech through the Debian engines (no network): espeak-ng, flite, festival.

Each call writes one 16-kHz mono WAV. Errors name the engine and what to install.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Literal

TTSEngine = Literal["espeak-ng", "flite", "festival"]
INSTALL_HINT = "install it with scripts/setup.sh (or apt-get install espeak-ng flite festival sox)"


class TTSError(RuntimeError):
    """A TTS engine is missing or failed."""


def _run(cmd: list[str], engine: str, stdin: str | None = None) -> None:
    if shutil.which(cmd[0]) is None:
        raise TTSError(f"{engine}: `{cmd[0]}` not found; {INSTALL_HINT}")
    proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True)
    if proc.returncode != 0:
        raise TTSError(f"{engine} failed ({proc.returncode}): {proc.stderr.strip()[-300:]}")


def speak(
    text: str,
    out: str | Path,
    engine: TTSEngine = "espeak-ng",
    voice: str | None = None,
    speed: int | None = None,
) -> Path:
    """Synthesize `text` into `out` (16 kHz mono WAV).

    voice: engine-specific ('en-us' for espeak-ng, 'slt' for flite, 'kal_diphone' for festival).
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.wav"
        if engine == "espeak-ng":
            cmd = ["espeak-ng", "-v", voice or "en-us", "-w", str(raw)]
            if speed:
                cmd += ["-s", str(speed)]
            _run(cmd + [text], engine)
        elif engine == "flite":
            _run(["flite", "-voice", voice or "slt", "-t", text, "-o", str(raw)], engine)
        elif engine == "festival":
            txt = Path(tmp) / "in.txt"
            txt.write_text(text)
            scheme = f"(voice_{voice})" if voice else ""
            _run(["text2wave", str(txt), "-o", str(raw)] + (["-eval", scheme] if scheme else []),
                 engine)
        else:
            raise TTSError(f"unknown TTS engine {engine!r}; choose espeak-ng, flite or festival")
        _run(["sox", str(raw), "-r", "16000", "-c", "1", "-b", "16", str(out)], "sox")
    return out
