"""Serialized output training (SOT) targets: the speech LLM writes every talker of a mixture
(paper 003's LLM-SOT teacher, issue 18; ESPnet `sot_asr1`).

The target is the talkers' transcripts in onset order, joined by a speaker-change token:

    <talker 1's tokens> \\n <talker 2's tokens> \\n <talker 3's tokens> <EOS>

- **Order**: `losses.serialized_ctc.onset_order`, the rule the encoder-only model's branches
  follow (onsets within one 20-ms frame are simultaneous; the longer talker goes first), so the
  teacher's talker k is the student's branch k.
- **The speaker-change token is a line break** (`SPEAKER_CHANGE`): one token of SmolLM2's
  byte-level BPE (id 198) that a transcript never holds (texts are whitespace-normalized first),
  that joins texts without changing their tokens (`ids("a\\nb") == ids("a") + [198] + ids("b")`),
  that `decode(skip_special_tokens=True)` keeps (a special token such as `<|im_sep|>` would be
  dropped, and SmolLM2 has no unused one) and that an instruction-tuned LLM already reads as
  "a new line of dialogue". Adding an `<sc>` token would mean a new embedding row the frozen LLM
  has never seen.

Each talker's tokens are encoded apart and concatenated, so the positions of talker k's tokens
in the target are exact (`SotTarget.spans`): the teacher cache reads its states there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from susurrus.losses.serialized_ctc import TalkerRef, onset_order

SPEAKER_CHANGE = "\n"  # joins the talkers' transcripts (see the module docstring)
SOT_TALKERS = 3  # talkers a mixture may hold: the length limit of SOT decoding scales by it
SOT_MAX_SECONDS = 30.0  # a SOT model reads one mixture whole: Whisper's input, what it trained on


@dataclass(frozen=True)
class SotTarget:
    """One mixture's SOT target for the LLM. N target tokens (EOS not included)."""

    ids: list[int]  # (N,) the talkers' tokens in onset order, speaker-change ids between
    spans: list[tuple[int, int]]  # per talker in onset order, [start, end) of its tokens in ids
    texts: list[str]  # per talker in onset order, its whitespace-normalized transcript


def speaker_change_id(tokenizer) -> int:
    """The speaker-change token's id; a tokenizer that splits it is a ValueError."""
    ids = tokenizer(SPEAKER_CHANGE, add_special_tokens=False)["input_ids"]
    if len(ids) != 1:
        raise ValueError(f"the tokenizer writes the speaker change {SPEAKER_CHANGE!r} as "
                         f"{len(ids)} tokens {ids}; SOT needs a single token")
    return int(ids[0])


def sot_target(talkers: Sequence[TalkerRef], tokenizer) -> SotTarget:
    """The SOT target of a mixture's talkers (one talker: its transcript alone)."""
    sc = speaker_change_id(tokenizer)
    ids: list[int] = []
    spans, texts = [], []
    for n, i in enumerate(onset_order(talkers)):
        text = " ".join(talkers[i].text.split())
        if n:
            ids.append(sc)
        tokens = tokenizer(text, add_special_tokens=False)["input_ids"] if text else []
        spans.append((len(ids), len(ids) + len(tokens)))
        ids += tokens
        texts.append(text)
    return SotTarget(ids, spans, texts)


def split_sot(text: str) -> list[str]:
    """A decoded SOT transcript -> one stream per talker, in the order written (empty streams,
    e.g. from a doubled speaker change, are dropped)."""
    return [s for s in (" ".join(p.split()) for p in text.split(SPEAKER_CHANGE)) if s]
