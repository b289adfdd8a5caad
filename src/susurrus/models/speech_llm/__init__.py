"""Speech-LLM models: the module, how it decodes, how it is built and checkpointed (paper 001)."""

from susurrus.models.speech_llm.build import add_lora, build_speech_llm
from susurrus.models.speech_llm.checkpoint import (
    CheckpointError,
    export_checkpoint,
    find_checkpoint,
    load_speech_llm,
    save_checkpoint,
)
from susurrus.models.speech_llm.config import LoraConfig, ModelConfig
from susurrus.models.speech_llm.generation import GenerateOptions
from susurrus.models.speech_llm.model import SpeechLLM

__all__ = [
    "CheckpointError",
    "GenerateOptions",
    "LoraConfig",
    "ModelConfig",
    "SpeechLLM",
    "add_lora",
    "build_speech_llm",
    "export_checkpoint",
    "find_checkpoint",
    "load_speech_llm",
    "save_checkpoint",
]
