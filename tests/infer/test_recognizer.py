"""The recognizer interface without a model: hypotheses with talker streams, prompt sessions,
refusing what a recognizer cannot do, and the registry that picks one by family."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from susurrus.errors import (
    BadSessionError,
    IncompatibleOptionError,
    UnknownModelError,
    UsageError,
)
from susurrus.infer import registry
from susurrus.infer.recognizer import (
    Capabilities,
    PromptSession,
    Recognition,
    TalkerStream,
    check_context,
    check_prompt,
)
from susurrus.infer.transcript import Segment
from susurrus.testing.fakes import SegmentsRecognizer


class Echo:
    """Says the prompt it was given back (or 'nothing'), and records every call."""

    name = "echo"

    def __init__(self) -> None:
        self.prompts: list[str | None] = []

    def segments(self, audio, prompt, on_progress):
        self.prompts.append(prompt)
        return [Segment(0.0, 1.0, f" heard {audio.shape[0]}")]


def clip(samples: int) -> np.ndarray:
    return np.full(samples, 0.1, dtype=np.float32)


def test_a_recognition_joins_its_talker_streams():
    one = Recognition([TalkerStream([Segment(0, 1, " Hello"), Segment(1, 2, " there. ")])])
    assert one.text == "Hello there." and [s.text for s in one.segments] == [" Hello",
                                                                             " there. "]
    two = Recognition([TalkerStream([Segment(1.0, 2.0, " world", audio_tokens=3)], "ann"),
                       TalkerStream([], "bob"),
                       TalkerStream([Segment(0.5, 1.5, " hi", audio_tokens=2)], "joe")])
    assert two.text == "world hi"  # empty streams add nothing
    assert [s.start for s in two.segments] == [0.5, 1.0]  # all streams, in time order
    assert two.audio_tokens == 5


def test_a_prompt_session_prompts_with_the_window_of_earlier_transcripts():
    echo = Echo()
    session = PromptSession(SegmentsRecognizer(echo), "text", max_turns=2)
    results = [session.transcribe_turn(clip(100 + i), remember_as=r)
               for i, r in enumerate([" first ", None, "", "fourth"])]
    assert echo.prompts == [None, "first", "first heard 101", "heard 101"]
    assert [r.prior_turns for r in results] == [0, 1, 2, 2]
    assert [r.context_text_tokens for r in results] == [0, 1, 3, 2]  # words, by default
    assert results[1].text == "heard 101" and results[1].index == 1
    assert session.texts == [" first ", "heard 101", "", "fourth"]
    none = PromptSession(SegmentsRecognizer(echo), "none")
    none.add_turn(clip(5), "known")
    none.transcribe_turn(clip(6))
    assert echo.prompts[-1] is None  # context none: no prompt, ever


def test_a_prompt_session_saves_and_goes_on_after_a_restore(tmp_path):
    echo = Echo()
    recognizer = SegmentsRecognizer(echo)
    session = recognizer.session("text")
    session.add_turn(clip(5), "Siobhan flew to Paris.")
    path = session.save(tmp_path / "call.session")
    again = recognizer.restore_session(path)
    assert again.texts == ["Siobhan flew to Paris."] and again.max_turns is None
    again.transcribe_turn(clip(7))
    assert echo.prompts == ["Siobhan flew to Paris."]
    assert recognizer.restore_session(path, max_turns=0).prompt() is None
    bad = tmp_path / "bad.session"
    bad.write_bytes(b"\x80 not json")
    with pytest.raises(BadSessionError, match=r"bad\.session: not a susurrus prompt-session"):
        recognizer.restore_session(bad)
    (tmp_path / "other.session").write_text(json.dumps({"kind": "x", "version": 1, "texts": []}))
    with pytest.raises(BadSessionError, match="not a susurrus prompt-session"):
        recognizer.restore_session(tmp_path / "other.session")
    with pytest.raises(BadSessionError, match="no such session file"):
        recognizer.restore_session(tmp_path / "missing.session")


def test_what_a_recognizer_cannot_do_is_refused_naming_the_option():
    class NoPrompt:
        model_name, kind = "m", "a speech LLM"
        capabilities = Capabilities(prompt=False, contexts=("none", "text", "raw"))

    with pytest.raises(IncompatibleOptionError,
                       match=r"prompt: m is a speech LLM, .*no text prompt.*text, raw"):
        check_prompt(NoPrompt(), "Siobhan")
    check_prompt(NoPrompt(), None)
    check_prompt(NoPrompt(), "")
    with pytest.raises(IncompatibleOptionError,
                       match=r"context 'abstract': m is a speech LLM, .*none \| text \| raw"):
        check_context(NoPrompt(), "abstract")
    check_context(NoPrompt(), "raw")
    with pytest.raises(IncompatibleOptionError, match="context 'raw'"):
        PromptSession(SegmentsRecognizer(Echo()), "raw")
    for bad in (-1, "all", 1.5, True):
        with pytest.raises(UsageError, match="max_turns"):
            PromptSession(SegmentsRecognizer(Echo()), "text", max_turns=bad)


def _declares(folder: Path, family: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "recipe.yaml").write_text(yaml.safe_dump({"family": family, "model": {}}))
    return folder


def test_the_registry_builds_what_a_checkpoint_declares(tmp_path, monkeypatch):
    """A new family is a recognizer and one registry line; nothing else changes."""
    built: list[tuple] = []

    def toy(model, engine, device, options):
        built.append((model, engine, device))
        return SegmentsRecognizer(Echo(), model_name=model)

    monkeypatch.setitem(registry.RECOGNIZERS, "toy_ctc", toy)
    registry.load_recognizer.cache_clear()
    folder = _declares(tmp_path / "run" / "model", "toy_ctc")
    recognizer = registry.load_recognizer(str(folder.parent))  # a run folder: its model/
    assert built == [(str(folder.parent), "torch", "cpu")]
    assert recognizer.model_name == str(folder.parent)
    other = _declares(tmp_path / "dia", "diarizer")  # a family no recognizer is registered for
    with pytest.raises(UnknownModelError, match="diarizer model, not a speech recognizer"):
        registry.load_recognizer(str(other))
    registry.load_recognizer.cache_clear()


def test_the_registry_refuses_an_llm_and_an_unknown_engine_before_loading():
    with pytest.raises(UnknownModelError, match="'smollm2-135m-instruct' is a llm model"):
        registry.load_recognizer("smollm2-135m-instruct")
    with pytest.raises(IncompatibleOptionError, match="engine 'onnx'.*torch, faster-whisper"):
        registry.load_recognizer("whisper-tiny.en", "onnx")
