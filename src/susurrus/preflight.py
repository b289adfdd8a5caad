"""Checks to run before any work: the device to run on, and the paths results will go to.

A mistake found here costs the user nothing; the same mistake found after decoding a corpus
costs them the decoding. The API and the CLI both call these (the CLI names its options, the API
its parameters: `option` is the name the message uses).

No torch at import time: `resolve_device` imports it only to ask what hardware it sees.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from susurrus.errors import UsageError

DEVICE_FORMS = "cpu, cuda, cuda:N (N = 0, 1, ...) or mps"
_DEVICE = re.compile(r"(cpu|mps|cuda)(:(\d+))?")


def resolve_device(device: str, option: str = "device") -> str:
    """`device` checked against what this torch can run on -> the string to give `.to()`.

    Raises UsageError naming `option` and the valid forms for a malformed name (`gpu0`), and
    saying what is there for a device this machine lacks (`cuda` on a CPU-only torch).
    """
    match = _DEVICE.fullmatch(device.strip())
    if match is None or (match[1] != "cuda" and match[2]):
        raise UsageError(f"{option} {device!r}: not a device; use {DEVICE_FORMS}")
    kind, index = match[1], match[3]
    if kind == "cpu":
        return "cpu"
    import torch

    if kind == "mps":
        if not torch.backends.mps.is_available():
            raise UsageError(f"{option} mps: this machine or torch build has no MPS (Apple GPU); "
                             "use cpu")
        return "mps"
    if not torch.cuda.is_available():
        build = ("a CPU-only torch build" if torch.version.cuda is None
                 else f"torch built for CUDA {torch.version.cuda} sees no GPU")
        raise UsageError(f"{option} {device}: no CUDA device here ({build}, "
                         f"{torch.__version__}); use cpu")
    count = torch.cuda.device_count()
    if index is not None and int(index) >= count:
        raise UsageError(f"{option} {device}: this machine has {count} CUDA device(s), "
                         f"cuda:0 to cuda:{count - 1}")
    return f"cuda:{int(index)}" if index is not None else "cuda"


def _creatable(path: Path, option: str) -> None:
    """Refuse a path whose nearest existing ancestor is a file, or a folder we cannot write."""
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise UsageError(f"{option} {path}: cannot be created, {parent} is a file")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {path}: cannot be created, {parent} is not writable")


def check_output_dir(path: str | Path, option: str = "output_dir") -> None:
    """A folder outputs will be written into: an existing folder, or one that can be made."""
    path = Path(path)
    if path.exists():
        if not path.is_dir():
            raise UsageError(f"{option} {path} is a file; give a folder (made if missing)")
        if not os.access(path, os.W_OK | os.X_OK):
            raise UsageError(f"{option} {path}: the folder is not writable")
        return
    _creatable(path, option)


def check_output_file(path: str | Path, option: str = "out") -> None:
    """A file an output will be written to: not a folder, and in a folder that can be made.

    Whether an existing file may be replaced is the caller's rule (`--overwrite`).
    """
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{option} {path} is a folder; give a file path, e.g. "
                         f"{path / 'results.json'}")
    if not path.exists():
        _creatable(path, option)
