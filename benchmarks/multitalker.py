"""Paper 003: encoder-only multi-talker ASR against Whisper and the LLM-SOT teacher, by count.

    .venv/bin/python benchmarks/multitalker.py --model no-distill=runs/multitalker-tiny \\
        --model distill=runs/mt-distill [--teacher runs/sot-teacher] [--data out/mix-bench]
        [--hours 0.5] [--quick]

Test sets: 1-, 2- and 3-talker mixtures in equal shares, 30% of the multi-talker ones fully
overlapped, for `test` and `test-ood` (held-out voices, domains, entities), `--hours` of audio
each, synthesized into `--data` when missing with

    susurrus synth mixtures --out DATA --splits test,test-ood --talkers 1,2,3
        --overlapped-share 0.3 --hours 2H --seed 0

Mixtures over 30 s (the multi-talker model's and the teacher's input limit) are left out and
counted in the notes.

Rows, every one on the same mixtures:
- Whisper tiny.en through the torch and faster-whisper engines: one stream, so its count is
  always 1 (`--whisper` names another Whisper, `--whisper-engines` narrows the engines);
- the LLM-SOT teacher (`--teacher RUN`: a speech LLM trained with `model.sot: true`), through
  its recognizer, which writes one stream per talker (its transcript split at the
  speaker-change token, as its validation does) with 3 talkers' worth of tokens as its length
  allowance (`susurrus.infer.speech_llm`); a teacher that cannot be loaded is a row saying why,
  with no numbers;
- every `--model LABEL=RUN` (a multi-talker CTC checkpoint or run folder), once with the count
  head routing and once told the true count (oracle).

Columns, per set: cpWER per reference talker count (1, 2, 3) and over all mixtures, each with a
95% bootstrap interval over mixtures (`susurrus.metrics.bootstrap`); talker-count accuracy and
its confusion matrix; RTF of the decoding (model loading not included, batches of 8, this
process's torch threads); parameters trained by our recipe / in total; peak resident memory (RSS)
of the process that loaded the system and decoded both sets.

Each system runs in its own process (`--worker`), so its peak memory is its own; its scores and
streams are cached in `<data>/bench/<key>.json` (rerun to resume; `--fresh` decodes again).
Writes benchmarks/results/multitalker.{json,md} and multitalker_cpwer.png; `--render
multitalker.json` redraws the table from the JSON alone.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, render_main, run, save_results, susurrus  # noqa: E402

SETS = ("test", "test-ood")
COUNTS = (1, 2, 3)  # reference talker counts the sets hold (the columns)
MAX_SECONDS = 30.0  # the multi-talker model and the teacher read 30 s at most
WHISPER_ENGINES = ("torch", "faster-whisper")
QUICK = {"hours": 0.004, "engines": "espeak-ng,flite", "min_files": 3}  # --quick: a few each


# -- the test sets ----------------------------------------------------------------------------

def ensure_mixtures(data: Path, hours: float, engines: str | None = None,
                    min_files: int | None = None) -> None:
    """Synthesize test and test-ood (`hours` each) into `data` unless both are there."""
    if all((data / f"{name}.jsonl").exists() for name in SETS):
        return
    extra = (["--engines", engines] if engines else []) + (
        ["--min-files", str(min_files)] if min_files else [])
    run(susurrus("synth", "mixtures", "--out", str(data), "--splits", ",".join(SETS),
                 "--talkers", "1,2,3", "--overlapped-share", "0.3", "--hours", f"{2 * hours:g}",
                 "--seed", "0", "--quiet", *extra))


def bench_set(manifest: Path) -> tuple[list, list[str]]:
    """The mixtures of `manifest` that last 30 s at most, and the ids of those left out."""
    from susurrus.data.manifest import read_manifest

    kept, dropped = [], []
    for u in read_manifest(manifest):
        if _seconds(u) <= MAX_SECONDS:
            kept.append(u)
        else:
            dropped.append(u.id)
    return kept, dropped


def talker_count(utt) -> int:
    return len(utt.talkers) if utt.is_mixture else 1


# -- the systems ------------------------------------------------------------------------------

def labelled(value: str) -> tuple[str, str]:
    """'LABEL=RUN' (or a bare RUN, labelled by its folder name) -> (label, run)."""
    label, sep, model = value.partition("=")
    if not sep:
        label, model = Path(value).name, value
    if not label or not model:
        raise argparse.ArgumentTypeError(f"{value!r}: expected LABEL=RUN")
    return label, model


def systems(whisper: str, engines: tuple[str, ...], teacher: str | None,
            models: list[tuple[str, str]]) -> list[dict]:
    """Every system: label, what loads, engine, kind (whisper | teacher | multitalker), key."""
    name = Path(whisper).name.removeprefix("whisper-")
    out = [{"system": f"Whisper {name} ({engine})", "model": whisper,
            "engine": engine, "kind": "whisper", "key": f"whisper-{engine}"}
           for engine in engines]
    if teacher:
        out.append({"system": "LLM-SOT teacher", "model": teacher, "engine": "torch",
                    "kind": "teacher", "key": "teacher"})
    out += [{"system": f"encoder-only {label}", "model": model, "engine": "torch",
             "kind": "multitalker", "key": f"mt-{label}"} for label, model in models]
    return out


class Recorded:
    """A recognizer that keeps the stream texts it wrote, input by input."""

    def __init__(self, recognizer) -> None:
        self.inner, self.model_name, self.kind = (recognizer, recognizer.model_name,
                                                  recognizer.kind)
        self.streams: list[list[str]] = []

    def _keep(self, hyps):
        self.streams += [[s.text for s in h.streams] for h in hyps]
        return hyps

    def recognize(self, audio, prompt=None, on_progress=None):
        return self._keep(self.inner.recognize(audio))

    def recognize_with_counts(self, audio, counts, prompt=None, on_progress=None):
        return self._keep(self.inner.recognize_with_counts(audio, counts))


def load(system: dict):
    """The system's recognizer, ready for `score_mixtures`."""
    from susurrus.infer.registry import load_recognizer

    if system["kind"] != "teacher":
        return load_recognizer(system["model"], system["engine"])
    from susurrus.errors import BadCheckpointError
    from susurrus.models.speech_llm.checkpoint import find_checkpoint, read_model_config

    folder = find_checkpoint(system["model"])
    if folder is None:
        raise BadCheckpointError(f"{system['model']} holds no speech-LLM checkpoint")
    if not read_model_config(folder).sot:
        raise BadCheckpointError(f"{folder} was not trained with model.sot=true")
    # a SOT checkpoint's recognizer writes one stream per talker (susurrus.infer.speech_llm)
    return load_recognizer(str(folder), "torch")


