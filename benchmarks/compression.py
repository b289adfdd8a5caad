"""Audio-token compression (paper 001): every compressor at 50, 25, ~16.7, 12.5 and 10 tokens/s.

    .venv/bin/python benchmarks/compression.py [--steps 1500] [--compressors stack,avgpool,...]
        [--rates 50,25,16.7,12.5,10] [--test-dir out/demo/corpus] [key=value ...]

Each (compressor, rate) trains the default recipe (`recipes/speech_llm/default.yaml`) with the
same data, steps and seed, changing only the compressor; then every system, and Whisper tiny.en
through the torch and faster-whisper engines, is scored on the same test and test-ood audio.
Every step is a `susurrus` command run in its own process (so peak memory is per system) and
every step resumes: rerun the same command after an interruption. Prints one table and writes
benchmarks/results/compression.{md,json} and compression_wer.png. The JSON holds everything the
table shows (rows, steps, overrides, the timing sitting); `render` makes the table from it, so
`python benchmarks/compression.py --render benchmarks/results/compression.json` redraws it.

At 50 tokens/s (k = 1) `stack`, `avgpool` and `segment` are all the identity and have no
parameters, so with the same seed and data they are one model: it is trained once, as the
no-compression system `none`, and is the k = 1 point of all three curves. `query` keeps its own
run at every rate (its cross-attention has parameters at any window).

Three phases, each resumable, `--phase all` (the default) runs them in turn:
- `train` trains every system (a long run can be split over several sittings, or run while the
  machine is busy);
- `time` times every finished system and Whisper in one sitting on a quiet machine: the first
  `--time-utterances` test utterances, `--time-rounds` interleaved rounds, each utterance's
  fastest decode (benchmarks/timing.py; one decode pass is too noisy to compare systems by). It
  writes `timing-<steps>steps.json` in the runs folder; run it again after training more;
- `eval` scores the finished systems (the table names the others) and writes the table, with the
  RTF of the last timing sitting. Scores are deterministic and cached in each run's
  `eval-<steps>steps/` folder (and `whisper-*/`).

Extra `key=value` arguments are recipe overrides given to every training run (e.g.
`data.synth_hours=1 train.batch_seconds=120`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    RECIPE,
    ROOT,
    ensure_test_data,
    render_main,
    run,
    save_results,
    susurrus,
)
from timing import measure, positive_int  # noqa: E402

from susurrus.evaluate.results import EvalResult  # noqa: E402

FRAMES_PER_SECOND = 50.0  # Whisper encoder frames per second


def options_for(compressor: str, rate: float) -> dict:
    """Compressor options giving `rate` tokens per second from 50 encoder frames per second."""
    k = round(FRAMES_PER_SECOND / rate)
    if abs(FRAMES_PER_SECOND / k - rate) > 0.5:
        raise SystemExit(f"rate {rate}: not 50/k for an integer k")
    if compressor == "query":
        return {"num_queries": 1, "window": k}
    return {"k": k}


IDENTITY_AT_K1 = ("stack", "avgpool", "segment")  # no parameters; k = 1 passes frames through


def plan(compressors: list[str], rates: list[float], runs: Path) -> list[tuple[str, dict, Path]]:
    """(compressor, options, run folder) of every system to train, the k = 1 identities once."""
    systems, seen = [], set()
    for comp in compressors:
        for rate in rates:
            name, opts = comp, options_for(comp, rate)
            if opts.get("k") == 1 and comp in IDENTITY_AT_K1:
                name = "none"
            if (name, rate) not in seen:
                seen.add((name, rate))
                systems.append((name, opts, runs / f"{name}-{rate:g}"))
    return systems


def train_command(comp: str, opts: dict, run_dir: Path, steps: int, overrides: list[str]):
    model_comp = "stack" if comp == "none" else comp  # stack with k = 1 is the identity
    return susurrus("train", str(RECIPE), f"model.compressor={model_comp}",
                    f"model.compressor_options={json.dumps(opts)}", f"train.steps={steps}",
                    f"train.out={run_dir}", "--quiet", *overrides)


def trained_steps(run_dir: Path) -> int:
    """Optimizer steps of the run's last checkpoint (0 when it has none)."""
    from susurrus.train.run import latest_checkpoint

    last = latest_checkpoint(run_dir)
    return int(last.name.split("-")[1]) if last else 0


