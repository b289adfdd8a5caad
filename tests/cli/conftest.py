"""Fixtures of the CLI tests: a small conversational manifest and a fake engine."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from susurrus.data.manifest import Utterance, write_manifest
from susurrus.infer.transcript import Segment
from tests.cli.common import noise


@pytest.fixture
def manifest(tmp_path) -> Path:
    """Two turns of one session, and a second session of one turn."""
    utts = [Utterance(uid, noise(tmp_path / f"{uid}.wav", n), text, session=s, turn=t)
            for uid, n, text, s, t in [("s0", 4000, "Hello there.", "a", 0),
                                       ("s1", 5000, "General Kenobi.", "a", 1),
                                       ("s2", 6000, "Another one.", "b", 0)]]
    return write_manifest(utts, tmp_path / "talk.jsonl")


@pytest.fixture
def fake_engine(monkeypatch):
    """`load_recognizer` (of `eval` and of `transcribe`) returns, as a recognizer, an engine that
    echoes a fixed text and records (samples, prompt) of each call (eval's first call is the
    warm-up)."""

    class Echo:
        name = "echo"

        def __init__(self) -> None:
            self.calls: list[tuple[int, str | None]] = []

        def segments(self, audio, prompt, on_progress):
            self.calls.append((audio.shape[0], prompt))
            return [Segment(0.0, 1.0, " hello there")]

    from susurrus.testing.fakes import SegmentsRecognizer

    engine = Echo()
    recognizer = SegmentsRecognizer(engine)
    engine.recognizer = recognizer  # a test may set `recognizer.suspect`
    monkeypatch.setattr("susurrus.infer.load_recognizer", lambda *a, **k: recognizer)
    monkeypatch.setattr(importlib.import_module("susurrus.infer.transcribe"), "load_recognizer",
                        lambda *a, **k: recognizer)
    return engine
