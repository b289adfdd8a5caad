"""benchmarks/distill_whisper.py: its five students differ only in the loss weights, and its
table shows every system on every test set."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))
import distill_whisper  # noqa: E402

from susurrus.train.recipe import load_recipe, recipe_to_dict  # noqa: E402


def test_the_variants_differ_only_in_their_loss_weights_and_augmentation():
    teacher = ["model.teacher_adapter="]
    recipes = {k: load_recipe(distill_whisper.RECIPE, [*o, *(teacher if t else [])])
               for k, (_, o, t) in distill_whisper.VARIANTS.items()}
    # exactly the students whose loss reads the teacher are given the adapted one
    assert {k for k, r in recipes.items() if r.model.uses_teacher} == {
        k for k, (_, _, t) in distill_whisper.VARIANTS.items() if t}
    weights = {k: (r.model.ce, r.model.ot > 0, r.model.rep > 0, r.model.rep_target,
                   r.data.augment.get("variants", 0)) for k, r in recipes.items()}
    assert weights == {"ce": (1.0, False, False, "teacher", 0),
                       "ce-ot": (1.0, True, False, "teacher", 0),
                       "ce-rep": (1.0, False, True, "teacher", 0),
                       "ce-rep-sentence": (1.0, False, True, "sentence", 0),
                       "ce-ot-rep": (1.0, True, True, "teacher", 0),
                       "ce-rep-aug": (1.0, False, True, "teacher", 2),
                       "ce-rep-aug-conv": (1.0, False, True, "teacher", 2)}
    # one variant's data differs, on purpose: the readings and the conversations
    assert distill_whisper.TRAIN_SETS == {"ce-rep-aug-conv": ("long/train-segments.jsonl",
                                                              "conv/train.jsonl")}
    plain = [recipe_to_dict(r) for r in recipes.values()]
    for d in plain:
        d["model"].pop("ot"), d["model"].pop("rep"), d["model"].pop("rep_target")
        d["data"].pop("augment")
    assert all(d == plain[0] for d in plain)  # same student, data, steps and seed


def test_the_table_has_every_system_on_every_set():
    scores = {"wer": 0.2, "wer_cased": 0.3, "punct_f1": 0.5, "cap_f1": 0.6, "ner_f1": None,
              "entity": 0.7, "rtf": 0.05, "recordings": 3, "words": 900, "seconds": 600.0,
              "wer_ci95": [0.15, 0.25], "vs_ce_ci95": [-0.01, 0.02],
              "wer_cased_ci95": [0.25, 0.35], "entity_first": 0.8, "entity_repeat": 0.6,
              "entities_from": "ner"}
    rows = [{"system": s["system"], **{n: scores for n in distill_whisper.SETS}}
            for s in distill_whisper.systems(Path("runs"))]
    table = distill_whisper.markdown({"steps": 200, "rows": rows})
    for name in distill_whisper.SETS:
        assert f"**{name}**" in table
    assert table.count("| CE-only fine-tuning | 0.200 (0.15…0.25) | 0.300 (0.25…0.35) | 0.500 | "
                       "0.600 | – | 0.80 / 0.60 |") == len(distill_whisper.SETS)
    assert len(rows) == 10 and "200 steps each" in table
    assert rows[-1]["system"] == "whisper-tiny.en-distilled (shipped, faster-whisper)"
    assert "names spaCy finds in each reference" in table
    # a set decoded by some systems only (ONLY) lists just those
    for r in rows:
        if r["system"] == "CE + token OT":
            del r["long-test-ood-degraded"]
    table = distill_whisper.markdown({"steps": 200, "rows": rows})
    assert table.count("| CE + token OT |") == len(distill_whisper.SETS) - 1
    assert table.count("| CE-only fine-tuning |") == len(distill_whisper.SETS)


def two_rows(ce, ot) -> list[dict]:
    """The rows of a CE-only student and an OT one with these results on every set, with the
    benchmark's intervals."""
    systems = [{"system": "CE-only fine-tuning", "model": "a", "engine": "torch"},
               {"system": "CE + token OT", "model": "b", "engine": "torch"}]
    evals = [{n: r for n in distill_whisper.SETS} for r in (ce, ot)]
    rows = [distill_whisper.row(s, e) for s, e in zip(systems, evals, strict=True)]
    distill_whisper.add_intervals(rows, evals)
    return rows


