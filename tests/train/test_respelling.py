"""Context-copy training (issue 16 lever 5b): respelled names and the weights of their tokens."""

from __future__ import annotations

import numpy as np
import pytest
from transformers import AutoTokenizer

from susurrus.train.respelling import (
    ContextRespelling,
    apply_map,
    respell_map,
    respell_word,
    respellable,
)


@pytest.fixture(scope="module")
def tokenizer(tiny_llm_dir):
    return AutoTokenizer.from_pretrained(tiny_llm_dir)


def test_a_respelled_word_keeps_its_capitals_and_changes() -> None:
    rng = np.random.default_rng(0)
    words = ["Castaneda", "Manzanillo", "Philippa", "KOWALSKI", "zolpidem", "Siobhán"]
    out = [respell_word(w, rng) for w in words]
    assert all(a != b for a, b in zip(words, out, strict=True)), out
    assert out[0][0].isupper() and out[0][1:].islower() and out[3].isupper()
    assert out[4].islower()
    # the same draw gives the same respelling
    assert [respell_word(w, np.random.default_rng(0)) for w in words[:1]] == out[:1]


def test_only_names_of_letters_are_respelled() -> None:
    assert respellable("Bill Castaneda") and respellable("Dr. Ülker")
    assert not respellable("September 8th") and not respellable("UA 551")
    assert not respellable("Ed Li")  # no word of 4+ letters
    mapping = respell_map(["September 8th", "Manzanillo", "Bill Castaneda"], 1.0,
                          np.random.default_rng(1))
    assert set(mapping) == {"Manzanillo", "Bill", "Castaneda"}
    assert respell_map(["Manzanillo"], 0.0, np.random.default_rng(1)) == {}


def test_apply_map_replaces_whole_words_and_gives_their_new_spans() -> None:
    text, spans = apply_map("Bill met Billy and Bill.", {"Bill": "Byl"})
    assert text == "Byl met Billy and Byl."
    assert [text[a:b] for a, b in spans] == ["Byl", "Byl"]


def rows(tokenizer, texts, entities, share=1.0, weight=3.0, window=8):
    priors = [list(range(max(0, i - window), i)) for i in range(len(texts))]
    r = ContextRespelling(texts, entities, ["s"] * len(texts), priors, tokenizer, share, weight,
                          seed=0)
    ids = lambda j: tokenizer(texts[j].strip(), add_special_tokens=False)["input_ids"]  # noqa
    return [r.row(i, 0, ids) for i in range(len(texts))]


def weighted(tokenizer, row) -> dict[str, float]:
    """word -> weight of the tokens that are not 1 (decoded, joined per run of equal weights)"""
    out, run, w = {}, "", None
    for t, x in zip(row.ids, row.weights or [1.0] * len(row.ids), strict=True):
        if x != w and run.strip():
            out[run.strip()] = w
            run = ""
        w = x
        run += tokenizer.decode([t])
    if run.strip():
        out[run.strip()] = w
    return {k: v for k, v in out.items() if v != 1.0}


def test_a_respelled_name_weighs_0_where_first_heard_and_repeat_weight_where_copyable(
        tokenizer) -> None:
    texts = ["Hi, this is Manzanillo Freight.", "Is Manzanillo open today?", "No idea."]
    out = rows(tokenizer, texts, [["Manzanillo Freight"], ["Manzanillo"], []])
    first, second, third = (tokenizer.decode(r.ids) for r in out)
    new = second.split()[1]
    assert new != "Manzanillo" and new in first and "Freight" not in first  # same everywhere
    assert weighted(tokenizer, out[0]) == {f"{new} {first.split()[-1][:-1]}": 0.0}
    assert weighted(tokenizer, out[1]) == {new: 3.0}
    assert out[2].weights is None and third == "No idea."
    # the prior turns read the respelled transcripts too
    assert [tokenizer.decode(p) for p in out[1].prior_ids] == [first]


def test_a_mention_outside_the_window_is_not_copyable_and_a_same_turn_one_is(tokenizer) -> None:
    texts = ["Call Castaneda.", "Hello.", "Castaneda said Castaneda twice."]
    out = rows(tokenizer, texts, [["Castaneda"], [], ["Castaneda"]], window=1)
    new = tokenizer.decode(out[0].ids).split()[1].rstrip(".")
    ws = [w for w in out[2].weights]
    toks = [tokenizer.decode([t]) for t in out[2].ids]
    # the first mention in turn 3 is out of the 1-turn window: 0; its repeat in the turn: 3
    assert "".join(toks).startswith(new)
    zero = "".join(t for t, w in zip(toks, ws, strict=True) if w == 0.0).strip()
    three = "".join(t for t, w in zip(toks, ws, strict=True) if w == 3.0).strip()
    assert zero == new and three == new


def test_unchanged_repeats_are_weighted_and_share_0_weight_1_changes_nothing(tokenizer) -> None:
    texts = ["Call Castaneda.", "Castaneda speaking."]
    out = rows(tokenizer, texts, [["Castaneda"], ["Castaneda"]], share=0.0)
    assert weighted(tokenizer, out[1]) == {"Castaneda": 3.0} and out[0].weights is None
    plain = rows(tokenizer, texts, [["Castaneda"], ["Castaneda"]], share=0.0, weight=1.0)
    assert [r.ids for r in plain] == [tokenizer(t)["input_ids"] for t in texts]
    assert all(set(r.weights or [1.0]) == {1.0} for r in plain)


def test_the_draw_depends_on_the_epoch_and_is_repeatable(tokenizer) -> None:
    texts = [f"Call {n}." for n in ("Castaneda", "Manzanillo", "Kowalczyk", "Hautala")]
    ents = [[n] for n in ("Castaneda", "Manzanillo", "Kowalczyk", "Hautala")]
    priors = [[] for _ in texts]
    r = ContextRespelling(texts, ents, ["s"] * 4, priors, tokenizer, 0.5, 3.0, seed=0)
    ids = lambda j: tokenizer(texts[j], add_special_tokens=False)["input_ids"]  # noqa
    draw = lambda e: [tokenizer.decode(r.row(i, e, ids).ids) for i in range(4)]  # noqa
    assert draw(0) == draw(0)
    assert any(draw(e) != draw(0) for e in range(1, 5))
