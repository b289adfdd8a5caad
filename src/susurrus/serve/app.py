"""The app factory: `create_app(config)` -> a FastAPI app; `susurrus serve` runs it in uvicorn.

    app = create_app(ServeConfig(models=("whisper-tiny.en",), state_dir=Path("state")))

Models load in a background thread when the app starts: `/health` answers 503 until every model
is ready, then 200 (whisper.cpp and vLLM do the same, so a load balancer waits for it). One ASGI
layer in front of the routes does what every request needs before its body is read: the key
check on /v1 (401), the size limit (413, by Content-Length or while reading), and the metrics.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from contextlib import asynccontextmanager
from importlib import resources

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse

from susurrus.serve import errors
from susurrus.serve.config import ServeConfig
from susurrus.serve.errors import ApiError, error_response
from susurrus.serve.routes_audio import router as audio_router
from susurrus.serve.routes_sessions import router as sessions_router
from susurrus.serve.state import Loader, ServerState

# metric labels: paths with ids folded into their route (bounded label values)
ROUTES = [(re.compile(r"^/v1/sessions/[^/]+/turns$"), "/v1/sessions/{id}/turns"),
          (re.compile(r"^/v1/sessions/[^/]+$"), "/v1/sessions/{id}"),
          (re.compile(r"^/v1/models/.+$"), "/v1/models/{id}")]
KNOWN = {"/", "/health", "/metrics", "/v1/models", "/v1/sessions", "/v1/audio/transcriptions"}


def route_label(path: str) -> str:
    for pattern, label in ROUTES:
        if pattern.match(path):
            return label
    return path if path in KNOWN else "other"


class Gate:
    """ASGI middleware: key check on /v1, body size limit, request metrics."""

    def __init__(self, app: Callable, serve: ServerState) -> None:
        self.app, self.serve = app, serve

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        t0, status = time.perf_counter(), [500]

        async def tracked(message: dict) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            receive = self._checked(scope, receive)
        except ApiError as e:
            await error_response(e)(scope, receive, tracked)
        else:
            await self.app(scope, receive, tracked)
        finally:
            self.serve.metrics.request(route_label(scope["path"]), status[0],
                                       time.perf_counter() - t0)

    def _checked(self, scope: dict, receive: Callable) -> Callable:
        """The caller's owner id into scope['state']; a `receive` that stops at the limit."""
        if scope["path"].startswith("/v1"):
            headers = dict(scope["headers"])
            auth = headers.get(b"authorization", b"").decode("latin-1") or None
            scope.setdefault("state", {})["owner"] = self.serve.keys.owner(auth)
        limit = self.serve.config.max_request_bytes
        too_large = ApiError(413, f"the request is larger than the limit of {limit} bytes "
                                  f"({limit / 2**20:.0f} MB); send a shorter or compressed file",
                             param="file", code="request_too_large")
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise too_large
        seen = [0]

        async def limited() -> dict:
            message = await receive()
            seen[0] += len(message.get("body", b""))
            if seen[0] > limit:
                raise too_large
            return message

        return limited


def create_app(config: ServeConfig, load: Loader | None = None) -> FastAPI:
    """The server. `load` turns a model name into a recognizer (default: `load_recognizer` with
    the config's engine and device; tests pass fakes)."""
    if load is None:
        def load(name: str):
            from susurrus.infer.registry import load_recognizer

            return load_recognizer(name, config.engine, config.device)

    serve = ServerState(config, load)

    async def sweep() -> None:  # idle sessions leave memory even when no turn comes
        while True:
            await asyncio.sleep(min(60.0, max(1.0, config.session_idle_s)))
            serve.store.evict_idle()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        serve.start_loading()
        sweeper = asyncio.create_task(sweep())
        yield
        sweeper.cancel()
        serve.close()

    app = FastAPI(title="susurrus", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.serve = serve
    errors.install(app)
    app.include_router(audio_router)
    app.include_router(sessions_router)
    app.add_middleware(Gate, serve=serve)

    @app.get("/health")
    async def health() -> JSONResponse:
        if serve.ready:
            return JSONResponse({"status": "ok", "models": list(config.models)})
        if serve.load_error:
            return JSONResponse({"status": "failed", "error": serve.load_error}, 503)
        return JSONResponse({"status": "loading", "loaded": list(serve.workers)}, 503)

    @app.get("/metrics")
    async def metrics() -> PlainTextResponse:
        return PlainTextResponse(serve.metrics.render(),
                                 media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.get("/")
    async def index(request: Request) -> HTMLResponse:
        page = resources.files("susurrus.serve").joinpath("static/index.html")
        return HTMLResponse(page.read_text(encoding="utf-8"))

    return app