def test_cased_wer_gets_paired_intervals_over_recordings():
    from susurrus.evaluate.results import EvalCounts, EvalResult
    from susurrus.metrics.scores import CostCounts, ErrorCounts

    def result(errors: int) -> EvalResult:
        counts = sum((EvalCounts(wer=ErrorCounts(substitutions=1, ref_words=10),
                                 wer_cased=ErrorCounts(substitutions=errors + i, ref_words=20),
                                 wer_by_session={f"r{i}": (1, 10)},
                                 cased_by_session={f"r{i}": (errors + i, 20)},
                                 cost=CostCounts(turns=1)) for i in range(5)), EvalCounts())
        return EvalResult(model="m", engine="torch", manifest="x.jsonl", counts=counts)

    ce, ot = (r["long-test"] for r in two_rows(result(2), result(6)))
    lo, hi = ot["wer_cased_ci95"]
    assert lo <= ot["wer_cased"] <= hi and lo < hi
    assert ot["cased_vs_ce_ci95"] == pytest.approx((0.2, 0.2))  # 4 more errors of 20 in each
    assert ce["cased_vs_ce_ci95"] == (0.0, 0.0)


def test_the_table_shows_punctuation_per_mark_from_the_counts():
    from susurrus.evaluate.results import EvalCounts, EvalResult
    from susurrus.metrics.scores import CostCounts, ErrorCounts, F1Counts

    marks = {".": F1Counts(3, 1, 0), ",": F1Counts(1, 1, 2), "?": F1Counts(0, 0, 1),
             "!": F1Counts()}
    counts = EvalCounts(wer=ErrorCounts(substitutions=1, ref_words=10), punct=F1Counts(4, 2, 3),
                        punct_by_mark=marks, cost=CostCounts(audio_seconds=60.0, turns=1),
                        wer_by_session={"r0": (1, 10)})
    result = EvalResult(model="m", engine="torch", manifest="x.jsonl", counts=counts)
    system = {"system": "CE-only fine-tuning", "model": "runs/distill-ce", "engine": "torch"}
    r = distill_whisper.row(system, {n: result for n in distill_whisper.SETS})
    for n in distill_whisper.SETS:
        r[n]["wer_ci95"] = (0.05, 0.15)
    line = next(x for x in distill_whisper.markdown({"steps": 10, "rows": [r]}).splitlines()
                if x.startswith("| CE-only"))
    # F1 = 2tp / (2tp + fp + fn): full stop 6/7, comma 2/5, question mark 0 (its one missed)
    assert line.endswith("| 0.857 | 0.400 | 0.000 |")
    assert r["long-test"]["punct_by_mark"]["?"] == {"tp": 0, "fp": 0, "fn": 1}


