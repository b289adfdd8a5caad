"""benchmarks/multitalker.py end to end on tiny random models and a few mixtures: every system's
rows, cpWER by talker count with intervals, the oracle count, a teacher that cannot load, and
its cpWER equal to meeteval's on the streams it decoded."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from meeteval.wer import cp_word_error_rate

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))
import common  # noqa: E402
import multitalker  # noqa: E402

from susurrus.data.manifest import Talker, Utterance, write_manifest  # noqa: E402
from susurrus.metrics.normalize import normalize  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")
SR = 16_000
TEXTS = ["the train is late", "see you at noon", "okay then", "where is the key",
         "bring the red box", "we can walk"]


def noise(seconds: float, seed: int) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(int(seconds * SR))).astype(
        np.float32)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """test and test-ood: a 1-, a 2- and a 3-talker mixture each (noise, 1-2 s), and in test
    one over 30 s that the benchmark must leave out."""
    root = tmp_path_factory.mktemp("mix")
    for s, name in enumerate(multitalker.SETS):
        utts = []
        for n in multitalker.COUNTS:
            path = root / f"{name}-{n}.wav"
            sf.write(path, noise(1.0 + 0.3 * n, 10 * s + n), SR)
            talkers = tuple(Talker(f"v{k}", 0.2 * k, TEXTS[(n + k + s) % len(TEXTS)], 0.8)
                            for k in range(n))
            utts.append(Utterance(f"{name}-{n}", path, talkers=talkers))
        if name == "test":
            sf.write(root / "long.wav", noise(31.0, 99), SR)
            utts.append(Utterance("long", root / "long.wav", text="too long"))
        write_manifest(utts, root / f"{name}.jsonl")
    return root


@pytest.fixture(scope="module")
def mt_checkpoint(tiny_whisper_dir, tmp_path_factory) -> Path:
    """A tiny random multi-talker model whose heads write words and whose count head says 2."""
    from transformers import WhisperForConditionalGeneration

    from susurrus.encoders.whisper import AnyLengthWhisperEncoder
    from susurrus.models.multitalker import MultiTalkerConfig
    from susurrus.models.multitalker.checkpoint import from_encoder, save_checkpoint

    whisper = WhisperForConditionalGeneration.from_pretrained(tiny_whisper_dir)
    config = MultiTalkerConfig(encoder=str(tiny_whisper_dir), count_hidden=8,
                               separator_options={"hidden": 16, "branch_hidden": 16})
    torch.manual_seed(0)
    model = from_encoder(AnyLengthWhisperEncoder(whisper.model.encoder), config)
    with torch.no_grad():
        for head in model.heads:
            head.weight.normal_(0.0, 3.0)
            head.bias[model.vocab.index[" "]] += 4.0
        model.count_head[-1].weight.zero_()
        model.count_head[-1].bias.copy_(torch.tensor([0.0, 5.0, 0.0]))
    return save_checkpoint(model, tmp_path_factory.mktemp("mt") / "model",
                           {"task": "multitalker_ctc", "model": {**vars(config)}})


@pytest.fixture(scope="module")
def teacher(data, tiny_whisper_dir, tiny_llm_dir, tmp_path_factory) -> Path:
    """A tiny speech LLM trained one step with model.sot=true: the LLM-SOT teacher's shape."""
    from susurrus.train.loop import train
    from susurrus.train.recipe import load_recipe

    out = tmp_path_factory.mktemp("runs") / "sot"
    recipe = load_recipe(common.ROOT / "recipes" / "speech_llm" / "sot.yaml", [
        f"model.encoder={tiny_whisper_dir}", f"model.llm={tiny_llm_dir}",
        "model.projector_hidden=32", "model.lora.r=2", "model.lora.dropout=0.0",
        "model.compressor_options.k=2", f"data.train=[{data / 'test-ood.jsonl'}]",
        f"data.valid={data / 'test-ood.jsonl'}", "data.batch_seconds=20", "train.steps=1",
        "train.save_every=1", "train.valid_every=0", "train.warmup_steps=1",
        "train.align_steps=0", "train.init=", "train.precision=fp32", f"train.out={out}"])
    train(recipe, progress=False, cache_root=tmp_path_factory.mktemp("features"),
          log=lambda _: None)
    return out


