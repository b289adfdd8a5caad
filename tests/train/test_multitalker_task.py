"""The `multitalker_ctc` task through the generic loop: a recipe trains on a mixture manifest,
saves a checkpoint declaring its family, validates by cpWER; bad builders are refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml

from susurrus.data.manifest import Talker, Utterance, write_manifest
from susurrus.models.family import model_family
from susurrus.train.loop import train
from susurrus.train.recipe import RecipeError, check_recipe, load_recipe

pytestmark = pytest.mark.usefixtures("one_thread")

SR = 16_000
RECIPE = Path(__file__).parents[2] / "recipes" / "multitalker" / "tiny.yaml"


def tone(seconds: float, hz: float, seed: int) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    noise = np.random.default_rng(seed).standard_normal(t.size)
    return (0.3 * np.sin(2 * np.pi * hz * t) + 0.02 * noise).astype(np.float32)


@pytest.fixture(scope="module")
def mixtures(tmp_path_factory) -> Path:
    """1-, 2- and 3-talker 'mixtures' of tones (offset and fully overlapped) and a plain line."""
    root = tmp_path_factory.mktemp("mix")
    layouts = [[(0.0, "one")], [(0.0, "hello there"), (0.5, "good day")],
               [(0.0, "a b"), (0.0, "c d e")], [(0.0, "x"), (0.3, "y z"), (0.6, "w")]]
    utts = []
    for i, talkers in enumerate(layouts):
        sources = [(int(o * SR), tone(1.0, 200 + 90 * k, i * 10 + k))
                   for k, (o, _) in enumerate(talkers)]
        audio = np.zeros(max(o + s.size for o, s in sources), np.float32)
        for o, s in sources:
            audio[o:o + s.size] += s
        sf.write(root / f"m{i}.wav", audio, SR)
        utts.append(Utterance(id=f"m{i}", audio=root / f"m{i}.wav", talkers=tuple(
            Talker(f"s{k}", o, text, 1.0) for k, (o, text) in enumerate(talkers))))
    sf.write(root / "plain.wav", tone(0.8, 300, 99), SR)
    utts.append(Utterance(id="plain", audio=root / "plain.wav", text="just me"))
    return write_manifest(utts, root / "train.jsonl")


def overrides(tiny_whisper_dir, mixtures, out) -> list[str]:
    return [f"model.encoder={tiny_whisper_dir}", "model.separator_options.hidden=16",
            "model.separator_options.branch_hidden=16", "model.count_hidden=8",
            f"data.train=[{mixtures}]", f"data.valid={mixtures}", "data.batch_seconds=4",
            "train.steps=3", "train.log_every=1", "train.save_every=3", "train.valid_every=0",
            "train.warmup_steps=1", f"train.out={out}"]


@pytest.mark.parametrize("layers, encoder", [(0, "frozen (states cached)"), (1, "training")])
def test_the_recipe_trains_on_mixtures_and_saves_a_multitalker_checkpoint(
        tiny_whisper_dir, mixtures, tmp_path, layers, encoder):
    from susurrus.models.multitalker.checkpoint import load_multitalker

    messages: list[str] = []
    out = tmp_path / "run"
    recipe = load_recipe(RECIPE, [*overrides(tiny_whisper_dir, mixtures, out),
                                  f"model.train_layers={layers}"])
    result = train(recipe, progress=False, cache_root=tmp_path / "features",
                   log=messages.append)
    assert result.steps == 3 and result.valid_wer is not None and np.isfinite(result.final_loss)
    assert any("talker counts [1, 2, 3]" in m and f"encoder {encoder}" in m for m in messages)
    assert any((tmp_path / "features").rglob("*.npy")) == (layers == 0)
    assert any(m.startswith("valid: cpWER") for m in messages)  # validated at the end
    saved = yaml.safe_load((out / "model" / "recipe.yaml").read_text())
    assert saved["family"] == "multitalker_ctc" and saved["task"] == "multitalker_ctc"
    assert model_family(str(out)) == "multitalker_ctc"
    model = load_multitalker(out)
    trains = {n.split(".")[0] for n, p in model.encoder.named_parameters() if p.requires_grad}
    assert model.max_talkers == 3 and trains == ({"layers", "layer_norm"} if layers else set())


@pytest.mark.parametrize("bad, field", [
    ("model.separator=gru", "model.separator"),
    ("model.separator_options.depth=3", "model.separator_options"),
    ("model.distill=llm-sot", "model.distill"),
    ("model.max_talkers=0", "model.max_talkers"),
])
def test_bad_builders_are_refused_before_anything_runs(tiny_whisper_dir, mixtures, tmp_path,
                                                        bad, field):
    with pytest.raises(RecipeError, match=field):
        load_recipe(RECIPE, [*overrides(tiny_whisper_dir, mixtures, tmp_path / "r"), bad])


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> Path:
    """Single-talker lines in 4 voices, for dynamic mixing."""
    root = tmp_path_factory.mktemp("sources")
    utts = []
    for i in range(8):
        sf.write(root / f"s{i}.wav", tone(0.6 + 0.1 * i, 180 + 60 * i, i), SR)
        utts.append(Utterance(id=f"s{i}", audio=root / f"s{i}.wav", text=f"word {i}",
                              speaker=f"v{i % 4}"))
    return write_manifest(utts, root / "sources.jsonl")


def test_dynamic_mixing_trains_on_mixtures_made_each_step(tiny_whisper_dir, sources, tmp_path):
    messages: list[str] = []
    out = tmp_path / "run"
    mixing = (f"data.mixing={{sources: [{sources}], valid_sources: {sources}, mixtures: 50, "
              "augment: {speed: 0.5}}")
    recipe = load_recipe(RECIPE, [*overrides(tiny_whisper_dir, sources, out), "data.train=[]",
                                  "data.valid=", mixing])
    result = train(recipe, progress=False, cache_root=tmp_path / "features",
                   log=messages.append)
    assert result.steps == 3 and np.isfinite(result.final_loss)
    assert any("dynamic mixing of 8 source utterances" in m and "into 50 mixtures" in m
               and "valid: 50" in m for m in messages), messages
    assert not (tmp_path / "features").exists()  # no encoder cache: every mixture is new
    assert model_family(str(out)) == "multitalker_ctc"


@pytest.mark.parametrize("bad, field", [
    ("data.mixing={sources: [nowhere.jsonl]}", "data.mixing.sources: nowhere.jsonl"),
    ("data.mixing={sources: [x], talkers: [4, 0]}", "data.mixing.talkers"),
])
def test_bad_mixing_is_refused_before_anything_runs(tiny_whisper_dir, mixtures, tmp_path, bad,
                                                    field):
    with pytest.raises(RecipeError, match=field):  # the files are checked before training
        check_recipe(load_recipe(RECIPE, [*overrides(tiny_whisper_dir, mixtures, tmp_path / "r"),
                                          bad]))


def test_only_a_mixing_task_takes_data_mixing(sources):
    with pytest.raises(RecipeError, match="does not read dynamic mixtures"):
        load_recipe(None, [f"data.mixing={{sources: [{sources}]}}"])


def test_train_init_starts_from_another_runs_weights(tiny_whisper_dir, mixtures, tmp_path):
    """`train.init` is honoured, not ignored: after one step at a negligible learning rate the
    new run has the old run's trained weights (a fresh start would have its seed's)."""
    from safetensors.torch import load_file

    first = tmp_path / "first"
    train(load_recipe(RECIPE, overrides(tiny_whisper_dir, mixtures, first)), progress=False,
          cache_root=tmp_path / "features", log=lambda _: None)
    messages: list[str] = []
    second = load_recipe(RECIPE, [*overrides(tiny_whisper_dir, mixtures, tmp_path / "second"),
                                  f"train.init={first}", "train.steps=1", "train.lr=1e-9",
                                  "train.warmup_steps=1", "train.save_every=1"])
    train(second, progress=False, cache_root=tmp_path / "features", log=messages.append)
    assert any(m.startswith("initialised the trained parts from") for m in messages)
    old = load_file(str(first / "model" / "multitalker.safetensors"))
    new = load_file(str(tmp_path / "second" / "model" / "multitalker.safetensors"))
    assert old.keys() == new.keys()
    assert all(torch.allclose(old[k], new[k], atol=1e-6) for k in old)
