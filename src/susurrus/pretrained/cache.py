"""The model cache: converted weights live in `$SUSURRUS_CACHE` (default `~/.cache/susurrus`).

A converted model is written into a temporary sibling folder, checksummed (`CHECKSUMS.json`, sha256
of every file, written last) and renamed into place in one step, so an interrupted conversion never
leaves a folder that loads. A folder whose files no longer match their checksums is refused.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from susurrus.errors import UserError

CHECKSUMS = "CHECKSUMS.json"


class CacheCorruptError(UserError, RuntimeError):
    """A cached model folder does not match its checksums."""


def cache_root() -> Path:
    """The cache folder: `$SUSURRUS_CACHE`, else `~/.cache/susurrus`."""
    root = os.environ.get("SUSURRUS_CACHE")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "susurrus"


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def fingerprint(path: Path) -> str:
    """A short id of a source file (sha256 of its content) that names the converted folder."""
    return sha256_file(path)[:12]


def verify(folder: Path) -> None:
    """Raise CacheCorruptError unless every file listed in CHECKSUMS.json matches."""
    listing = folder / CHECKSUMS
    if not listing.is_file():
        raise CacheCorruptError(f"{folder}: no {CHECKSUMS}; delete the folder to rebuild it")
    for name, digest in json.loads(listing.read_text()).items():
        f = folder / name
        if not f.is_file() or sha256_file(f) != digest:
            raise CacheCorruptError(
                f"{f}: missing or does not match its checksum; delete {folder} to rebuild it"
            )


@contextmanager
def _lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def build_once(folder: Path, build: Callable[[Path], None]) -> Path:
    """Return `folder`, building it first with `build(tmp_folder)` if it does not exist yet.

    Safe against interruption (temporary folder + atomic rename) and against two processes
    building at once (a lock file beside the folder).
    """
    if (folder / CHECKSUMS).is_file():
        verify(folder)
        return folder
    with _lock(folder.parent / f".{folder.name}.lock"):
        if (folder / CHECKSUMS).is_file():  # another process finished while we waited
            verify(folder)
            return folder
        tmp = folder.parent / f".{folder.name}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            build(tmp)
            sums = {p.name: sha256_file(p) for p in sorted(tmp.iterdir()) if p.is_file()}
            (tmp / CHECKSUMS).write_text(json.dumps(sums, indent=1))
            if folder.exists():  # a stale folder without checksums: an old interrupted layout
                shutil.rmtree(folder)
            os.rename(tmp, folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return folder
