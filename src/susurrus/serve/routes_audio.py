"""`POST /v1/audio/transcriptions` (OpenAI's multipart contract) and `GET /v1/models`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse

from susurrus.audio.io import SAMPLE_RATE
from susurrus.errors import IncompatibleOptionError
from susurrus.infer.recognizer import Recognition, TalkerStream, check_prompt
from susurrus.infer.suspect import speech_seconds
from susurrus.serve import formats
from susurrus.serve.errors import ApiError
from susurrus.serve.state import ServerState, read_upload

router = APIRouter(prefix="/v1")


def state(request: Request) -> ServerState:
    return request.app.state.serve


def _check_options(s: ServerState, response_format: str, language: str | None,
                   temperature: float, granularities: list[str]) -> None:
    """Each field OpenAI defines, checked; a 400 names the field and what it may be."""
    if response_format not in formats.RESPONSE_FORMATS:
        raise ApiError(400, f"response_format {response_format!r}: choose one of "
                            f"{', '.join(formats.RESPONSE_FORMATS)}", param="response_format")
    if language is not None and language.lower() not in s.config.languages:
        raise ApiError(400, f"language {language!r}: the served models transcribe "
                            f"{', '.join(s.config.languages)}; send that or leave it out",
                       param="language")
    if not 0.0 <= temperature <= 1.0:
        raise ApiError(400, f"temperature {temperature}: must be between 0 and 1",
                       param="temperature")
    if temperature != 0.0:  # OpenAI's 0 = start greedy, raise the temperature on failure
        raise ApiError(400, f"temperature {temperature}: this server decodes greedily with "
                            "temperature fallback (OpenAI's temperature 0); send 0 or leave it "
                            "out", param="temperature")
    bad = [g for g in granularities if g not in formats.GRANULARITIES]
    if bad:
        raise ApiError(400, f"timestamp_granularities[] {bad[0]!r}: choose segment or word",
                       param="timestamp_granularities")
    if granularities and response_format != "verbose_json":
        raise ApiError(400, "timestamp_granularities[] needs response_format verbose_json",
                       param="timestamp_granularities")


@router.post("/audio/transcriptions")
async def transcriptions(
    request: Request,
    file: Annotated[UploadFile, File(description="the audio (any format ffmpeg decodes)")],
    model: Annotated[str | None, Form(description="a served model (default: the first)")] = None,
    language: Annotated[str | None, Form()] = None,
    prompt: Annotated[str | None, Form()] = None,
    response_format: Annotated[str, Form()] = "json",
    temperature: Annotated[float, Form()] = 0.0,
    timestamp_granularities: Annotated[list[str], Form(alias="timestamp_granularities[]")] = [],  # noqa: B006 - FastAPI copies it
    stream: Annotated[bool, Form()] = False,
) -> Response:
    s = state(request)
    _check_options(s, response_format, language, temperature, timestamp_granularities)
    worker = s.worker(model)
    try:
        check_prompt(worker.recognizer, prompt)
    except IncompatibleOptionError as e:
        raise ApiError(400, str(e), param="prompt") from None
    audio = await read_upload(file)
    if speech_seconds(audio, [(0, audio.shape[0])])[0] > 0:
        hyp = await worker.transcribe(audio, prompt or None)
    else:  # not one frame of speech: Whisper would invent a "you" (issue 19: empty text)
        hyp = Recognition([TalkerStream([])])
    duration = audio.shape[0] / SAMPLE_RATE
    if stream:
        return StreamingResponse(formats.sse(hyp), media_type="text/event-stream")
    t = formats.transcript(hyp, duration, worker.name, worker.recognizer.name)
    content, media = formats.body(response_format, t, hyp, (language or "en").lower())
    if isinstance(content, dict):
        return JSONResponse(content)
    return PlainTextResponse(content, media_type=media)


def _model(s: ServerState, name: str) -> dict:
    out = {"id": name, "object": "model", "created": s.created, "owned_by": "susurrus"}
    worker = s.workers.get(name)
    if worker is not None:  # extensions: what the web page offers for it
        caps = worker.recognizer.capabilities
        out |= {"kind": worker.recognizer.kind, "prompt": caps.prompt,
                "contexts": list(caps.contexts), "streams": caps.streams}
    return out


@router.get("/models")
async def models(request: Request) -> dict:
    s = state(request)
    return {"object": "list", "data": [_model(s, n) for n in s.config.models]}


@router.get("/models/{model_id:path}")
async def model(request: Request, model_id: str) -> dict:
    s = state(request)
    if model_id not in s.config.models:
        raise ApiError(404, f"model {model_id!r} is not served here; served: "
                            f"{', '.join(s.config.models)}", param="model",
                       code="model_not_found")
    return _model(s, model_id)
