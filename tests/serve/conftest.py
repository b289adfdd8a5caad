"""Fixtures of the server tests: the clips they upload."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.serve.common import SR, tone


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("clips")
    sf.write(d / "silence.wav", np.zeros(SR * 2, np.float32), SR)
    (d / "not-audio.wav").write_bytes(b"this is not a wav file at all" * 20)
    return {"short": tone(d / "short.wav", 1.5), "long": tone(d / "long.wav", 2.5, 330),
            "silence": d / "silence.wav", "bad": d / "not-audio.wav"}