def evaluate(model: str, engine: str, test_dir: Path, out_dir: Path) -> dict[str, EvalResult]:
    rows = {}
    for split in ("test", "test-ood"):
        out = out_dir / f"{split}.json"
        if out.exists() and not EvalResult.from_json(out.read_text()).counts.wer_by_session:
            print(f"{out}: scored before WER intervals existed; decoding it again")
            out.unlink()
            Path(f"{out}.hyps.jsonl").unlink(missing_ok=True)  # its timings are of that sitting
        if not out.exists():
            run(susurrus("eval", "--manifest", str(test_dir / f"{split}.jsonl"), "--model", model,
                         "--engine", engine, "--out", str(out), "--no-ner", "--quiet"))
        rows[split] = EvalResult.from_json(out.read_text())
    return rows


def row(system: str, compressor: str, tokens_per_second: float | None,
        res: dict[str, EvalResult], timed: dict | None = None) -> dict:
    """One system's table row from its scores (`res`) and its timing-phase entry (`timed`)."""
    t, o = res["test"], res["test-ood"]
    return {"system": system, "compressor": compressor, "tokens_per_second": tokens_per_second,
            "wer_test": t.wer, "wer_ood": o.wer,
            "entity_first_test": t.entity_recall_first,
            "entity_repeat_test": t.entity_recall_repeat,
            "entity_recall_ood": o.entity_recall,
            "rtf": timed["rtf"] if timed else None,
            "rtf_by_round": timed["rtf_by_round"] if timed else None,
            # the scoring pass's own RTF (one pass, whatever sitting it ran in)
            "rtf_scoring_pass": (t.rtf + o.rtf) / 2,
            "peak_memory_mb": max(t.peak_memory_mb, o.peak_memory_mb),
            "size": {split: (len(r.counts.wer_by_session), r.n_words)
                     for split, r in res.items()}}


def add_intervals(rows: list[dict], evals: list[dict[str, EvalResult]]) -> None:
    """95% intervals of each row's WER (bootstrapping whole conversations), and, when the
    no-compression system is in the table, each row's paired WER difference from it."""
    from susurrus.metrics.bootstrap import bootstrap_wer, interval

    ref = next((r["system"] for r in rows if r["compressor"] == "none"), None)
    for split, key in (("test", "wer_test"), ("test-ood", "wer_ood")):
        samples = bootstrap_wer({r["system"]: e[split].counts.wer_by_session
                                 for r, e in zip(rows, evals, strict=True)})
        base = next((r[key] for r in rows if r["system"] == ref), None)
        for r in rows:
            r[f"{key}_ci95"] = interval(samples[r["system"]])
            if ref is not None:
                r[f"{key}_vs_none"] = r[key] - base
                r[f"{key}_vs_none_ci95"] = interval(samples[r["system"]] - samples[ref])


def with_ci(r: dict, key: str, sign: str = "") -> str:
    lo, hi = r[f"{key}_ci95"]
    return f"{r[key]:{sign}.3f} ({lo:{sign}.2f}…{hi:{sign}.2f})"


def fmt(v, digits=3) -> str:
    return "–" if v is None else f"{v:.{digits}f}" if isinstance(v, float) else str(v)


def busy(m: dict) -> str:
    """What else ran when the timing sitting started."""
    if "busy_cpus_at_start" in m:
        return f"{m['busy_cpus_at_start']:.1f} CPUs busy with other work at the start"
    return f"1-min load average {m['load_average_at_start']:.1f} at the start"  # older files


def timing_note(rows: list[dict], timing: dict) -> str:
    if not timing:
        return "RTF: not timed yet (`--phase time`).\n"
    m = timing["machine"]
    note = (f"RTF: each utterance's fastest decode in {timing['rounds']} interleaved rounds, over "
            f"the first {timing['utterances']} test utterances ({timing['audio_seconds']:.0f} s),"
            f" every system in one sitting ({timing['started']}; {m['processor']}, "
            f"{m['torch_threads']} torch threads, {busy(m)}).")
    if any(r["rtf"] is None for r in rows):
        note += " RTF –: trained after that sitting; `--phase time` times all of them again."
    return note + "\n"


