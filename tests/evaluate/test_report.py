"""`write_report`: a Markdown table per system and its PNG plots."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from susurrus.evaluate.evaluate import EvalResult
from susurrus.evaluate.report import load_results, markdown_table, system_name, write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _result(path: Path, context: str, manifest: str, **scores) -> Path:
    fields = dict(model="whisper-tiny.en", context=context, engine="torch", manifest=manifest,
                  n_utterances=5, n_words=16, wer=0.25, wer_cased=0.5, entity_recall=None,
                  entity_recall_first=None, entity_recall_repeat=None, ner_f1=None,
                  punct_f1=0.75, cap_f1=0.5, rtf=0.125, context_tokens_per_turn=0.0,
                  llm_audio_tokens_per_second=None, peak_memory_mb=300.0)
    path.write_text(EvalResult(**(fields | scores)).to_json())  # what `susurrus eval` writes
    return path


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _assert_png(path: Path) -> None:
    from PIL import Image

    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 1000
    with Image.open(path) as img:
        img.verify()
    with Image.open(path) as img:
        assert img.size[0] > 100 and img.size[1] > 100


def test_report_has_a_row_per_system_and_valid_plots(tmp_path):
    results = [
        _result(tmp_path / "none.json", "none", "data/talk.jsonl", wer=0.25,
                entity_recall=0.5, entity_recall_first=0.5, entity_recall_repeat=0.5),
        _result(tmp_path / "prompt.json", "prompt", "data/talk.jsonl", wer=0.125,
                entity_recall=0.75, entity_recall_first=0.5, entity_recall_repeat=1.0,
                context_tokens_per_turn=42.4),
        _result(tmp_path / "mix.json", "none", "data/mix.jsonl", cpwer=0.7,
                talker_count_acc=0.5),
    ]
    out = write_report(results, tmp_path / "report" / "report.md", title="Context study")
    text = out.read_text()
    assert text.startswith("# Context study\n")
    rows = [line for line in text.splitlines() if line.startswith("| whisper")]
    assert len(rows) == 3
    assert rows[0].startswith("| whisper-tiny.en [none] | talk | 0.250 | 0.500 | 0.500 |")
    assert rows[1].startswith("| whisper-tiny.en [prompt] | talk | 0.125 | 0.500 | 0.750 |")
    assert "| 42 | 5 |" in rows[1]  # context tokens per turn, utterances
    header = _cells(next(line for line in text.splitlines() if line.startswith("| system")))
    row = dict(zip(header, _cells(rows[2]), strict=True))
    assert row["cpWER"] == "0.700" and row["talker acc."] == "0.500"
    assert row["entity rec."] == "–"  # no value for this system: a dash, not 0
    assert "NER F1" not in header  # no system has it: the column is dropped

    for name in ("report_wer.png", "report_entities.png", "report_rtf.png"):
        _assert_png(out.parent / name)
        assert f"]({name})" in text


def test_columns_and_plots_without_values_are_dropped(tmp_path):
    out = write_report([_result(tmp_path / "r.json", "none", "talk.jsonl")], tmp_path / "r.md")
    text = out.read_text()
    for header in ("entity rec.", "first", "repeat", "NER F1", "cpWER", "talker acc."):
        assert f"| {header} |" not in text
    assert "| WER | cased WER | punct F1 | cap F1 | RTF | ctx tok/turn | utts |" in text
    assert not (tmp_path / "r_entities.png").exists() and "r_entities" not in text
    _assert_png(tmp_path / "r_wer.png")
    _assert_png(tmp_path / "r_rtf.png")


def test_a_results_file_may_hold_a_list(tmp_path):
    one = json.loads(_result(tmp_path / "a.json", "none", "talk.jsonl").read_text())
    (tmp_path / "both.json").write_text(json.dumps([one, one | {"context": "oracle-prompt"}]))
    rows = load_results([tmp_path / "a.json", tmp_path / "both.json"])
    assert [system_name(r) for r in rows] == ["whisper-tiny.en [none]"] * 2 + [
        "whisper-tiny.en [oracle-prompt]"]


def test_missing_values_draw_no_bar(tmp_path, monkeypatch):
    # a system scored on one manifest only: its bar on the other is absent, not a 0 (a
    # "perfect" WER)
    from matplotlib.axes import Axes

    drawn = []
    real_bar = Axes.bar

    def spy(self, x, height, *args, **kwargs):
        drawn.append((kwargs.get("label"), list(height)))
        return real_bar(self, x, height, *args, **kwargs)

    monkeypatch.setattr(Axes, "bar", spy)
    results = [_result(tmp_path / "a.json", "none", "talk.jsonl", wer=0.25),
               _result(tmp_path / "b.json", "none", "mix.jsonl", wer=0.5),
               _result(tmp_path / "c.json", "prompt", "talk.jsonl", wer=0.125)]
    write_report(results, tmp_path / "r.md")
    wer_bars = dict(drawn[:2])  # the WER plot comes first; manifests sorted: mix, talk
    assert wer_bars["whisper-tiny.en [none]"] == [0.5, 0.25]
    mix, talk = wer_bars["whisper-tiny.en [prompt]"]
    assert math.isnan(mix) and talk == 0.125


def test_no_results_is_an_error(tmp_path):
    (tmp_path / "empty.json").write_text("[]")
    with pytest.raises(ValueError, match="no results"):
        write_report([tmp_path / "empty.json"], tmp_path / "r.md")


def test_markdown_table_formats_missing_and_infinite_values():
    rows = [{"model": "m", "context": "none", "manifest": "x/y.jsonl", "wer": math.inf,
             "cpwer": None, "n_utterances": 1}]
    assert markdown_table(rows).splitlines() == [
        "| system | manifest | WER | utts |", "|---|---|---:|---:|", "| m [none] | y | inf | 1 |"]
