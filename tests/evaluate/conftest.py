"""Fixtures for the decode/evaluate tests: a tiny conversational corpus and a fake engine
installed, as a recognizer, in place of `susurrus.infer.load_recognizer` (see `fakes.py`)."""

from __future__ import annotations

import pytest

from susurrus.data.manifest import Talker, Utterance, write_manifest
from susurrus.testing.fakes import (
    HYPS,
    TURNS,
    Corpus,
    FakeEngine,
    SegmentsRecognizer,
    noise_clip,
)


@pytest.fixture
def corpus(tmp_path) -> Corpus:
    """The TURNS as a manifest (out of order on purpose), one noise clip per turn."""
    wav = tmp_path / "wav"
    wav.mkdir()
    utts, by_length = [], {}
    for k, (uid, session, turn, ref, _, entities) in enumerate(TURNS):
        samples = 4000 + 800 * k  # never SR: that is the warm-up's length
        by_length[samples] = uid
        utts.append(Utterance(uid, noise_clip(wav / f"{uid}.wav", samples, k), ref, session=session,
                              turn=turn, speaker="S", entities=tuple(entities)))
    path = write_manifest(utts, tmp_path / "talk.jsonl")
    return Corpus(path, utts, by_length, dict(HYPS))


@pytest.fixture
def mixture_corpus(tmp_path) -> Corpus:
    wav = tmp_path / "wav"
    wav.mkdir()
    utt = Utterance("mix0", noise_clip(wav / "mix0.wav", 5000, 0), talkers=(
        Talker("joe", 0.0, "Good morning."), Talker("ann", 0.1, "Hello there.")))
    return Corpus(write_manifest([utt], tmp_path / "mix.jsonl"), [utt], {5000: "mix0"},
                  {"mix0": "hello there good morning"})


@pytest.fixture
def use_engine(monkeypatch):
    """Make `susurrus.infer.load_recognizer` (looked up by `decode_manifest` at call time)
    return the given fake engine as a recognizer (`install.recognizer`, batching if `batch`);
    `install.asked` lists the (model, engine) it was asked for, `install.options` the options."""
    asked: list[tuple[str, str]] = []
    options: list[object] = []

    def install(engine: FakeEngine, batch: bool = False, count=None) -> FakeEngine:
        recognizer = SegmentsRecognizer(engine, batch=batch, count=count)

        def load_recognizer(model, engine_name="torch", *args, **kwargs):
            asked.append((model, engine_name))
            options.append(kwargs.get("options"))
            return recognizer

        monkeypatch.setattr("susurrus.infer.load_recognizer", load_recognizer)
        install.recognizer = recognizer  # type: ignore[attr-defined]
        return engine

    install.asked = asked  # type: ignore[attr-defined]
    install.options = options  # type: ignore[attr-defined]
    return install
