"""Real-time factor of several systems on the same audio, taken so that systems can be compared.

A single decode pass is too noisy to rank systems on a shared machine: the same checkpoint gave
RTF 0.337 in one sitting and 0.503 in the next. So this times every system in one sitting, on
the same utterances, in interleaved rounds (round r decodes with every system before round r+1
starts, so a slow spell of the machine falls on all of them), and keeps each utterance's fastest
decode over the rounds. Each system is loaded afresh in every round and dropped after it, so one
process holds one model at a time; loading and a warm-up decode are not timed.

    .venv/bin/python benchmarks/timing.py --manifest out/demo/corpus/test.jsonl \\
        --system whisper=whisper-tiny.en --system llm=runs/x [--utterances 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

Decode = Callable[[np.ndarray], str]


def first_utterances(manifest: Path, n: int) -> list:
    """The first `n` utterances in session and turn order (the order evaluation decodes in)."""
    from susurrus.data.manifest import group_sessions, read_manifest

    turns = [u for s in group_sessions(read_manifest(manifest)).values() for u in s]
    if n < 1:
        raise SystemExit(f"--utterances must be >= 1, got {n}")
    return turns[:n]


def engine_loader(model: str, engine: str) -> Callable[[], Decode]:
    """Loads the system (outside the clock) and returns its decode function, warmed up."""

    def load() -> Decode:
        from susurrus.evaluate.decode import warm_up
        from susurrus.infer import load_recognizer

        load_recognizer.cache_clear()  # one model in memory at a time
        recognizer = load_recognizer(model, engine)
        warm_up(recognizer)
        return lambda audio: recognizer.recognize([audio])[0].text

    return load


def time_systems(loaders: dict[str, Callable[[], Decode]], audios: list[np.ndarray],
                 rounds: int = 3, sample_rate: int = 16000,
                 clock: Callable[[], float] = time.perf_counter,
                 log: Callable[[str], None] = print) -> dict[str, dict]:
    """Each system's RTF: the sum over utterances of its fastest decode in `rounds` interleaved
    rounds, over the audio's length. Also the RTF of every round, and whether the text was the
    same in every round (a check that the rounds timed the same work)."""
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    if not audios:
        raise ValueError("no audio to time")
    audio_seconds = sum(a.shape[0] for a in audios) / sample_rate
    best = {name: [float("inf")] * len(audios) for name in loaders}
    per_round: dict[str, list[float]] = {name: [] for name in loaders}
    texts: dict[str, list[str]] = {}
    for r in range(rounds):
        for name, load in loaders.items():
            decode = load()
            walls, out = [], []
            for audio in audios:
                t0 = clock()
                out.append(decode(audio))
                walls.append(clock() - t0)
            del decode
            gc.collect()
            best[name] = [min(b, w) for b, w in zip(best[name], walls, strict=True)]
            per_round[name].append(sum(walls) / audio_seconds)
            texts.setdefault(name, out)
            if out != texts[name]:
                texts[name] = []  # differs between rounds
            log(f"round {r + 1}/{rounds} {name}: RTF {per_round[name][-1]:.3f}")
    return {name: {"rtf": sum(best[name]) / audio_seconds, "rtf_by_round": per_round[name],
                   "same_text_every_round": bool(texts[name])}
            for name in loaders}


def busy_cpus(seconds: float = 2.0) -> float:
    """CPUs kept busy by other work right now (this process sleeps while it looks): from
    /proc/stat over `seconds`; the 1-min load average where there is no /proc/stat (it lags:
    work that ended a minute ago still shows)."""
    def ticks() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        return sum(fields) - idle, sum(fields)

    if not Path("/proc/stat").exists():
        return os.getloadavg()[0]
    b0, t0 = ticks()
    time.sleep(seconds)
    b1, t1 = ticks()
    return (b1 - b0) / max(1, t1 - t0) * (os.cpu_count() or 1)


def machine() -> dict:
    import torch

    return {"processor": platform.processor() or platform.machine(),
            "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "busy_cpus_at_start": round(busy_cpus(), 2)}


def measure(systems: dict[str, tuple[str, str]], manifest: Path, n: int, rounds: int) -> dict:
    """Time `systems` (name -> (model, engine)) on the first `n` utterances of `manifest`."""
    from susurrus.audio.io import SAMPLE_RATE, load_audio

    utts = first_utterances(manifest, n)
    audios = [load_audio(u.audio, u.start, u.duration) for u in utts]
    info = machine()
    if info["busy_cpus_at_start"] > 0.25:
        print(f"warning: other work keeps {info['busy_cpus_at_start']:.1f} CPUs busy: these "
              "timings will show it", flush=True)
    started = time.strftime("%Y-%m-%d %H:%M")
    loaders = {name: engine_loader(model, engine) for name, (model, engine) in systems.items()}
    rows = time_systems(loaders, audios, rounds, SAMPLE_RATE,
                        log=lambda s: print(s, flush=True))
    return {"started": started, "machine": info, "manifest": str(manifest),
            "utterances": len(utts), "audio_seconds": sum(a.shape[0] for a in audios) /
            SAMPLE_RATE, "rounds": rounds, "systems": rows}


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (a clear usage error otherwise, not a traceback)."""
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return n


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--manifest", type=Path, required=True)
    p.add_argument("--system", action="append", required=True, metavar="NAME=MODEL[@ENGINE]",
                   help="a system to time (engine torch unless @faster-whisper); repeatable")
    p.add_argument("--utterances", type=positive_int, default=10)
    p.add_argument("--rounds", type=positive_int, default=3)
    p.add_argument("--out", type=Path, help="write the timings here as JSON")
    args = p.parse_args()
    systems = {}
    for spec in args.system:
        name, _, model = spec.partition("=")
        if not model:
            raise SystemExit(f"--system {spec!r}: give NAME=MODEL[@ENGINE]")
        model, _, engine = model.partition("@")
        systems[name] = (model, engine or "torch")
    res = measure(systems, args.manifest, args.utterances, args.rounds)
    for name, r in res["systems"].items():
        print(f"{name:<40} RTF {r['rtf']:.3f}")
    if args.out:
        args.out.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
