"""Whisper's n-best texts (`susurrus.infer.first_pass.beam_texts`) with the real embedded
tiny.en on synthesized speech."""

from __future__ import annotations

import jiwer

from susurrus.metrics.scores import normalize

FOX = "The quick brown fox jumps over the lazy dog near the river bank."


def test_a_beam_of_one_is_faster_whispers_greedy_text(whisper_tiny, espeak_clip) -> None:
    """Features, prompt and decoding as faster-whisper's own greedy pass (the first pass the
    LLM reads): the same text."""
    from susurrus.audio.io import load_audio
    from susurrus.infer.first_pass import beam_texts, first_pass_recognizer

    clip = load_audio(espeak_clip)
    [greedy] = first_pass_recognizer("whisper-tiny.en", "faster-whisper").recognize([clip])
    assert beam_texts("whisper-tiny.en", [clip], 1) == [[greedy.text.strip()]]


def test_a_beam_gives_n_distinct_texts_the_best_close_to_what_was_said(
        whisper_tiny, espeak_clip) -> None:
    from susurrus.audio.io import load_audio
    from susurrus.infer.first_pass import beam_texts

    clip = load_audio(espeak_clip)
    [texts] = beam_texts("whisper-tiny.en", [clip], 4)
    assert len(texts) == 4 and len(set(texts)) == 4
    assert jiwer.wer(normalize(FOX), normalize(texts[0])) <= 0.2
