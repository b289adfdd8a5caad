"""One worker thread per model: requests queue up, and the ones waiting together decode as one
batch (`Recognizer.recognize` on a list).

    worker = ModelWorker("whisper-tiny.en", recognizer, max_batch=16, wait_s=0.01, max_queue=64)
    hyp = await worker.transcribe(samples, prompt)      # from the event loop
    turn = await worker.call(lambda: session.transcribe_turn(samples))

A request waits at most `wait_s` for others to join its batch; while a batch decodes, new ones
gather, so under load batches fill by themselves and a lone request pays almost nothing. Only
requests with the same prompt share a batch (the recognizer reads one prompt per call). `call`
runs any other model work (a session turn) on the same thread, in queue order: the model is
never used by two threads at once. A full queue is a 429 with Retry-After (vLLM and OpenAI
answer so; the client backs off and retries).
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from susurrus.audio.io import SAMPLE_RATE
from susurrus.infer.recognizer import Recognition, Recognizer
from susurrus.serve.errors import ApiError
from susurrus.serve.metrics import Metrics

log = logging.getLogger("susurrus.serve")


@dataclass
class _Job:
    future: cf.Future = field(default_factory=cf.Future)
    audio: np.ndarray | None = None  # a transcription: (T,) 16-kHz samples ...
    prompt: str | None = None  # ... and its prompt
    call: Callable[[], Any] | None = None  # or any model work, run alone


class ModelWorker:
    """Owns one recognizer: a bounded queue and the thread that decodes it in batches."""

    def __init__(self, name: str, recognizer: Recognizer, max_batch: int = 16,
                 wait_s: float = 0.01, max_queue: int = 64, metrics: Metrics | None = None
                 ) -> None:
        self.name, self.recognizer = name, recognizer
        self.max_batch, self.wait_s, self.max_queue = max_batch, wait_s, max_queue
        self.metrics = metrics or Metrics()
        self._queue: deque[_Job] = deque()
        self._cond = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name=f"serve-{name}", daemon=True)
        self._thread.start()

    @property
    def depth(self) -> int:
        """Requests waiting (not the batch being decoded)."""
        return len(self._queue)

    async def transcribe(self, audio: np.ndarray, prompt: str | None = None) -> Recognition:
        return await asyncio.wrap_future(self._submit(_Job(audio=audio, prompt=prompt)))

    async def call(self, fn: Callable[[], Any]) -> Any:
        return await asyncio.wrap_future(self._submit(_Job(call=fn)))

    def close(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._thread.join(timeout=5)

    def _submit(self, job: _Job) -> cf.Future:
        with self._cond:
            if self._stop:
                raise ApiError(503, "the server is shutting down; retry on another instance")
            if len(self._queue) >= self.max_queue:
                raise ApiError(429, f"{self.name}: {len(self._queue)} requests are waiting, the "
                                    "queue is full; retry after a second",
                               code="queue_full", headers={"Retry-After": "1"})
            self._queue.append(job)
            self._cond.notify()
        return job.future

    def _next_batch(self) -> list[_Job] | None:
        """The next call alone, or up to max_batch transcriptions with the first one's prompt."""
        with self._cond:
            while not self._queue and not self._stop:
                self._cond.wait()
            if self._stop:
                return None
            first = self._queue.popleft()
            if first.call is not None or self.max_batch == 1:
                return [first]
            deadline = time.monotonic() + self.wait_s
            while len(self._queue) < self.max_batch - 1 and not self._stop:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            batch = [first]
            for job in list(self._queue):
                if len(batch) == self.max_batch:
                    break
                if job.call is None and job.prompt == first.prompt:
                    batch.append(job)
                    self._queue.remove(job)
            return batch

    def _run(self) -> None:
        while (batch := self._next_batch()) is not None:
            live = [j for j in batch if j.future.set_running_or_notify_cancel()]
            if not live:
                continue
            try:
                if live[0].call is not None:
                    live[0].future.set_result(live[0].call())
                    continue
                audio = [j.audio for j in live]
                hyps = self.recognizer.recognize(audio, prompt=live[0].prompt)
                self.metrics.batch(self.name, len(live))
                self.metrics.audio_seconds(self.name, sum(a.shape[0] for a in audio) / SAMPLE_RATE)
                for job, hyp in zip(live, hyps, strict=True):
                    job.future.set_result(hyp)
            except BaseException as e:  # noqa: BLE001 - the callers get it, the worker goes on
                for job in live:
                    if not job.future.done():
                        job.future.set_exception(e)
