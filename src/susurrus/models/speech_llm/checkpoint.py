"""Speech-LLM checkpoints: only what training changed, plus the recipe that rebuilds the rest.

A checkpoint is a folder:

    trained.safetensors   compressor, projector and LoRA weights (a few MB; nothing frozen)
    recipe.yaml           `family: speech_llm`, then the whole recipe; its `model` section
                          rebuilds the frozen parts

`--model` accepts such a folder, or a training run's folder (whose `model/` holds the latest
weights), or the embedded name of the shipped one.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import torch
import yaml

from susurrus.errors import BadCheckpointError, IncompatibleOptionError
from susurrus.files import replace_folder, staging_folder
from susurrus.models.family import FAMILY_KEY, checkpoint_family, model_family
from susurrus.models.speech_llm.config import ModelConfig, model_config_from_dict
from susurrus.models.speech_llm.model import SpeechLLM
from susurrus.pretrained.registry import EMBEDDED, resolve

WEIGHTS = "trained.safetensors"
RECIPE = "recipe.yaml"
FAMILY = "speech_llm"  # what a checkpoint of this family declares (susurrus.models.family)
METADATA = {"format": "susurrus-speech-llm", FAMILY_KEY: FAMILY}


class CheckpointError(BadCheckpointError):
    """A folder that is not a usable speech-LLM checkpoint; the message says what is wrong."""


def find_checkpoint(path: str | Path) -> Path | None:
    """The checkpoint folder at `path` (itself, or a run folder's `model/`), or None."""
    path = Path(path)
    for candidate in (path, path / "model"):
        if (candidate / WEIGHTS).is_file() and (candidate / RECIPE).is_file():
            return candidate
    return None


def save_checkpoint(model: SpeechLLM, folder: str | Path, recipe: dict[str, Any],
                    dtype: torch.dtype | None = None) -> Path:
    """Write the trained weights and recipe into `folder`, replacing it atomically.

    `dtype` stores the weights in another precision (e.g. float16 for a shipped model).
    """
    from safetensors.torch import save_file

    folder = Path(folder)
    tmp = staging_folder(folder)
    tensors = {k: (v.to(dtype) if dtype else v).detach().cpu().contiguous()
               for k, v in model.trainable_state_dict().items()}
    save_file(tensors, str(tmp / WEIGHTS), metadata=METADATA)
    declared = {FAMILY_KEY: FAMILY} | {k: v for k, v in recipe.items() if k != FAMILY_KEY}
    (tmp / RECIPE).write_text(yaml.safe_dump(declared, sort_keys=False), encoding="utf-8")
    return replace_folder(tmp, folder)


def read_model_config(folder: Path) -> ModelConfig:
    """The `model` section of a checkpoint's recipe; errors name the file."""
    path = folder / RECIPE
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        return model_config_from_dict((raw or {}).get("model", {}), where=f"{path}: model")
    except (yaml.YAMLError, ValueError, TypeError, AttributeError) as e:
        raise CheckpointError(f"{path}: cannot rebuild the model from it ({e})") from e


def load_trained(model: SpeechLLM, folder: Path, may_lack: tuple[str, ...] = ()) -> None:
    """Copy a checkpoint's trained weights into `model`; every trained tensor must match.

    Tensors whose names start with a prefix in `may_lack` may be absent from the checkpoint
    (they keep their values): a single-turn model initialising a context model's new parts.
    """
    from safetensors.torch import load_file

    path = folder / WEIGHTS
    try:
        state = load_file(str(path))
    except Exception as e:  # safetensors raises its own error types for truncated files
        raise CheckpointError(f"{path}: unreadable ({e}); the checkpoint is damaged") from e
    expected = model.trainable_state_dict()
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    missing = [k for k in missing if not k.startswith(may_lack)] if may_lack else missing
    wrong = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        raise CheckpointError(
            f"{path}: does not fit the model its recipe describes (missing {missing[:3]}, "
            f"unexpected {unexpected[:3]}, wrong shape {wrong[:3]})")
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()}, strict=False)


def load_speech_llm(path: str | Path, dtype: torch.dtype = torch.float32) -> SpeechLLM:
    """Rebuild a trained speech LLM from a checkpoint or run folder, in eval mode."""
    from susurrus.models.speech_llm.build import build_speech_llm

    folder = find_checkpoint(path)
    if folder is None:
        raise CheckpointError(f"{path}: no speech-LLM checkpoint here (expected {WEIGHTS} and "
                              f"{RECIPE}, or a training run folder with model/)")
    model = build_speech_llm(read_model_config(folder), dtype=dtype)
    load_trained(model, folder)
    return model.eval()


def speech_llm_folder(model: str) -> str:
    """An embedded speech-LLM name -> its installed folder; a folder as given."""
    return resolve(model, "speech-llm") if model in EMBEDDED else model


def load_for_inference(model: str, device: str = "cpu") -> SpeechLLM:
    """A speech LLM by embedded name, checkpoint or run folder, on `device`, LoRA merged.

    A name or checkpoint of another family is refused before anything loads
    (IncompatibleOptionError); a folder that is no checkpoint at all is a CheckpointError.
    """
    family = model_family(model)
    if family != FAMILY and (model in EMBEDDED or checkpoint_family(model) is not None):
        raise IncompatibleOptionError(
            f"model {model!r} is a {family} model, not a speech LLM; give a speech-LLM "
            "checkpoint, run folder or embedded name (e.g. speech-llm-tiny-abstract)")
    loaded = load_speech_llm(speech_llm_folder(model)).to(device)
    loaded.merge_lora()  # inference only: adapters folded into the weights, no overhead
    return loaded


def export_checkpoint(src: str | Path, dest: str | Path, dtype: torch.dtype = torch.float16,
                      notes: str = "") -> Path:
    """Copy a checkpoint (or a run's latest) to `dest` with weights in `dtype` (to ship it).

    `notes` (Markdown: how it was made, what it scores) is written to dest/README.md.
    """
    from safetensors.torch import load_file, save_file

    folder = find_checkpoint(src)
    if folder is None:
        raise CheckpointError(f"{src}: no speech-LLM checkpoint here")
    dest = Path(dest)
    if dest.exists():
        raise FileExistsError(f"{dest} exists; remove it first")
    dest.mkdir(parents=True)
    state = {k: (v.to(dtype) if v.is_floating_point() else v)
             for k, v in load_file(str(folder / WEIGHTS)).items()}
    save_file(state, str(dest / WEIGHTS), metadata=METADATA)
    shutil.copyfile(folder / RECIPE, dest / RECIPE)
    if notes:
        (dest / "README.md").write_text(notes, encoding="utf-8")
    return dest