def test_punctuation_f1_gets_paired_intervals_over_recordings():
    from susurrus.evaluate.results import EvalCounts, EvalResult
    from susurrus.metrics.scores import CostCounts, F1Counts

    def result(tp: int) -> EvalResult:
        sessions = {f"r{i}": {".": F1Counts(tp + i, 1, 2), "?": F1Counts(0, 0, 1)}
                    for i in range(6)}
        counts = sum((EvalCounts(punct=sum(m.values(), F1Counts()), punct_by_mark=m,
                                 punct_by_session={k: m}, wer_by_session={k: (1, 10)},
                                 cost=CostCounts(turns=1)) for k, m in sessions.items()),
                     EvalCounts(punct_by_mark={".": F1Counts()}))
        return EvalResult(model="m", engine="torch", manifest="x.jsonl", counts=counts)

    rows = two_rows(result(2), result(5))
    ce, ot = (r["long-test-ood"] for r in rows)
    assert set(ce["f1_ci95"]) == {"punct_f1", "punct_f1 .", "punct_f1 ,", "punct_f1 ?"}
    lo, hi = ot["f1_ci95"]["punct_f1"]
    assert lo <= ot["punct_f1"] <= hi and lo < hi
    assert ce["f1_vs_ce_ci95"]["punct_f1"] == (0.0, 0.0)  # against itself, on the same draws
    assert ot["f1_vs_ce_ci95"]["punct_f1 ."][0] > 0  # 3 more hits in every recording
    assert ce["f1_ci95"]["punct_f1 ?"] == (0.0, 0.0)  # every question mark missed
    line = next(x for x in distill_whisper.markdown({"steps": 1, "rows": rows}).splitlines()
                if x.startswith("| CE + token OT"))
    assert f"| {ot['punct_f1']:.3f} ({lo:.2f}…{hi:.2f}) |" in line


def test_the_degraded_set_is_the_same_manifest_through_a_bad_room_and_line(tmp_path):
    import json

    import numpy as np
    import soundfile as sf

    rng = np.random.default_rng(0)
    (tmp_path / "audio").mkdir()
    clean = (0.1 * np.sin(np.arange(3 * 16000) / 16000 * 2 * np.pi * 220)).astype(np.float32)
    sf.write(tmp_path / "audio" / "r0.flac", clean + 0.001 * rng.standard_normal(len(clean)),
             16000)
    lines = [{"id": "r0", "audio": "audio/r0.flac", "text": "A reading."},
             {"id": "r0-b", "audio": "audio/r0.flac", "text": "Again.", "start": 1.0,
              "duration": 1.0}]
    src = tmp_path / "test-ood.jsonl"
    src.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    out = tmp_path / "degraded" / "test-ood.jsonl"
    distill_whisper.degrade(src, out)
    got = [json.loads(x) for x in out.read_text().splitlines()]
    assert [g | {"audio": x["audio"]} for g, x in zip(got, lines, strict=True)] == lines
    assert {g["audio"] for g in got} == {"audio/r0.flac"}  # degraded once, beside the manifest
    noisy, _ = sf.read(out.parent / "audio" / "r0.flac")
    assert len(noisy) == len(clean)  # the reverb tail is cut: times stay the manifest's
    snr = 10 * np.log10(np.mean(clean ** 2) / np.mean((noisy - clean) ** 2))
    assert snr < 15  # 10 dB of pink noise, a room and a codec on top


def test_a_set_without_the_ce_only_row_gets_intervals_but_no_differences():
    from susurrus.evaluate.results import EvalCounts, EvalResult
    from susurrus.metrics.scores import CostCounts, ErrorCounts

    counts = sum((EvalCounts(wer=ErrorCounts(substitutions=i, ref_words=10),
                             wer_by_session={f"r{i}": (i, 10)}, cost=CostCounts(turns=1))
                  for i in range(4)), EvalCounts())
    result = EvalResult(model="m", engine="torch", manifest="x.jsonl", counts=counts)
    systems = [{"system": "CE-only fine-tuning", "model": "a", "engine": "torch"},
               {"system": "CE + representation", "model": "b", "engine": "torch"}]
    evals = [{n: result for n in distill_whisper.SETS} for _ in systems]
    del evals[0]["long-test-ood-degraded"]  # CE-only was not decoded on it
    rows = [distill_whisper.row(s, e) for s, e in zip(systems, evals, strict=True)]
    distill_whisper.add_intervals(rows, evals)
    degraded = rows[1]["long-test-ood-degraded"]
    assert "wer_ci95" in degraded and "vs_ce_ci95" not in degraded
    assert "vs_ce_ci95" in rows[1]["long-test"]
