"""Writing files so that a crash never leaves one that looks finished."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


def write_text_atomic(text: str, path: Path) -> None:
    """UTF-8 text via a `.partial` name renamed at the end (the folder is made if missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def staging_folder(folder: Path) -> Path:
    """An empty hidden folder next to `folder`, to fill and then `replace_folder` it."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))


def replace_folder(staged: Path, folder: Path) -> Path:
    """Put the filled `staged` folder in place of `folder` (whole, or not at all: a crash
    leaves the old one or `folder.old`, never a half-written folder under the name)."""
    old = folder.with_name(folder.name + ".old")
    shutil.rmtree(old, ignore_errors=True)  # left by a save killed before its last line
    if folder.exists():
        os.replace(folder, old)
    os.replace(staged, folder)
    shutil.rmtree(old, ignore_errors=True)
    return folder
