"""Whisper's logit rules, checked on hand-made token histories."""

from __future__ import annotations

import pytest
import torch

from susurrus.infer.whisper_decoding import (
    DecodingOptions,
    SuppressBlank,
    TimestampRules,
    WhisperTokens,
    compression_ratio,
)

V = 51864
TB = 50363  # <|0.00|> in tiny.en


@pytest.fixture(scope="module")
def tk(tiny_whisper_dir):
    from transformers import AutoTokenizer, GenerationConfig

    tok = AutoTokenizer.from_pretrained(tiny_whisper_dir)
    return WhisperTokens.from_tokenizer(tok, GenerationConfig.from_pretrained(tiny_whisper_dir))


def test_special_tokens_read_from_the_tokenizer(tk):
    assert (tk.eot, tk.sot, tk.sot_prev, tk.no_timestamps, tk.timestamp_begin) == (
        50256, 50257, 50360, 50362, TB)
    assert tk.sot_sequence == (50257,)
    assert {1, 2, 7, 50257, 50360, tk.no_speech} <= set(tk.suppress)


def _allowed(rule, tokens, boost=None):
    logits = torch.zeros(V)
    if boost is not None:
        logits[boost] = 10.0
    rule.apply(logits, tokens)
    return torch.isfinite(logits)


def test_first_token_is_an_early_timestamp(tk):
    ok = _allowed(TimestampRules(tk, max_initial_index=50), [])
    assert not ok[:TB].any()
    assert ok[TB : TB + 51].all() and not ok[TB + 51 :].any()


def test_open_segment_must_close_with_timestamp_or_eot(tk):
    ok = _allowed(TimestampRules(tk, 50), [TB, 400, 500, TB + 30], boost=tk.eot)
    assert not ok[: tk.eot].any()  # no text
    assert ok[tk.eot] and ok[TB + 30] and not ok[TB + 29]  # close here or later


def test_likelier_timestamps_than_any_text_force_a_timestamp(tk):
    ok = _allowed(TimestampRules(tk, 50), [TB, 400])  # uniform: 1501 stamps outweigh one word
    assert not ok[:TB].any() and ok[TB:].any()


def test_closed_pair_must_be_followed_by_text(tk):
    ok = _allowed(TimestampRules(tk, 50), [TB, 400, TB + 30, TB + 30])
    assert not ok[TB:].any() and ok[400]


def test_timestamps_never_decrease(tk):
    ok = _allowed(TimestampRules(tk, 50), [TB, 400, TB + 30, TB + 30, 500])
    assert not ok[TB : TB + 31].any() and ok[TB + 31]


def test_no_timestamps_token_is_never_generated_with_timestamps(tk):
    assert not _allowed(TimestampRules(tk, 50), [TB, 400])[tk.no_timestamps]


def test_suppress_blank_only_at_the_start(tk):
    rule = SuppressBlank((220, tk.eot))
    assert not _allowed(rule, [])[220] and not _allowed(rule, [])[tk.eot]
    assert _allowed(rule, [400])[220]


def test_compression_ratio_flags_loops():
    assert compression_ratio("") == 0.0
    assert compression_ratio("a new sentence with words") < 1.5
    assert compression_ratio("the same words again " * 30) > 2.4


def test_options_validate():
    with pytest.raises(ValueError, match="temperature"):
        DecodingOptions(temperature=-1)
    with pytest.raises(ValueError, match="max_new_tokens"):
        DecodingOptions(max_new_tokens=0)


def test_sampling_is_deterministic_for_a_seed(tiny_whisper_dir):
    from susurrus.infer.whisper_decoding import WindowDecoder
    from susurrus.pretrained import load_whisper

    dec = WindowDecoder(*load_whisper(str(tiny_whisper_dir)))
    enc = dec.encode(torch.randn(1, 80, 3000, generator=torch.Generator().manual_seed(0)))
    opts = DecodingOptions(temperature=1.0, max_new_tokens=12, seed=3)
    a, b = dec.decode(enc, [], opts), dec.decode(enc, [], opts)
    c = dec.decode(enc, [], DecodingOptions(temperature=1.0, max_new_tokens=12, seed=4))
    assert a.tokens == b.tokens and len(a.tokens) > 0
    assert a.tokens != c.tokens
    assert len(a.tokens) <= 12


def test_score_is_the_sum_of_each_tokens_log_probability_decoded_one_by_one(tiny_whisper_dir):
    """`WindowDecoder.score` (one padded batch) against a slow reference: each prefix through
    the decoder alone, the log-softmax of its next token, summed with eot's."""
    import torch.nn.functional as F
    from transformers.modeling_outputs import BaseModelOutput

    from susurrus.infer.whisper_decoding import WindowDecoder
    from susurrus.pretrained import load_whisper

    dec = WindowDecoder(*load_whisper(str(tiny_whisper_dir)))
    enc = dec.encode(torch.randn(1, 80, 3000, generator=torch.Generator().manual_seed(1)))
    texts = ["Hello there.", "  a much longer sentence, with a comma and Names  ", ""]
    got = dec.score(enc, texts)
    for text, score in zip(texts, got, strict=True):
        seq = dec.prefix([], timestamps=False)
        target = dec.tokenizer.encode(" " + text.strip(), add_special_tokens=False) + [dec.tk.eot]
        want = 0.0
        for tok in target:
            with torch.no_grad():
                logits = dec.model(encoder_outputs=BaseModelOutput(last_hidden_state=enc),
                                   decoder_input_ids=torch.tensor([seq])).logits[0, -1]
            want += float(F.log_softmax(logits.float(), -1)[tok])
            seq = seq + [tok]
        assert score == pytest.approx(want, abs=1e-3)
    assert dec.score(enc, []) == []