def parameters(system: dict, recognizer) -> tuple[int | None, int | None]:
    """(trained by our recipe: the checkpoint's weights file, total in the loaded model)."""
    import torch
    from safetensors import safe_open

    inner = getattr(recognizer, "inner", recognizer)
    module = next((m for m in (getattr(inner, "model", None),
                               getattr(getattr(inner, "decoder", None), "model", None))
                   if isinstance(m, torch.nn.Module)), None)
    total = None if module is None else sum(p.numel() for p in module.parameters())
    if system["kind"] == "whisper":
        return 0, total  # used as released
    if system["kind"] == "teacher":
        from susurrus.models.speech_llm.checkpoint import WEIGHTS, find_checkpoint
    else:
        from susurrus.models.multitalker.checkpoint import WEIGHTS, find_checkpoint
    with safe_open(str(find_checkpoint(system["model"]) / WEIGHTS), "pt") as f:
        trained = sum(_numel(f.get_slice(k).get_shape()) for k in f.keys())
    return trained, total


def _numel(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def score_system(system: dict, data: Path) -> dict:
    """Load, decode and score both sets (with the oracle count too for a multi-talker model);
    runs in a process of its own (`--worker`)."""
    import torch

    from susurrus.errors import UserError
    from susurrus.evaluate.multitalker import score_mixtures

    t0 = time.perf_counter()
    try:
        recognizer = load(system)
    except UserError as e:  # the teacher's row says why it has no numbers; the others stop
        if system["kind"] != "teacher":
            raise
        return {"system": system, "error": str(e)}
    out = {"system": system, "load_seconds": time.perf_counter() - t0,
           "torch_threads": torch.get_num_threads()}
    out["trained_params"], out["total_params"] = parameters(system, recognizer)
    modes = ("predicted", "oracle") if system["kind"] == "multitalker" else ("predicted",)
    for name in SETS:
        utts, _ = bench_set(data / f"{name}.jsonl")
        for mode in modes:
            rec = Recorded(recognizer)
            s = score_mixtures(rec, utts, oracle_count=mode == "oracle")
            out.setdefault(mode, {})[name] = {
                "by_mixture": s.by_mixture, "talkers": {u.id: talker_count(u) for u in utts},
                "by_count": {str(n): [c.errors, c.ref_words] for n, c in s.by_count.items()},
                "count_correct": s.count.correct, "confusion": [[r, h, k] for (r, h), k
                                                                in s.confusion.items()],
                "audio_seconds": s.audio_seconds, "wall_seconds": s.wall_seconds,
                "streams": dict(zip([u.id for u in utts], rec.streams, strict=True))}
    out["peak_rss_mib"] = peak_rss_mib()
    return out


def peak_rss_mib() -> float:
    """This process's resident-set peak: VmHWM of /proc/self/status, which starts afresh at
    exec (ru_maxrss would carry the parent's peak over: the parent is large under pytest)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def worker_main(argv: list[str]) -> bool:
    """`script.py --worker SYSTEM_JSON DATA OUT`: score one system into OUT (JSON)."""
    if not argv or argv[0] != "--worker":
        return False
    system, data, out = json.loads(argv[1]), Path(argv[2]), Path(argv[3])
    result = score_system(system, data)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(result))
    tmp.replace(out)
    return True


def scored(system: dict, data: Path, cache: Path, fresh: bool) -> dict:
    """The system's cached scores, decoded in a fresh process first unless cached for the same
    model and engine (a checkpoint retrained in the same folder needs `--fresh`)."""
    path = cache / f"{system['key']}.json"
    if not fresh and path.exists():
        fresh = json.loads(path.read_text()).get("system") != system
    if fresh or not path.exists():
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(system),
               str(data), str(path)]
        print("$ score", system["system"], flush=True)
        subprocess.run(cmd, check=True, cwd=ROOT)
    return json.loads(path.read_text())


# -- rows, intervals, table, plot -------------------------------------------------------------

MODES = {"predicted": "count head", "oracle": "oracle count"}


def _rel(model: str) -> str:
    path = Path(model)
    if path.is_absolute() and path.is_relative_to(ROOT):
        return str(path.relative_to(ROOT))  # no machine's path in the JSON
    return model


def set_scores(s: dict) -> dict:
    """One row's scores on one set, from its cached worker output."""
    errors = sum(e for e, _ in s["by_mixture"].values())
    words = sum(w for _, w in s["by_mixture"].values())
    return {"cpwer": errors / words if words else 0.0,
            "by_count": {n: {"cpwer": e / w if w else 0.0, "words": w,
                             "mixtures": sum(1 for k in s["talkers"].values() if str(k) == n)}
                         for n, (e, w) in s["by_count"].items()},
            "count_accuracy": s["count_correct"] / len(s["talkers"]) if s["talkers"] else 0.0,
            "confusion": s["confusion"], "mixtures": len(s["talkers"]),
            "seconds": s["audio_seconds"],
            "rtf": s["wall_seconds"] / s["audio_seconds"] if s["audio_seconds"] else 0.0}


def rows_of(system: dict, result: dict) -> list[dict]:
    """The system's rows: one per way of choosing the count (a teacher that failed: one row)."""
    base = {"system": system["system"], "model": _rel(system["model"]),
            "engine": system["engine"], "kind": system["kind"]}
    if "error" in result:
        return [{**base, "count": "SOT", "error": result["error"]}]
    out = []
    for mode in ("predicted", "oracle"):
        if mode not in result:
            continue
        how = {"whisper": "always 1", "teacher": "SOT"}.get(system["kind"], MODES[mode])
        out.append({**base, "count": how, "error": None,
                    "trained_params": result["trained_params"],
                    "total_params": result["total_params"],
                    "peak_rss_mib": round(result["peak_rss_mib"], 1),
                    **{name: set_scores(result[mode][name]) for name in SETS}})
    return out


def add_intervals(rows: list[dict], raw: list[dict]) -> None:
    """95% bootstrap intervals over mixtures, per talker count and over all, every row on the
    same draws (`raw`: each row's cached per-mixture counts by set)."""
    from susurrus.metrics.bootstrap import bootstrap_wer, interval

    scored_rows = [(i, r) for i, r in enumerate(rows) if not r["error"]]
    for name in SETS:
        talkers = raw[scored_rows[0][0]][name]["talkers"] if scored_rows else {}
        for n in (*[str(c) for c in COUNTS], "all"):
            ids = [m for m, k in talkers.items() if n == "all" or str(k) == n]
            if not ids:
                continue
            samples = bootstrap_wer({str(i): {m: tuple(raw[i][name]["by_mixture"][m])
                                              for m in ids} for i, _ in scored_rows})
            for i, r in scored_rows:
                ci = interval(samples[str(i)])
                if n == "all":
                    r[name]["cpwer_ci95"] = ci
                else:
                    r[name]["by_count"][n]["ci95"] = ci


def same_weights(rows: list[dict]) -> None:
    """faster-whisper runs the torch row's weights converted losslessly (CTranslate2 holds no
    torch module to count): it gets that row's parameter count."""
    counted = {r["model"]: r["total_params"] for r in rows
               if r["kind"] == "whisper" and r.get("total_params")}
    for r in rows:
        if r["kind"] == "whisper" and r.get("total_params") is None:
            r["total_params"] = counted.get(r["model"])


def fmt(v, digits: int = 3) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def with_ci(value: float, ci) -> str:
    return f"{value:.3f} ({ci[0]:.2f}…{ci[1]:.2f})"


def confusion(cells: list) -> str:
    """'ref→hyp n' for every (reference, streams written) pair seen."""
    return ", ".join(f"{r}→{h} {n}" for r, h, n in cells)


def millions(n: int | None) -> str:
    return "–" if n is None else "0" if n == 0 else f"{n / 1e6:.2f} M"


def table(rows: list[dict], name: str) -> list[str]:
    head = ["system", "talkers decoded", *[f"cpWER {n} talker{'s' * (n > 1)} (95% CI)"
                                           for n in COUNTS],
            "cpWER all (95% CI)", "count accuracy", "count confusion (ref→hyp n)", "RTF",
            "params trained / total", "peak RSS (MiB)"]
    lines = ["| " + " | ".join(head) + " |", "|---|---|" + "---:|" * (len(head) - 2)]
    for r in rows:
        if r["error"]:
            lines.append(f"| {r['system']} | {r['count']} | not run: {r['error']} |"
                         + " – |" * (len(head) - 3))
            continue
        s = r[name]
        by = [s["by_count"].get(str(n)) for n in COUNTS]
        cells = [r["system"], r["count"],
                 *[with_ci(b["cpwer"], b["ci95"]) if b else "–" for b in by],
                 with_ci(s["cpwer"], s["cpwer_ci95"]), fmt(s["count_accuracy"]),
                 confusion(s["confusion"]), fmt(s["rtf"]),
                 f"{millions(r['trained_params'])} / {millions(r['total_params'])}",
                 f"{r['peak_rss_mib']:.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def markdown(results: dict) -> str:
    """One table per test set, then what the sets and the columns are."""
    out = []
    for name in SETS:
        info = results["sets"][name]
        counts = ", ".join(f"{k} with {n} talker{'s' * (int(n) > 1)}"
                           for n, k in info["by_count"].items())
        dropped = (f"; {len(info['dropped'])} over {MAX_SECONDS:.0f} s left out"
                   if info["dropped"] else "")
        out += [f"**{name}**", "", *table(results["rows"], name), "",
                f"{info['mixtures']} mixtures ({counts}), {info['seconds'] / 60:.1f} min"
                f"{dropped}.", ""]
    quick = ("Smoke run (`--quick`): a few mixtures per set, not the benchmark's numbers. "
             if results.get("quick") else "")
    out.append(quick + "cpWER: concatenated minimum-permutation WER (Whisper-normalized words), "
               "summed over mixtures; intervals: 95% bootstrap over mixtures, every row on the "
               "same draws. Count accuracy: streams written == talkers. RTF: decoding seconds "
               f"per audio second in batches of 8 on {results['torch_threads']} torch "
               "thread(s), model loading left out. Parameters: trained = in the checkpoint our "
               "recipe wrote (0: used as released), total = in the loaded model (faster-whisper: "
               "the torch row's, the same weights). Peak RSS: the "
               "resident-set peak of the process that loaded the system and decoded both sets.")
    return "\n".join(out) + "\n"


def render(results: dict) -> str:
    return markdown(results)


def plot(rows: list[dict], path: Path) -> None:
    """cpWER by talker count (and over all) of every row, test beside test-ood."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(SETS), figsize=(11, 4), sharey=True)
    xs = [*[str(n) for n in COUNTS], "all"]
    for ax, name in zip(axes, SETS, strict=True):
        for r in (r for r in rows if not r["error"]):
            points = [(k, r[name]["by_count"][n]) if n != "all" else
                      (k, {"cpwer": r[name]["cpwer"], "ci95": r[name]["cpwer_ci95"]})
                      for k, n in enumerate(xs) if n == "all" or n in r[name]["by_count"]]
            x = [k for k, _ in points]
            y = [p["cpwer"] for _, p in points]
            err = [[v - p["ci95"][0] for v, (_, p) in zip(y, points, strict=True)],
                   [p["ci95"][1] - v for v, (_, p) in zip(y, points, strict=True)]]
            ax.errorbar(x, y, yerr=err, marker="o", capsize=3,
                        label=f"{r['system']} ({r['count']})")
        ax.set_xticks(range(len(xs)), [f"{n} talker{'s' * (n != '1')}" if n != "all"
                                       else "all" for n in xs])
        ax.set_title(name)
        ax.set_ylabel("cpWER")
    axes[-1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def set_info(data: Path) -> dict:
    """Each set's size, talker counts and the mixtures left out."""
    info = {}
    for name in SETS:
        utts, dropped = bench_set(data / f"{name}.jsonl")
        by = {}
        for u in utts:
            by[str(talker_count(u))] = by.get(str(talker_count(u)), 0) + 1
        seconds = sum(_seconds(u) for u in utts)
        info[name] = {"mixtures": len(utts), "by_count": dict(sorted(by.items())),
                      "seconds": seconds, "dropped": dropped}
    return info


def _seconds(utt) -> float:
    import soundfile as sf

    if utt.duration is not None:
        return utt.duration
    return sf.info(str(utt.audio)).duration - utt.start


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if render_main(render, argv) or worker_main(argv):
        return
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=labelled, action="append", default=[],
                   help="LABEL=RUN: a multi-talker CTC checkpoint or run (repeatable)")
    p.add_argument("--teacher", help="the LLM-SOT teacher's run (a speech LLM, model.sot)")
    p.add_argument("--whisper", default="whisper-tiny.en", help="the one-stream baseline")
    p.add_argument("--whisper-engines", default=",".join(WHISPER_ENGINES),
                   help="comma-separated engines of the baseline (default: both)")
    p.add_argument("--data", type=Path, help="test sets (default out/mix-bench, with --quick "
                   "out/mix-bench-quick); synthesized when missing")
    p.add_argument("--hours", type=float, default=0.5, help="audio per set when synthesized")
    p.add_argument("--quick", action="store_true",
                   help="a few mixtures per set from the fast TTS engines: a smoke run")
    p.add_argument("--fresh", action="store_true", help="decode every system again")
    p.add_argument("--name", default="multitalker", help="results file stem")
    args = p.parse_args(argv)
    engines = tuple(e for e in args.whisper_engines.split(",") if e)
    if bad := [e for e in engines if e not in WHISPER_ENGINES]:
        p.error(f"--whisper-engines: {bad[0]!r} is not one of {', '.join(WHISPER_ENGINES)}")
    data = args.data or ROOT / "out" / ("mix-bench-quick" if args.quick else "mix-bench")
    if args.quick:
        ensure_mixtures(data, QUICK["hours"], QUICK["engines"], QUICK["min_files"])
    else:
        ensure_mixtures(data, args.hours)
    chosen = systems(args.whisper, engines, args.teacher, args.model)
    results = [scored(s, data, data / "bench", args.fresh) for s in chosen]
    rows, raw = [], []
    for s, res in zip(chosen, results, strict=True):
        for r in rows_of(s, res):
            rows.append(r)
            raw.append(res.get("oracle" if r["count"] == MODES["oracle"] else "predicted"))
    add_intervals(rows, raw)
    same_weights(rows)
    threads = next((r["torch_threads"] for r in results if "torch_threads" in r), None)
    save_results(args.name, {"quick": args.quick, "data": _rel(str(data.resolve())),
                             "torch_threads": threads,
                             "sets": set_info(data), "rows": rows}, render, plot, "cpwer")


if __name__ == "__main__":
    main()
