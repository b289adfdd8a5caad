"""Does the speech LLM work on speech it was not trained on? One table, each lever in turn.

    .venv/bin/python benchmarks/generalization.py [--run runs/speech-llm-generalize]
        [--early-step 200] [--first-pass-run runs/speech-llm-first-pass] [--data out/gen]
        [--phase all|time|eval]

Rows, every one scored on the same audio in one run of this script:
- Whisper tiny.en through the torch and faster-whisper engines (the bar);
- `speech-llm-tiny` as shipped on 2026-11-22: 3 h of templated dialogues from a few voices,
  200 LLM steps;
- lever 1, varied speech and text: `recipes/speech_llm/generalize.yaml` (every engine's voices,
  real news articles read aloud, 2 augmented variants per utterance) at the same 200 steps, its
  checkpoint `--early-step` (kept by `train.keep_every`);
- lever 2, longer training: the same run at its last checkpoint;
- lever 4, a first-pass hypothesis: `recipes/speech_llm/first-pass.yaml` (the shipped
  speech-llm-tiny-v2 trained further to read Whisper tiny.en's own transcript of each turn next
  to the audio) at its last checkpoint, when `--first-pass-run` holds one. Its RTF counts both
  passes;
- lever 4 with the first pass as wrong as the audio: `recipes/speech_llm/first-pass-augmented.yaml`
  (speech-llm-tiny-fp trained further, each augmented variant reading the first pass of its own
  audio) at the last checkpoint of `--first-pass-aug-run`.

Test sets: `susurrus synth conversations --out out/gen/conv --hours 6 --seed 1` gives test and
test-ood of 0.6 h each (test-ood: voices, domains, entities no training run sees), and
`susurrus synth longform --out out/gen/long --hours 2.2 --seed 1` gives news bulletins read
whole (minutes long: the long-audio path) by held-out voices, with held-out articles. WER with a
95% bootstrap interval over whole conversations (bulletins), entity recall of first and repeated
mentions, LLM audio tokens per second, and RTF timed in one sitting (interleaved rounds,
benchmarks/timing.py). Scores are cached per system in `<run>/bench-generalization/`; rerun to
resume. Writes benchmarks/results/generalization.{json,md} and generalization_wer.png;
`--render generalization.json` redraws the table from the JSON alone.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, render_main, run, save_results, susurrus  # noqa: E402
from timing import measure, positive_int  # noqa: E402

from susurrus.evaluate.results import EvalResult  # noqa: E402

SETS = {  # column -> manifest under --data
    "test": "conv/test.jsonl",
    "test-ood": "conv/test-ood.jsonl",
    "news-ood": "long/test-ood.jsonl",
}


# The first shipped speech-llm-tiny (2026-11-22), read from git so that the row stays
# reproducible after the shipped weights are replaced.
OLD_SHIPPED = ("9a1fae2", "src/susurrus/models/shipped/speech-llm-tiny")


def old_shipped_model(out_dir: Path) -> str:
    """The 2026-11-22 speech-llm-tiny as a model folder (extracted from git once)."""
    import subprocess

    commit, folder = OLD_SHIPPED
    target = out_dir / f"speech-llm-tiny-{commit}"
    if not (target / "trained.safetensors").exists():
        target.mkdir(parents=True, exist_ok=True)
        for name in ("recipe.yaml", "trained.safetensors"):
            blob = subprocess.run(["git", "show", f"{commit}:{folder}/{name}"], cwd=ROOT,
                                  check=True, capture_output=True).stdout
            (target / f".{name}.tmp").write_bytes(blob)
            (target / f".{name}.tmp").replace(target / name)
    return str(target)


def systems(run_dir: Path, early: int, last: int, first_pass: Path | None = None,
            first_pass_aug: Path | None = None) -> list[dict]:
    """Every row: label, lever, what `susurrus eval --model` gets, engine."""
    ckpt = run_dir / "checkpoints"
    extra = []
    from susurrus.train.run import latest_checkpoint

    for folder, name, lever, key in (
            (first_pass, "first-pass recipe", "+ Whisper's hypothesis as input", "first-pass"),
            (first_pass_aug, "first-pass-augmented recipe",
             "+ each augmented variant's own hypothesis", "first-pass-aug")):
        fp = (latest_checkpoint(folder) if folder is not None
              and (folder / "checkpoints").is_dir() else None)
        if fp is not None:
            steps = int(fp.name.removeprefix("step-"))
            extra.append({"system": f"{name}, step {steps}",
                          "lever": f"{lever} ({steps} more steps)",
                          "model": str(fp), "engine": "torch", "key": f"{key}-{steps}",
                          # the LLM's own text, as these rows were measured (before the joint
                          # choice: benchmarks/first_pass.py compares the two)
                          "eval_args": ("--first-pass-choice", "llm")})
    return [
        {"system": "Whisper tiny.en (torch)", "lever": "baseline", "model": "whisper-tiny.en",
         "engine": "torch", "key": "whisper-torch"},
        {"system": "Whisper tiny.en (faster-whisper)", "lever": "baseline",
         "model": "whisper-tiny.en", "engine": "faster-whisper", "key": "whisper-fw"},
        {"system": "speech-llm-tiny (shipped 2026-11-22)",
         "lever": "3 h templated dialogues, few voices, 200 steps",
         "model": old_shipped_model(run_dir / "bench-generalization"), "engine": "torch",
         "key": "shipped-old"},
        {"system": f"generalize recipe, step {early}",
         "lever": "+ every voice, news text, augmentation (same 200 steps)",
         "model": str(ckpt / f"step-{early:07d}"), "engine": "torch", "key": f"step-{early}"},
        {"system": f"generalize recipe, step {last}", "lever": f"+ longer training ({last} steps)",
         "model": str(ckpt / f"step-{last:07d}"), "engine": "torch", "key": f"step-{last}"},
        *extra,
    ]


def evaluate(system: dict, data: Path, out_dir: Path, decode: bool = True,
             sets: dict[str, str] = SETS) -> dict[str, EvalResult | None]:
    """Each set's results (decoded now unless cached; with `decode` off a missing one is None)."""
    out: dict[str, EvalResult | None] = {}
    for name, rel in sets.items():
        path = out_dir / system["key"] / f"{name}.json"
        if not path.exists() and not decode:
            out[name] = None
            continue
        if not path.exists():
            run(susurrus("eval", "--manifest", str(data / rel), "--model", system["model"],
                         "--engine", system["engine"], "--out", str(path), "--no-ner",
                         "--quiet", *system.get("eval_args", ())))
        out[name] = EvalResult.from_json(path.read_text())
    return out


