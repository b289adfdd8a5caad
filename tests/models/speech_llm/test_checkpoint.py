"""Checkpoints: a round trip rebuilds the same model; a damaged or mismatched one is refused,
naming the file."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import torch
import yaml

from susurrus.models.speech_llm.build import add_lora, build_speech_llm
from susurrus.models.speech_llm.checkpoint import (
    RECIPE,
    WEIGHTS,
    CheckpointError,
    find_checkpoint,
    load_speech_llm,
    save_checkpoint,
)
from susurrus.models.speech_llm.config import LoraConfig, ModelConfig
from susurrus.models.speech_llm.generation import GenerateOptions
from susurrus.models.speech_llm.model import SpeechLLM
from susurrus.train.recipe import Recipe, recipe_to_dict

pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_config(whisper: Path, llm: Path, **changes) -> ModelConfig:
    fields = dict(encoder=str(whisper), llm=str(llm), compressor="avgpool",
                  compressor_options={"k": 2}, projector_hidden=32, lora=LoraConfig(r=2, alpha=4))
    return ModelConfig(**(fields | changes))


def as_recipe(config: ModelConfig) -> dict:
    return recipe_to_dict(Recipe(model=config))


@pytest.fixture(scope="module")
def trained(one_thread, tiny_whisper_dir, tiny_llm_dir, tmp_path_factory
            ) -> tuple[SpeechLLM, Path]:
    """A built model whose trained tensors are all moved off their initial values, saved."""
    torch.manual_seed(0)
    model = build_speech_llm(tiny_config(tiny_whisper_dir, tiny_llm_dir)).eval()
    with torch.no_grad():
        for t in model.trainable_state_dict().values():
            t.add_(torch.randn_like(t) * 0.3)
    folder = save_checkpoint(model, tmp_path_factory.mktemp("ckpt") / "model",
                             as_recipe(tiny_config(tiny_whisper_dir, tiny_llm_dir)))
    return model, folder


def broken_copy(folder: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "broken"
    shutil.copytree(folder, copy)
    return copy


def test_the_checkpoint_holds_only_the_trained_tensors(trained) -> None:
    model, folder = trained
    from safetensors.torch import load_file

    assert sorted(p.name for p in folder.iterdir()) == [RECIPE, WEIGHTS]
    stored = load_file(str(folder / WEIGHTS))
    assert set(stored) == set(model.trainable_state_dict())
    assert any("lora_A" in k for k in stored) and any(k.startswith("projector.") for k in stored)
    assert not any(k.startswith(("encoder.", "llm.model.embed")) for k in stored)


def test_the_checkpoint_declares_its_family(trained) -> None:
    """`family: speech_llm` first in recipe.yaml and in the weights' metadata; the recipe is
    otherwise the one given."""
    from safetensors import safe_open

    from susurrus.models.family import model_family

    _, folder = trained
    text = (folder / RECIPE).read_text()
    assert text.startswith("family: speech_llm\n")
    assert {k: v for k, v in yaml.safe_load(text).items() if k != "family"} == \
        as_recipe(tiny_config(Path(yaml.safe_load(text)["model"]["encoder"]),
                              Path(yaml.safe_load(text)["model"]["llm"])))
    with safe_open(str(folder / WEIGHTS), "pt") as f:
        assert f.metadata()["family"] == "speech_llm"
    assert model_family(str(folder)) == "speech_llm"


def test_round_trip_gives_identical_tensors_and_transcripts(trained) -> None:
    model, folder = trained
    torch.manual_seed(123)  # the rebuilt model's fresh parts differ before loading
    loaded = load_speech_llm(folder)
    assert not loaded.training
    before, after = model.trainable_state_dict(), loaded.trainable_state_dict()
    assert set(before) == set(after)
    for k in before:
        assert torch.equal(before[k], after[k]), k
    g = torch.Generator().manual_seed(0)
    x, lengths = torch.randn(2, 12, 64, generator=g), torch.tensor([12, 7])
    options = GenerateOptions(extra_tokens=4, max_repeats=0)
    assert loaded.generate(x, lengths, options) == model.generate(x, lengths, options)
    with torch.no_grad():
        assert float(loaded(x, lengths, [[5, 6], [7]])) == float(model(x, lengths, [[5, 6], [7]]))


def test_find_checkpoint_in_a_run_folder(trained, tmp_path: Path) -> None:
    _, folder = trained
    run = tmp_path / "run"
    shutil.copytree(folder, run / "model")
    assert find_checkpoint(run) == run / "model"
    assert find_checkpoint(run / "model") == run / "model"
    assert find_checkpoint(tmp_path) is None  # (tests/train/test_loop.py loads a run folder)


def test_a_folder_without_the_files_is_refused_naming_it(trained, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CheckpointError, match=re.escape(str(empty))):
        load_speech_llm(empty)
    only_weights = tmp_path / "half"
    only_weights.mkdir()
    shutil.copy(trained[1] / WEIGHTS, only_weights / WEIGHTS)  # the recipe is missing
    assert find_checkpoint(only_weights) is None
    with pytest.raises(CheckpointError, match=re.escape(str(only_weights))):
        load_speech_llm(only_weights)


def test_corrupt_weights_are_refused_naming_the_file(trained, tmp_path: Path) -> None:
    folder = broken_copy(trained[1], tmp_path)
    data = (folder / WEIGHTS).read_bytes()
    (folder / WEIGHTS).write_bytes(data[: len(data) // 2])  # truncated, as by a full disk
    with pytest.raises(CheckpointError, match=re.escape(str(folder / WEIGHTS)) + ".*damaged"):
        load_speech_llm(folder)


def test_a_recipe_whose_compressor_differs_from_the_weights_is_refused(
        trained, tiny_whisper_dir, tiny_llm_dir, tmp_path: Path) -> None:
    folder = broken_copy(trained[1], tmp_path)
    # stack k=2 makes 128-wide tokens where the stored projector reads avgpool's 64
    other = tiny_config(tiny_whisper_dir, tiny_llm_dir, compressor="stack")
    (folder / RECIPE).write_text(yaml.safe_dump(as_recipe(other)), encoding="utf-8")
    expected = re.escape(str(folder / WEIGHTS)) + ".*does not fit.*projector"
    with pytest.raises(CheckpointError, match=expected):
        load_speech_llm(folder)


def test_a_recipe_with_another_lora_rank_is_refused(trained, tiny_whisper_dir, tiny_llm_dir,
                                                    tmp_path: Path) -> None:
    folder = broken_copy(trained[1], tmp_path)
    other = tiny_config(tiny_whisper_dir, tiny_llm_dir, lora=LoraConfig(r=0))
    (folder / RECIPE).write_text(yaml.safe_dump(as_recipe(other)), encoding="utf-8")
    with pytest.raises(CheckpointError, match="unexpected.*lora"):
        load_speech_llm(folder)


def test_an_unreadable_recipe_is_refused_naming_it(trained, tmp_path: Path) -> None:
    folder = broken_copy(trained[1], tmp_path)
    (folder / RECIPE).write_text("model: {compressor: stack, colour: blue}\n", encoding="utf-8")
    with pytest.raises(CheckpointError, match=re.escape(str(folder / RECIPE)) + ".*colour"):
        load_speech_llm(folder)


def test_save_replaces_an_existing_checkpoint(trained, tmp_path: Path) -> None:
    model, folder = trained
    target = tmp_path / "model"
    (target / "stale").mkdir(parents=True)
    save_checkpoint(model, target, {"model": {}})
    assert sorted(p.name for p in target.iterdir()) == [RECIPE, WEIGHTS]
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # no temporary or .old left


def test_save_in_another_precision(trained, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    model, _ = trained
    folder = save_checkpoint(model, tmp_path / "half", {"model": {}}, dtype=torch.float16)
    assert {t.dtype for t in load_file(str(folder / WEIGHTS)).values()} == {torch.float16}


def test_lora_target_that_matches_nothing_is_named(tiny_llm_dir) -> None:
    from susurrus.pretrained import load_llm

    llm, _ = load_llm(str(tiny_llm_dir))
    with pytest.raises(ValueError, match="qkv_fused"):
        add_lora(llm, LoraConfig(r=2, targets=("q_proj", "qkv_fused")))


def test_lora_rank_zero_freezes_the_whole_llm(tiny_llm_dir) -> None:
    from susurrus.pretrained import load_llm

    llm, _ = load_llm(str(tiny_llm_dir))
    llm = add_lora(llm, LoraConfig(r=0))
    assert not any(p.requires_grad for p in llm.parameters())
    assert not any("lora_" in n for n, _ in llm.named_parameters())


def test_save_survives_a_leftover_from_an_interrupted_save(trained, tmp_path: Path) -> None:
    """A save killed after moving the old checkpoint aside leaves `model.old` behind."""
    model, _ = trained
    target = tmp_path / "model"
    save_checkpoint(model, target, {"model": {}})
    (tmp_path / "model.old").mkdir()
    (tmp_path / "model.old" / WEIGHTS).write_bytes(b"stale")
    save_checkpoint(model, target, {"model": {}})
    assert find_checkpoint(target) == target
    assert [p.name for p in tmp_path.iterdir()] == ["model"]
