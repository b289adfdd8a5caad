"""A Whisper stored as the tensors training changed, to be laid over the base it came from.

A distilled student (paper 002, issue 17) trains a few of Whisper's tensors (the encoder's last
layers, the decoder when the recipe trains it); every other tensor is the base model's, bit for
bit. Its shippable form is a folder of those tensors alone, in float16 (issue 17: shipped
weights <= 25 MB), and the recipe:

    overlay.safetensors   the changed tensors, float16. Metadata: format, family ('whisper'),
                          base (the model they go over: an embedded name, a folder or a hub id),
                          base_sha256 (of the base's other tensors, checked when it is rebuilt)
    recipe.yaml           `family: whisper`, then the recipe the student was trained with

`susurrus.pretrained.resolve` rebuilds such a folder once, in the cache, as a full Hugging Face
Whisper folder (the base with the overlay copied in, float32), which both engines then read as
any Whisper: the torch engine directly, faster-whisper after the usual CTranslate2 conversion.
The rebuilt student differs from the float32 one that trained by float16 rounding of the
trained tensors (a relative 2^-11 at most), which is what the 2x smaller overlay costs.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from susurrus.errors import BadCheckpointError

if TYPE_CHECKING:
    import torch
    from torch import nn

OVERLAY = "overlay.safetensors"
FORMAT = "susurrus-whisper-overlay"


class OverlayError(BadCheckpointError):
    """An overlay folder that cannot be laid over its base: a damaged file, another base."""


def is_overlay(folder: Path) -> bool:
    """Whether `folder` holds a Whisper overlay (and so needs its base to run)."""
    return (folder / OVERLAY).is_file()


def _own_tensors(model: nn.Module) -> dict[str, torch.Tensor]:
    """The model's state, each storage once: a tied copy (Whisper's `proj_out` is the token
    embedding) is left out, and comes back from `tie_weights` on load."""
    seen: set[int] = set()
    out = {}
    for name, t in model.state_dict().items():
        if t.data_ptr() in seen:
            continue
        seen.add(t.data_ptr())
        out[name] = t
    return out


def base_fingerprint(base: nn.Module, skip: set[str]) -> str:
    """sha256 (16 hex digits) of the base's tensors that are not in `skip`, as float32 bytes in
    name order: what the overlay leaves to the base must be what it was trained over."""
    h = hashlib.sha256()
    for name, t in sorted(_own_tensors(base).items()):
        if name not in skip:
            h.update(name.encode())
            h.update(t.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def changed_tensors(student: nn.Module, base: nn.Module) -> dict[str, torch.Tensor]:
    """The student's tensors whose values differ from the base's (float16, contiguous, CPU).

    Raises OverlayError when the two are not the same architecture (a name or shape differs).
    """
    import torch

    mine, theirs = _own_tensors(student), _own_tensors(base)
    if mine.keys() != theirs.keys():
        odd = sorted(mine.keys() ^ theirs.keys())[:3]
        raise OverlayError(f"the student and its base are not the same Whisper (tensors "
                           f"{', '.join(odd)} are in one only); export against the base the "
                           "recipe's model.student names")
    out = {}
    for name, t in mine.items():
        if t.shape != theirs[name].shape:
            raise OverlayError(f"tensor {name}: {tuple(t.shape)} in the student, "
                               f"{tuple(theirs[name].shape)} in the base")
        if not torch.equal(t, theirs[name]):
            out[name] = t.detach().to(torch.float16).cpu().contiguous()
    return out


def write_overlay(student: nn.Module, base: nn.Module, base_name: str, folder: Path) -> int:
    """Write `folder / OVERLAY`: the student's changed tensors over `base` (named `base_name`
    for whoever rebuilds it); returns how many tensors it holds."""
    from safetensors.torch import save_file

    changed = changed_tensors(student, base)
    meta = {"format": FORMAT, "family": "whisper", "base": base_name,
            "base_sha256": base_fingerprint(base, set(changed))}
    save_file(changed, str(folder / OVERLAY), metadata=meta)
    return len(changed)


def read_overlay(folder: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(tensors, metadata) of `folder`'s overlay; OverlayError if it is not one."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file, safe_open

    path = folder / OVERLAY
    try:
        with safe_open(str(path), "pt") as f:
            meta = dict(f.metadata() or {})
        tensors = load_file(str(path))
    except (OSError, SafetensorError) as err:
        raise OverlayError(f"{path}: not a readable safetensors file ({err}); export the "
                           "student again") from None
    if meta.get("format") != FORMAT or not meta.get("base"):
        raise OverlayError(f"{path}: no {FORMAT} metadata naming its base; write it with "
                           "`susurrus distill-export`")
    return tensors, meta


def apply_overlay(base: nn.Module, folder: Path) -> str:
    """Copy `folder`'s overlay into `base` (in place, in the base's dtype); returns the base
    name it records. OverlayError when the base is not the one the overlay was made over."""
    import torch

    tensors, meta = read_overlay(folder)
    own = _own_tensors(base)
    unknown = sorted(set(tensors) - set(own))
    if unknown:
        raise OverlayError(f"{folder / OVERLAY}: tensor(s) {', '.join(unknown[:3])} are not in "
                           f"the base {meta['base']!r}")
    if base_fingerprint(base, set(tensors)) != meta.get("base_sha256"):
        raise OverlayError(f"{folder / OVERLAY}: the base {meta['base']!r} found here is not "
                           "the one this student was trained over (its other weights differ); "
                           "install the same base model or export the student again")
    with torch.no_grad():
        for name, t in tensors.items():
            if own[name].shape != t.shape:
                raise OverlayError(f"{folder / OVERLAY}: tensor {name} is {tuple(t.shape)}, "
                                   f"the base's {tuple(own[name].shape)}")
            own[name].copy_(t.to(own[name].dtype))
    if hasattr(base, "tie_weights"):
        base.tie_weights()
    return meta["base"]
