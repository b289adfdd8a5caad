"""The decoding guards: the repetition detector and the per-row length limit."""

from __future__ import annotations

import pytest

from susurrus.models.speech_llm.generation import GenerateOptions, repeated_tail

A, B, C, D = 11, 12, 13, 14


def test_no_loop_has_no_surplus() -> None:
    assert repeated_tail([A, B, C, D, A, B, C], max_repeats=4, max_ngram=8) == 0
    assert repeated_tail([], max_repeats=4, max_ngram=8) == 0


def test_four_copies_of_a_bigram_leave_one() -> None:
    # "a b a b a b a b": 4 copies of "a b", all but the first are surplus
    assert repeated_tail([A, B] * 4, max_repeats=4, max_ngram=8) == 6


def test_three_copies_are_speech_not_a_loop() -> None:
    assert repeated_tail([C] + [A, B] * 3, max_repeats=4, max_ngram=8) == 0
    assert repeated_tail([A, A, A], max_repeats=4, max_ngram=8) == 0


def test_a_long_loop_counts_every_copy() -> None:
    ids = [C, D] + [A] * 10
    assert repeated_tail(ids, max_repeats=4, max_ngram=8) == 9
    ids = [D] + [A, B, C] * 7
    assert repeated_tail(ids, max_repeats=4, max_ngram=8) == 18
    # cutting the surplus leaves the prefix and exactly one copy
    assert ids[: len(ids) - 18] == [D, A, B, C]


def test_only_the_tail_counts() -> None:
    # a loop that a different token ended is over: nothing to cut
    assert repeated_tail([A, B] * 4 + [C], max_repeats=4, max_ngram=8) == 0
    # "a b a b a b a b a" ends in four copies of "b a"
    assert repeated_tail([A, B] * 4 + [A], max_repeats=4, max_ngram=8) == 6


def test_ngram_longer_than_max_ngram_is_ignored() -> None:
    gram = [1, 2, 3, 4, 5]
    assert repeated_tail(gram * 4, max_repeats=4, max_ngram=4) == 0
    assert repeated_tail(gram * 4, max_repeats=4, max_ngram=5) == 15


def test_max_repeats_zero_turns_the_guard_off() -> None:
    assert repeated_tail([A] * 50, max_repeats=0, max_ngram=8) == 0


def test_max_repeats_two_catches_one_repetition() -> None:
    assert repeated_tail([C, A, B, A, B], max_repeats=2, max_ngram=8) == 2


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"num_beams": 0}, "num_beams"), ({"tokens_per_second": 0.0}, "tokens_per_second"),
     ({"extra_tokens": 0}, "extra_tokens"), ({"max_repeats": 1}, "max_repeats"),
     ({"max_repeats": -2}, "max_repeats")],
)
def test_options_refuse_invalid_values_naming_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        GenerateOptions(**kwargs)


def test_defaults_are_valid_and_greedy() -> None:
    options = GenerateOptions()
    assert options.num_beams == 1 and options.max_repeats == 4


def test_max_new_tokens_scales_with_duration() -> None:
    options = GenerateOptions(tokens_per_second=8.0, extra_tokens=16)
    assert options.max_new_tokens(0.0) == 16
    assert options.max_new_tokens(2.0) == 32
    assert options.max_new_tokens(0.01) == 17  # a started token is a whole token (ceil)
    assert GenerateOptions(tokens_per_second=2.5, extra_tokens=1).max_new_tokens(3.0) == 9
