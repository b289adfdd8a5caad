"""Conversation sessions: each turn reads the earlier ones as compressed context (paper 000).

    POST   /v1/sessions              {"model": ..., "context": ..., "max_turns": ...} -> session
    POST   /v1/sessions/{id}/turns   multipart `file` -> {"turn", "text", "prior_turns", ...}
                                      (+ `text`: a known transcript, kept without decoding)
    GET    /v1/sessions/{id}         the session and its turns
    DELETE /v1/sessions/{id}

A session belongs to the key that made it; any other key gets 404 for it.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Request, UploadFile
from pydantic import BaseModel, ConfigDict, Field

from susurrus.audio.io import SAMPLE_RATE
from susurrus.context import ContextMode
from susurrus.errors import UserError
from susurrus.serve.errors import ApiError
from susurrus.serve.state import ServerState, read_upload

router = APIRouter(prefix="/v1/sessions")


class NewSession(BaseModel):
    """The body of POST /v1/sessions; unknown fields are refused (a typo is not ignored)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: str | None = Field(None, description="a served model (default: the first)")
    context: ContextMode | None = Field(None, description="how earlier turns are read "
                                        "(default: the model's own)")
    max_turns: int | Literal["trained"] | None = Field(
        "trained", description="earlier turns read at most (null: all; 'trained': the "
        "window the model was trained with)")


def _state(request: Request) -> tuple[ServerState, str]:
    return request.app.state.serve, request.state.owner


@router.post("")
async def create(request: Request, body: NewSession) -> dict:
    s, owner = _state(request)
    worker = s.worker(body.model)

    def make():
        try:
            session = worker.recognizer.session(body.context, body.max_turns)
        except UserError as e:
            param = "max_turns" if "max_turns" in str(e) else "context"
            raise ApiError(400, str(e), param=param) from None
        return s.store.create(owner, worker.name, session)

    return (await worker.call(make)).public()


@router.post("/{session_id}/turns")
async def turn(request: Request, session_id: str,
               file: Annotated[UploadFile, File(description="the turn's audio")],
               text: Annotated[str | None, Form(
                   description="the turn's transcript when it is known (a voice agent's own "
                   "line, a turn a person corrected): kept as context for later turns, not "
                   "decoded")] = None) -> dict:
    s, owner = _state(request)
    s.store.get(session_id, owner)  # 404 before anything else
    if text is not None and not text.strip():
        raise ApiError(400, "'text' is empty: give the turn's known transcript, or leave the "
                       "field out to have the turn transcribed", param="text")
    async with s.store.lock(session_id):  # turns of one session in arrival order
        record = s.store.get(session_id, owner)  # afresh: it may have been deleted meanwhile
        audio = await read_upload(file)
        worker = s.worker(record.model)
        done = await worker.call(lambda: s.store.turn(record, worker.recognizer, audio, text))
    s.metrics.audio_seconds(worker.name, audio.shape[0] / SAMPLE_RATE)
    return {"id": session_id, "object": "session.turn"} | asdict(done)


@router.get("/{session_id}")
async def get(request: Request, session_id: str) -> dict:
    s, owner = _state(request)
    return s.store.get(session_id, owner).public()


@router.delete("/{session_id}")
async def delete(request: Request, session_id: str) -> dict:
    s, owner = _state(request)
    async with s.store.lock(session_id):
        s.store.delete(s.store.get(session_id, owner))
    return {"id": session_id, "object": "session.deleted", "deleted": True}
