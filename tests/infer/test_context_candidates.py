"""Candidates respelled from a conversation's earlier turns (issue 16, lever 5c): which phrases
the earlier transcripts offer, and which stretch of a turn's text each replaces. (A session's
joint choice letting them compete: tests/models/speech_llm/test_first_pass.py.)"""

from __future__ import annotations

import pytest

from susurrus.infer.context_candidates import candidates, context_phrases, key


def test_the_key_keeps_letters_and_digits_of_any_script_lower_cased() -> None:
    assert key("Dr. Dase-Compes, 7335209!") == "drdasecompes7335209"
    assert key("Malāyer") == "malāyer"


def test_earlier_turns_offer_names_numbers_and_rare_words_once_each() -> None:
    texts = ["Please read the azithromycin trials before August 27th.",
             "Yes, Dr. Descamps has claim 7335209 from the Oakwater group.",
             "The Oakwater group agrees."]
    rare = {"azithromycin": 5}
    phrases = context_phrases(texts, lambda w: rare.get(w, 1))
    for want in ("azithromycin", "Descamps", "7335209", "Oakwater"):
        assert any(key(want) == key(p) for p in phrases), (want, phrases)
    assert len({key(p) for p in phrases}) == len(phrases)  # each once
    # common words, and a capital that only opens a sentence, are not offered
    for common in ("Please", "trials", "Yes", "group", "The"):
        assert common not in phrases
    # without a tokenizer's piece count, a lower-case rare word is not known to be rare
    assert "azithromycin" not in context_phrases(texts[:1])
    assert context_phrases(["", "  "]) == []


@pytest.mark.parametrize(("text", "want"), [
    ("Please also cite the earlier Azzithra mice and trials in the introduction.",
     "Please also cite the earlier azithromycin trials in the introduction."),
    ("Thanks so much, Tom. I'll quote 733520 after I call again.",
     "Thanks so much, Tom. I'll quote 7335209 after I call again."),
    ("They haven't won in pocket head for years.",
     "They haven't won in Birkenhead for years."),
    ("He is from the oak water group, sir.", "He is from the Oakwater group, sir."),
    ("I'll send it before August 27.", "I'll send it before August 27th."),  # the dot kept
])
def test_a_stretch_spelled_like_a_phrase_is_replaced_by_it(text: str, want: str) -> None:
    phrases = ["azithromycin", "7335209", "Birkenhead", "Oakwater", "August 27th"]
    assert want in candidates(text, phrases, limit=6)


def test_no_candidate_where_the_text_holds_the_phrase_or_nothing_is_spelled_like_it() -> None:
    phrases = ["Birkenhead", "7335209"]
    assert candidates("We drove to Birkenhead today.", phrases[:1], limit=6) == []
    assert candidates("A completely different sentence.", phrases, limit=6) == []
    assert candidates("", phrases, limit=6) == []


def test_candidates_are_the_most_similar_first_and_at_most_the_limit() -> None:
    text = "Mr. Dase Compes met Dr. Wanda Stanly in pocket head."
    phrases = ["Birkenhead", "Stanley", "Descamps"]
    three = candidates(text, phrases, limit=6)
    assert len(three) == 3 and len(set(three)) == 3
    assert candidates(text, phrases, limit=1) == three[:1]
    assert "Stanley" in three[0]  # one letter off: the closest of the three
    assert candidates(text, phrases, limit=0) == []


def test_of_equally_similar_stretches_the_one_nearest_the_phrase_length_is_replaced() -> None:
    # "May" and "May 13" are both half "May 3rd"; the longer stretch is the mishearing
    assert candidates("The incident on May 13, partly.", ["May 3rd"], limit=6) == [
        "The incident on May 3rd, partly."]
    # a number written with a dash is not yet the number as the earlier turn wrote it
    assert candidates("I'll quote 945-3634 again.", ["9453634"], limit=6) == [
        "I'll quote 9453634 again."]
