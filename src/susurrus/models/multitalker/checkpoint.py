"""Build a `MultiTalkerCTC` from its config, and its checkpoints.

A checkpoint folder holds what trains and the recipe that rebuilds the rest:

    recipe.yaml                 `family: multitalker_ctc`, then the whole recipe (its `model`
                                section is a MultiTalkerConfig)
    multitalker.safetensors     the separator, the CTC and count heads, the encoder layers that
                                trained (`model.train_layers`); metadata `family`

The frozen encoder comes back from `susurrus.pretrained` by the name in the recipe.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
import yaml

from susurrus.encoders.whisper import AnyLengthWhisperEncoder
from susurrus.errors import BadCheckpointError
from susurrus.models.family import FAMILY_KEY
from susurrus.models.multitalker.config import MultiTalkerConfig
from susurrus.models.multitalker.model import CharVocab, MultiTalkerCTC
from susurrus.models.multitalker.separator import build_separator

FAMILY = "multitalker_ctc"  # what a checkpoint of this family declares (susurrus.models.family)
WEIGHTS = "multitalker.safetensors"
RECIPE = "recipe.yaml"
METADATA = {"format": "susurrus-multitalker-ctc", FAMILY_KEY: FAMILY}


class MultiTalkerCheckpointError(BadCheckpointError):
    """A folder that is not a usable multi-talker checkpoint; the message says what is wrong."""


def from_encoder(encoder: AnyLengthWhisperEncoder, config: MultiTalkerConfig) -> MultiTalkerCTC:
    """The model around a loaded encoder; the trained parts fresh from the current torch seed."""
    separator = build_separator(config.separator, encoder.d_model, config.max_talkers,
                                **dict(config.separator_options))
    return MultiTalkerCTC(encoder, separator, config.max_talkers, CharVocab(config.alphabet),
                          config.count_hidden, config.train_layers)


def build_multitalker(config: MultiTalkerConfig) -> MultiTalkerCTC:
    """Load the Whisper encoder `config` names and add fresh trained parts."""
    from susurrus.pretrained import load_whisper

    whisper, _ = load_whisper(config.encoder)
    return from_encoder(AnyLengthWhisperEncoder(whisper.model.encoder), config)


def trained_state(model: MultiTalkerCTC) -> dict[str, torch.Tensor]:
    """What trains: everything but the encoder's frozen parameters."""
    frozen = {f"encoder.{n}" for n, p in model.encoder.named_parameters() if not p.requires_grad}
    return {k: v for k, v in model.state_dict().items() if k not in frozen}


def save_checkpoint(model: MultiTalkerCTC, folder: str | Path, recipe: dict[str, Any]) -> Path:
    """Write the trained weights and the recipe into `folder`, replacing it atomically."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    save_file({k: v.detach().cpu().contiguous() for k, v in trained_state(model).items()},
              str(tmp / WEIGHTS), metadata=METADATA)
    declared = {FAMILY_KEY: FAMILY} | {k: v for k, v in recipe.items() if k != FAMILY_KEY}
    (tmp / RECIPE).write_text(yaml.safe_dump(declared, sort_keys=False), encoding="utf-8")
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(tmp, folder)
    return folder


def find_checkpoint(path: str | Path) -> Path:
    """The checkpoint folder at `path` (itself, or a run folder's model/), or an embedded
    multi-talker model's by name (`multitalker-ctc-tiny`)."""
    from susurrus.pretrained.registry import EMBEDDED, resolve

    if str(path) in EMBEDDED:
        path = resolve(str(path), "multitalker-ctc")
    path = Path(path).expanduser()
    for candidate in (path, path / "model"):
        if (candidate / WEIGHTS).is_file() and (candidate / RECIPE).is_file():
            return candidate
    raise MultiTalkerCheckpointError(
        f"{path}: no multi-talker checkpoint here (expected {WEIGHTS} and {RECIPE}, or a "
        "training run folder with model/); train one with recipes/multitalker/tiny.yaml")


def read_config(folder: Path) -> MultiTalkerConfig:
    """The `model` section of a checkpoint's recipe; errors name the file."""
    path = folder / RECIPE
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return MultiTalkerConfig(**dict(raw.get("model") or {}))
    except (OSError, yaml.YAMLError, ValueError, TypeError, AttributeError) as e:
        raise MultiTalkerCheckpointError(f"{path}: model section unreadable ({e})") from None


def load_trained(model: MultiTalkerCTC, folder: Path) -> None:
    """Copy a checkpoint's trained weights into `model`; a mismatch names what differs."""
    from safetensors.torch import load_file

    state = load_file(str(folder / WEIGHTS))
    expected = trained_state(model)
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        raise MultiTalkerCheckpointError(
            f"{folder / WEIGHTS}: does not fit the model its recipe describes (missing "
            f"{missing[:3]}, unexpected {unexpected[:3]}, wrong shape {wrong[:3]})")
    model.load_state_dict(state, strict=False)


def load_multitalker(path: str | Path, encoder: AnyLengthWhisperEncoder | None = None
                     ) -> MultiTalkerCTC:
    """A trained model from a checkpoint or run folder, in eval mode. `encoder` (a loaded one,
    e.g. a test's tiny encoder) replaces the one the recipe names."""
    folder = find_checkpoint(path)
    config = read_config(folder)
    model = build_multitalker(config) if encoder is None else from_encoder(encoder, config)
    load_trained(model, folder)
    return model.eval()
