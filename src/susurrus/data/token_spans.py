"""Where each token of a text lies in it, and how two tokenizations of one text overlap.

Paper 002 distils a teacher LLM into Whisper; the two tokenize the same reference differently
(Whisper: " 12" "." "9" "%"; SmolLM2: " " "1" "2" "." "9" "%"). Their tokens are matched through
the text they share: each token's character span, and an overlap matrix between the student's
and the teacher's tokens (the span term of the optimal-transport cost in
`susurrus.losses.ot_distill`).

Spans come from a fast tokenizer's offset mapping (characters of the original text, never of a
normalised copy), with leading and trailing whitespace trimmed: byte-level BPE glues a word's
leading space to it (" 12"), and one tokenizer's space is not the other's content. A token made
of whitespace only gets an empty span: it shares no character with anything. Byte-level BPE
also splits multi-byte characters ("Łódź" is "Å" "ģ" "ó" "d" "Å" "º" in both tokenizers here),
and the offset mapping gives each piece the whole character; a character belongs to the first
token that holds part of it (the one with its first byte), the later pieces get empty spans. So
each tokenization's spans tile the text's non-space characters exactly once, and the overlap
counts characters without counting one twice.

Shapes: N student tokens, M teacher tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

Span = tuple[int, int]  # [start, end) in characters of the text
Overlap = Literal["iou", "chars", "student", "teacher"]


def trim_span(text: str, start: int, end: int) -> Span:
    """[start, end) without leading/trailing whitespace; (end, end) when it is all whitespace."""
    s, e = start, end
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    return (s, e) if s < e else (end, end)


def token_spans(tokenizer: Any, text: str, offset: int = 0) -> tuple[list[int], list[Span]]:
    """Token ids of `text` (no special tokens) and each token's trimmed character span.

    `offset` is added to every span: a piece of a longer text (one segment of a window) gets
    spans in the longer text's characters. Needs a fast tokenizer (one with offset mappings).
    """
    if not getattr(tokenizer, "is_fast", False):
        raise TypeError(f"token_spans needs a fast tokenizer (offset mappings); got "
                        f"{type(tokenizer).__name__}")
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    spans, done = [], 0  # done: characters already owned by an earlier token
    for s, e in enc["offset_mapping"]:
        s = max(s, done)
        spans.append(trim_span(text, s, max(s, e)))
        done = max(done, e)
    return list(enc["input_ids"]), [(s + offset, e + offset) for s, e in spans]


def overlap_matrix(student: Sequence[Span], teacher: Sequence[Span],
                   normalize: Overlap = "iou") -> np.ndarray:
    """(N, M) float32: how much student token i and teacher token j share of the text.

    c_ij = |span_i ∩ span_j| in characters, then by `normalize`:
      - "iou" (default): c_ij / |span_i ∪ span_j|, the Jaccard index. Symmetric, 1 exactly when
        the two tokens cover the same characters, 0 when they share none, and between the two
        it says how much of *both* tokens the match explains (" 12" against "1": 1/2, against
        "12": 1), which is what a matching cost needs. 0 where both spans are empty.
      - "chars": c_ij itself.
      - "student": c_ij / |span_i|, the share of the student token that teacher token j covers
        (rows sum to 1 when the teacher's tokens tile the student token's characters).
      - "teacher": c_ij / |span_j|, the same the other way (columns sum to 1).
    An empty span's row or column is 0.
    """
    s = np.asarray(student, dtype=np.int64).reshape(-1, 2)
    t = np.asarray(teacher, dtype=np.int64).reshape(-1, 2)
    inter = (np.minimum(s[:, None, 1], t[None, :, 1])
             - np.maximum(s[:, None, 0], t[None, :, 0])).clip(min=0).astype(np.float64)
    ls = (s[:, 1] - s[:, 0]).astype(np.float64)[:, None]  # (N, 1)
    lt = (t[:, 1] - t[:, 0]).astype(np.float64)[None, :]  # (1, M)
    if normalize == "chars":
        out = inter
    elif normalize == "iou":
        out = _divide(inter, ls + lt - inter)
    elif normalize == "student":
        out = _divide(inter, np.broadcast_to(ls, inter.shape))
    elif normalize == "teacher":
        out = _divide(inter, np.broadcast_to(lt, inter.shape))
    else:
        raise ValueError(f"overlap_matrix: normalize must be iou, chars, student or teacher, "
                         f"got {normalize!r}")
    return out.astype(np.float32)


def _divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.zeros_like(num)
    np.divide(num, den, out=out, where=den > 0)
    return out


def span_lengths(spans: Sequence[Span]) -> np.ndarray:
    """(N,) characters of each span (0 for an empty one)."""
    s = np.asarray(spans, dtype=np.int64).reshape(-1, 2)
    return s[:, 1] - s[:, 0]
