"""What every route reads: the server's state (models, sessions, keys, metrics) and the helpers
that turn a request into checked inputs (the caller's key, a served model, an uploaded file)."""

from __future__ import annotations

import asyncio
import logging
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from fastapi import UploadFile

from susurrus.errors import BadAudioError
from susurrus.infer.recognizer import Recognizer
from susurrus.serve.auth import KeyRing
from susurrus.serve.config import ServeConfig
from susurrus.serve.errors import ApiError
from susurrus.serve.metrics import Metrics
from susurrus.serve.scheduler import ModelWorker
from susurrus.serve.sessions import SessionStore

log = logging.getLogger("susurrus.serve")
Loader = Callable[[str], Recognizer]  # model name -> a loaded recognizer
OPENAI_DEFAULT = "whisper-1"  # what OpenAI clients send; here: the first served model


class ServerState:
    """Models (loaded in the background: /health says when), sessions, keys and metrics."""

    def __init__(self, config: ServeConfig, load: Loader) -> None:
        self.config, self._load = config, load
        self.keys = KeyRing(config.api_keys)
        self.metrics = Metrics()
        self.store = SessionStore(config.state_dir, config.session_idle_s)
        self.workers: dict[str, ModelWorker] = {}
        self.created = int(time.time())
        self.load_error: str | None = None
        self.metrics.gauge("susurrus_queue_depth", lambda: {
            (("model", n),): w.depth for n, w in self.workers.items()})
        self.metrics.gauge("susurrus_sessions_in_memory", lambda: {(): self.store.in_memory})
        self.metrics.gauge("susurrus_ready", lambda: {(): float(self.ready)})

    @property
    def ready(self) -> bool:
        return len(self.workers) == len(self.config.models)

    def start_loading(self) -> threading.Thread:
        """Load every model in a background thread (the server answers meanwhile: 503)."""
        thread = threading.Thread(target=self._load_all, name="serve-load", daemon=True)
        thread.start()
        return thread

    def _load_all(self) -> None:
        c = self.config
        for name in c.models:
            try:
                recognizer = self._load(name)
            except Exception as e:  # noqa: BLE001 - /health reports it; the server stays up
                log.error("could not load %s", name, exc_info=e)
                self.load_error = f"{name}: {e}"
                return
            self.workers[name] = ModelWorker(name, recognizer, c.max_batch, c.batch_wait_s,
                                             c.max_queue, self.metrics)
            log.info("loaded %s", name)

    def close(self) -> None:
        for w in self.workers.values():
            w.close()

    # -- request helpers ---------------------------------------------------------------------------
    def worker(self, model: str | None) -> ModelWorker:
        """The served model asked for (None or `whisper-1`: the first one), or 404 / 503."""
        name = self.config.models[0] if model in (None, "", OPENAI_DEFAULT) else model
        if name not in self.config.models:
            raise ApiError(404, f"model {model!r} is not served here; served: "
                                f"{', '.join(self.config.models)} (GET /v1/models)",
                           param="model", code="model_not_found")
        if name not in self.workers:
            raise ApiError(503, f"model {name!r} is still loading; retry when GET /health "
                                "answers 200", code="model_loading",
                           headers={"Retry-After": "5"})
        return self.workers[name]


def decode_audio(data: bytes, filename: str | None) -> np.ndarray:
    """Uploaded bytes -> 16-kHz mono samples (silence allowed: it transcribes to nothing)."""
    from susurrus.audio.io import load_audio

    if not data:
        raise ApiError(415, f"file {filename or ''!r}: the upload is empty (0 bytes)",
                       param="file", code="invalid_audio")
    suffix = Path(filename or "").suffix[:10] or ".bin"
    with tempfile.TemporaryDirectory(prefix="susurrus-upload-") as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(data)
        try:
            return load_audio(path, allow_silence=True)
        except BadAudioError as e:
            why = str(e).split(": ", 1)[-1]
            raise ApiError(415, f"file {filename or ''!r}: {why}; send audio that ffmpeg can "
                                "decode (flac, mp3, mp4, m4a, ogg, wav, webm)",
                           param="file", code="invalid_audio") from None


async def read_upload(file: UploadFile) -> np.ndarray:
    data = await file.read()
    return await asyncio.to_thread(decode_audio, data, file.filename)
