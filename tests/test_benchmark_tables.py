"""The committed benchmark tables are what their scripts render from the committed JSON, byte for
byte: a table in benchmarks/results/ (and the docs that include it) is never edited by hand."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
RESULTS = BENCH / "results"
sys.path.insert(0, str(BENCH))
import context  # noqa: E402
import fallback  # noqa: E402
import first_pass  # noqa: E402
import generalization  # noqa: E402
import multitalker  # noqa: E402
import serve_load  # noqa: E402
import train_throughput  # noqa: E402
import transcribe_baseline  # noqa: E402
from common import render_main  # noqa: E402

import compression  # noqa: E402

TABLES = [  # (results stem, the function its script renders the table with)
    ("compression", compression.render),
    ("context-cpu", context.render),
    ("transcribe_baseline", transcribe_baseline.markdown),
    ("serve_load", serve_load.render),
    ("generalization", generalization.render),
    ("multitalker", multitalker.render),
    ("fallback", fallback.render),
    ("first_pass", first_pass.render),
]
if (RESULTS / "train_throughput.json").exists():  # measured by the lead on a quiet machine
    TABLES.append(("train_throughput", train_throughput.render))


@pytest.mark.parametrize("stem, render", TABLES, ids=[t[0] for t in TABLES])
def test_the_committed_table_renders_from_the_committed_json(stem, render):
    results = json.loads((RESULTS / f"{stem}.json").read_text())
    assert render(results) == (RESULTS / f"{stem}.md").read_text()


def test_the_json_alone_decides_the_table():
    # a changed number in the JSON is a changed table: nothing is read from elsewhere
    results = json.loads((RESULTS / "compression.json").read_text())
    before = compression.render(results)
    results["rows"][0]["wer_test"] = 0.5
    results["steps"] = 7
    after = compression.render(results)
    assert "| Whisper tiny.en (torch) | – | – | 0.500 (" in after and "7 training steps" in after
    assert before != after


def test_render_option_prints_the_table(capsys):
    path = RESULTS / "context-cpu.json"
    assert render_main(context.render, ["--render", str(path)]) is True
    assert capsys.readouterr().out == (RESULTS / "context-cpu.md").read_text()
    assert render_main(context.render, ["--steps", "3"]) is False  # not asked: the benchmark runs


def test_a_context_rows_repeat_recall_gain_is_paired_with_its_no_context_row(tmp_path):
    """first_pass.context_gains: the repeated-entity recall of a context row minus that of the
    same weights without context, from the two rows' hypotheses, with its paired interval."""
    lines = []
    for c in range(3):  # a name said in every turn: 1 first mention, 2 repeats per session
        for t, text in enumerate(["Call Okafor.", "Okafor said yes.", "Thanks, Okafor."]):
            lines.append({"id": f"s{c}-t{t}", "audio": "a.flac", "duration": 1.0, "text": text,
                          "session": f"s{c}", "turn": t, "entities": ["Okafor"]})
    manifest = tmp_path / "test-ood.jsonl"
    manifest.write_text("".join(json.dumps(u) + "\n" for u in lines))

    def hyps(key: str, right: set[str]) -> None:
        (tmp_path / key).mkdir()
        rows = [{"id": u["id"], "text": u["text"] if u["id"] in right else "Call a car."}
                for u in lines]
        (tmp_path / key / "test-ood.json.hyps.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in [{"config": {}}, *rows]))

    hyps("r-none", {"s0-t0", "s0-t1"})  # repeats: 1 of 6
    hyps("r-ctx", {"s0-t0", "s0-t1", "s0-t2", "s1-t2", "s2-t1"})  # repeats: 4 of 6
    rows_in = [{"key": "r-none"}, {"key": "r-ctx", "baseline": "r-none"},
               {"key": "r-gone", "baseline": "r-none"}]  # not decoded: no gain
    rows = [{"test-ood": {}}, {"test-ood": {}}, {"test-ood": {}}]
    first_pass.context_gains(rows_in, rows, tmp_path, manifest)
    assert rows[0]["test-ood"] == {} and rows[2]["test-ood"] == {}
    got = rows[1]["test-ood"]
    assert got["repeat_gain"] == pytest.approx(3 / 6)
    lo, hi = got["repeat_gain_ci95"]
    assert 0 < lo <= 3 / 6 <= hi <= 4 / 6
