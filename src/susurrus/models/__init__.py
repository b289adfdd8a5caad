"""Speech-LLM models: the module, how it decodes, how it is built and checkpointed (paper 001)."""

from susurrus.models.build import add_lora, build_speech_llm
from susurrus.models.checkpoint import (
    CheckpointError,
    export_checkpoint,
    find_checkpoint,
    load_speech_llm,
    save_checkpoint,
)
from susurrus.models.config import LoraConfig, ModelConfig
from susurrus.models.generation import GenerateOptions
from susurrus.models.speech_llm import SpeechLLM

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
