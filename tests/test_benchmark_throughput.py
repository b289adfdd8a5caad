"""benchmarks/train_throughput.py: one run gives the matmul rates, the training step in fp32 and
bf16 with honestly counted FLOPs, and a table rendered from its JSON alone."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import train_throughput as bench  # noqa: E402

from susurrus.pretrained import EMBEDDED  # noqa: E402
from susurrus.train.precision import MARGIN, Rates, decide  # noqa: E402


@pytest.fixture(scope="module")
def quick(tmp_path_factory, one_thread) -> tuple[dict, Path]:
    """One `--quick --steps 2 --warmup 1` run (tiny random models) and its output folder."""
    if not (EMBEDDED["whisper-tiny.en"].installed and EMBEDDED["smollm2-135m-instruct"].installed):
        pytest.skip("the embedded tokenizers' packages are not installed (scripts/setup.sh)")
    out = tmp_path_factory.mktemp("throughput")
    results = bench.main(["--quick", "--steps", "2", "--warmup", "1", "--out", str(out)])
    return results, out


def test_one_run_writes_the_json_and_the_table_it_renders(quick):
    results, out = quick
    saved = json.loads((out / "train_throughput-quick.json").read_text())
    assert saved == json.loads(json.dumps(results))
    table = (out / "train_throughput-quick.md").read_text()
    assert bench.render(saved) == table
    assert "Quick run" in table and "| fp32 |" in table and "| bf16 autocast |" in table
    assert not (out / "train_throughput.json").exists()  # never the real table's name


def test_the_step_is_timed_in_both_precisions(quick):
    results, _ = quick
    rows = {r["precision"]: r for r in results["steps"]}
    assert set(rows) == {"fp32", "bf16"}
    flops = results["flops"]["forward"] + results["flops"]["backward"]
    for r in rows.values():
        assert r["steps"] == 2 and 0 < r["min_seconds"] <= r["seconds"]
        assert r["tflops"] == pytest.approx(flops / r["seconds"] / 1e12)


def test_the_matmul_rates_and_autos_choice_are_reported(quick):
    results, _ = quick
    assert len(results["matmuls"]) == 3
    assert all(r["fp32_tflops"] > 0 and r["bf16_tflops"] > 0 for r in results["matmuls"])
    probe = results["matmuls"][-1]
    assert "probe" in probe["matmul"]
    assert results["auto"] == {"precision": decide(Rates(probe["fp32_tflops"],
                                                          probe["bf16_tflops"])),
                               "margin": MARGIN}


def test_flops_are_counted_for_a_frozen_llm_not_six_n_t(quick):
    results, _ = quick
    counted, hand = results["flops"], results["analytic"]
    # FlopCounterMode and the hand count agree pass by pass (attention included)
    assert counted["forward"] == pytest.approx(hand["forward"], rel=0.03)
    assert counted["backward"] == pytest.approx(hand["backward"], rel=0.03)
    # frozen weights get no weight gradient: the backward is about the forward, not twice it
    assert 0.8 < counted["backward"] / counted["forward"] < 1.3
    assert hand["six_n_t"] > 5 * (counted["forward"] + counted["backward"])


def test_the_batch_is_one_bucket_of_the_recipes_padded_seconds(quick):
    results, _ = quick
    b = results["batch"]
    assert b["padded_audio_seconds"] <= 60.0 and b["rows"] >= 8  # data.batch_seconds: 60
    assert b["real_positions"] <= b["positions"] and b["labels"] > b["rows"]


def test_the_batch_is_the_largest_bucket_around_the_median_turn():
    turns = [(f"t{s}", float(s)) for s in (5, 1, 9, 3, 7, 2, 8, 4, 6, 10, 11)]
    # sorted 1..11, the middle is 6 s: 6, 7 (14 s), then 5 (3 x 7 = 21 s), then 8 would be 32
    assert [s for _, s in bench.middle_bucket(turns, 21.0)] == [5.0, 6.0, 7.0]
    assert [s for _, s in bench.middle_bucket(turns, 20.0)] == [6.0, 7.0]
    assert [s for _, s in bench.middle_bucket(turns, 5.0)] == [6.0]  # never empty
    assert len(bench.middle_bucket(turns, 1000.0)) == len(turns)


def test_the_synthesized_turns_have_text_and_speech_lengths():
    turns = bench.synth_turns(sessions=3)
    assert len(turns) > 10 and all(text and 0.3 < s < 30 for text, s in turns)


def test_attention_flops_count_every_query_key_pair_with_grouped_keys():
    # 4 query heads reading 2 key/value heads (GQA): two matmuls of 10 x 10 pairs x 16 wide
    assert bench._attention_flops((1, 4, 10, 16), (1, 2, 10, 16), (1, 2, 10, 16)) == (
        2 * 4 * 10 * 10 * 32)
    assert bench._attention_backward_flops(
        (1, 4, 10, 16), (1, 4, 10, 16), (1, 2, 10, 16), (1, 2, 10, 16)) == 4 * 4 * 10 * 10 * 32