def row(system: dict, res: dict[str, EvalResult | None], timed: dict | None) -> dict:
    r = {k: system[k] for k in ("system", "lever", "model", "engine")}
    if Path(r["model"]).is_absolute() and Path(r["model"]).is_relative_to(ROOT):
        r["model"] = str(Path(r["model"]).relative_to(ROOT))  # no machine's path in the JSON
    for name, e in res.items():
        if e is None:
            r[name] = None
            continue
        r[name] = {"wer": e.wer, "entity_first": e.entity_recall_first,
                   "entity_repeat": e.entity_recall_repeat, "entity": e.entity_recall,
                   "conversations": len(e.counts.wer_by_session), "words": e.n_words,
                   "seconds": e.counts.cost.audio_seconds, "suspect_windows": e.suspect_windows}
    scored = next((e for e in res.values() if e is not None), None)
    r["tokens_per_second"] = scored.llm_audio_tokens_per_second if scored else None
    r["rtf"] = timed["rtf"] if timed else None
    return r


def add_intervals(rows: list[dict], evals: list[dict[str, EvalResult]],
                  sets: dict[str, str] = SETS) -> None:
    """95% bootstrap intervals over whole conversations, and each row's paired WER difference
    from the first row (here Whisper tiny.en, torch)."""
    from susurrus.metrics.bootstrap import bootstrap_wer, interval

    for name in sets:
        have = [(r, e[name]) for r, e in zip(rows, evals, strict=True) if e[name] is not None]
        samples = bootstrap_wer({r["system"]: e.counts.wer_by_session for r, e in have})
        base = samples.get(rows[0]["system"])
        for r, _ in have:
            r[name]["wer_ci95"] = interval(samples[r["system"]])
            if base is not None:
                r[name]["vs_whisper_ci95"] = interval(samples[r["system"]] - base)


