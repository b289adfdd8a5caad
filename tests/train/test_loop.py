"""`train` end to end on tiny random models: the run folder, exact resume, refusing other runs."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from susurrus.data.manifest import Utterance, write_manifest
from susurrus.models.speech_llm.checkpoint import load_speech_llm
from susurrus.train.loop import TrainResult, train
from susurrus.train.recipe import RecipeError, load_recipe
from susurrus.train.run import RunError

pytestmark = pytest.mark.usefixtures("one_thread")

SR = 16_000
TEXTS = ["hello there", "good morning", "see you soon", "thanks a lot", "not today",
         "open the door"]


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> Path:
    """Six 1-2 s clips of tones in noise with short transcripts."""
    root = tmp_path_factory.mktemp("corpus")
    rng = np.random.default_rng(0)
    utts = []
    for i, text in enumerate(TEXTS):
        t = np.arange(int((1.0 + 0.2 * i) * SR)) / SR
        audio = 0.3 * np.sin(2 * np.pi * (150 + 40 * i) * t) + 0.05 * rng.standard_normal(t.size)
        path = root / f"u{i}.wav"
        sf.write(path, audio.astype(np.float32), SR)
        utts.append(Utterance(id=f"u{i}", audio=path, text=text))
    return write_manifest(utts, root / "train.jsonl")


@pytest.fixture(scope="module")
def features(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("features")


@pytest.fixture(scope="module")
def overrides(manifest, tiny_whisper_dir, tiny_llm_dir) -> list[str]:
    return [
        f"model.encoder={tiny_whisper_dir}", f"model.llm={tiny_llm_dir}",
        "model.projector_hidden=32", "model.lora.r=2", "model.compressor_options.k=2",
        f"data.train={manifest}", f"data.valid={manifest}", "data.batch_seconds=4",
        "data.valid_limit=2",
        "train.steps=6", "train.log_every=1", "train.save_every=2", "train.valid_every=0",
        # the schedule of steps 1-6 must not depend on train.steps, which a resume changes
        "train.warmup_steps=6", "train.lr=1e-2",
    ]


def run(out: Path, overrides: list[str], features: Path, *extra: str,
        overwrite: bool = False) -> tuple[TrainResult, list[str]]:
    messages: list[str] = []
    recipe = load_recipe(None, [*overrides, f"train.out={out}", *extra])
    result = train(recipe, overwrite=overwrite, progress=False, cache_root=features,
                   log=messages.append)
    return result, messages


def losses(out: Path) -> dict[int, float]:
    lines = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    return {d["step"]: d["loss"] for d in lines if "loss" in d}


def weights(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(folder / "trained.safetensors"))


def checkpoints(out: Path) -> list[str]:
    return sorted(p.name for p in (out / "checkpoints").iterdir())


@pytest.fixture(scope="module")
def run_a(one_thread, tmp_path_factory, overrides, features) -> tuple[Path, TrainResult]:
    """Six uninterrupted steps (on one thread, like the resumed run: float sums depend on it)."""
    out = tmp_path_factory.mktemp("runs") / "a"
    result, _ = run(out, overrides, features)
    return out, result


def test_the_run_folder_holds_a_loadable_model_and_the_last_two_checkpoints(run_a) -> None:
    out, result = run_a
    assert result.out == out and result.steps == 6
    assert sorted(p.name for p in out.iterdir()) == ["checkpoints", "log.jsonl", "model",
                                                     "recipe.yaml"]
    assert sorted(p.name for p in (out / "model").iterdir()) == ["recipe.yaml",
                                                                 "trained.safetensors"]
    # saved at steps 2, 4 and 6; the oldest was deleted
    assert checkpoints(out) == ["step-0000004", "step-0000006"]
    assert all((out / "checkpoints" / c / "trainer_state.pt").is_file() for c in checkpoints(out))
    log = losses(out)
    assert sorted(log) == [1, 2, 3, 4, 5, 6]
    assert result.final_loss == pytest.approx(log[6], abs=1e-5)
    assert result.valid_wer is not None and result.valid_wer >= 0
    mine = load_speech_llm(out).trainable_state_dict()
    at6, at4 = (weights(out / "checkpoints" / c) for c in ("step-0000006", "step-0000004"))
    assert set(mine) == set(at6)
    assert all(torch.equal(mine[k], at6[k]) for k in mine)
    assert any(not torch.equal(mine[k], at4[k]) for k in mine)  # training changed them


def test_a_resumed_run_continues_exactly(run_a, tmp_path: Path, overrides, features) -> None:
    out_a, _ = run_a
    out_b = tmp_path / "b"
    first, _ = run(out_b, overrides, features, "train.steps=3")
    assert first.steps == 3 and checkpoints(out_b) == ["step-0000002", "step-0000003"]
    with open(out_b / "log.jsonl", "a") as log:  # as if stopped after logging 4 and half of 5
        log.write(json.dumps({"step": 4, "loss": 99.0}) + "\n" + '{"step": 5, "lo')
    second, messages = run(out_b, overrides, features, "train.steps=6")
    assert second.steps == 6
    assert any(re.search(r"resuming .* at step 3\b", m) for m in messages), messages
    a, b = losses(out_a), losses(out_b)
    lines = [json.loads(line) for line in (out_b / "log.jsonl").read_text().splitlines()]
    assert [d["step"] for d in lines if "loss" in d] == [1, 2, 3, 4, 5, 6]  # each step once
    assert sorted(b) == [1, 2, 3, 4, 5, 6]
    for step in (1, 2, 3, 4, 5, 6):
        assert b[step] == pytest.approx(a[step], abs=1e-6), (step, a, b)
    assert len(set(a.values())) > 1  # the losses move: equality is not trivial
    assert second.final_loss == pytest.approx(run_a[1].final_loss, abs=1e-6)


def test_rerunning_a_finished_run_trains_nothing_and_reports_its_log(run_a, overrides,
                                                                     features) -> None:
    out, first = run_a
    before = weights(out / "model")
    again, _ = run(out, overrides, features)
    assert again.steps == 6
    assert again.final_loss == pytest.approx(first.final_loss, abs=1e-5)  # log: 5 decimals
    after = weights(out / "model")
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_a_different_model_recipe_is_refused_until_overwritten(
        run_a, tmp_path: Path, overrides, features) -> None:
    out = tmp_path / "copy"
    shutil.copytree(run_a[0], out)
    with pytest.raises(RunError, match=re.escape(str(out))):
        run(out, overrides, features, "model.lora.r=4")
    with pytest.raises(RunError, match="different model/data"):
        run(out, overrides, features, "data.batch_seconds=3")
    assert checkpoints(out) == ["step-0000004", "step-0000006"]  # left as it was
    result, messages = run(out, overrides, features, "model.lora.r=4", "train.steps=1",
                           overwrite=True)
    assert result.steps == 1 and not any("resuming" in m for m in messages)
    assert checkpoints(out) == ["step-0000001"] and sorted(losses(out)) == [1]
    assert load_recipe(out / "recipe.yaml").model.lora.r == 4
    assert {t.shape[0] for k, t in weights(out / "model").items() if "lora_A" in k} == {4}


def test_a_folder_that_is_not_a_run_is_refused(tmp_path: Path, overrides, features) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(RunError, match="not a susurrus run folder"):
        run(out, overrides, features)
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_alignment_runs_before_the_first_step_and_not_again_on_resume(
        run_a, tmp_path: Path, overrides, features) -> None:
    aligned = [*overrides, "train.align_steps=4", "train.align_lr=1e-2"]
    whole, messages = run(tmp_path / "whole", aligned, features)
    assert sum("alignment: 4 steps" in m for m in messages) == 1
    log = [json.loads(line) for line in (tmp_path / "whole" / "log.jsonl").read_text().splitlines()]
    assert [d["align_steps"] for d in log if "align_steps" in d] == [4]  # kept with the run
    assert 0 <= log[0]["align_token_error_rate"] and log[0]["step"] == 0
    run(tmp_path / "parts", aligned, features, "train.steps=3")
    _, resumed = run(tmp_path / "parts", aligned, features, "train.steps=6")
    assert not any(m.startswith("alignment:") for m in resumed), resumed
    parts = (tmp_path / "parts" / "log.jsonl").read_text()
    assert parts.count('"align_steps"') == 1
    a, b = losses(tmp_path / "whole"), losses(tmp_path / "parts")
    assert sorted(b) == [1, 2, 3, 4, 5, 6]
    for step in (1, 2, 3, 4, 5, 6):
        assert b[step] == pytest.approx(a[step], abs=1e-6), (step, a, b)
    assert losses(run_a[0])[1] != pytest.approx(a[1], abs=1e-6)  # alignment changed the start


def test_a_multi_turn_abstract_run_trains_and_saves_its_context_compressor(
        manifest: Path, tmp_path: Path, overrides, features) -> None:
    from dataclasses import replace

    from susurrus.data.manifest import read_manifest

    utts = [replace(u, session=f"s{i // 3}", turn=i % 3)  # two sessions of three turns
            for i, u in enumerate(read_manifest(manifest))]
    sessions = write_manifest(utts, manifest.parent / "sessions.jsonl")
    result, messages = run(tmp_path / "ctx", overrides, features, f"data.train={sessions}",
                           f"data.valid={sessions}", "data.valid_limit=6", "train.steps=2",
                           "model.context=abstract", "model.abstract_tokens=2",
                           "model.abstract_heads=2")
    assert any("context: abstract (mean 1.0 prior turns)" in m for m in messages), messages
    assert result.valid_wer is not None
    saved = weights(tmp_path / "ctx" / "model")
    assert any(k.startswith("context_compressor.") for k in saved)
    assert any(k.startswith("context_projector.") for k in saved)
    model = load_speech_llm(tmp_path / "ctx")
    assert model.context == "abstract" and model.context_compressor.K == 2


def test_context_copy_training_respells_names_and_changes_what_the_run_learns(
        manifest: Path, tmp_path: Path, overrides, features) -> None:
    """Issue 16 lever 5b: with data.respell_share the turns' names are respelled per epoch and
    copyable mentions weighted; the run trains, logs it, and its losses differ from the plain
    multi-turn run's (the targets changed); without model.context it is refused."""
    from dataclasses import replace

    from susurrus.data.manifest import read_manifest

    utts = [replace(u, session=f"s{i // 3}", turn=i % 3, text=f"{u.text} Castaneda Manzanillo",
                    entities=("Castaneda", "Manzanillo"))
            for i, u in enumerate(read_manifest(manifest))]
    sessions = write_manifest(utts, manifest.parent / "named-sessions.jsonl")
    common = [f"data.train={sessions}", f"data.valid={sessions}", "data.valid_limit=2",
              "train.steps=2", "model.context=text"]
    run(tmp_path / "plain", overrides, features, *common)
    _, messages = run(tmp_path / "copy", overrides, features, *common,
                      "data.respell_share=1.0", "data.repeat_weight=3")
    assert any(m.startswith("context-copy training: 100% of each session's names")
               for m in messages), messages
    plain, copy = losses(tmp_path / "plain"), losses(tmp_path / "copy")
    assert sorted(copy) == [1, 2] and copy[1] != pytest.approx(plain[1], abs=1e-6)
    with pytest.raises(RecipeError, match="data.respell_share / data.repeat_weight: they train"):
        load_recipe(None, [*overrides, "data.respell_share=0.5"])
    with pytest.raises(RecipeError, match="not serialized multi-talker targets"):
        load_recipe(None, [*overrides, "data.repeat_weight=2", "model.context=text",
                           "model.sot=true"])


