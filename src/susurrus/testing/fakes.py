"""A fake recognizer and a tiny conversational manifest for the decode/evaluate tests.

The fake engine knows each utterance by its length in samples (every clip has its own), returns
a fixed hypothesis for it, and records the prompt it was given, so the tests can check exactly
what context each turn saw without loading a model. `SegmentsRecognizer` puts it (or any object
with a `segments(audio, prompt, on_progress)` method) behind the `Recognizer` interface.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from susurrus.context import ContextMode
from susurrus.data.manifest import Utterance
from susurrus.infer.recognizer import (
    Capabilities,
    MaxTurns,
    PromptSession,
    Recognition,
    TalkerStream,
)
from susurrus.infer.transcript import Segment, WindowIssue

SR = 16_000
WARM_UP = "<warm-up>"


class Interrupted(RuntimeError):
    """Raised by the fake engine to simulate an interrupted evaluation."""


@dataclass
class FakeEngine:
    by_length: dict[int, str]  # samples -> utterance id
    hyps: dict[str, str]  # utterance id -> the text "recognized"
    fail_on: str | None = None  # raise Interrupted when asked for this utterance
    calls: list[tuple[str, str | None]] = field(default_factory=list)  # (id, prompt) in order
    name: str = "fake"

    def segments(self, audio: np.ndarray, prompt: str | None, on_progress) -> list[Segment]:
        uid = self.by_length.get(audio.shape[0], WARM_UP)
        if uid == self.fail_on:
            raise Interrupted(uid)
        self.calls.append((uid, prompt))
        return [] if uid == WARM_UP else [Segment(0.0, 1.0, " " + self.hyps[uid])]

    @property
    def decoded(self) -> list[str]:
        return [uid for uid, _ in self.calls if uid != WARM_UP]

    @property
    def prompts(self) -> dict[str, str | None]:
        return {uid: p for uid, p in self.calls if uid != WARM_UP}


@dataclass
class SegmentsRecognizer:
    """An engine with `segments(audio, prompt, on_progress)` as a `Recognizer`.

    It reads a prompt, so its sessions are `PromptSession`s (context none or text); with
    `batch` it says it decodes batches (the engine still sees one input at a time), and
    `batches` records the inputs' lengths of every `recognize` call.
    """

    engine: Any
    batch: bool = False
    count: Callable[[str], int] | None = None  # prompt tokens (default: words)
    model_name: str = "fake"
    kind: str = "a fake recognizer"
    batches: list[list[int]] = field(default_factory=list)
    # the windows it reports as suspect for an input of that many samples (none by default)
    suspect: dict[int, list[WindowIssue]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.engine.name

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(prompt=True, contexts=("none", "text"), batch=self.batch)

    def recognize(self, audio: Sequence[np.ndarray], prompt: str | None = None,
                  on_progress=None) -> list[Recognition]:
        self.batches.append([a.shape[0] for a in audio])
        return [Recognition([TalkerStream(self.engine.segments(a, prompt, on_progress))],
                            issues=list(self.suspect.get(a.shape[0], [])))
                for a in audio]

    def session(self, context: ContextMode | None = None,
                max_turns: MaxTurns = "trained") -> PromptSession:
        return PromptSession(self, context or "text", max_turns, self.count)

    def restore_session(self, path, max_turns: MaxTurns | None = None) -> PromptSession:
        return PromptSession.restore(path, self, max_turns, self.count)


# Two sessions, listed out of order. References and hypotheses differ (so "prompt" and
# "oracle-prompt" differ); session B mentions Siobhan too, a first mention there.
TURNS = [  # (id, session, turn, reference, hypothesis, entities)
    ("a1", "A", 1, "Siobhan flew to Paris.", "shivaun flew to paris", ["Siobhan", "Paris"]),
    ("b0", "B", 0, "Good evening, Siobhan.", "good evening siobhan", ["Siobhan"]),
    ("a0", "A", 0, "Hi Siobhan.", "hi siobhan", ["Siobhan"]),
    ("a2", "A", 2, "Paris was lovely.", "Paris was lovely.", ["Paris"]),
    ("b1", "B", 1, "Evening, Ann is here.", "evening anne is here", ["Ann"]),
]
HYPS = {t[0]: t[4] for t in TURNS}


def noise_clip(path: Path, samples: int, seed: int) -> Path:
    audio = np.random.default_rng(seed).standard_normal(samples) * 0.1
    sf.write(path, audio.astype(np.float32), SR, subtype="FLOAT")
    return path


@dataclass
class Corpus:
    manifest: Path
    utterances: list[Utterance]
    by_length: dict[int, str]
    hyps: dict[str, str]

    def engine(self, fail_on: str | None = None) -> FakeEngine:
        return FakeEngine(dict(self.by_length), dict(self.hyps), fail_on)

    def recognizer(self, fail_on: str | None = None, batch: bool = False) -> SegmentsRecognizer:
        return SegmentsRecognizer(self.engine(fail_on), batch=batch)
