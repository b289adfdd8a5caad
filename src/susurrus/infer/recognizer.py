"""One interface for everything that turns audio into text: `Recognizer`.

    rec = load_recognizer("speech-llm-tiny")             # susurrus.infer.registry, by family
    [hyp] = rec.recognize([samples])                      # a batch of 16-kHz arrays
    hyp.text, hyp.streams[0].segments                     # talker streams, segments with times
    session = rec.session("abstract")                     # a conversation, turn by turn
    session.transcribe_turn(turn_samples).text

A recognizer declares what it supports (`Capabilities`): a text prompt, the conversation context
modes its sessions read (`susurrus.context`), how many talker streams a hypothesis may hold,
whether a batch is decoded in one pass, whether segment times come from the model. Asking for
anything else raises `IncompatibleOptionError` naming the option, before any decoding.

A hypothesis (`Recognition`) holds one `TalkerStream` per talker, each with time-stamped
segments: a single-talker model returns one stream, a multi-talker model (paper 003) several.

Conversation context goes through sessions: a speech LLM's `ConversationSession` reads earlier
turns as audio tokens and transcripts (paper 000); a recognizer that reads a text prompt (Whisper)
gets a `PromptSession`, whose context `text` is the earlier turns' transcripts as its prompt.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from susurrus.audio.io import SAMPLE_RATE, load_audio
from susurrus.context import ContextMode
from susurrus.errors import BadAudioError, BadSessionError, IncompatibleOptionError, UsageError
from susurrus.files import write_text_atomic
from susurrus.infer.transcript import Segment, TalkerTranscript, WindowIssue

# Earlier turns a session reads: N, None (all), or 'trained' (what the model was trained to read;
# a recognizer without such a notion reads all of them).
MaxTurns = int | None | Literal["trained"]
Progress = Callable[[float], None]  # seconds of audio done so far


@dataclass(frozen=True)
class Capabilities:
    """What a recognizer can do; anything else is refused before decoding."""

    prompt: bool = False  # reads a text prompt (names, topic, earlier turns)
    contexts: tuple[ContextMode, ...] = ("none",)  # conversation context modes its sessions read
    streams: int = 1  # talker streams a hypothesis holds at most (1: single talker)
    batch: bool = False  # decodes several inputs in one pass (else one after another)
    timestamps: bool = True  # segment times come from the model (else the windows it read)


@dataclass
class TalkerStream:
    """What one talker said: time-ordered segments."""

    segments: list[Segment] = field(default_factory=list)
    speaker: str | None = None  # a label when the model tells talkers apart

    @property
    def text(self) -> str:
        return "".join(s.text for s in self.segments).strip()


@dataclass
class Recognition:
    """A recognizer's hypothesis for one input: one stream per talker."""

    streams: list[TalkerStream]
    issues: list[WindowIssue] = field(default_factory=list)  # suspect windows (none: all fine)

    @property
    def text(self) -> str:
        """All streams' text (a single talker's as decoded; several joined by spaces)."""
        return " ".join(t for t in (s.text for s in self.streams) if t)

    @property
    def segments(self) -> list[Segment]:
        """Every stream's segments in time order (one stream: its own, as decoded)."""
        if len(self.streams) == 1:
            return self.streams[0].segments
        return sorted((s for st in self.streams for s in st.segments), key=lambda s: s.start)

    @property
    def audio_tokens(self) -> int:
        """Audio embeddings an LLM read for this input (0: no LLM)."""
        return sum(s.audio_tokens for st in self.streams for s in st.segments)

    def talkers(self) -> list[TalkerTranscript]:
        """A transcript's per-talker part: one entry per stream, none for a single stream."""
        if len(self.streams) < 2:
            return []
        return [TalkerTranscript(st.speaker, st.text, st.segments) for st in self.streams]


@dataclass(frozen=True)
class TurnResult:
    """One transcribed turn of a session and what it cost."""

    index: int  # 0-based turn index in the session
    text: str  # the hypothesis
    token_ids: list[int]
    audio_seconds: float
    audio_tokens: int  # audio tokens of this turn an LLM read (0: no LLM)
    prior_turns: int  # prior turns in the context it was read with
    context_audio_tokens: int  # audio tokens of those prior turns (K each for abstract)
    context_text_tokens: int  # transcript (prompt) tokens of those prior turns
    seconds: float  # wall time of the whole turn: encoding, decoding, updating the context
    issues: tuple[WindowIssue, ...] = ()  # the turn's decoding went wrong (none: all fine)
    temperature: float = 0.0  # the decoding temperature that wrote it (> 0: a fallback retry)
    first_pass: bool = False  # the text is the first pass's own, kept by `joint_choice`
    from_context: bool = False  # the text respells a phrase of earlier turns (`joint_choice`)


