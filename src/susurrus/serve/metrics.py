"""Prometheus metrics in the text exposition format (version 0.0.4), without a client library.

    susurrus_requests_total{route, status}       requests answered
    susurrus_request_seconds{route}              latency histogram (whole request)
    susurrus_audio_seconds_total{model}          audio transcribed
    susurrus_queue_depth{model}                  requests waiting for the model (gauge)
    susurrus_batch_size{model}                   requests per decode (histogram)
    susurrus_sessions_in_memory                  live conversation sessions (gauge)
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64)
Labels = tuple[tuple[str, str], ...]


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    escaped = (v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") for _, v in labels)
    return "{" + ",".join(f'{k}="{v}"' for (k, _), v in zip(labels, escaped, strict=True)) + "}"


class _Histogram:
    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = buckets
        self.counts = [0] * len(buckets)
        self.sum, self.count = 0.0, 0

    def observe(self, value: float) -> None:
        for i, upper in enumerate(self.buckets):
            if value <= upper:
                self.counts[i] += 1
        self.sum += value
        self.count += 1

    def lines(self, name: str, labels: Labels) -> list[str]:
        out = [f"{name}_bucket{_labels(labels + (('le', f'{b:g}'),))} {c}"
               for b, c in zip(self.buckets, self.counts, strict=True)]
        out.append(f"{name}_bucket{_labels(labels + (('le', '+Inf'),))} {self.count}")
        return out + [f"{name}_sum{_labels(labels)} {self.sum:.6f}",
                      f"{name}_count{_labels(labels)} {self.count}"]


class Metrics:
    """Thread-safe counters, gauges and histograms; `render()` is the /metrics body."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[Labels, int] = defaultdict(int)
        self.latency: dict[Labels, _Histogram] = {}
        self.audio: dict[Labels, float] = defaultdict(float)
        self.batches: dict[Labels, _Histogram] = {}
        self.gauges: dict[str, Callable[[], dict[Labels, float]]] = {}  # read when rendered

    def request(self, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(("route", route), ("status", str(status)))] += 1
            key = (("route", route),)
            self.latency.setdefault(key, _Histogram(LATENCY_BUCKETS)).observe(seconds)

    def audio_seconds(self, model: str, seconds: float) -> None:
        with self._lock:
            self.audio[(("model", model),)] += seconds

    def batch(self, model: str, size: int) -> None:
        with self._lock:
            self.batches.setdefault((("model", model),), _Histogram(BATCH_BUCKETS)).observe(size)

    def gauge(self, name: str, read: Callable[[], dict[Labels, float]]) -> None:
        """A gauge whose values `read()` gives when /metrics is asked."""
        self.gauges[name] = read

    def render(self) -> str:
        with self._lock:
            out = ["# HELP susurrus_requests_total Requests answered, by route and status.",
                   "# TYPE susurrus_requests_total counter"]
            out += [f"susurrus_requests_total{_labels(k)} {v}" for k, v in self.requests.items()]
            out += ["# HELP susurrus_request_seconds Request latency in seconds.",
                    "# TYPE susurrus_request_seconds histogram"]
            for k, h in self.latency.items():
                out += h.lines("susurrus_request_seconds", k)
            out += ["# HELP susurrus_audio_seconds_total Seconds of audio transcribed.",
                    "# TYPE susurrus_audio_seconds_total counter"]
            out += [f"susurrus_audio_seconds_total{_labels(k)} {v:.3f}"
                    for k, v in self.audio.items()]
            out += ["# HELP susurrus_batch_size Requests decoded together.",
                    "# TYPE susurrus_batch_size histogram"]
            for k, h in self.batches.items():
                out += h.lines("susurrus_batch_size", k)
        for name, read in self.gauges.items():
            out += [f"# TYPE {name} gauge"]
            out += [f"{name}{_labels(k)} {v:g}" for k, v in read().items()]
        return "\n".join(out) + "\n"
