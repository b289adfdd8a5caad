"""What transcription returns, and the writers for text, JSON, SRT and VTT."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from susurrus.files import write_text_atomic

OutputFormat = Literal["txt", "json", "srt", "vtt"]
FORMATS: tuple[OutputFormat, ...] = ("txt", "json", "srt", "vtt")


@dataclass
class Segment:
    """A stretch of the transcript with its time span in the audio."""

    start: float  # seconds from the start of the audio
    end: float  # seconds; end >= start
    text: str
    tokens: list[int] = field(default_factory=list)  # decoder ids (torch engine), for analysis
    avg_logprob: float = 0.0  # mean token log-probability of the window that produced it
    no_speech_prob: float = 0.0  # P(no speech) of that window
    audio_tokens: int = 0  # audio embeddings an LLM read for this segment (0: no LLM)
    temperature: float = 0.0  # the decoding temperature that wrote it (> 0: a fallback retry)
    first_pass: bool = False  # a speech LLM kept its first pass's text here (`joint_choice`)


IssueKind = Literal["no_text", "little_text", "loop", "length_limit"]
ISSUE_MESSAGES: dict[str, str] = {
    "no_text": "no text from a window with speech",
    "little_text": "little text for a window with this much speech; some may be missing",
    "loop": "the output looped; its repeats were cut",
    "length_limit": "the output hit its length limit; its text may be cut short",
}


@dataclass(frozen=True)
class WindowIssue:
    """A window whose decoding went wrong: its text is what the model wrote, but suspect."""

    start: float  # seconds from the start of the audio
    end: float  # seconds
    kind: IssueKind  # no_text: empty or punctuation-only text from a window with speech;
    # little_text: far fewer tokens than its seconds of speech carry (sentences left out);
    # loop: the repetition guard cut a looping tail; length_limit: no end before the length limit

    @property
    def message(self) -> str:
        return f"{self.start:.1f}-{self.end:.1f} s: {ISSUE_MESSAGES[self.kind]}"


@dataclass
class TalkerTranscript:
    """What one talker of a multi-talker transcript said (a recognizer's TalkerStream)."""

    speaker: str | None  # the stream's label (e.g. 'talker1'), when the model gives one
    text: str
    segments: list[Segment]


@dataclass
class Transcript:
    """The transcription of one audio input."""

    source: str  # the file (or '<array>')
    text: str  # the whole text, segments joined
    segments: list[Segment]
    duration: float  # seconds of audio transcribed (all of it: nothing is cut)
    model: str
    engine: str
    wall_seconds: float = 0.0  # time spent transcribing (not loading the model)
    issues: list[WindowIssue] = field(default_factory=list)  # suspect windows, in time order
    # a multi-talker model's streams, one per talker (empty: one talker, `segments` say it all)
    talkers: list[TalkerTranscript] = field(default_factory=list)

    @property
    def rtf(self) -> float:
        """Real-time factor: wall time / audio time (lower is faster)."""
        return self.wall_seconds / self.duration if self.duration else 0.0

    def to_dict(self) -> dict:
        """Its fields and `rtf`; `talkers` only for a multi-talker transcript."""
        out = asdict(self) | {"rtf": self.rtf}
        if not self.talkers:
            del out["talkers"]
        return out

    def cues(self) -> list[tuple[Segment, str | None]]:
        """(segment, talker label) with text, in time order (label None: one talker)."""
        if not self.talkers:
            return [(s, None) for s in self.segments if s.text.strip()]
        labelled = [(s, t.speaker or f"talker{k + 1}") for k, t in enumerate(self.talkers)
                    for s in t.segments if s.text.strip()]
        return sorted(labelled, key=lambda c: c[0].start)


def _clock(seconds: float, sep: str) -> str:
    ms = int(round(seconds * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def render(t: Transcript, fmt: OutputFormat) -> str:
    """The transcript in one output format, as a string."""
    if fmt == "txt":
        return t.text.strip() + "\n"
    if fmt == "json":
        return json.dumps(t.to_dict(), indent=2, ensure_ascii=False) + "\n"
    cues = t.cues()  # a talker's cue is labelled: 'talker1: ...' in SRT, a <v> voice in VTT
    if fmt == "srt":
        return "\n".join(
            f"{i}\n{_clock(s.start, ',')} --> {_clock(s.end, ',')}\n"
            f"{f'{who}: ' if who else ''}{s.text.strip()}\n"
            for i, (s, who) in enumerate(cues, 1)
        )
    if fmt == "vtt":
        body = "\n".join(
            f"{_clock(s.start, '.')} --> {_clock(s.end, '.')}\n"
            f"{f'<v {who}>' if who else ''}{s.text.strip()}\n" for s, who in cues
        )
        return "WEBVTT\n\n" + body
    raise ValueError(f"unknown output format {fmt!r}; choose from {FORMATS}")


def write(t: Transcript, path: Path, fmt: OutputFormat, overwrite: bool = False) -> Path:
    """Write one format to `path`; an existing file is kept unless overwrite=True."""
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass --overwrite (overwrite=True) to replace it")
    write_text_atomic(render(t, fmt), path)
    return path