class Session(Protocol):
    """One conversation, turn by turn, each turn reading the earlier ones as context."""

    context: ContextMode
    max_turns: int | None  # prior turns read at most (None: all)

    @property
    def texts(self) -> list[str]:
        """The kept transcripts of the turns so far (what later turns read)."""

    def transcribe_turn(self, audio: np.ndarray | str | Path,
                        remember_as: str | None = None) -> TurnResult:
        """Transcribe the next turn and keep it (its hypothesis, or `remember_as`) as context."""

    def add_turn(self, audio: np.ndarray | str | Path, text: str) -> None:
        """Keep a turn whose transcript is known, without decoding it."""

    def save(self, path: str | Path) -> Path:
        """Write what the session keeps, for `Recognizer.restore_session`."""


class Recognizer(Protocol):
    """Audio in, hypotheses out; built by `susurrus.infer.registry.load_recognizer`."""

    name: str  # the engine, as results name it ('torch', 'faster-whisper', 'speech-llm')
    model_name: str  # what it was loaded from (embedded name, folder, hub id)
    kind: str  # the family in words, for messages ('a Whisper model', 'a speech LLM')
    capabilities: Capabilities

    def recognize(self, audio: Sequence[np.ndarray], prompt: str | None = None,
                  on_progress: Progress | None = None) -> list[Recognition]:
        """16-kHz mono arrays of any length -> one hypothesis each, in order."""

    def session(self, context: ContextMode | None = None,
                max_turns: MaxTurns = "trained") -> Session:
        """A new conversation read with `context` (None: the model's own default)."""

    def restore_session(self, path: str | Path, max_turns: MaxTurns | None = None) -> Session:
        """A conversation saved by `Session.save`, continued (None: the saved window)."""


class AudioTooLongError(BadAudioError):
    """An input longer than a recognizer can read whole, where windows cannot be stitched (a
    SOT model's talker streams). `where` names the input ('input 0', or the file once known)."""

    def __init__(self, where: str, seconds: float, limit: float, reason: str) -> None:
        self.where, self.seconds, self.limit, self.reason = where, seconds, limit, reason
        super().__init__(f"{where}: {seconds:.1f} s of audio, over the {limit:.0f}-s limit: "
                         f"{reason}; cut it into pieces of {limit:.0f} s at most first")

    def named(self, where: str) -> AudioTooLongError:
        """The same error naming the input as `where` (a file path)."""
        return AudioTooLongError(where, self.seconds, self.limit, self.reason)


# -- refusing what a recognizer cannot do, before any work ----------------------------------------
def check_prompt(recognizer: Recognizer, prompt: str | None) -> None:
    """A prompt to a recognizer that reads none is an IncompatibleOptionError."""
    if prompt and not recognizer.capabilities.prompt:
        readable = [c for c in recognizer.capabilities.contexts if c != "none"]
        instead = (f"; earlier turns are read as context in a session ({', '.join(readable)})"
                   if readable else "")
        raise IncompatibleOptionError(
            f"prompt: {recognizer.model_name} is {recognizer.kind}, which takes no text prompt; "
            f"drop the prompt{instead}, or choose a Whisper model, which reads one (e.g. "
            "--model whisper-tiny.en)")


def check_context(recognizer: Recognizer, context: ContextMode) -> None:
    """A context mode the recognizer's sessions cannot read is an IncompatibleOptionError."""
    modes = recognizer.capabilities.contexts
    if context not in modes:
        raise IncompatibleOptionError(
            f"context {context!r}: {recognizer.model_name} is {recognizer.kind}, which reads "
            f"context {' | '.join(modes)}; use one of those, or a model that reads {context!r}")


def turn_audio(audio: np.ndarray | str | Path) -> tuple[np.ndarray, str]:
    """A turn given as samples or a file -> (16-kHz mono float32 samples, 'file: ' or '')."""
    where = ""
    if isinstance(audio, (str, Path)):
        where = f"{audio}: "
        audio = load_audio(audio)
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1:
        raise BadAudioError(f"{where}a turn is mono audio (samples,), got shape {audio.shape}")
    return audio, where


