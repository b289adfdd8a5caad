"""Output formats render times and text correctly and never overwrite silently."""

from __future__ import annotations

import json

import pytest

from susurrus.infer.transcript import Segment, Transcript, render, write


@pytest.fixture
def transcript():
    segs = [Segment(0.0, 2.5, " Hello there."), Segment(2.5, 3661.042, " Goodbye."),
            Segment(3661.042, 3661.5, " ")]
    return Transcript("a.wav", "Hello there. Goodbye.", segs, 3662.0, "m", "torch", 10.0)


def test_srt(transcript):
    assert render(transcript, "srt") == (
        "1\n00:00:00,000 --> 00:00:02,500\nHello there.\n\n"
        "2\n00:00:02,500 --> 01:01:01,042\nGoodbye.\n")


def test_vtt(transcript):
    out = render(transcript, "vtt")
    assert out.startswith("WEBVTT\n\n00:00:00.000 --> 00:00:02.500\nHello there.\n")
    assert "01:01:01.042" in out


def test_json_roundtrip(transcript):
    data = json.loads(render(transcript, "json"))
    assert data["text"] == "Hello there. Goodbye."
    assert [s["start"] for s in data["segments"]] == [0.0, 2.5, 3661.042]
    assert data["rtf"] == pytest.approx(10.0 / 3662.0)


def test_txt(transcript):
    assert render(transcript, "txt") == "Hello there. Goodbye.\n"


def test_write_refuses_to_overwrite(transcript, tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("user's notes")
    with pytest.raises(FileExistsError, match="overwrite"):
        write(transcript, target, "txt")
    assert target.read_text() == "user's notes"
    write(transcript, target, "txt", overwrite=True)
    assert target.read_text() == "Hello there. Goodbye.\n"


def test_unknown_format(transcript):
    with pytest.raises(ValueError, match="unknown output format"):
        render(transcript, "docx")
