"""Long audio through a speech LLM: windows of at most 20 s that cover everything, cut at pauses."""

from __future__ import annotations

import numpy as np
import pytest

from susurrus.audio.io import SAMPLE_RATE
from susurrus.infer.speech_llm import WINDOW_SECONDS, split_windows


def speechy(seconds: float, pauses: list[float], seed: int = 0) -> np.ndarray:
    """Noise at speech level with 200-ms silences at the given times."""
    rng = np.random.default_rng(seed)
    audio = rng.standard_normal(int(seconds * SAMPLE_RATE)).astype(np.float32) * 0.1
    for t in pauses:
        audio[int(t * SAMPLE_RATE): int((t + 0.2) * SAMPLE_RATE)] = 0.0
    return audio


def test_windows_are_no_longer_than_the_speech_llms_training_utterances():
    assert WINDOW_SECONDS == 20.0  # generalize.yaml's segments are at most 20 s


@pytest.mark.parametrize("seconds", [0.5, 19.9, 20.0, 20.1, 61.0, 600.0])
def test_windows_cover_everything_in_order_and_stay_under_the_window(seconds):
    audio = speechy(seconds, [])
    spans = split_windows(audio)
    assert spans[0][0] == 0 and spans[-1][1] == audio.shape[0]
    for (_, e0), (s1, _) in zip(spans, spans[1:], strict=False):
        assert e0 == s1  # contiguous: nothing dropped, nothing twice
    assert all(0 < e - s <= WINDOW_SECONDS * SAMPLE_RATE for s, e in spans)
    assert len(spans) == max(1, int(np.ceil(seconds / WINDOW_SECONDS - 1e-9))) or seconds > 40


def test_cuts_fall_in_the_pause_before_the_window_end():
    audio = speechy(70.0, pauses=[27.0, 55.5])
    spans = split_windows(audio, window=30.0)
    cuts = [e / SAMPLE_RATE for _, e in spans[:-1]]
    assert len(cuts) == 2
    assert 27.0 <= cuts[0] <= 27.2 + 0.1
    assert 55.5 <= cuts[1] <= 55.7 + 0.1
    spans = split_windows(speechy(45.0, pauses=[17.0, 35.5]))  # the default 20-s windows
    cuts = [e / SAMPLE_RATE for _, e in spans[:-1]]
    assert len(cuts) == 2 and 17.0 <= cuts[0] <= 17.3 and 35.5 <= cuts[1] <= 35.8