def test_a_context_run_starts_from_a_single_turn_checkpoint(run_a, tmp_path: Path, overrides,
                                                            features) -> None:
    result, messages = run(tmp_path / "init", overrides, features, f"train.init={run_a[0]}",
                           "train.steps=1", "train.align_steps=3", "model.context=abstract",
                           "model.abstract_tokens=2", "model.abstract_heads=2")
    assert any(m.startswith("initialised the trained parts from") for m in messages)
    assert not any(m.startswith("alignment:") for m in messages)  # the init is aligned already
    assert result.steps == 1
    from susurrus.models.speech_llm.checkpoint import CheckpointError

    with pytest.raises(CheckpointError, match="holds no speech-LLM checkpoint"):
        run(tmp_path / "bad", overrides, features, f"train.init={tmp_path}")


def test_a_first_pass_run_reads_whisper_transcripts_and_its_model_transcribes_with_them(
        run_a, manifest: Path, tmp_path: Path, overrides, features, tiny_whisper_dir) -> None:
    """Issue 16, lever 4: the run decodes each utterance's first pass once (kept under the
    cache), trains on it, and the saved model runs its first pass itself when it transcribes."""
    from susurrus.audio.io import load_audio
    from susurrus.data.manifest import read_manifest
    from susurrus.infer.first_pass import first_pass_logprobs, first_passes
    from susurrus.infer.speech_llm import SpeechLLMRecognizer
    from susurrus.models.speech_llm.generation import GenerateOptions

    out = tmp_path / "fp"
    result, messages = run(out, overrides, features, f"train.init={run_a[0]}", "train.steps=2",
                           f"model.first_pass={tiny_whisper_dir}", "model.first_pass_engine=torch",
                           "train.valid_every=2")
    assert result.steps == 2 and result.valid_wer is not None
    assert any(m.startswith("first pass: ") for m in messages), messages
    [hyps] = (features / "first-pass").glob("*-torch/hyps.jsonl")
    assert len(hyps.read_text().splitlines()) == len(TEXTS)  # train and valid share the clips
    rec = SpeechLLMRecognizer(str(out))
    assert rec.model.first_pass == str(tiny_whisper_dir)
    clip = load_audio(read_manifest(manifest)[2].audio)
    [got] = rec.recognize([clip])
    # by hand: the first pass's transcript of the clip, read after its audio tokens
    model = rec.model
    hyp = first_passes(str(tiny_whisper_dir), "torch", [clip], answers=False)[0].read
    f, n = model.encode_audio([clip])
    [row] = model.generate_rows(f, n, rec.options, hypotheses=[model.hypothesis_ids(hyp)])
    own = model.decode_text(row.ids)
    [alone] = SpeechLLMRecognizer(model, options=GenerateOptions(first_pass_choice="llm")
                                  ).recognize([clip])
    assert alone.text.strip() == own
    # by default Whisper's own answer competes: whichever both models score higher is kept
    [first] = first_passes(str(tiny_whisper_dir), "torch", [clip])
    assert first.read == hyp
    answer = first.answer
    [whisper] = first_pass_logprobs(str(tiny_whisper_dir), [clip], [(answer, own)])
    llm = [model.score_texts(f, n, [t], hypotheses=[model.hypothesis_ids(hyp)])[0]
           for t in (answer, own)]
    kept = answer if whisper[0] + llm[0] > whisper[1] + llm[1] else own
    assert got.text.strip() == kept and got.segments[0].first_pass == (kept != own)


