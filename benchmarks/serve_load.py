"""`susurrus serve` under load: 1, 4 and 16 concurrent clients, batching on and off, against
faster-whisper decoding the same requests one by one.

    .venv/bin/python benchmarks/serve_load.py [--requests-per-client 2] [--min-requests 8]

Each system is a real `susurrus serve` process (Whisper tiny.en, loaded and warmed up before the
clock starts) on a free local port; the clients are threads posting the same spoken requests
(espeak-ng sentences of 2-5 s, the size of a dictated turn) to /v1/audio/transcriptions, each
one after the other. Throughput is seconds of audio transcribed per wall-clock second over all
requests of a level; latency is each request's, from send to answer (p50 / p95). Writes
benchmarks/results/serve_load.{json,md}; `--render benchmarks/results/serve_load.json` redraws
the table from the JSON alone.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, render_main  # noqa: E402
from timing import busy_cpus  # noqa: E402

SENTENCES = [
    "Please send the invoice to the Lisbon office before Friday.",
    "Siobhan called about the Reykjavik order this morning.",
    "The meeting moved to three thirty in room twelve.",
    "Can you check whether the Kubernetes build passed?",
    "We need two more chairs for the workshop tomorrow.",
    "Doctor Okafor will be back on Monday.",
    "The shipment left the warehouse an hour ago.",
    "Thank you, that is all for today.",
]
SYSTEMS = {  # name -> serve flags
    "susurrus torch, batching on (16)": ["--engine", "torch", "--max-batch", "16"],
    "susurrus torch, batching off": ["--engine", "torch", "--max-batch", "1"],
    "faster-whisper, one by one": ["--engine", "faster-whisper", "--max-batch", "1"],
}
CLIENTS = (1, 4, 16)


def make_requests(folder: Path) -> list[tuple[bytes, float]]:
    """The request bodies (WAV bytes) and their seconds of audio."""
    import soundfile as sf

    from susurrus.data.tts import speak

    out = []
    for i, text in enumerate(SENTENCES):
        path = folder / f"r{i}.wav"
        speak(text, path)
        out.append((path.read_bytes(), sf.info(str(path)).duration))
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(flags: list[str], state: Path) -> tuple[subprocess.Popen, str]:
    import httpx

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "susurrus.cli.main", "serve", "--model",
                             "whisper-tiny.en", "--state-dir", str(state), "--port", str(port),
                             "--log-level", "warning", *flags])
    url = f"http://127.0.0.1:{port}"
    for _ in range(1200):
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/health").status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise SystemExit("the server did not become ready in 120 s")


def post(url: str, body: bytes) -> tuple[float, bool]:
    import httpx

    t0 = time.perf_counter()
    r = httpx.post(f"{url}/v1/audio/transcriptions", files={"file": ("r.wav", body)},
                   data={"model": "whisper-tiny.en"}, timeout=600)
    return time.perf_counter() - t0, r.status_code == 200 and bool(r.json()["text"])


def load_level(url: str, requests: list[tuple[bytes, float]], clients: int, per_client: int
               ) -> dict:
    """`clients` threads, each sending `per_client` requests in turn (rotating the sentences)."""
    jobs = [[requests[(c * per_client + k) % len(requests)] for k in range(per_client)]
            for c in range(clients)]

    def client(mine):
        return [(post(url, body), seconds) for body, seconds in mine]

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        done = [r for rs in pool.map(client, jobs) for r in rs]
    wall = time.perf_counter() - t0
    latencies = sorted(lat for (lat, _), _ in done)
    audio = sum(seconds for _, seconds in done)

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, round(p * (len(latencies) - 1)))]

    return {"clients": clients, "requests": len(done), "audio_seconds": round(audio, 2),
            "wall_seconds": round(wall, 2), "throughput": round(audio / wall, 3),
            "p50": round(pct(0.5), 3), "p95": round(pct(0.95), 3),
            "errors": sum(not ok for (_, ok), _ in done)}


def measure(per_client: int, min_requests: int) -> dict:
    import torch

    busy = busy_cpus()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        requests = make_requests(Path(tmp))
        for name, flags in SYSTEMS.items():
            proc, url = start(flags, Path(tmp) / "state")
            try:
                post(url, requests[0][0])  # warm-up, not timed
                for clients in CLIENTS:
                    per = max(per_client, -(-min_requests // clients))
                    row = {"system": name} | load_level(url, requests, clients, per)
                    print(json.dumps(row), flush=True)
                    rows.append(row)
            finally:
                proc.terminate()
                proc.wait(30)
    return {"started": time.strftime("%Y-%m-%d %H:%M"),
            "machine": {"processor": platform.processor() or platform.machine(),
                        "cpus": os.cpu_count(), "torch": torch.__version__,
                        # the servers inherit it: torch's threads in each
                        "omp_num_threads": os.environ.get("OMP_NUM_THREADS", "unset"),
                        "busy_cpus_at_start": round(busy, 2),
                        "busy_cpus_at_end": round(busy_cpus(), 2)},
            "model": "whisper-tiny.en", "request_seconds": [round(s, 2) for _, s in requests],
            "rows": rows}


def render(results: dict) -> str:
    m = results["machine"]
    lines = ["| system | clients | requests | audio s / s | p50 latency (s) | p95 latency (s) "
             "| errors |", "|---|---:|---:|---:|---:|---:|---:|"]
    for r in results["rows"]:
        lines.append(f"| {r['system']} | {r['clients']} | {r['requests']} | "
                     f"{r['throughput']:.2f} | {r['p50']:.2f} | {r['p95']:.2f} | {r['errors']} |")
    seconds = results["request_seconds"]
    return (f"{results['model']}, greedy + temperature fallback; requests of "
            f"{min(seconds):.1f}-{max(seconds):.1f} s of speech, each client sending one after "
            f"the other\n\n" + "\n".join(lines) + "\n\n"
            f"{m['processor']}, {m['cpus']} CPUs, torch {m['torch']}, OMP_NUM_THREADS="
            f"{m['omp_num_threads']} in the server; other work kept "
            f"{m['busy_cpus_at_start']:.1f} CPUs busy at the start and "
            f"{m['busy_cpus_at_end']:.1f} at the end ({results['started']}): absolute numbers "
            "are this machine's, the comparison is in one sitting.\n")


def main() -> None:
    if render_main(render):
        return
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests-per-client", type=int, default=2)
    p.add_argument("--min-requests", type=int, default=8,
                   help="requests per level at least (1 client sends them all)")
    args = p.parse_args()
    results = measure(args.requests_per_client, args.min_requests)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "serve_load.json").write_text(json.dumps(results, indent=1) + "\n")
    (RESULTS / "serve_load.md").write_text(render(results))
    print(render(results))


if __name__ == "__main__":
    main()
