"""Helpers for the CLI tests: noise clips, and a runner that starts the CLI with a fake engine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf


def noise(path: Path, samples: int) -> Path:
    """A clip of `samples` samples of faint noise (its length tells the fake engines apart)."""
    audio = np.random.default_rng(samples).standard_normal(samples) * 0.1
    sf.write(path, audio.astype(np.float32), 16_000)
    return path


# `susurrus` as its console script runs it, with every engine replaced by one that answers
# "utt<samples>", says on stderr which clip it decodes, and sleeps on the clip of $SLOW_ON
# samples (so that a test can interrupt it there). Ctrl-C raises KeyboardInterrupt even where the
# test runner was started in the background (a shell's background job inherits SIGINT ignored,
# and Python then installs no handler).
RUNNER = """
import importlib, os, signal, sys, time
signal.signal(signal.SIGINT, signal.default_int_handler)
import susurrus.infer
from susurrus.infer.transcript import Segment

class Slow:
    name = "slow"
    def segments(self, audio, prompt, on_progress):
        n = audio.shape[0]
        print(f"decoding {n}", file=sys.stderr, flush=True)
        if str(n) == os.environ.get("SLOW_ON"):
            time.sleep(60)
        return [Segment(0.0, 1.0, f" utt{n}")]

from susurrus.testing.fakes import SegmentsRecognizer
recognizer = SegmentsRecognizer(Slow())
susurrus.infer.load_recognizer = lambda *a, **k: recognizer
importlib.import_module("susurrus.infer.transcribe").load_recognizer = lambda *a, **k: recognizer
from susurrus.cli.main import main
sys.exit(main())
"""


def start_cli(*args: str, slow_on: int | None = None, **kw) -> subprocess.Popen:
    """The CLI with the fake engine above, in a new process (stdout, stderr piped, text)."""
    env = {**os.environ, "SLOW_ON": str(slow_on)}
    return subprocess.Popen([sys.executable, "-c", RUNNER, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, **kw)