@pytest.fixture(scope="module")
def results(data, mt_checkpoint, teacher, tiny_whisper_dir, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("results")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(common, "RESULTS", out)
        multitalker.main(["--data", str(data), "--whisper", str(tiny_whisper_dir),
                          "--whisper-engines", "torch", "--teacher", str(teacher),
                          "--model", f"tiny={mt_checkpoint}", "--name", "mt"])
    assert (out / "mt_cpwer.png").stat().st_size > 0
    return {"json": json.loads((out / "mt.json").read_text()),
            "md": (out / "mt.md").read_text(), "cache": data / "bench"}


def test_every_system_gets_its_rows_on_both_sets(results, tiny_whisper_dir):
    rows = results["json"]["rows"]
    assert [(r["system"], r["count"]) for r in rows] == [
        (f"Whisper {tiny_whisper_dir.name} (torch)", "always 1"), ("LLM-SOT teacher", "SOT"),
        ("encoder-only tiny", "count head"), ("encoder-only tiny", "oracle count")]
    sets = results["json"]["sets"]
    assert sets["test"]["dropped"] == ["long"]  # over 30 s: left out, and said so
    assert sets["test"]["by_count"] == sets["test-ood"]["by_count"] == {"1": 1, "2": 1, "3": 1}
    for r in rows:
        assert r["error"] is None and r["total_params"] > 0 and r["peak_rss_mib"] > 50
        for name in multitalker.SETS:
            s = r[name]
            assert set(s["by_count"]) == {"1", "2", "3"} and s["mixtures"] == 3 and s["rtf"] > 0
            lo, hi = s["cpwer_ci95"]
            assert lo <= s["cpwer"] <= hi
            assert sum(n for _, _, n in s["confusion"]) == 3
    whisper, sot, routed, oracle = rows
    assert whisper["trained_params"] == 0 and routed["trained_params"] > 0
    assert 0 < routed["trained_params"] < routed["total_params"]
    assert sot["trained_params"] < sot["total_params"]
    for name in multitalker.SETS:
        assert whisper[name]["confusion"] == [[1, 1, 1], [2, 1, 1], [3, 1, 1]]
        assert routed[name]["confusion"] == [[1, 2, 1], [2, 2, 1], [3, 2, 1]]  # the head: 2
        assert oracle[name]["confusion"] == [[1, 1, 1], [2, 2, 1], [3, 3, 1]]
        assert oracle[name]["count_accuracy"] == 1.0
        assert routed[name]["count_accuracy"] == pytest.approx(1 / 3)
    assert "**test-ood**" in results["md"]
    assert "| encoder-only tiny | oracle count |" in results["md"]
    assert "1 over 30 s left out" in results["md"]


def test_cpwer_equals_meeteval_on_the_streams_each_system_wrote(results, data):
    from susurrus.data.manifest import read_manifest

    rows = results["json"]["rows"]
    checked = 0
    for key, mode, row in (("whisper-torch", "predicted", rows[0]),
                           ("mt-tiny", "predicted", rows[2]), ("mt-tiny", "oracle", rows[3])):
        cache = json.loads((results["cache"] / f"{key}.json").read_text())
        for name in multitalker.SETS:
            utts = read_manifest(data / f"{name}.jsonl")
            refs = {u.id: [t.text for t in u.talkers] for u in utts}
            streams = cache[mode][name]["streams"]
            errors = words = 0
            for mid, hyp in streams.items():
                theirs = cp_word_error_rate([normalize(t) for t in refs[mid]],
                                            [normalize(t) for t in hyp],
                                            reference_sort=False, hypothesis_sort=False)
                assert tuple(cache[mode][name]["by_mixture"][mid]) == (theirs.errors,
                                                                      theirs.length)
                errors, words = errors + theirs.errors, words + theirs.length
                checked += 1
            assert row[name]["cpwer"] == pytest.approx(errors / words)
            assert errors > 0  # random models: something to count
    assert checked == 18


def test_a_teacher_that_cannot_load_is_a_row_that_says_why(data, mt_checkpoint, tmp_path):
    system = {"system": "LLM-SOT teacher", "model": str(mt_checkpoint), "engine": "torch",
              "kind": "teacher", "key": "teacher"}
    result = multitalker.score_system(system, data)
    assert "holds no speech-LLM checkpoint" in result["error"]
    [row] = multitalker.rows_of(system, result)
    line = next(x for x in multitalker.table([row], "test") if x.startswith("| LLM-SOT"))
    assert "not run: " in line and line.count("|") == 12  # the header's 11 columns


def test_the_test_sets_are_made_with_the_synth_commands_real_flags(tmp_path, monkeypatch):
    from susurrus.cli.synth import add_synth_arguments

    calls = []
    monkeypatch.setattr(multitalker, "run", calls.append)
    multitalker.ensure_mixtures(tmp_path, 0.5)
    [cmd] = calls
    args = add_synth_arguments(argparse.ArgumentParser()).parse_args(
        cmd[cmd.index("synth") + 1:])
    assert (args.kind, args.out, args.splits, args.talkers) == (
        "mixtures", tmp_path, ("test", "test-ood"), (1, 2, 3))
    assert (args.overlapped_share, args.hours) == (0.3, 1.0)  # 0.5 h for each of two splits
    for name in multitalker.SETS:
        (tmp_path / f"{name}.jsonl").write_text("")
    multitalker.ensure_mixtures(tmp_path, 0.5)
    assert len(calls) == 1  # there: nothing made again


def test_the_table_renders_from_the_json_alone(results, capsys):
    path = results["cache"].parent / "results.json"
    path.write_text(json.dumps(results["json"]))
    assert common.render_main(multitalker.render, ["--render", str(path)])
    assert capsys.readouterr().out == results["md"]


def test_a_cached_system_is_decoded_again_only_when_it_changed(results, data, monkeypatch):
    cached = json.loads((results["cache"] / "mt-tiny.json").read_text())
    calls = []
    monkeypatch.setattr(multitalker.subprocess, "run", lambda cmd, **kw: calls.append(cmd))
    system = cached["system"]
    assert multitalker.scored(system, data, results["cache"], fresh=False) == cached
    assert calls == []  # the same model and engine: the cache
    multitalker.scored({**system, "model": "runs/other"}, data, results["cache"], fresh=False)
    multitalker.scored(system, data, results["cache"], fresh=True)
    assert [json.loads(c[c.index("--worker") + 1])["model"] for c in calls] == [
        "runs/other", system["model"]]
