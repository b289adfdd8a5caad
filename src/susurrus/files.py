"""Writing files so that a crash never leaves one that looks finished."""

from __future__ import annotations

import os
from pathlib import Path


def write_text_atomic(text: str, path: Path) -> None:
    """UTF-8 text via a `.partial` name renamed at the end (the folder is made if missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