def test_a_run_folder_from_before_tasks_and_lhotse_resumes(tmp_path: Path, overrides,
                                                           features) -> None:
    """A run written before issue 15: no `task:` in its recipes, the home-made batch stream's
    state ({"epoch", "position"}) in its trainer state. It resumes where it stopped."""
    import yaml

    out = tmp_path / "old"
    run(out, overrides, features, "train.steps=3")
    for saved in [out / "recipe.yaml", *out.rglob("*/recipe.yaml")]:
        recipe = yaml.safe_load(saved.read_text())
        del recipe["task"]
        saved.write_text(yaml.safe_dump(recipe, sort_keys=False))
    state_path = out / "checkpoints" / "step-0000003" / "trainer_state.pt"
    state = torch.load(state_path, weights_only=False)
    state["stream"] = {"epoch": 0, "position": 3}
    torch.save(state, state_path)
    result, messages = run(out, overrides, features, "train.steps=6")
    assert any(re.search(r"resuming .* at step 3\b", m) for m in messages), messages
    assert result.steps == 6 and sorted(losses(out)) == [1, 2, 3, 4, 5, 6]
    assert load_speech_llm(out).context == "none"


def test_an_augmented_run_trains_on_its_variants_and_resumes_exactly(
        tmp_path: Path, overrides, features) -> None:
    aug = ["data.augment.variants=2", "data.augment.probabilities={noise: 1.0}"]
    out_a, out_b = tmp_path / "a", tmp_path / "b"
    whole, messages = run(out_a, overrides, features, *aug)
    assert any("augmentation: 2 variants" in m for m in messages), messages
    assert list(features.glob("*/aug-*/*/*/2.npy"))  # the variants are cached
    run(out_b, overrides, features, *aug, "train.steps=3")
    resumed, _ = run(out_b, overrides, features, *aug, "train.steps=6")
    a, b = losses(out_a), losses(out_b)
    for step in (1, 2, 3, 4, 5, 6):
        assert b[step] == pytest.approx(a[step], abs=1e-6), (step, a, b)
    assert resumed.final_loss == pytest.approx(whole.final_loss, abs=1e-6)