def markdown(rows: list[dict], steps: int, overrides: list[str], timing: dict) -> str:
    vs_none = any("wer_test_vs_none" in r for r in rows)
    head = ("| system | compressor | LLM audio tokens/s | WER test (95% CI) | "
            "WER test-ood (95% CI) | " + ("WER test − none (95% CI) | " if vs_none else "")
            + "entity recall first / repeat (test) | entity recall (ood) | RTF | peak MB |")
    rule = "|---|---|---:|---:|---:|" + ("---:|" if vs_none else "") + "---:|---:|---:|---:|"
    lines = [head, rule]
    for r in rows:
        delta = ""
        if vs_none:
            rel = r["wer_test_vs_none"] / (r["wer_test"] - r["wer_test_vs_none"])
            delta = f"{with_ci(r, 'wer_test_vs_none', '+')} {rel:+.0%} | "
        lines.append(
            f"| {r['system']} | {r['compressor']} | {fmt(r['tokens_per_second'], 1)} | "
            f"{with_ci(r, 'wer_test')} | {with_ci(r, 'wer_ood')} | {delta}"
            f"{fmt(r['entity_first_test'], 2)} / {fmt(r['entity_repeat_test'], 2)} | "
            f"{fmt(r['entity_recall_ood'], 2)} | {fmt(r['rtf'])} | "
            f"{fmt(r['peak_memory_mb'], 0)} |")
    budget = f"{steps} training steps" + (f" ({', '.join(overrides)})" if overrides else "")
    return ("\n".join(lines) + f"\n\nSpeech LLMs: {budget} each, same data and seed. "
            "Intervals: 95% bootstrap over whole conversations (paired for the difference "
            "from `none`, the uncompressed system: stack = avgpool = segment at k = 1) of "
            + " and ".join(f"{split}'s {n} conversations ({w} words)"
                           for split, (n, w) in rows[0]["size"].items())
            + "; with so few conversations they are rough, and likely too narrow. "
            + timing_note(rows, timing))


def render(results: dict) -> str:
    """The table (compression.md) from what `main` writes to compression.json."""
    table = markdown(results["rows"], results["steps"], results["overrides"], results["timing"])
    if results["unfinished"]:
        table += f"Not trained yet, so not in this table: {', '.join(results['unfinished'])}.\n"
    return table