def learning_curve(run_dir: Path) -> dict[str, list]:
    """The run's training loss (mean of each 50 logged steps) and validation WER by step, from
    its log.jsonl (the last value of a step wins: a resumed run logs some steps twice)."""
    loss, wer = {}, {}
    for line in (run_dir / "log.jsonl").read_text().splitlines():
        entry = json.loads(line)
        if "loss" in entry:
            loss[entry["step"]] = entry["loss"]
        if "valid_wer" in entry:
            wer[entry["step"]] = entry["valid_wer"]
    buckets: dict[int, list[float]] = {}
    for step, value in loss.items():
        buckets.setdefault((step - 1) // 50 * 50 + 50, []).append(value)
    return {"loss": [[s, round(sum(v) / len(v), 4)] for s, v in sorted(buckets.items())],
            "valid_wer": [[s, w] for s, w in sorted(wer.items())]}


def fmt(v, digits: int = 3) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def wer_cells(r: dict, sets) -> list[str]:
    """A row's 'WER (95% CI)' cell of each set ('not run' where it was not decoded)."""
    cells = []
    for name in sets:
        if r[name] is None:
            cells.append("not run")
            continue
        lo, hi = r[name]["wer_ci95"]
        cells.append(f"{r[name]['wer']:.3f} ({lo:.2f}…{hi:.2f})")
    return cells


def markdown(results: dict) -> str:
    rows = results["rows"]
    head = ["system", "lever"] + [f"WER {n} (95% CI)" for n in SETS] + [
        "entity recall first / repeat (test-ood)", "suspect windows", "LLM audio tokens/s", "RTF"]
    lines = ["| " + " | ".join(head) + " |", "|---|---|" + "---:|" * (len(head) - 2)]
    for r in rows:
        cells = [r["system"], r["lever"]] + wer_cells(r, SETS)
        o = r["test-ood"]
        cells += [f"{fmt(o['entity_first'], 2)} / {fmt(o['entity_repeat'], 2)}" if o else "–",
                  str(sum(r[name]["suspect_windows"] for name in SETS if r[name])),
                  fmt(r["tokens_per_second"], 1), fmt(r["rtf"])]
        lines.append("| " + " | ".join(cells) + " |")
    first = {n: next(r[n] for r in rows if r[n]) for n in SETS}
    sizes = ", ".join(f"{n} {first[n]['conversations']} recordings, {first[n]['words']} words, "
                      f"{first[n]['seconds'] / 60:.0f} min" for n in SETS)
    t = results["timing"]
    timing = (f"RTF: each utterance's fastest decode in {t['rounds']} interleaved rounds over the "
              f"first {t['utterances']} test utterances ({t['audio_seconds']:.0f} s), all systems"
              f" in one sitting ({t['started']}; {t['machine']['processor']}, "
              f"{t['machine']['torch_threads']} torch threads)." if t else "RTF: not timed.")
    curve = results.get("learning_curve", {}).get("valid_wer", [])
    learned = ("Validation WER of the generalize run (64 dev turns, in-domain voices) by step: "
               + ", ".join(f"{s}: {w:.3f}" for s, w in curve) + ". ") if curve else ""
    return ("\n".join(lines) + f"\n\n{learned}Sets: {sizes}. Intervals: 95% bootstrap over whole "
            "recordings (conversations, bulletins). news-ood: minutes-long readings of held-out"
            " articles by held-out voices, decoded whole (the long-audio path). Suspect windows: "
            "windows the speech LLM reported (no text, too little, a loop, the length limit), "
            "over all three sets; scored as they came. " + timing
            + (" \"not run\": not decoded in that session (no CPU time left)." if any(
                r[n] is None for r in rows for n in SETS) else "") + "\n")


def render(results: dict) -> str:
    return markdown(results)


def plot(rows: list[dict], path: Path, curve: dict | None = None,
         sets: list[str] | None = None) -> None:
    """WER of every row on every set (with intervals, where a set has them); beside it the
    run's learning curve. `sets`: the columns (default: this script's sets the rows hold)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = sets or [n for n in SETS if n in rows[0]]
    fig, (ax, lc) = plt.subplots(1, 2, figsize=(13, 3.8), width_ratios=(2, 1))
    width = 0.8 / len(sets)
    for k, name in enumerate(sets):
        xs = [i + k * width for i in range(len(rows))]
        ys = [r[name]["wer"] if r[name] else 0.0 for r in rows]
        cis = [(r[name]["wer_ci95"] or (y, y)) if r[name] else (y, y)
               for y, r in zip(ys, rows, strict=True)]
        err = [[y - lo for y, (lo, _) in zip(ys, cis, strict=True)],
               [hi - y for y, (_, hi) in zip(ys, cis, strict=True)]]
        ax.bar(xs, ys, width, yerr=err, capsize=2, label=name)
    ax.set_xticks([i + width * (len(sets) - 1) / 2 for i in range(len(rows))])
    ax.set_xticklabels([r["system"].replace(" (", "\n(").replace(", step", "\nstep")
                        for r in rows], fontsize=7)
    ax.set_ylabel("WER")
    ax.legend(fontsize=8)
    if curve:
        lc.plot(*zip(*curve["loss"], strict=True), label="training loss (mean of 50 steps)")
        if curve["valid_wer"]:
            lc2 = lc.twinx()
            lc2.plot(*zip(*curve["valid_wer"], strict=True), "o-", color="C3",
                     label="validation WER")
            lc2.set_ylabel("validation WER")
            lc2.legend(fontsize=7, loc="upper center")
        lc.set_xlabel("LLM step")
        lc.set_ylabel("loss")
        lc.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    if render_main(render):
        return
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", type=Path, default=ROOT / "runs" / "speech-llm-generalize")
    p.add_argument("--early-step", type=int, default=200)
    p.add_argument("--last-step", type=int, default=0, help="default: the run's last checkpoint")
    p.add_argument("--first-pass-run", type=Path, default=ROOT / "runs" / "speech-llm-first-pass",
                   help="lever 4's run (its last checkpoint is a row when it has one)")
    p.add_argument("--first-pass-aug-run", type=Path,
                   default=ROOT / "runs" / "speech-llm-first-pass-aug",
                   help="lever 4 with each augmented variant's own first pass "
                        "(recipes/speech_llm/first-pass-augmented.yaml)")
    p.add_argument("--data", type=Path, default=ROOT / "out" / "gen")
    p.add_argument("--phase", choices=("all", "time", "eval"), default="all")
    p.add_argument("--no-decode", action="store_true",
                   help="table of the results already decoded; the others show 'not run'")
    p.add_argument("--time-utterances", type=positive_int, default=10)
    p.add_argument("--time-rounds", type=positive_int, default=3)
    args = p.parse_args()

    from susurrus.train.run import latest_checkpoint

    missing = [str(args.data / rel) for rel in SETS.values() if not (args.data / rel).exists()]
    if missing:
        raise SystemExit(f"missing test sets {', '.join(missing)}: make them with the synth "
                         "commands in this script's docstring")
    last = args.last_step or int(latest_checkpoint(args.run).name.removeprefix("step-"))
    rows_in = systems(args.run, args.early_step, last, args.first_pass_run,
                      args.first_pass_aug_run)
    for s in rows_in[2:]:
        if not Path(s["model"]).exists():
            raise SystemExit(f"{s['model']}: no such checkpoint (train.keep_every keeps them)")
    out_dir = args.run / "bench-generalization"
    timing_path = out_dir / f"timing-{'-'.join(s['key'] for s in rows_in[3:])}.json"
    if args.phase in ("all", "time"):
        named = {s["key"]: (s["model"], s["engine"]) for s in rows_in}
        timing = measure(named, args.data / SETS["test"], args.time_utterances, args.time_rounds)
        out_dir.mkdir(parents=True, exist_ok=True)
        timing_path.write_text(json.dumps(timing, indent=1))
    if args.phase == "time":
        return
    timing = json.loads(timing_path.read_text()) if timing_path.exists() else {}
    evals = [evaluate(s, args.data, out_dir, decode=not args.no_decode) for s in rows_in]
    rows = [row(s, e, timing.get("systems", {}).get(s["key"]))
            for s, e in zip(rows_in, evals, strict=True)]
    add_intervals(rows, evals)
    sitting = {k: v for k, v in timing.items() if k != "systems"}
    if Path(sitting.get("manifest", "")).is_relative_to(ROOT):  # no machine's path in the JSON
        sitting["manifest"] = str(Path(sitting["manifest"]).relative_to(ROOT))
    curve = learning_curve(args.run)
    save_results("generalization", {"timing": sitting, "rows": rows, "learning_curve": curve,
                                    "run": str(args.run.relative_to(ROOT))
                                    if args.run.is_relative_to(ROOT) else str(args.run)},
                 render, lambda r, p: plot(r, p, curve), "wer")


if __name__ == "__main__":
    main()
