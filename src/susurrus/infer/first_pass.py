"""The first pass a speech LLM reads (issue 16, lever 4): a Whisper model decoded greedily.

Temperature 0 with no fallback ladder, no timestamps, no previous-text prompt: the same decoding
makes the training hypotheses (`susurrus.data.hypotheses.HypothesisCache`) and the ones read at
inference, so the LLM meets at test time the errors it learned to correct.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from susurrus.data.hypotheses import FIRST_PASS_ENGINES
from susurrus.infer.whisper_longform import LongFormOptions

OPTIONS = LongFormOptions(temperatures=(0.0,), timestamps=False,
                          condition_on_previous_text=False)


@lru_cache(maxsize=2)
def first_pass_recognizer(name: str, engine: str = "faster-whisper", device: str = "cpu"):
    """The Whisper recognizer whose greedy transcripts a speech LLM reads (loaded once)."""
    from susurrus.infer.whisper import FasterWhisperRecognizer, TorchWhisperRecognizer

    if engine not in FIRST_PASS_ENGINES:
        raise ValueError(f"first-pass engine {engine!r}: choose one of "
                         f"{', '.join(FIRST_PASS_ENGINES)}")
    if engine == "faster-whisper":
        return FasterWhisperRecognizer(name, device=device, options=OPTIONS)
    return TorchWhisperRecognizer(name, device=device, options=OPTIONS)


def first_pass_texts(name: str, engine: str, clips: Sequence) -> list[str]:
    """The first pass's transcript of each 16-kHz mono clip (each at most 30 s), stripped."""
    if not clips:
        return []
    return [r.text.strip() for r in first_pass_recognizer(name, engine).recognize(list(clips))]