def plot(rows: list[dict], path: Path) -> None:
    """WER against LLM audio tokens/s, test and test-ood side by side; Whisper as lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, NullLocator

    markers = {"stack": "o", "avgpool": "s", "segment": "^", "query": "D"}
    speech_llms = [r for r in rows if r["tokens_per_second"]]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, split in zip(axes, ("wer_test", "wer_ood"), ("test", "test-ood"), strict=True):
        for comp in sorted({r["compressor"] for r in speech_llms} - {"none"}):
            # `none` (k = 1) is the first point of every curve whose k = 1 is the identity
            of = {comp, "none"} if comp in IDENTITY_AT_K1 else {comp}
            pts = sorted((r["tokens_per_second"], r[key]) for r in speech_llms
                         if r["compressor"] in of)
            ax.plot([x for x, _ in pts], [y for _, y in pts], marker=markers.get(comp, "o"),
                    markerfacecolor="none", label=comp)
        for r in speech_llms:
            if r["compressor"] == "none":
                ax.plot(r["tokens_per_second"], r[key], "ks", label="none (k=1)")
        for r, style in zip((r for r in rows if not r["tokens_per_second"]), ("--", ":"),
                            strict=False):
            ax.axhline(r[key], color="gray", linestyle=style, linewidth=1, label=r["system"])
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(FixedLocator([10, 12.5, 50 / 3, 25, 50]))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticklabels(["10", "12.5", "16.7", "25", "50"])
        ax.set_xlim(55, 9)  # fewer tokens to the right
        ax.set_xlabel("LLM audio tokens per second (log)")
        ax.set_ylabel(f"WER ({split})")
        ax.set_title(split)
    handles, labels = axes[0].get_legend_handles_labels()  # below the panels, off the points
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(path, dpi=120)


def finished(systems: list, steps: int) -> tuple[list, list[str]]:
    """The systems trained to `steps`, and the names of those not yet; refuses runs trained
    past `steps` (they would break the equal budget)."""
    done = {d: trained_steps(d) for _, _, d in systems}
    past = [f"{d} ({n})" for d, n in done.items() if n > steps]
    if past:
        raise SystemExit(f"trained past --steps {steps}: {', '.join(past)}; give their "
                         "step count or another --runs folder, so every system has one budget")
    unfinished = [d.name for d, n in done.items() if n < steps]
    if unfinished:
        print(f"not trained to {steps} steps yet, left out: {', '.join(unfinished)}")
    return [s for s in systems if s[2].name not in unfinished], unfinished


WHISPER_ENGINES = ("torch", "faster-whisper")


def time_phase(systems: list, args) -> None:
    """Every finished system and Whisper timed in one sitting, in interleaved rounds."""
    named = {f"whisper-{e}": ("whisper-tiny.en", e) for e in WHISPER_ENGINES}
    named |= {run_dir.name: (str(run_dir), "torch") for _, _, run_dir in systems}
    res = measure(named, args.test_dir / "test.jsonl", args.time_utterances, args.time_rounds)
    res["steps"] = args.steps
    args.runs.mkdir(parents=True, exist_ok=True)
    timing_file(args).write_text(json.dumps(res, indent=1))


def timing_file(args) -> Path:
    return args.runs / f"timing-{args.steps}steps.json"


def read_timing(args) -> dict:
    path = timing_file(args)
    return json.loads(path.read_text()) if path.exists() else {}


def main() -> None:
    if render_main(render):  # --render RESULTS.json: the table again, from the JSON alone
        return
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=1500, help="training steps of every system")
    p.add_argument("--compressors", default="stack,avgpool,segment,query")
    p.add_argument("--rates", default="50,25,16.7,12.5,10", help="audio tokens per second")
    p.add_argument("--test-dir", type=Path, default=ROOT / "out" / "demo" / "corpus")
    p.add_argument("--runs", type=Path, default=ROOT / "runs" / "bench-compression")
    p.add_argument("--name", default="compression", help="results file stem")
    p.add_argument("--phase", choices=("all", "train", "time", "eval"), default="all",
                   help="train only, time finished systems only, score them and write the table "
                        "only, or all three (default)")
    p.add_argument("--time-utterances", type=positive_int, default=10,
                   help="timing: the first N test utterances")
    p.add_argument("--time-rounds", type=positive_int, default=3,
                   help="timing: interleaved rounds; each utterance's fastest counts")
    p.add_argument("overrides", nargs="*", help="recipe overrides for every training run")
    args = p.parse_args()

    ensure_test_data(args.test_dir)
    systems = plan(args.compressors.split(","), [float(r) for r in args.rates.split(",")],
                   args.runs)
    # Train every system first, then time them, then score them: other work on the machine
    # while the (long) training phase runs does not touch the timings, which all come from one
    # sitting of the timing phase.
    if args.phase in ("all", "train"):
        for comp, opts, run_dir in systems:
            run(train_command(comp, opts, run_dir, args.steps, args.overrides))
    if args.phase == "train":
        return
    systems, unfinished = finished(systems, args.steps)
    if args.phase in ("all", "time"):
        time_phase(systems, args)
    if args.phase == "time":
        return
    timing = read_timing(args)
    rows, evals = [], []
    for engine in WHISPER_ENGINES:
        evals.append(evaluate("whisper-tiny.en", engine, args.test_dir,
                              args.runs / f"whisper-{engine}"))
        rows.append(row(f"Whisper tiny.en ({engine})", "–", None, evals[-1],
                        timing.get("systems", {}).get(f"whisper-{engine}")))
    for comp, opts, run_dir in systems:
        evals.append(evaluate(str(run_dir), "torch", args.test_dir,
                              run_dir / f"eval-{args.steps}steps"))
        measured = evals[-1]["test"].llm_audio_tokens_per_second
        rows.append(row(f"speech LLM ({comp}, {opts})", comp, measured, evals[-1],
                        timing.get("systems", {}).get(run_dir.name)))
    add_intervals(rows, evals)
    # the sitting's own numbers; each system's RTF is in its row
    sitting = {k: v for k, v in timing.items() if k != "systems"}
    results = {"steps": args.steps, "overrides": args.overrides, "timing": sitting,
               "unfinished": unfinished, "rows": rows}
    save_results(args.name, results, render, plot, "wer")


if __name__ == "__main__":
    main()
