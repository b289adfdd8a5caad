"""Long-form training windows for Whisper (paper 002, issue 17): train in the regime decoding uses.

Whisper decodes a long recording 30 s at a time, with the text it has written so far as the
prompt, and seeks to the last timestamp it wrote. A training window here is the same thing, cut
from a long-form reading's sentence segments (`{split}-segments.jsonl` of `susurrus synth
longform`: consecutive segments of one session, `turn` their order):

- it starts where a segment starts and spans `max_seconds` of audio (less at the end of the
  reading);
- its target holds the segments that end inside it, each as <|start|> text <|end|> with times
  relative to the window quantised to 0.02 s; a segment that starts inside but ends after it
  contributes only its start timestamp (Whisper's convention for a cut segment: the decoder
  learns to stop there and the seek loop resumes at that time), and the next window starts at it;
- its prompt is the reading's text before the window, cut from the left to Whisper's budget of
  223 tokens by `whisper_target`.

A single segment longer than `max_seconds` cannot be a target; it gets no window (it is
reported) but its text stays in the prompts after it.

`whisper_target` turns a window into decoder tokens, with each text token's character span in
the window's text (the teacher reads the same text: `susurrus.data.token_spans`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from susurrus.data.manifest import Utterance
from susurrus.data.token_spans import Span, token_spans
from susurrus.errors import BadManifestError

WINDOW_SECONDS = 30.0  # Whisper's input
TIME_PRECISION = 0.02  # seconds per timestamp token (susurrus.infer.whisper_decoding)
MAX_PROMPT_TOKENS = 223  # Whisper keeps the last n_ctx // 2 - 1 prompt tokens


@dataclass(frozen=True)
class WindowSegment:
    """One segment of a window: times in seconds from the window's start."""

    start: float
    end: float | None  # None: the segment goes on after the window (start timestamp only)
    text: str


@dataclass(frozen=True)
class Window:
    """≤ 30 s of a long-form reading with its timestamped target and the text before it."""

    id: str  # {session}-w{n:03d}
    audio: Path
    start: float  # seconds into the file
    duration: float  # seconds, at most the window length
    segments: tuple[WindowSegment, ...]
    prompt: str  # the reading's text before the window ("" for the first), not yet cut

    @property
    def text(self) -> str:
        """The target's words: the text of the segments that end inside the window."""
        return " ".join(s.text for s in self.segments if s.end is not None)


def _sessions(segments: Sequence[Utterance]) -> dict[str, list[Utterance]]:
    by: dict[str, list[Utterance]] = defaultdict(list)
    for u in segments:
        if u.session is None or u.turn is None or u.duration is None:
            raise BadManifestError(f"segment {u.id}: long-form windows need session, turn and "
                                   "duration (use the {split}-segments.jsonl manifest)")
        by[u.session].append(u)
    for sid, items in by.items():
        items.sort(key=lambda u: u.turn)
        for a, b in zip(items, items[1:], strict=False):
            if b.start < a.start + a.duration - 1e-6 or a.audio != b.audio:
                raise BadManifestError(f"segment {b.id}: overlaps {a.id} or is in another file; "
                                       f"session {sid} must be one reading in order")
    return by


def training_windows(segments: Sequence[Utterance], max_seconds: float = WINDOW_SECONDS
                     ) -> tuple[list[Window], list[str]]:
    """Windows of every session of a segments manifest, and the ids of segments too long to be
    in one (longer than `max_seconds`)."""
    windows: list[Window] = []
    skipped: list[str] = []
    for sid, items in _sessions(segments).items():
        reading_end = items[-1].start + items[-1].duration
        k, n = 0, 0
        while k < len(items):
            first = items[k]
            if first.duration > max_seconds:
                skipped.append(first.id)
                k += 1
                continue
            t0 = first.start
            duration = min(max_seconds, reading_end - t0)
            parts: list[WindowSegment] = []
            j = k
            while j < len(items) and items[j].start < t0 + duration - 1e-9:
                u = items[j]
                end = u.start + u.duration - t0
                if end > duration + 1e-9:  # cut by the window's end: start timestamp only
                    parts.append(WindowSegment(_q(u.start - t0), None, u.text))
                    break
                parts.append(WindowSegment(_q(u.start - t0), _q(end), u.text))
                j += 1
            prompt = " ".join(u.text for u in items[:k])
            windows.append(Window(f"{sid}-w{n:03d}", first.audio, round(t0, 4),
                                  round(duration, 4), tuple(parts), prompt))
            n += 1
            k = j  # the next window starts at the first segment not finished in this one
    return windows, skipped


def scale_window(window: Window, scale: float) -> Window:
    """The same window with its audio played `scale` times longer (speed or tempo
    augmentation): its duration and segment times multiplied, the times re-quantised."""
    if scale <= 0:
        raise ValueError(f"window {window.id}: time scale must be > 0, got {scale}")
    segments = tuple(WindowSegment(_q(s.start * scale), None if s.end is None
                                   else _q(s.end * scale), s.text) for s in window.segments)
    return replace(window, duration=round(window.duration * scale, 4), segments=segments)


def _q(seconds: float) -> float:
    """Seconds quantised to Whisper's timestamp grid (0.02 s)."""
    return round(round(seconds / TIME_PRECISION) * TIME_PRECISION, 2)


@dataclass(frozen=True)
class WhisperTarget:
    """A window as Whisper decoder tokens."""

    tokens: list[int]  # <|startofprev|> prompt <|startoftranscript|> target <|endoftext|>
    first_label: int  # index of the first token the loss predicts (the one after sot)
    spans: list[Span | None]  # per token: its characters in window.text, None if not text


def whisper_target(tokenizer: Any, window: Window,
                   max_prompt_tokens: int = MAX_PROMPT_TOKENS) -> WhisperTarget:
    """Tokens for teacher forcing a Whisper (English-only sot sequence) on `window`: the prompt
    (" " + text, its last `max_prompt_tokens` tokens) after <|startofprev|>, then
    <|startoftranscript|>, then per segment <|t_start|> " text" <|t_end|>, then <|endoftext|>
    (a cut segment: its <|t_start|> then <|endoftext|>). Timestamp ids follow Whisper: the id
    after <|notimestamps|> is <|0.00|>, one per 0.02 s."""
    ids = tokenizer.convert_tokens_to_ids
    ts0 = ids("<|notimestamps|>") + 1
    tokens: list[int] = []
    if window.prompt:
        prompt = tokenizer.encode(" " + window.prompt.strip(), add_special_tokens=False)
        tokens += [ids("<|startofprev|>"), *prompt[-max_prompt_tokens:]]
    tokens.append(ids("<|startoftranscript|>"))
    first_label = len(tokens)
    spans: list[Span | None] = [None] * len(tokens)
    pos = 0  # where the next segment's text starts in window.text
    for seg in window.segments:
        tokens.append(ts0 + round(seg.start / TIME_PRECISION))
        spans.append(None)
        if seg.end is None:
            break
        seg_ids, seg_spans = token_spans(tokenizer, " " + seg.text, offset=pos - 1)
        tokens += seg_ids
        spans += seg_spans
        tokens.append(ts0 + round(seg.end / TIME_PRECISION))
        spans.append(None)
        pos += len(seg.text) + 1
    tokens.append(ids("<|endoftext|>"))
    spans.append(None)
    return WhisperTarget(tokens, first_label, spans)
