"""The names `susurrus.cli` imported before recognizers; remove once the CLI stops using them.

`load_recognizer(model)` replaces `is_speech_llm` branches (the recognizer's capabilities say
what it can do), and `SpeechLLMRecognizer` replaces `SpeechLLMEngine`.
"""

from __future__ import annotations

from susurrus.infer.speech_llm import SpeechLLMRecognizer, split_windows
from susurrus.models.family import model_family
from susurrus.models.speech_llm.checkpoint import speech_llm_folder

SpeechLLMEngine = SpeechLLMRecognizer


def is_speech_llm(model: str) -> bool:
    """Whether `model` names a speech-LLM checkpoint (embedded name or folder)."""
    return model_family(model) == "speech_llm"


__all__ = ["SpeechLLMEngine", "is_speech_llm", "speech_llm_folder", "split_windows"]
