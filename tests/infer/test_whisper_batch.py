"""Whisper decodes several inputs as one batch and gets, row by row, what it gets one at a time
(tiny random Whisper); its prompt sessions count what Whisper reads of the prompt."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from susurrus.infer.whisper import TorchWhisperRecognizer
from susurrus.infer.whisper_decoding import DecodingOptions
from susurrus.infer.whisper_longform import LongFormOptions, transcribe_batch, transcribe_longform

pytestmark = pytest.mark.usefixtures("one_thread")

SR = 16_000
SECONDS = (0.5, 3.0, 1.2, 7.0, 2.0, 31.0)  # different budgets; the last one has two windows


@pytest.fixture(scope="module")
def recognizer(one_thread, tiny_whisper_dir: Path) -> TorchWhisperRecognizer:
    """One fallback temperature: a random model's windows all fall back (six would be slow)."""
    return TorchWhisperRecognizer(str(tiny_whisper_dir),
                                  options=LongFormOptions(temperatures=(0.0, 0.5)))


def noise(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(int(seconds * SR)) * 0.1).astype(np.float32)


def spans(segments) -> list[tuple]:
    return [(s.start, s.end, s.tokens) for s in segments]


def same_segments(batch: list, alone: list) -> None:
    """The same choices; log-probabilities equal but for the last bits (other matrix shapes)."""
    assert [spans(s) for s in batch] == [spans(s) for s in alone]
    for b, a in zip((x for s in batch for x in s), (x for s in alone for x in s), strict=True):
        assert b.avg_logprob == pytest.approx(a.avg_logprob, abs=1e-4)
        assert b.no_speech_prob == pytest.approx(a.no_speech_prob, abs=1e-6)


def test_a_batch_of_windows_decodes_each_row_as_it_decodes_alone(recognizer) -> None:
    """Rows with other budgets (they leave the batch at other steps), one sampled row."""
    dec = recognizer.decoder
    gen = torch.Generator().manual_seed(0)
    encoded = dec.encode(torch.randn(4, 80, 3000, generator=gen))
    options = [DecodingOptions(max_new_tokens=n) for n in (5, 40, 17)]
    options.append(DecodingOptions(temperature=1.0, max_new_tokens=23, seed=7))
    prompt = dec.tokenizer.encode(" Siobhan flew to Paris.", add_special_tokens=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # the cache API transformers names
        batch = dec.decode_batch(encoded, prompt, options)
    alone = [dec.decode(encoded[i : i + 1], prompt, o) for i, o in enumerate(options)]
    assert [len(r.tokens) for r in batch] == [len(r.tokens) for r in alone]
    assert len({len(r.tokens) for r in batch}) > 1  # the rows did finish at different steps
    for b, a in zip(batch, alone, strict=True):
        assert b.tokens == a.tokens
        assert b.sum_logprob == pytest.approx(a.sum_logprob, abs=1e-4)
        assert b.no_speech_prob == pytest.approx(a.no_speech_prob, abs=1e-6)
        assert (b.temperature, b.text) == (a.temperature, a.text)


# a random model's windows are all unlikely: with a fallback temperature each is retried alone
@pytest.mark.parametrize("options", [LongFormOptions(temperatures=(0.0,)),
                                     LongFormOptions(temperatures=(0.0, 0.5))],
                         ids=["greedy", "with-fallback"])
def test_batched_transcription_equals_one_at_a_time(recognizer, options) -> None:
    audios = [noise(s, i) for i, s in enumerate(SECONDS)]
    dec = recognizer.decoder
    alone = [transcribe_longform(dec, a, None, options) for a in audios]
    done: list[float] = []
    batch = transcribe_batch(dec, audios, None, options, on_progress=done.append)
    same_segments(batch, alone)
    assert done == sorted(done) and done[-1] == pytest.approx(sum(SECONDS))
    assert batch[-1][-1].end > 30.0  # the 34-s input went on past its first window


def test_recognize_a_batch_equals_recognizing_each_input(recognizer) -> None:
    audios = [noise(s, 10 + i) for i, s in enumerate(SECONDS[:3])]
    assert recognizer.capabilities.batch and recognizer.capabilities.prompt
    batch = recognizer.recognize(audios, prompt="Siobhan")
    alone = [recognizer.recognize([a], prompt="Siobhan")[0] for a in audios]
    same_segments([r.segments for r in batch], [r.segments for r in alone])
    assert [r.text for r in batch] == [r.text for r in alone]
    assert all(len(r.streams) == 1 for r in batch)


def test_prompt_tokens_are_what_whisper_keeps(recognizer) -> None:
    tok = recognizer.decoder.tokenizer
    assert recognizer.prompt_tokens("good evening siobhan") == \
        len(tok.encode(" good evening siobhan", add_special_tokens=False))
    assert recognizer.prompt_tokens("word " * 400) == 223  # Whisper keeps the last 223


def test_a_whisper_session_prompts_each_turn_with_the_earlier_ones(recognizer) -> None:
    session = recognizer.session("text", max_turns=1)
    turns = [noise(1.0, 20 + i) for i in range(3)]
    results = [session.transcribe_turn(a, remember_as=f"turn {i}") for i, a in enumerate(turns)]
    assert session.texts == ["turn 0", "turn 1", "turn 2"]
    assert [r.prior_turns for r in results] == [0, 1, 1]
    assert results[0].context_text_tokens == 0
    assert results[2].context_text_tokens == recognizer.prompt_tokens("turn 1")
    # the turn was decoded with that prompt: the same as recognize() with it
    assert results[2].text == recognizer.recognize([turns[2]], prompt="turn 1")[0].text
