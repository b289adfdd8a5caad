"""What the server tests share: a real uvicorn server on a free local port (in a thread), fake
recognizers whose output tells what they were given, audio files to upload."""

from __future__ import annotations

import math
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import soundfile as sf

from susurrus.infer.recognizer import Recognition, TalkerStream
from susurrus.infer.transcript import Segment
from susurrus.testing.fakes import SegmentsRecognizer

SR = 16_000


@dataclass
class ClipEngine:
    """Text from the audio alone: one segment per started second, naming the clip's length,
    and how many prompt words it read. Silence gives no segment. `gate` (when set) holds every
    decode until it is set: a way to fill the queue."""

    name: str = "fake"
    gate: threading.Event | None = None
    prompts: list[str | None] = field(default_factory=list)

    def segments(self, audio: np.ndarray, prompt: str | None, on_progress) -> list[Segment]:
        if self.gate is not None:
            assert self.gate.wait(30), "the test never opened the gate"
        self.prompts.append(prompt)
        seconds = audio.shape[0] / SR
        if np.abs(audio).max() < 1e-4:
            return []
        n = max(1, math.ceil(seconds - 1e-6))
        heard = len(prompt.split()) if prompt else 0
        return [Segment(float(i), min(i + 1.0, seconds),
                        f" clip {seconds:.2f} part {i + 1} of {n} after {heard}.")
                for i in range(n)]


@dataclass
class TwoTalkers:
    """A multi-talker recognizer: the clip's first and second half are two talkers' streams."""

    model_name: str = "fake-duo"
    kind: str = "a fake multi-talker recognizer"
    name: str = "fake"

    @property
    def capabilities(self):
        from susurrus.infer.recognizer import Capabilities

        return Capabilities(prompt=False, streams=2)

    def recognize(self, audio, prompt=None, on_progress=None) -> list[Recognition]:
        out = []
        for a in audio:
            half = a.shape[0] / SR / 2
            out.append(Recognition([
                TalkerStream([Segment(0.0, half, " hello from A")], speaker="A"),
                TalkerStream([Segment(half / 2, 2 * half, " and B here")], speaker="B")]))
        return out


def fake_loader(engine: ClipEngine | None = None):
    """name -> recognizer: 'fake' a batching prompt reader, 'fake-duo' two talkers."""
    engine = engine or ClipEngine()

    def load(name: str):
        if name == "fake-duo":
            return TwoTalkers()
        return SegmentsRecognizer(engine, batch=True, model_name=name)

    return load


def tone(path: Path, seconds: float, hz: float = 220.0, amplitude: float = 0.3) -> Path:
    t = np.arange(int(seconds * SR)) / SR
    sf.write(path, (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32), SR)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running(app, wait_ready: bool = True) -> Iterator[str]:
    """Serve `app` with uvicorn in a thread; yields its base URL ('http://127.0.0.1:PORT')."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    while wait_ready and httpx.get(f"{url}/health").status_code != 200:
        assert time.monotonic() < deadline, "the models did not load"
        time.sleep(0.05)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(10)


def openai_client(url: str, key: str = "none"):
    from openai import OpenAI

    return OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=120)
