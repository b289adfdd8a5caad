"""`write_report`: a Markdown table per system and its PNG plots; `susurrus report` refusing
what is not results JSON and what would overwrite a file."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from susurrus.evaluate.evaluate import EvalCounts, EvalResult
from susurrus.evaluate.report import load_results, markdown_table, system_name, write_report
from susurrus.metrics.scores import (
    CostCounts,
    CountAccuracy,
    CpErrorCounts,
    EntityCounts,
    ErrorCounts,
    F1Counts,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _result(path: Path, context: str, manifest: str, wer: int = 4,
            entities: tuple[int, int, int, int] | None = None, ctx_tokens: int = 0,
            mixtures: bool = False) -> Path:
    """What `susurrus eval` writes for 5 utterances of 16 words: `wer` errors (4: WER 0.25),
    cased WER 0.5, punctuation F1 0.75, capitalization F1 0.5, RTF 0.125, 300 MB; `entities`
    (first hits, first total, repeat hits, repeat total); with `mixtures` cpWER 0.7 and
    talker-count accuracy 0.5."""
    counts = EvalCounts(
        wer=ErrorCounts(substitutions=wer, ref_words=16),
        wer_cased=ErrorCounts(substitutions=4, ref_words=8), punct=F1Counts(3, 1, 1),
        cap=F1Counts(1, 1, 1), entities=EntityCounts(*(entities or (0, 0, 0, 0))),
        cpwer=CpErrorCounts(substitutions=7, ref_words=10) if mixtures else CpErrorCounts(),
        talker_count=CountAccuracy(1, 2) if mixtures else CountAccuracy(),
        cost=CostCounts(audio_seconds=8.0, wall_seconds=1.0, turns=5,
                        prior_context_tokens=ctx_tokens, peak_memory_bytes=300 * 2**20))
    mode, oracle = (context, False) if context != "text (oracle)" else ("text", True)
    path.write_text(EvalResult(model="whisper-tiny.en", engine="torch", manifest=manifest,
                               counts=counts, context=mode, oracle=oracle).to_json())
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
        _result(tmp_path / "none.json", "none", "data/talk.jsonl", wer=4,
                entities=(1, 2, 1, 2)),  # recall 0.5, first 0.5, repeat 0.5
        _result(tmp_path / "text.json", "text (oracle)", "data/talk.jsonl", wer=2,
                entities=(1, 2, 2, 2), ctx_tokens=212),  # 0.75, 0.5, 1.0; 42.4 a turn
        _result(tmp_path / "mix.json", "none", "data/mix.jsonl", mixtures=True),
    ]
    out = write_report(results, tmp_path / "report" / "report.md", title="Context study")
    text = out.read_text()
    assert text.startswith("# Context study\n")
    rows = [line for line in text.splitlines() if line.startswith("| whisper")]
    assert len(rows) == 3
    assert rows[0].startswith("| whisper-tiny.en [none] | talk | 0.250 | 0.500 | 0.500 |")
    assert rows[1].startswith("| whisper-tiny.en [text (oracle)] | talk | 0.125 | 0.500 | "
                              "0.750 |")
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
    # 'oracle-prompt': Whisper's oracle context as results before issue 15 spelled it
    (tmp_path / "both.json").write_text(json.dumps([one, one | {"context": "oracle-prompt"}]))
    rows = load_results([tmp_path / "a.json", tmp_path / "both.json"])
    assert [system_name(r) for r in rows] == ["whisper-tiny.en [none]"] * 2 + [
        "whisper-tiny.en [text (oracle)]"]
    assert all(isinstance(r, EvalResult) for r in rows)


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
    results = [_result(tmp_path / "a.json", "none", "talk.jsonl", wer=4),
               _result(tmp_path / "b.json", "none", "mix.jsonl", wer=8),
               _result(tmp_path / "c.json", "text", "talk.jsonl", wer=2)]
    write_report(results, tmp_path / "r.md")
    wer_bars = dict(drawn[:2])  # the WER plot comes first; manifests sorted: mix, talk
    assert wer_bars["whisper-tiny.en [none]"] == [0.5, 0.25]
    mix, talk = wer_bars["whisper-tiny.en [text]"]
    assert math.isnan(mix) and talk == 0.125


def test_no_results_is_an_error(tmp_path):
    (tmp_path / "empty.json").write_text("[]")
    with pytest.raises(ValueError, match="no results"):
        write_report([tmp_path / "empty.json"], tmp_path / "r.md")


def test_markdown_table_formats_missing_and_infinite_values():
    # insertions against an empty reference: WER inf; no entities, NER or mixtures: no column
    r = EvalResult(model="m", engine="torch", manifest="x/y.jsonl", counts=EvalCounts(
        wer=ErrorCounts(insertions=2), cost=CostCounts(audio_seconds=1.0, turns=1)))
    assert markdown_table([r]).splitlines() == [
        "| system | manifest | WER | cased WER | punct F1 | cap F1 | RTF | ctx tok/turn | utts |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
        "| m [none] | y | inf | 0.000 | 1.000 | 1.000 | 0.000 | 0 | 1 |"]


def test_markdown_table_shows_punctuation_per_mark_when_scored():
    marks = {".": F1Counts(1, 0, 1), ",": F1Counts(0, 1, 1), "?": F1Counts()}
    new = EvalResult(model="m", engine="torch", manifest="y.jsonl", counts=EvalCounts(
        punct=F1Counts(1, 1, 2), punct_by_mark=marks, cost=CostCounts(turns=1)))
    old = EvalResult(model="old", engine="torch", manifest="y.jsonl", counts=EvalCounts(
        punct=F1Counts(1, 1, 2), cost=CostCounts(turns=1)))
    head, _, row_new, row_old = markdown_table([new, old]).splitlines()
    cols = _cells(head)
    assert cols[cols.index("punct F1"):cols.index("punct F1") + 4] == [
        "punct F1", ". F1", ", F1", "? F1"]
    at = cols.index(". F1")
    assert _cells(row_new)[at:at + 3] == ["0.667", "0.000", "1.000"]
    assert _cells(row_old)[at:at + 3] == ["–", "–", "–"]  # results from before per-mark scores


# ---------------------------------------------------------------- `susurrus report`, careless use


def _report(capsys, *args: str) -> tuple[int, str]:
    from susurrus.cli.main import main

    code = main(["report", *args])
    return code, capsys.readouterr().err


def _one_error_line(err: str, *parts: str) -> None:
    assert err.startswith("error: ") and err.count("\n") == 1, err  # one line, no traceback
    for part in parts:
        assert part in err, (part, err)


def _transcript(path: Path) -> Path:
    """What `susurrus transcribe --format json` writes."""
    from susurrus.infer.transcript import Segment, Transcript, render

    t = Transcript("a.wav", "Hello there.", [Segment(0.0, 1.2, "Hello there.")], 1.2,
                   "whisper-tiny.en", "torch", 0.3)
    path.write_text(render(t, "json"))
    return path


def test_report_on_a_transcript_says_what_it_expects(tmp_path, capsys):
    good = _result(tmp_path / "r.json", "none", "talk.jsonl")
    bad = _transcript(tmp_path / "a.json")
    code, err = _report(capsys, str(good), str(bad), "--out", str(tmp_path / "rep.md"))
    assert code == 2
    _one_error_line(err, str(bad), "transcript", "susurrus eval --out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "r.json"]  # nothing written


@pytest.mark.parametrize("content, says", [("{\"model\": ", "not JSON"),
                                           ("\xff\xfe", "not JSON"),
                                           ("[1, 2]", "item 0")])
def test_report_on_broken_json_names_the_file(tmp_path, capsys, content, says):
    bad = tmp_path / "broken.json"
    bad.write_bytes(content.encode("latin-1"))
    code, err = _report(capsys, str(bad))
    assert code == 2
    _one_error_line(err, str(bad), says, "susurrus eval --out")
    assert not (tmp_path / "report.md").exists()


def test_report_on_a_folder_or_a_missing_file(tmp_path, capsys):
    for target in (tmp_path, tmp_path / "missing.json"):
        code, err = _report(capsys, str(target), "--out", str(tmp_path / "r.md"))
        assert code == 2
        _one_error_line(err, str(target))
    assert not (tmp_path / "r.md").exists()


@pytest.mark.parametrize("existing", ["rep.md", "rep_wer.png", "rep_rtf.png"])
def test_report_refuses_to_overwrite_the_report_or_a_plot(tmp_path, capsys, existing):
    results = _result(tmp_path / "r.json", "none", "talk.jsonl")
    out = tmp_path / "rep.md"
    (tmp_path / existing).write_text("mine")
    code, err = _report(capsys, str(results), "--out", str(out))
    assert code == 2
    _one_error_line(err, str(tmp_path / existing), "--overwrite")
    assert (tmp_path / existing).read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["r.json", existing])

    code, _ = _report(capsys, str(results), "--out", str(out), "--overwrite")
    assert code == 0 and out.read_text().startswith("# susurrus report")
    _assert_png(tmp_path / "rep_wer.png")


def test_a_plot_the_report_does_not_draw_is_no_clash(tmp_path, capsys):
    results = _result(tmp_path / "r.json", "none", "talk.jsonl")  # no entities: no such plot
    (tmp_path / "report_entities.png").write_text("mine")
    code, _ = _report(capsys, str(results))
    assert code == 0 and (tmp_path / "report_entities.png").read_text() == "mine"


def test_the_report_goes_beside_the_first_results_file(tmp_path, capsys, monkeypatch):
    study = tmp_path / "study"
    study.mkdir()
    results = [_result(study / "a.json", "none", "talk.jsonl"),
               _result(tmp_path / "b.json", "text", "talk.jsonl")]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    code, _ = _report(capsys, *map(str, results))
    assert code == 0
    assert (study / "report.md").exists() and (study / "report_wer.png").exists()
    assert list(elsewhere.iterdir()) == []  # nothing in the current folder
    code, err = _report(capsys, *map(str, results))  # a second run: refused, not replaced
    assert code == 2
    _one_error_line(err, str(study / "report.md"), "--overwrite")


def test_report_out_that_is_a_folder_is_refused(tmp_path, capsys):
    results = _result(tmp_path / "r.json", "none", "talk.jsonl")
    folder = tmp_path / "out"
    folder.mkdir()
    code, err = _report(capsys, str(results), "--out", str(folder))
    assert code == 2
    _one_error_line(err, str(folder), "folder")
    assert list(folder.iterdir()) == []
