"""Recipes: YAML + dotted overrides -> frozen dataclasses; every problem named by its dotted key."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from susurrus.models.speech_llm.config import LoraConfig
from susurrus.train.recipe import (
    Recipe,
    RecipeError,
    TrainConfig,
    load_recipe,
    recipe_fingerprint,
    recipe_to_dict,
    save_recipe,
)

DEFAULT_YAML = Path(__file__).parents[2] / "recipes" / "speech_llm" / "default.yaml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(text)
    return path


def test_none_gives_the_defaults():
    assert load_recipe(None) == Recipe()
    assert Recipe().model.compressor_options == {"k": 5}
    assert Recipe().model.lora.targets == ("q_proj", "k_proj", "v_proj", "o_proj")


def test_shipped_default_recipe_is_the_defaults_with_its_own_run_numbers():
    d = Recipe()
    expected = dataclasses.replace(
        d,
        data=dataclasses.replace(d.data, synth_hours=3.0),
        train=dataclasses.replace(d.train, steps=1500, out="runs/speech-llm-default",
                                  align_steps=600, precision="auto"),  # issue 16: measured
    )
    assert load_recipe(DEFAULT_YAML) == expected


def test_file_values_over_defaults(tmp_path):
    path = write(tmp_path, "model:\n  compressor: avgpool\n  lora: {r: 4}\ntrain:\n  lr: 2e-4\n")
    r = load_recipe(path)
    assert r.model.compressor == "avgpool"
    assert r.model.lora == LoraConfig(r=4)  # a partial section keeps the other defaults
    assert r.train.lr == pytest.approx(2e-4) and isinstance(r.train.lr, float)  # YAML: a string
    assert r.data == Recipe().data


@pytest.mark.parametrize(
    ("override", "get", "expected"),
    [
        ("train.lr=3e-4", lambda r: r.train.lr, 3e-4),
        ("train.steps=200", lambda r: r.train.steps, 200),
        ("data.synth_hours=2", lambda r: r.data.synth_hours, 2.0),  # int -> float
        ("model.compressor=avgpool", lambda r: r.model.compressor, "avgpool"),
        ("model.compressor_options.k=3", lambda r: r.model.compressor_options, {"k": 3}),
        ("model.compressor_options={k: 3}", lambda r: r.model.compressor_options, {"k": 3}),
        ("model.lora.targets=[q_proj,v_proj]", lambda r: r.model.lora.targets,
         ("q_proj", "v_proj")),
        ("model.lora.r=0", lambda r: r.model.lora.r, 0),
        ("train.precision=bf16", lambda r: r.train.precision, "bf16"),
        ("data.train=", lambda r: r.data.train, ()),
        ("model.prompt=Say: what was said", lambda r: r.model.prompt, "Say: what was said"),
        ("model.lora={r: 2, alpha: 4}", lambda r: (r.model.lora.r, r.model.lora.alpha), (2, 4)),
    ],
)
def test_overrides(override, get, expected):
    value = get(load_recipe(None, [override]))
    assert value == expected and type(value) is type(expected)


def test_overrides_apply_after_the_file_in_order(tmp_path):
    path = write(tmp_path, "model:\n  compressor: query\n"
                           "  compressor_options: {window: 4, num_heads: 2}\n")
    r = load_recipe(path, ["model.compressor_options.window=3", "train.steps=5", "train.steps=7",
                           "model.compressor_options.num_queries=2"])
    # one sub-key set, one added: the others kept
    assert r.model.compressor_options == {"window": 3, "num_heads": 2, "num_queries": 2}
    assert r.train.steps == 7
    # A whole mapping replaces the free-form options (switching compressor drops old keys).
    r = load_recipe(path, ["model.compressor=stack", "model.compressor_options={k: 2}"])
    assert r.model.compressor_options == {"k": 2}


def test_unknown_keys_list_the_valid_ones(tmp_path):
    path = write(tmp_path, "model:\n  compresor: avgpool\n")
    with pytest.raises(RecipeError) as e:
        load_recipe(path, ["train.lrate=1", "optim.lr=1"])
    msg = str(e.value)
    assert str(path) in msg
    assert "model.compresor: unknown key 'compresor'" in msg
    assert "valid keys in model: encoder, llm, compressor, compressor_options" in msg
    assert "train.lrate" in msg and "warmup_steps" in msg
    assert "optim.lr" in msg and "model, data, train" in msg
    assert len(e.value.problems) == 3  # all reported at once


@pytest.mark.parametrize(
    ("override", "key", "words"),
    [
        ("train.steps=true", "train.steps", "integer"),  # bool refused for an int
        ("train.steps=1.5", "train.steps", "integer"),
        ("train.lr=fast", "train.lr", "number"),
        ("train.precision=fp16", "train.precision", "fp32, bf16, auto"),
        ("model.lora.targets={a: 1}", "model.lora.targets", "list"),
        ("model.compressor_options=3", "model.compressor_options", "mapping"),
        ("model.lora=3", "model.lora", "section"),
        ("train.steps.x=1", "train.steps.x", "no sub-key"),
    ],
)
def test_bad_types_name_the_key(override, key, words):
    with pytest.raises(RecipeError) as e:
        load_recipe(None, [override])
    assert f"{key}:" in str(e.value) and words in str(e.value)


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("train.steps=0", "train.steps"),
        ("train.lr=-1e-3", "train.lr"),
        ("train.lr=.nan", "train.lr"),
        ("data.batch_seconds=0", "data.batch_seconds"),
        ("data.max_duration=-5", "data.max_duration"),
        ("model.lora.r=-1", "model.lora.r"),
        ("model.lora.dropout=1.0", "model.lora.dropout"),
        ("train.grad_accum=0", "train.grad_accum"),
        ("model.encoder=", "model.encoder"),
        ("data.time_mask_share=1.5", "data.time_mask_share"),
        ("data.time_mask_fraction=1.0", "data.time_mask_fraction"),
        ("data.time_mask_seconds=0", "data.time_mask_seconds"),
    ],
)
def test_invalid_values_name_the_key(override, key):
    with pytest.raises(RecipeError, match=f"{key}: must"):
        load_recipe(None, [override])


def test_several_problems_are_reported_together(tmp_path):
    path = write(tmp_path, "train:\n  steps: 0\n  precision: fp8\ndata:\n  batch_seconds: -1\n")
    with pytest.raises(RecipeError) as e:
        load_recipe(path, ["model.nope=1"])
    assert {p.split(":")[0] for p in e.value.problems} == {
        "train.steps", "train.precision", "data.batch_seconds", "model.nope"}


def test_override_without_equals_shows_the_form():
    with pytest.raises(RecipeError, match=r"'train\.lr': expected section\.key=value"):
        load_recipe(None, ["train.lr"])


def test_file_errors_name_the_file(tmp_path):
    with pytest.raises(RecipeError, match="no such recipe file"):
        load_recipe(tmp_path / "missing.yaml")
    with pytest.raises(RecipeError, match="not valid YAML"):
        load_recipe(write(tmp_path, "model: [unclosed\n"))
    with pytest.raises(RecipeError, match="expected a mapping of sections"):
        load_recipe(write(tmp_path, "- a\n- b\n"))
    assert load_recipe(write(tmp_path, "# nothing\n")) == Recipe()


def test_dataclasses_validate_on_their_own():
    with pytest.raises(ValueError, match="steps: must be > 0"):
        TrainConfig(steps=0)
    with pytest.raises(ValueError, match="precision: must be one of fp32, bf16, auto"):
        TrainConfig(precision="fp16")
    with pytest.raises(ValueError, match="targets"):
        LoraConfig(r=4, targets=())
    assert LoraConfig(r=0, targets=()).r == 0


def test_round_trip(tmp_path):
    r = load_recipe(None, ["model.lora.targets=[q_proj,v_proj]", "train.lr=3e-4",
                           "model.compressor=query", "model.prompt=yes",
                           "model.compressor_options={num_queries: 2, window: 3}",
                           "data.train=data/train.jsonl", "train.precision=auto"])
    d = recipe_to_dict(r)
    assert d["model"]["lora"]["targets"] == ["q_proj", "v_proj"]  # plain YAML: lists
    path = save_recipe(r, tmp_path / "run" / "recipe.yaml")
    assert load_recipe(path) == r
    assert load_recipe(save_recipe(Recipe(), tmp_path / "d.yaml")) == Recipe()


def test_fingerprint_follows_model_and_data_not_train():
    base = recipe_fingerprint(Recipe())
    assert base == recipe_fingerprint(load_recipe(None, ["train.steps=5", "train.lr=1"]))
    assert base != recipe_fingerprint(load_recipe(None, ["model.compressor_options.k=4"]))
    assert base != recipe_fingerprint(load_recipe(None, ["data.synth_seed=1"]))
    assert base != recipe_fingerprint(Recipe(), sections=("model", "data", "train"))
    with pytest.raises(ValueError, match="unknown recipe sections"):
        recipe_fingerprint(Recipe(), sections=("optim",))


def test_bad_augment_keys_and_values_are_refused_with_their_dotted_key(tmp_path) -> None:
    from susurrus.train.loop import train
    from susurrus.train.recipe import augment_settings

    assert augment_settings(Recipe().data.augment)[0].variants == 0  # off by default
    ok = load_recipe(None, ["data.augment.variants=2", "data.augment.tempo_range=[0.9, 1.1]"])
    settings, problems = augment_settings(ok.data.augment)
    assert problems == [] and settings.variants == 2 and settings.config.tempo_range == (0.9, 1.1)
    with pytest.raises(RecipeError) as e:
        load_recipe(None, ["data.augment.variants=2", "data.augment.colour=red",
                           "data.augment.tempo_range=[3, 1]", "data.augment.seed=-1",
                           "data.augment.probabilities.zap=0.5"])
    text = str(e.value)
    assert "data.augment.colour: unknown key 'colour'" in text
    assert "data.augment.tempo_range: a (low, high) pair" in text
    assert "data.augment.seed: expected an integer >= 0" in text
    assert "data.augment.probabilities.zap: unknown piece" in text
    out = tmp_path / "run"
    bad = dataclasses.replace(Recipe(), data=dataclasses.replace(
        Recipe().data, augment={"variants": 1, "codecs": ["aac"]}),
        train=dataclasses.replace(Recipe().train, out=str(out)))
    with pytest.raises(RecipeError, match=r"data\.augment\.codecs: some of opus, mp3"):
        train(bad, progress=False)
    assert not out.exists()


RECIPES = Path(__file__).parents[2] / "recipes"


@pytest.mark.parametrize("recipe", ["whisper_distill/teacher.yaml", "multitalker/tiny.yaml"])
def test_a_task_that_trains_on_no_augmented_variants_refuses_them(recipe):
    """data.augment is read by the speech_llm and whisper_distill tasks only: elsewhere it is an
    error naming the key, not a setting silently ignored (teacher_lora reads text;
    multitalker_ctc augments through data.mixing.augment)."""
    with pytest.raises(RecipeError, match="data.augment: task .* does not train on augmented"):
        load_recipe(RECIPES / recipe, ["data.augment={variants: 2}"])
    load_recipe(RECIPES / recipe, ["data.augment={variants: 0}"])  # none asked: nothing to refuse
    assert augment_variants("whisper_distill/tiny.yaml") == 2  # it reads them


@pytest.mark.parametrize("recipe", ["whisper_distill/tiny.yaml", "multitalker/tiny.yaml"])
def test_time_masks_are_refused_by_a_task_that_does_not_apply_them(recipe):
    with pytest.raises(RecipeError, match="data.time_mask_share: task .* does not time-mask"):
        load_recipe(RECIPES / recipe, ["data.time_mask_share=0.5"])
    load_recipe(RECIPES / "speech_llm/first-pass-masked.yaml")  # the speech LLM reads them


def augment_variants(recipe: str) -> int:
    from susurrus.train.recipe import augment_settings

    return augment_settings(load_recipe(RECIPES / recipe,
                                        ["data.augment={variants: 2}"]).data.augment)[0].variants
