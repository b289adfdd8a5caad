"""Conversation sessions kept on disk, one folder each, so that they survive a restart.

    STATE_DIR/sessions/sess_<24 hex>/session.json     who owns it, its model, context, turns
    STATE_DIR/sessions/sess_<24 hex>/turn-00003.state  what the model keeps (`Session.save`)

A turn is answered only after it is on disk: the model's state is written to a new file named by
the turn count, then `session.json` is replaced atomically to point at it (that rename is the
commit), then the previous state file goes. A `kill -9` at any point leaves the last committed
turn, and restoring it (`Recognizer.restore_session`) continues the conversation exactly
(paper 000's sessions rebuild their cache from the kept turns). Sessions unused for `idle_s`
leave memory and are restored from disk when their next turn comes.

Turns of one session run one at a time, in the order they arrived (`lock(id)`, a FIFO asyncio
lock); the model work itself runs on the model's worker thread.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from susurrus.audio.io import SAMPLE_RATE
from susurrus.context import ContextMode
from susurrus.files import write_text_atomic
from susurrus.infer.recognizer import Recognizer, Session
from susurrus.serve.errors import ApiError

SESSION_ID = re.compile(r"sess_[0-9a-f]{24}")
META = "session.json"


@dataclass
class TurnRecord:
    """One answered turn, as GET /v1/sessions/{id} lists it."""

    turn: int  # 1-based
    text: str
    prior_turns: int  # earlier turns it was read with
    context_audio_tokens: int  # audio tokens of those turns (K each for abstract)
    context_text_tokens: int  # transcript tokens of those turns
    audio_seconds: float
    seconds: float  # wall time of the turn (encoding, decoding, updating the context)
    created: int  # unix time
    # the transcript was given with the turn (a voice agent's own line, a corrected turn) and
    # kept as context without decoding; prior_turns and the context tokens are then 0
    known: bool = False


@dataclass
class SessionRecord:
    """A session's metadata (`session.json`); `owner` is a key digest, never shown."""

    id: str
    owner: str
    model: str
    context: ContextMode
    max_turns: int | None
    created: int
    turns: list[TurnRecord] = field(default_factory=list)
    state: str = ""  # the state file of the last committed turn

    def public(self) -> dict:
        return {"id": self.id, "object": "session", "model": self.model,
                "context": self.context, "max_turns": self.max_turns, "created": self.created,
                "turns": [asdict(t) for t in self.turns]}

    @classmethod
    def read(cls, path: Path) -> SessionRecord:
        data = json.loads(path.read_text(encoding="utf-8"))
        data["turns"] = [TurnRecord(**t) for t in data["turns"]]
        return cls(**data)


class SessionStore:
    """Sessions on disk under `root`, the recently used ones also in memory."""

    def __init__(self, root: Path, idle_s: float = 300.0) -> None:
        self.root = Path(root) / "sessions"
        self.root.mkdir(parents=True, exist_ok=True)
        self.idle_s = idle_s
        self._live: dict[str, tuple[Session, float]] = {}  # id -> (session, last used)
        self._guard = threading.Lock()  # _live is used by the loop and the model threads
        self._locks: dict[str, asyncio.Lock] = {}

    @property
    def in_memory(self) -> int:
        return len(self._live)

    def lock(self, sid: str) -> asyncio.Lock:
        return self._locks.setdefault(sid, asyncio.Lock())

    # -- records -----------------------------------------------------------------------------------
    def _folder(self, sid: str) -> Path:
        return self.root / sid

    def get(self, sid: str, owner: str) -> SessionRecord:
        """The session, if it exists and belongs to `owner`; else 404 (the same answer for both:
        another key cannot learn that an id exists)."""
        path = self._folder(sid) / META
        if not SESSION_ID.fullmatch(sid) or not path.exists():
            raise ApiError(404, f"session {sid!r}: no such session", param="session_id")
        record = SessionRecord.read(path)
        if not secrets.compare_digest(record.owner, owner):
            raise ApiError(404, f"session {sid!r}: no such session", param="session_id")
        return record

    def create(self, owner: str, model: str, session: Session) -> SessionRecord:
        """A new session (its empty state saved) -> its record. Runs on the model's thread."""
        record = SessionRecord(id=f"sess_{secrets.token_hex(12)}", owner=owner, model=model,
                               context=session.context, max_turns=session.max_turns,
                               created=int(time.time()))
        self._folder(record.id).mkdir(parents=True)
        self._commit(record, session)
        self._remember(record.id, session)
        return record

    def delete(self, record: SessionRecord) -> None:
        with self._guard:
            self._live.pop(record.id, None)
        folder = self._folder(record.id)
        (folder / META).unlink()  # first: a half-deleted folder is no session
        for f in folder.iterdir():
            f.unlink()
        folder.rmdir()
        self._locks.pop(record.id, None)

    # -- turns -------------------------------------------------------------------------------------
    def turn(self, record: SessionRecord, recognizer: Recognizer, audio: np.ndarray,
             text: str | None = None) -> TurnRecord:
        """Transcribe the session's next turn (or, given its `text`, keep it as context without
        decoding) and commit it. Runs on the model's thread."""
        session = self._session(record, recognizer)
        try:
            if text is None:
                r = session.transcribe_turn(audio)
                done = TurnRecord(turn=len(record.turns) + 1, text=r.text,
                                  prior_turns=r.prior_turns,
                                  context_audio_tokens=r.context_audio_tokens,
                                  context_text_tokens=r.context_text_tokens,
                                  audio_seconds=round(r.audio_seconds, 3),
                                  seconds=round(r.seconds, 3), created=int(time.time()))
            else:
                t0 = time.perf_counter()
                session.add_turn(audio, text)
                done = TurnRecord(turn=len(record.turns) + 1, text=text, prior_turns=0,
                                  context_audio_tokens=0, context_text_tokens=0,
                                  audio_seconds=round(audio.shape[0] / SAMPLE_RATE, 3),
                                  seconds=round(time.perf_counter() - t0, 3),
                                  created=int(time.time()), known=True)
            record.turns.append(done)
            self._commit(record, session)
        except BaseException:
            with self._guard:  # memory may be ahead of disk now: reload from disk next time
                self._live.pop(record.id, None)
            raise
        self._remember(record.id, session)
        return done

    def _session(self, record: SessionRecord, recognizer: Recognizer) -> Session:
        self.evict_idle()
        with self._guard:
            live = self._live.get(record.id)
        if live is not None:
            return live[0]
        return recognizer.restore_session(self._folder(record.id) / record.state)

    def _commit(self, record: SessionRecord, session: Session) -> None:
        folder, before = self._folder(record.id), record.state
        record.state = f"turn-{len(record.turns):05d}.state"
        session.save(folder / record.state)
        write_text_atomic(json.dumps(asdict(record), ensure_ascii=False) + "\n", folder / META)
        if before and before != record.state:
            (folder / before).unlink(missing_ok=True)

    def _remember(self, sid: str, session: Session) -> None:
        with self._guard:
            self._live[sid] = (session, time.monotonic())
        self.evict_idle()

    def evict_idle(self) -> None:
        """Drop sessions unused for idle_s from memory (they are all on disk)."""
        now = time.monotonic()
        with self._guard:
            for sid in [s for s, (_, used) in self._live.items() if now - used >= self.idle_s]:
                del self._live[sid]
