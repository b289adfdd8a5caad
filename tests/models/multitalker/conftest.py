from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_encoder(tiny_whisper_dir):
    """The tiny random Whisper's any-length encoder (2 layers, width 64)."""
    from transformers import WhisperForConditionalGeneration

    from susurrus.encoders.whisper import AnyLengthWhisperEncoder

    model = WhisperForConditionalGeneration.from_pretrained(tiny_whisper_dir).eval()
    return AnyLengthWhisperEncoder(model.model.encoder)
