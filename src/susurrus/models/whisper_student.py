"""The Whisper student of paper 002 (issue 17): a Hugging Face Whisper, parts of it trained.

It stays a Whisper: its checkpoint is a plain Hugging Face Whisper folder (weights, config,
generation config, tokenizer, feature extractor) that declares `family: whisper`, so
`load_recognizer` runs it through the existing Whisper recognizers (our decoding, and
faster-whisper after a CTranslate2 conversion) with timestamps, prompts and the long-form seek
loop. Next to the Whisper files it keeps the training-only parts (the representation
projection) in `distill.safetensors`, read back when a run resumes:

    config.json, generation_config.json, model.safetensors   the student (transformers)
    tokenizer.json, ..., preprocessor_config.json            what decoding and CTranslate2 read
    distill.safetensors                                       training-only weights
    recipe.yaml                                               `family: whisper`, then the recipe

`--model` accepts the folder or a training run's folder (whose `model/` holds the latest).

`export_student` (`susurrus distill-export RUN --out FOLDER`) writes the shippable form: only the
tensors training changed (matrices as int8 changes from the base, the rest float16), with the
recipe and the base model's name
(`susurrus.pretrained.whisper_overlay`); `--model FOLDER` rebuilds the full Whisper from it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn

from susurrus.errors import BadCheckpointError, BadRecipeError, OutputExistsError
from susurrus.files import replace_folder, staging_folder
from susurrus.models.family import FAMILY_KEY

FAMILY = "whisper"  # the student is run as what it is
RECIPE = "recipe.yaml"
EXTRA = "distill.safetensors"


class StudentCheckpointError(BadCheckpointError):
    """A folder that is not a usable Whisper-student checkpoint."""


def freeze_student(model: nn.Module, encoder_layers: int, decoder: bool,
                   token_embedding: bool = True) -> int:
    """Leave trainable only the encoder's last `encoder_layers` layers (with its final norm when
    any) and, with `decoder`, the whole decoder, its token embedding (the tied output layer)
    only with `token_embedding`; returns the number of trained parameters. The paper freezes
    the encoder but its last 2. The token embedding is most of a small Whisper's decoder
    (19.9 M of tiny.en's 29.6 M): frozen, the shipped student is that much smaller."""
    enc = model.model.encoder
    if encoder_layers > len(enc.layers):
        raise BadRecipeError(f"model.encoder_layers: the student has {len(enc.layers)} encoder "
                             f"layers, got {encoder_layers}")
    model.requires_grad_(False)
    for layer in enc.layers[len(enc.layers) - encoder_layers:]:
        layer.requires_grad_(True)
    if encoder_layers:
        enc.layer_norm.requires_grad_(True)
    if decoder:
        model.model.decoder.requires_grad_(True)
        model.model.decoder.embed_tokens.requires_grad_(token_embedding)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def find_student(path: str | Path) -> Path | None:
    """The student checkpoint at `path` (itself, or a run folder's `model/`), or None."""
    path = Path(path)
    for candidate in (path, path / "model"):
        if (candidate / "config.json").is_file() and (candidate / RECIPE).is_file():
            return candidate
    return None


def save_student(whisper: nn.Module, tokenizer: Any, extra: dict[str, torch.Tensor],
                 folder: str | Path, recipe: dict[str, Any]) -> Path:
    """Write the student as a Whisper folder plus `extra` and the recipe, replacing `folder`
    atomically (a save killed halfway leaves the previous checkpoint)."""
    from safetensors.torch import save_file
    from transformers import WhisperFeatureExtractor

    folder = Path(folder)
    tmp = staging_folder(folder)
    whisper.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    WhisperFeatureExtractor(feature_size=whisper.config.num_mel_bins).save_pretrained(tmp)
    save_file({k: v.detach().cpu().contiguous() for k, v in extra.items()}, str(tmp / EXTRA),
              metadata={"format": "susurrus-whisper-student", FAMILY_KEY: FAMILY})
    declared = {FAMILY_KEY: FAMILY} | {k: v for k, v in recipe.items() if k != FAMILY_KEY}
    (tmp / RECIPE).write_text(yaml.safe_dump(declared, sort_keys=False), encoding="utf-8")
    return replace_folder(tmp, folder)


def load_student(whisper: nn.Module, extra: nn.Module, path: str | Path) -> None:
    """Copy a student checkpoint's Whisper weights into `whisper` and its training-only weights
    into `extra` (shapes must match the model the recipe builds)."""
    from safetensors.torch import load_file
    from transformers import WhisperForConditionalGeneration

    folder = find_student(path)
    if folder is None:
        raise StudentCheckpointError(f"{path}: no Whisper-student checkpoint here (expected "
                                     f"config.json and {RECIPE}, or a run folder with model/)")
    try:
        saved = WhisperForConditionalGeneration.from_pretrained(folder, dtype=torch.float32)
        whisper.load_state_dict(saved.state_dict())
        extra.load_state_dict(load_file(str(folder / EXTRA)))
    except (OSError, RuntimeError, ValueError) as e:
        raise StudentCheckpointError(f"{folder}: does not fit the student the recipe builds "
                                     f"({str(e).splitlines()[0]})") from e


def export_student(checkpoint: str | Path, out: str | Path, base: str | None = None,
                   overwrite: bool = False, storage: str = "int8-delta") -> tuple[Path, int]:
    """Write the shippable student of `checkpoint` (a student folder or its run folder) to `out`:
    the tensors that differ from `base` (default: the recipe's `model.student`) — matrices as
    int8 changes from the base, the rest float16, or all float16 with `storage='float16'`
    (`susurrus.pretrained.whisper_overlay`) — and the recipe. Returns (out, tensors written).
    `--model out` then runs it on both engines.

    Raises StudentCheckpointError when `checkpoint` is no student, OutputExistsError when `out`
    exists (unless `overwrite`), OverlayError when the base is another architecture.
    """
    from transformers import WhisperForConditionalGeneration

    from susurrus.pretrained import load_whisper
    from susurrus.pretrained.whisper_overlay import write_overlay

    folder, out = find_student(checkpoint), Path(out)
    if folder is None:
        raise StudentCheckpointError(f"{checkpoint}: no Whisper-student checkpoint here "
                                     f"(expected config.json and {RECIPE}, or a run folder with "
                                     "model/)")
    if out.exists() and not overwrite:
        raise OutputExistsError(f"{out} exists; pass --overwrite to replace it")
    recipe = yaml.safe_load((folder / RECIPE).read_text(encoding="utf-8")) or {}
    base = base or (recipe.get("model") or {}).get("student")
    if not base:
        raise StudentCheckpointError(f"{folder / RECIPE}: names no model.student; give the base "
                                     "model with --base")
    student = WhisperForConditionalGeneration.from_pretrained(folder, dtype=torch.float32)
    base_model, _ = load_whisper(str(base))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        n = write_overlay(student, base_model, str(base), tmp, storage)
        shutil.copyfile(folder / RECIPE, tmp / RECIPE)
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)  # mkdtemp's 0700 would keep other users out of a shipped model
        for f in tmp.iterdir():
            f.chmod(0o666 & ~umask)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out, n