def test_a_time_masked_run_trains_on_masked_features_and_resumes_exactly(
        tmp_path: Path, overrides, features) -> None:
    masks = ["data.time_mask_share=1.0", "data.time_mask_fraction=0.5"]
    plain, _ = run(tmp_path / "plain", overrides, features, "train.steps=2")
    whole, messages = run(tmp_path / "a", overrides, features, *masks, "train.steps=4")
    assert any(m.startswith("time masks: 100% of the examples, 50%") for m in messages), messages
    assert losses(tmp_path / "a")[1] != pytest.approx(losses(tmp_path / "plain")[1], abs=1e-6)
    run(tmp_path / "b", overrides, features, *masks, "train.steps=2")
    resumed, _ = run(tmp_path / "b", overrides, features, *masks, "train.steps=4")
    a, b = losses(tmp_path / "a"), losses(tmp_path / "b")
    for step in (1, 2, 3, 4):
        assert b[step] == pytest.approx(a[step], abs=1e-6), (step, a, b)
    assert resumed.final_loss == pytest.approx(whole.final_loss, abs=1e-6)


def test_a_first_pass_run_with_augmented_variants_decodes_each_variants_own_audio(
        run_a, tmp_path: Path, overrides, features, tiny_whisper_dir) -> None:
    """`model.first_pass_augmented`: every augmented variant's first pass is decoded once, from
    its own audio, next to the clean audio's."""
    out = tmp_path / "fpa"
    result, messages = run(out, overrides, features, f"train.init={run_a[0]}", "train.steps=2",
                           f"model.first_pass={tiny_whisper_dir}", "model.first_pass_engine=torch",
                           "model.first_pass_augmented=true",
                           "data.augment={variants: 2, seed: 0, probabilities: {speed: 1.0}}")
    assert result.steps == 2 and np.isfinite(result.final_loss)
    [hyps] = (features / "first-pass").glob("*-torch/hyps.jsonl")
    # clean (train and valid share the clips) + 2 variants of each training clip
    assert len(hyps.read_text().splitlines()) == len(TEXTS) * 3