def check_max_turns(max_turns: object, least: int) -> None:
    """`max_turns` must be an int >= `least` or None; a UsageError naming the forms otherwise."""
    if max_turns is not None and (not isinstance(max_turns, int) or isinstance(max_turns, bool)
                                  or max_turns < least):
        raise UsageError(f"max_turns must be >= {least}, None (all) or 'trained' (the model's "
                         f"own window), got {max_turns!r}")


# -- a text prompt as conversation context --------------------------------------------------------
PROMPT_SESSION_VERSION = 1


class PromptSession:
    """A conversation for a recognizer that reads a text prompt (Whisper).

    Context `text`: each turn's prompt is the earlier turns' transcripts (its own hypotheses, or
    what `remember_as` gave, e.g. the references for oracle context), the last `max_turns` of
    them, joined by spaces. Context `none`: no prompt. `count` gives the prompt tokens the
    decoder reads (Whisper keeps the last 223).
    """

    def __init__(self, recognizer: Recognizer, context: ContextMode = "text",
                 max_turns: MaxTurns = "trained", count: Callable[[str], int] | None = None
                 ) -> None:
        check_context(recognizer, context)
        if context not in ("none", "text"):
            raise IncompatibleOptionError(f"context {context!r}: a text prompt carries "
                                          "transcripts only; use context 'text'")
        max_turns = None if max_turns == "trained" else max_turns  # all that fit its prompt
        check_max_turns(max_turns, 0)
        self.recognizer, self.context, self.max_turns = recognizer, context, max_turns
        self.count = count or (lambda prompt: len(prompt.split()))
        self._texts: list[str] = []

    @property
    def texts(self) -> list[str]:
        return list(self._texts)

    def _window(self) -> list[str]:
        if self.context == "none":
            return []
        if self.max_turns is None:
            return self._texts
        return self._texts[len(self._texts) - self.max_turns:] if self.max_turns else []

    def prompt(self) -> str | None:
        """The next turn's prompt: the window's transcripts joined (None when empty)."""
        return " ".join(t.strip() for t in self._window() if t.strip()) or None

    def transcribe_turn(self, audio: np.ndarray | str | Path,
                        remember_as: str | None = None) -> TurnResult:
        samples, _ = turn_audio(audio)
        prompt, prior = self.prompt(), len(self._window())
        t0 = time.perf_counter()
        [hyp] = self.recognizer.recognize([samples], prompt=prompt)
        seconds = time.perf_counter() - t0
        self._texts.append(hyp.text if remember_as is None else remember_as)
        return TurnResult(
            index=len(self._texts) - 1, text=hyp.text,
            token_ids=[t for s in hyp.segments for t in s.tokens],
            audio_seconds=samples.shape[0] / SAMPLE_RATE, audio_tokens=hyp.audio_tokens,
            prior_turns=prior, context_audio_tokens=0,
            context_text_tokens=self.count(prompt) if prompt else 0, seconds=seconds)

    def add_turn(self, audio: np.ndarray | str | Path, text: str) -> None:
        self._texts.append(text)

    def save(self, path: str | Path) -> Path:
        state = {"version": PROMPT_SESSION_VERSION, "kind": "prompt", "context": self.context,
                 "max_turns": self.max_turns, "texts": self._texts}
        write_text_atomic(json.dumps(state, ensure_ascii=False) + "\n", Path(path))
        return Path(path)

    @classmethod
    def restore(cls, path: str | Path, recognizer: Recognizer,
                max_turns: MaxTurns | None = None,
                count: Callable[[str], int] | None = None) -> PromptSession:
        """A prompt session saved by `save`, continued by `recognizer`."""
        path = Path(path)
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
            texts = [str(t) for t in state["texts"]]
            valid = (state["kind"], state["version"]) == ("prompt", PROMPT_SESSION_VERSION)
        except FileNotFoundError:
            raise BadSessionError(f"{path}: no such session file") from None
        except Exception:  # noqa: BLE001 - any unreadable file is the same problem to fix
            valid = False
        if not valid:
            raise BadSessionError(f"{path}: not a susurrus prompt-session file (a text-prompt "
                                  f"conversation of {recognizer.kind})")
        session = cls(recognizer, state["context"],
                      state["max_turns"] if max_turns is None else max_turns, count)
        session._texts = texts
        return session
