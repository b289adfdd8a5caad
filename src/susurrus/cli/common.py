"""What several commands share: the API's names the parser offers, and Ctrl-C.

Nothing here imports torch: `susurrus --help` builds every parser from these names.
"""

from __future__ import annotations

# The API's choices, restated so that the parser imports no torch (`susurrus.infer` loads the
# engines); tests/cli/test_cli_light.py checks they stay equal to `susurrus.infer.ENGINES` and
# `susurrus.infer.FORMATS`.
ENGINE_NAMES: tuple[str, ...] = ("faster-whisper", "torch")
OUTPUT_FORMATS: tuple[str, ...] = ("txt", "json", "srt", "vtt")


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a command; the message says what was kept and how to go on."""
