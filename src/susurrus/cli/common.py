"""What several commands share: the API's names the parser offers, a model check, Ctrl-C.

Nothing here imports torch: `susurrus --help` builds every parser from these names.
"""

from __future__ import annotations

from susurrus.errors import UsageError

# The API's choices, restated so that the parser imports no torch (`susurrus.infer` loads the
# engines); tests/cli/test_cli_light.py checks they stay equal to `susurrus.infer.ENGINES` and
# `susurrus.infer.FORMATS`.
ENGINE_NAMES: tuple[str, ...] = ("faster-whisper", "torch")
OUTPUT_FORMATS: tuple[str, ...] = ("txt", "json", "srt", "vtt")


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a command; the message says what was kept and how to go on."""


def check_speech_llm(model: str, engine: str, prompt_option: str | None, fix: str) -> None:
    """Refuse, before any work, what a speech-LLM checkpoint cannot do: another engine, a prompt."""
    from susurrus.infer.speech_llm_engine import is_speech_llm

    if not is_speech_llm(model):
        return
    if engine != "torch":
        raise UsageError(f"{model} is a speech-LLM checkpoint; it runs on the torch engine only "
                         f"(drop --engine {engine})")
    if prompt_option:
        raise UsageError(f"{model} is a speech-LLM checkpoint, which takes no text prompt yet "
                         f"({prompt_option}); {fix}")
