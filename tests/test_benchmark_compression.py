"""benchmarks/compression.py's plan: which systems the table trains, and how many tokens/s each."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from compression import add_intervals, markdown, options_for, plan, row  # noqa: E402
from susurrus.evaluate.results import EvalCounts, EvalResult  # noqa: E402
from susurrus.metrics.scores import CostCounts, EntityCounts, ErrorCounts  # noqa: E402

RATES = [50, 25, 16.7, 12.5, 10]


def test_the_k1_identities_are_trained_once_as_none_and_query_keeps_its_own_runs():
    systems = plan(["stack", "avgpool", "segment", "query"], RATES, Path("runs"))
    names = [d.name for _, _, d in systems]
    assert len(names) == len(set(names)) == 18  # 4 x 5, stack/avgpool/segment at 50 as one
    assert names.count("none-50") == 1 and "query-50" in names
    assert not any(n in names for n in ("stack-50", "avgpool-50", "segment-50"))
    assert {"stack-10", "avgpool-16.7", "segment-25", "query-12.5"} <= set(names)
    none = next(s for s in systems if s[0] == "none")
    assert none[1] == {"k": 1}


@pytest.mark.parametrize("rate, k", list(zip(RATES, [1, 2, 3, 4, 5], strict=True)))
def test_rates_map_to_integer_strides(rate, k):
    assert options_for("avgpool", rate) == {"k": k}
    assert options_for("query", rate) == {"num_queries": 1, "window": k}


def test_a_rate_that_is_not_50_over_an_integer_is_refused():
    with pytest.raises(SystemExit, match="rate 30"):
        options_for("stack", 30)


def _eval(by_session: dict[str, list[int]]) -> dict[str, EvalResult]:
    """What `susurrus eval` gives on test and test-ood (the same here): these sessions'
    (errors, words), entity recall 0.5 on first and repeated mentions, RTF 0.1, 100 MB."""
    errors = sum(e for e, _ in by_session.values())
    words = sum(w for _, w in by_session.values())
    counts = EvalCounts(wer=ErrorCounts(substitutions=errors, ref_words=words),
                        entities=EntityCounts(1, 2, 1, 2),
                        cost=CostCounts(audio_seconds=10.0, wall_seconds=1.0, turns=1,
                                        peak_memory_bytes=100 * 2**20),
                        wer_by_session={k: (e, w) for k, (e, w) in by_session.items()})
    split = EvalResult(model="m", engine="torch", manifest="test.jsonl", counts=counts)
    assert split.wer == errors / words and split.rtf == 0.1 and split.entity_recall == 0.5
    return {"test": split, "test-ood": split}


def test_the_table_gives_intervals_and_the_paired_difference_from_none():
    none = _eval({"a": [10, 100], "b": [20, 100], "c": [5, 50]})
    worse = _eval({"a": [12, 100], "b": [22, 100], "c": [7, 50]})  # +2 errors in every session
    evals = [none, worse]
    rows = [row("speech LLM (none)", "none", 50.0, none),
            row("speech LLM (avgpool)", "avgpool", 16.7, worse)]
    add_intervals(rows, evals)
    assert rows[0]["wer_test_vs_none"] == 0 and rows[0]["wer_test_vs_none_ci95"] == (0, 0)
    assert rows[1]["wer_test_vs_none"] == pytest.approx(6 / 250)
    lo, hi = rows[1]["wer_test_vs_none_ci95"]
    assert 0 < lo <= 6 / 250 <= hi  # worse in every conversation: the interval excludes 0
    lo, hi = rows[1]["wer_test_ci95"]
    assert lo < rows[1]["wer_test"] < hi
    table = markdown(rows, 100, ["train.valid_every=0"], {})
    assert "WER test − none (95% CI)" in table and "+0.024 (+0.0" in table and "+17%" in table
    assert "100 training steps (train.valid_every=0)" in table
    assert "test's 3 conversations (250 words)" in table
    assert "RTF: not timed yet" in table and rows[0]["rtf"] is None


def test_rtf_comes_from_the_timing_sitting_and_systems_it_missed_say_so():
    res = _eval({"a": [10, 100]})
    timing = {"rounds": 3, "utterances": 10, "audio_seconds": 41.2, "started": "2026-11-22 14:00",
              "machine": {"processor": "x86_64", "torch_threads": 2,
                          "busy_cpus_at_start": 0.1},
              "systems": {"none-50": {"rtf": 0.25, "rtf_by_round": [0.3, 0.26, 0.27]}}}
    rows = [row("speech LLM (none)", "none", 50.0, res, timing["systems"]["none-50"]),
            row("speech LLM (query)", "query", 10.0, res, None)]
    add_intervals(rows, [res, res])
    assert rows[0]["rtf"] == 0.25 and rows[0]["rtf_scoring_pass"] == 0.1
    assert rows[1]["rtf"] is None
    table = markdown(rows, 100, [], timing)
    assert "| 0.250 |" in table and "| – |" in table
    assert "3 interleaved rounds" in table and "first 10 test utterances (41 s)" in table
    assert "trained after that sitting" in table and "0.1 CPUs busy with other work" in table
