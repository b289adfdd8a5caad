"""A Whisper stored as the tensors training changed, to be laid over the base it came from.

A distilled student (paper 002, issue 17) trains a few of Whisper's tensors (the encoder's last
layers, the decoder when the recipe trains it); every other tensor is the base model's, bit for
bit. Its shippable form is a folder of those changes alone (issue 17: shipped weights <= 25 MB),
and the recipe:

    overlay.safetensors   per changed tensor, either its new value in float16 (`name`), or its
                          change from the base as int8 with one float32 scale per row
                          (`name::delta_int8`, `name::delta_scale`: new = base + q * scale).
                          Metadata: format, family ('whisper'), base (the model they go over: an
                          embedded name, a folder or a hub id), base_sha256 (of every base
                          tensor the overlay does not replace outright, deltas' bases included,
                          checked when it is rebuilt), storage ('float16' or 'int8-delta')
    recipe.yaml           `family: whisper`, then the recipe the student was trained with

Why deltas: fine-tuning moves a weight by little (the shipped 200-step student: |change| <=
1.2e-3), so the change quantised to int8 per row (error <= max|change in the row| / 254)
is both half the size of the float16 weights and closer to the float32 student than they are
(float16 rounds the weight itself, a relative 2^-11). Matrices (2-D, >= MIN_DELTA_NUMEL
elements) are stored as deltas; biases, norms and small tensors as float16.

`susurrus.pretrained.resolve` rebuilds such a folder once, in the cache, as a full Hugging Face
Whisper folder (the base with the overlay applied, float32), which both engines then read as
any Whisper: the torch engine directly, faster-whisper after the usual CTranslate2 conversion.
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
DELTA, SCALE = "::delta_int8", "::delta_scale"  # key suffixes of a tensor stored as a delta
MIN_DELTA_NUMEL = 1024  # smaller changed tensors (and every 1-D one) are stored as float16
STORAGES = ("int8-delta", "float16")


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


def quantize_delta(delta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(int8 q, float32 scale (rows, 1)) of a 2-D change, symmetric per row: delta ~ q * scale,
    |error| <= scale / 2 = max|row| / 254. An all-zero row gets scale 1 (and q 0)."""
    import torch

    d = delta.detach().float()
    scale = d.abs().amax(dim=1, keepdim=True) / 127.0
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    q = torch.clamp(torch.round(d / scale), -127, 127).to(torch.int8)
    return q.contiguous(), scale.contiguous()


def write_overlay(student: nn.Module, base: nn.Module, base_name: str, folder: Path,
                  storage: str = "int8-delta") -> int:
    """Write `folder / OVERLAY`: the student's changed tensors over `base` (named `base_name`
    for whoever rebuilds it), matrices as int8 deltas unless `storage` is 'float16'; returns
    how many tensors it holds."""
    from safetensors.torch import save_file

    if storage not in STORAGES:
        raise ValueError(f"storage: one of {', '.join(STORAGES)}, got {storage!r}")
    changed = changed_tensors(student, base)
    mine, theirs = _own_tensors(student), _own_tensors(base)
    tensors, replaced = {}, set()
    for name, t in changed.items():
        if storage == "int8-delta" and t.dim() == 2 and t.numel() >= MIN_DELTA_NUMEL:
            new, old = mine[name].detach().float().cpu(), theirs[name].detach().float().cpu()
            q, scale = quantize_delta(new - old)
            tensors[name + DELTA], tensors[name + SCALE] = q, scale
        else:
            tensors[name] = t
            replaced.add(name)
    meta = {"format": FORMAT, "family": "whisper", "base": base_name, "storage": storage,
            "base_sha256": base_fingerprint(base, replaced)}
    save_file(tensors, str(folder / OVERLAY), metadata=meta)
    return len(changed)


def overlay_values(tensors: dict[str, torch.Tensor], base: dict[str, torch.Tensor]
                   ) -> dict[str, torch.Tensor]:
    """Each overlaid tensor's new value (float32): a float16 one as stored, a delta added to
    its base tensor (`base`: name -> tensor)."""
    out = {name: t.float() for name, t in tensors.items() if "::" not in name}
    for key, q in tensors.items():
        if key.endswith(DELTA):
            name = key[: -len(DELTA)]
            out[name] = base[name].detach().float().cpu() + q.float() * tensors[name + SCALE]
    return out


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
    deltas = [k[: -len(DELTA)] for k in tensors if k.endswith(DELTA)]
    broken = [k for k in tensors if "::" in k and not k.endswith((DELTA, SCALE))]
    broken += [n for n in deltas if n + SCALE not in tensors
               or tensors[n + SCALE].shape != (tensors[n + DELTA].shape[0], 1)]
    if broken:
        raise OverlayError(f"{path}: tensor(s) {', '.join(broken[:3])} are not a complete "
                           "int8 delta (q and a per-row scale); export the student again")
    return tensors, meta


def apply_overlay(base: nn.Module, folder: Path) -> str:
    """Copy `folder`'s overlay into `base` (in place, in the base's dtype); returns the base
    name it records. OverlayError when the base is not the one the overlay was made over."""
    import torch

    tensors, meta = read_overlay(folder)
    own = _own_tensors(base)
    names = {k.split("::")[0] for k in tensors}
    unknown = sorted(names - set(own))
    if unknown:
        raise OverlayError(f"{folder / OVERLAY}: tensor(s) {', '.join(unknown[:3])} are not in "
                           f"the base {meta['base']!r}")
    replaced = {k for k in tensors if "::" not in k}
    if base_fingerprint(base, replaced) != meta.get("base_sha256"):
        raise OverlayError(f"{folder / OVERLAY}: the base {meta['base']!r} found here is not "
                           "the one this student was trained over (its other weights differ); "
                           "install the same base model or export the student again")
    for name in names:
        stored = tensors.get(name, tensors.get(name + DELTA))
        if own[name].shape != stored.shape:
            raise OverlayError(f"{folder / OVERLAY}: tensor {name} is {tuple(stored.shape)}, "
                               f"the base's {tuple(own[name].shape)}")
    with torch.no_grad():
        for name, value in overlay_values(tensors, own).items():
            own[name].copy_(value.to(own[name].dtype))
    if hasattr(base, "tie_weights"):
        base.tie_weights()
    return meta["base"]
