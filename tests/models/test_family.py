"""A model's family comes from what its checkpoint says about itself (and, for folders written
before families were recorded, one compatibility rule); anything else is a Whisper."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import save_file

from susurrus.models.family import checkpoint_family, model_family


def folder(root: Path, recipe: dict | None, weights_metadata: dict | None = None,
           weights: str = "trained.safetensors") -> Path:
    root.mkdir(parents=True)
    if recipe is not None:
        (root / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    if weights_metadata is not None:
        save_file({"w": torch.zeros(1)}, str(root / weights), metadata=weights_metadata)
    return root


def test_embedded_names_take_their_registry_kind():
    assert model_family("whisper-tiny.en") == "whisper"
    assert model_family("speech-llm-tiny") == model_family("speech-llm-tiny-abstract") == \
        "speech_llm"
    assert model_family("smollm2-135m-instruct") == "llm"  # no recognizer: refused by name


def test_a_declared_family_wins_and_a_run_folder_is_read_through_model(tmp_path):
    declared = folder(tmp_path / "run" / "model", {"family": "whisper_student", "model": {}},
                      {"format": "x"})
    assert model_family(str(declared)) == model_family(str(tmp_path / "run")) == \
        "whisper_student"
    # the family in the weights' metadata alone is enough
    meta = folder(tmp_path / "meta", {"model": {}}, {"family": "multitalker_ctc"},
                  weights="weights.safetensors")
    assert checkpoint_family(meta) == "multitalker_ctc"


def test_an_older_speech_llm_folder_is_read_by_the_compatibility_rule(tmp_path):
    old = folder(tmp_path / "old", {"model": {"encoder": "whisper-tiny.en"}},
                 {"format": "susurrus-speech-llm"})
    assert model_family(str(old)) == "speech_llm"
    assert model_family(str(tmp_path / "old" / "..")) == "whisper"  # no checkpoint there


@pytest.mark.parametrize("name", ["openai/whisper-small", "no/such/folder"])
def test_anything_else_is_a_whisper(tmp_path, name):
    assert model_family(name) == "whisper"
    hf = folder(tmp_path / "hf", None, {"format": "pt"}, weights="model.safetensors")
    assert model_family(str(hf)) == "whisper"
    broken = folder(tmp_path / "broken", None)
    (broken / "recipe.yaml").write_text("model: [unclosed\n")
    assert checkpoint_family(broken) is None
