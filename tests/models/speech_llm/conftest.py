"""The frozen tiny parts every speech-LLM model test builds on (loaded once per module)."""

from __future__ import annotations

from pathlib import Path

import pytest

from susurrus.testing.speech_llm import load_parts


@pytest.fixture(scope="module")
def parts(tiny_whisper_dir: Path, tiny_llm_dir: Path) -> tuple:
    return load_parts(tiny_whisper_dir, tiny_llm_dir)
