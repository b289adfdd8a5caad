"""Long-form training windows from a synthetic segments manifest."""

from __future__ import annotations

from pathlib import Path

import pytest

from susurrus.data.longform_windows import (
    Window,
    WindowSegment,
    training_windows,
    whisper_target,
)
from susurrus.data.manifest import Utterance
from susurrus.errors import BadManifestError


def _reading(session: str, durations: list[float], start: float = 0.5, gap: float = 0.3,
             audio: str = "a.wav") -> list[Utterance]:
    out, t = [], start
    for n, d in enumerate(durations):
        out.append(Utterance(id=f"{session}-s{n:03d}", audio=Path(audio), text=f"{session} {n}.",
                             start=round(t, 4), duration=d, session=session, turn=n))
        t += d + gap
    return out


def test_windows_follow_the_seek_loop():
    # 0.5-8.5, 8.8-17.8, 18.1-25.1, 25.4-37.4, 37.7-43.7
    segs = _reading("r1", [8.0, 9.0, 7.0, 12.0, 6.0])
    windows, skipped = training_windows(segs[::-1])  # manifest order does not matter: turns do
    assert skipped == [] and [w.id for w in windows] == ["r1-w000", "r1-w001"]
    w0, w1 = windows
    assert (w0.start, w0.duration, w0.prompt) == (0.5, 30.0, "")
    assert w0.segments == (WindowSegment(0.0, 8.0, "r1 0."), WindowSegment(8.3, 17.3, "r1 1."),
                           WindowSegment(17.6, 24.6, "r1 2."), WindowSegment(24.9, None, "r1 3."))
    assert w0.text == "r1 0. r1 1. r1 2."  # the cut segment has no words in this window
    assert (w1.start, w1.duration) == (25.4, 18.3)  # resumes at the cut segment, to the end
    assert w1.segments == (WindowSegment(0.0, 12.0, "r1 3."), WindowSegment(12.3, 18.3, "r1 4."))
    assert w1.prompt == "r1 0. r1 1. r1 2."
    for w in windows:
        assert w.duration <= 30.0
        for s in w.segments:
            assert s.start <= w.duration and (s.end is None or s.start < s.end <= w.duration)


def test_timestamps_are_quantised_and_sessions_kept_apart():
    a = _reading("a", [4.013, 5.0], start=0.013, gap=0.011)
    b = _reading("b", [3.0], start=1.0, audio="b.wav")
    windows, _ = training_windows(a + b)
    wa, wb = windows
    assert [(s.start, s.end) for s in wa.segments] == [(0.0, 4.02), (4.02, 9.02)]
    for s in wa.segments:
        assert abs(s.start / 0.02 - round(s.start / 0.02)) < 1e-9
    assert wb.id == "b-w000" and wb.prompt == "" and wb.audio == Path("b.wav")


def test_a_segment_too_long_is_skipped_but_stays_in_the_prompt():
    segs = _reading("r", [5.0, 31.0, 4.0])
    windows, skipped = training_windows(segs)
    assert skipped == ["r-s001"]
    assert [w.text for w in windows] == ["r 0.", "r 2."]
    assert windows[0].duration == 30.0 and windows[0].segments[-1].end is None  # s001 cut
    assert windows[1].prompt == "r 0. r 1."


def test_bad_segments_are_refused_by_id():
    segs = _reading("r", [5.0, 4.0])
    with pytest.raises(BadManifestError, match="r-s000.*session, turn and duration"):
        training_windows([Utterance(id="r-s000", audio=Path("a.wav"), text="x", duration=1.0)])
    overlapping = [segs[0], Utterance(**{**segs[1].__dict__, "start": 3.0})]
    with pytest.raises(BadManifestError, match="r-s001: overlaps r-s000"):
        training_windows(overlapping)


def test_whisper_target_tokens_and_spans(whisper_tok):
    ids = whisper_tok.convert_tokens_to_ids
    ts0 = ids("<|notimestamps|>") + 1
    w = Window("r-w001", Path("a.wav"), 10.0, 30.0,
               (WindowSegment(0.0, 4.5, "Growth was 12.9%."),
                WindowSegment(4.8, 9.0, "O'Brien moved to Rzeszów."),
                WindowSegment(29.5, None, "Cut off")),
               prompt="Earlier text.")
    t = whisper_target(whisper_tok, w)
    prompt = whisper_tok.encode(" Earlier text.", add_special_tokens=False)
    assert t.tokens[:len(prompt) + 2] == [ids("<|startofprev|>"), *prompt,
                                         ids("<|startoftranscript|>")]
    assert t.first_label == len(prompt) + 2
    body = t.tokens[t.first_label:]
    assert body[0] == ts0 and body[-2:] == [ts0 + round(29.5 / 0.02), ids("<|endoftext|>")]
    stamps = [x - ts0 for x in body if x >= ts0]
    assert stamps == [0, 225, 240, 450, 1475]
    text_ids = [x for x in body if x < ts0 and x != ids("<|endoftext|>")]
    assert whisper_tok.decode(text_ids) == " Growth was 12.9%. O'Brien moved to Rzeszów."
    assert w.text == "Growth was 12.9%. O'Brien moved to Rzeszów."
    pieces = [w.text[s:e] for s, e in (sp for sp in t.spans if sp is not None)]
    assert "".join(pieces) == w.text.replace(" ", "")  # the spans tile the window's text
    assert len(t.spans) == len(t.tokens)
    assert all(sp is None for tok, sp in zip(t.tokens, t.spans, strict=True) if tok >= ts0)


def test_whisper_target_cuts_the_prompt_from_the_left(whisper_tok):
    long = " ".join(f"word{n}" for n in range(400))
    w = Window("r-w009", Path("a.wav"), 0.0, 5.0, (WindowSegment(0.0, 5.0, "Hi."),), prompt=long)
    t = whisper_target(whisper_tok, w)
    full = whisper_tok.encode(" " + long, add_special_tokens=False)
    assert t.first_label == 1 + 223 + 1 and t.tokens[1:224] == full[-223:]
    assert whisper_tok.decode(t.tokens[1:224]).endswith("word398 word399")
    first = whisper_target(whisper_tok, Window("r-w000", Path("a.wav"), 0.0, 5.0,
                                               (WindowSegment(0.0, 5.0, "Hi."),), prompt=""))
    assert first.tokens[0] == whisper_tok.convert_tokens_to_ids("<|startoftranscript|>")
