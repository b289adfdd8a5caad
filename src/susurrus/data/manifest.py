"""The JSONL interchange manifest (one utterance a line) and its validation.

    {"id": "s0003-t04", "audio": "wav/s0003.flac", "start": 31.2, "duration": 4.7,
     "text": "Sure, Siobhan, ...", "session": "s0003", "turn": 4, "speaker": "B",
     "entities": ["Siobhan"]}
    {"id": "mix0007", "audio": "mix/mix0007.wav",
     "talkers": [{"speaker": "joe", "offset": 0.0, "text": "..."}, ...]}

`audio` is relative to the manifest's folder (absolute paths are kept); `start`/`duration` are
optional (whole file). Unknown keys are kept in `meta` (voice, domain, split, ...), so a manifest
made elsewhere round-trips. A malformed line fails with the file, line number and field.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from susurrus.errors import BadManifestError

KNOWN = {"id", "audio", "text", "start", "duration", "session", "turn", "speaker", "entities",
         "talkers"}


class ManifestError(BadManifestError):
    """A manifest line that cannot be used; the message has file, line and field."""

    def __init__(self, path: str | Path, line: int, field_name: str, message: str) -> None:
        self.path, self.line, self.field = str(path), line, field_name
        super().__init__(f"{path}:{line}: field '{field_name}': {message}")


class ManifestNotFoundError(BadManifestError, FileNotFoundError):
    """A manifest path that does not exist."""


@dataclass(frozen=True)
class Talker:
    """One talker of a multi-talker mixture."""

    speaker: str
    offset: float  # seconds from the start of the mixture (or of the segment)
    text: str  # cased, punctuated reference of this talker
    duration: float | None = None  # seconds of this talker's speech, when known


@dataclass(frozen=True)
class Utterance:
    """One line of the manifest: a (segment of an) audio file and its reference."""

    id: str
    audio: Path  # resolved: absolute, or relative to the working directory
    text: str = ""  # cased, punctuated reference ("" for a mixture: see talkers)
    start: float = 0.0  # seconds into the file
    duration: float | None = None  # seconds; None = to the end of the file
    session: str | None = None  # conversation id: turns of one session share it
    turn: int | None = None  # order within the session
    speaker: str | None = None
    entities: tuple[str, ...] = ()  # surface strings found in text
    talkers: tuple[Talker, ...] = ()  # non-empty for a multi-talker mixture
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def is_mixture(self) -> bool:
        return bool(self.talkers)

    @property
    def reference(self) -> str:
        """The whole reference: text, or the talkers' texts in order of their offsets."""
        if self.talkers:
            return " ".join(t.text for t in sorted(self.talkers, key=lambda t: t.offset))
        return self.text

    def to_json(self, root: Path | None = None) -> dict[str, Any]:
        """A manifest line; `audio` relative to `root` when it lies under it."""
        audio = self.audio
        if root is not None:
            try:
                audio = self.audio.resolve().relative_to(root.resolve())
            except ValueError:
                audio = self.audio.resolve()
        out: dict[str, Any] = {"id": self.id, "audio": str(audio)}
        if self.start:
            out["start"] = round(self.start, 4)
        if self.duration is not None:
            out["duration"] = round(self.duration, 4)
        if not self.talkers:
            out["text"] = self.text
        for key in ("session", "turn", "speaker"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.entities:
            out["entities"] = list(self.entities)
        if self.talkers:
            out["talkers"] = [
                {k: v for k, v in vars(t).items() if v is not None} for t in self.talkers
            ]
        return out | self.meta


def _num(raw: dict, key: str, where: tuple, minimum: float, strict: bool = False,
         name: str | None = None) -> float | None:
    """raw[key] as a float >= (or >, if strict) minimum; `name` is the field in errors."""
    if key not in raw or raw[key] is None:
        return None
    v, name = raw[key], name or key
    # json.loads accepts NaN and Infinity, which pass every comparison below: refuse them here.
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ManifestError(*where, name, f"must be a finite number, got {v!r}")
    if v < minimum or (strict and v == minimum):
        op = ">" if strict else ">="
        raise ManifestError(*where, name, f"must be {op} {minimum}, got {v}")
    return float(v)


def parse_line(raw: Any, root: Path, where: tuple[str, int]) -> Utterance:
    """One decoded JSON object -> Utterance; `where` = (file, line) for error messages."""
    if not isinstance(raw, dict):
        raise ManifestError(*where, "<line>", "each line must be a JSON object")
    for key in ("id", "audio"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise ManifestError(*where, key, "required, a non-empty string")
    audio = Path(raw["audio"]).expanduser()
    audio = audio if audio.is_absolute() else root / audio
    talkers = []
    if not isinstance(raw.get("talkers") or [], list):
        raise ManifestError(*where, "talkers", "must be a list of {speaker, offset, text}")
    for i, t in enumerate(raw.get("talkers") or []):
        if not isinstance(t, dict) or not isinstance(t.get("text"), str):
            raise ManifestError(*where, f"talkers[{i}]", "needs 'speaker', 'offset', 'text'")
        offset = _num(t, "offset", where, 0.0, name=f"talkers[{i}].offset")
        talkers.append(Talker(str(t.get("speaker", i)), offset or 0.0, t["text"],
                              _num(t, "duration", where, 0.0, strict=True,
                                   name=f"talkers[{i}].duration")))
    text = raw.get("text", "")
    if not isinstance(text, str):
        raise ManifestError(*where, "text", f"must be a string, got {type(text).__name__}")
    if "text" not in raw and not talkers:
        raise ManifestError(*where, "text", "required (or 'talkers' for a mixture)")
    entities = raw.get("entities") or []
    if not isinstance(entities, list) or not all(isinstance(e, str) for e in entities):
        raise ManifestError(*where, "entities", "must be a list of strings")
    turn = raw.get("turn")
    if turn is not None and (isinstance(turn, bool) or not isinstance(turn, int)):
        raise ManifestError(*where, "turn", f"must be an integer, got {turn!r}")
    return Utterance(
        id=raw["id"], audio=audio, text=text, start=_num(raw, "start", where, 0.0) or 0.0,
        duration=_num(raw, "duration", where, 0.0, strict=True),
        session=None if raw.get("session") is None else str(raw["session"]), turn=turn,
        speaker=None if raw.get("speaker") is None else str(raw["speaker"]),
        entities=tuple(entities), talkers=tuple(talkers),
        meta={k: v for k, v in raw.items() if k not in KNOWN},
    )


# What audio files are called, and how they start: such a file given as a manifest is refused
# with what to do instead (issue 15).
AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".aac", ".wma",
                            ".webm", ".aif", ".aiff", ".sph", ".mp4"})
