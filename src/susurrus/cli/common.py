"""What several commands share: the API's names the parser offers, and Ctrl-C.

Nothing here imports torch: `susurrus --help` builds every parser from these names.
"""

from __future__ import annotations

# The API's choices, restated so that the parser imports no torch (`susurrus.infer` loads the
# engines); tests/cli/test_cli_light.py checks they stay equal to `susurrus.infer.ENGINES` and
# `susurrus.infer.FORMATS`.
ENGINE_NAMES: tuple[str, ...] = ("faster-whisper", "torch")
OUTPUT_FORMATS: tuple[str, ...] = ("txt", "json", "srt", "vtt")
# `susurrus.models.speech_llm.generation.GenerateOptions.context_candidates`, restated likewise
CONTEXT_CANDIDATES = 6
# `...GenerateOptions.first_pass_nbest`, restated likewise
FIRST_PASS_NBEST = 0


def whole_number(text: str) -> int:
    """An argparse type: a whole number >= 0."""
    import argparse

    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return value


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a command; the message says what was kept and how to go on."""