_AUDIO_MAGIC = (b"RIFF", b"fLaC", b"OggS", b"ID3", b"FORM", b"\xff\xfb", b"\xff\xf3")
MANIFEST_KINDS = ("a susurrus JSONL manifest (one {\"id\", \"audio\", \"text\"} object a line) "
                  "or a lhotse CutSet / RecordingSet (e.g. cuts_test.jsonl.gz)")


def check_manifest_path(path: str | Path) -> Path:
    """`path` if it can be a manifest; else BadManifestError saying what it is and what to give.

    Missing, a folder and an audio file are refused here, before any manifest parser sees them.
    """
    path = Path(path)
    if path.is_dir():
        inside = sorted(p.name for p in path.iterdir()
                        if p.name.endswith((".jsonl", ".jsonl.gz", ".json")))
        hint = f" (it holds {', '.join(inside[:4])})" if inside else ""
        raise BadManifestError(f"{path} is a folder, not a manifest{hint}; give a manifest file: "
                               f"{MANIFEST_KINDS}")
    if not path.exists():
        raise ManifestNotFoundError(f"{path}: no such manifest")
    with open(path, "rb") as f:
        head = f.read(4)
    if path.suffix.lower() in AUDIO_SUFFIXES or head.startswith(_AUDIO_MAGIC):
        raise BadManifestError(f"{path} is an audio file, not a manifest: transcribe it with "
                               f"`susurrus transcribe {path}`, or list it in {MANIFEST_KINDS}")
    return path


def read_manifest(path: str | Path, check_audio: bool = True) -> list[Utterance]:
    """Read a JSONL manifest. Blank lines are skipped; ids must be unique."""
    path = check_manifest_path(path)
    root = path.parent
    out: list[Utterance] = []
    seen: dict[str, int] = {}
    with open(path, "rb") as f:  # bytes: a line that is not UTF-8 fails with its number
        for n, data in enumerate(f, 1):
            try:
                line = data.decode("utf-8")
            except UnicodeDecodeError:
                raise ManifestError(path, n, "<line>", "not UTF-8 text (is this a manifest?)"
                                    ) from None
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as e:
                raise ManifestError(path, n, "<line>", f"not valid JSON ({e.msg})") from None
            utt = parse_line(raw, root, (str(path), n))
            if utt.id in seen:
                raise ManifestError(path, n, "id", f"{utt.id!r} repeats line {seen[utt.id]}")
            if check_audio and not utt.audio.exists():
                raise ManifestError(path, n, "audio", f"{utt.audio} does not exist")
            seen[utt.id] = n
            out.append(utt)
    return out


def write_manifest(utterances: list[Utterance], path: str | Path) -> Path:
    """Write JSONL with audio paths relative to the manifest's folder (atomically)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    with open(tmp, "w", encoding="utf-8") as f:
        for u in utterances:
            f.write(json.dumps(u.to_json(path.parent), ensure_ascii=False) + "\n")
    tmp.replace(path)
    return path


def group_sessions(utterances: list[Utterance]) -> dict[str, list[Utterance]]:
    """Session id -> its turns in order (utterances without a session are their own session)."""
    groups: dict[str, list[Utterance]] = defaultdict(list)
    for u in utterances:
        groups[u.session if u.session is not None else u.id].append(u)
    return {k: sorted(v, key=lambda u: (u.turn if u.turn is not None else 0, u.start))
            for k, v in groups.items()}
