"""Paper 002: does distilling an LLM into Whisper beat plain fine-tuning on long transcripts?

    .venv/bin/python benchmarks/distill_whisper.py [--steps 200] [--data out/gen]
        [--phase all|teacher|train|eval] [--no-ner]

Rows, every one scored on the same audio in one run of this script:
- zero-shot Whisper tiny.en through the torch and faster-whisper engines (the bar);
- five students of `recipes/whisper_distill/tiny.yaml`, the same data, steps and seed (the
  teacher, SmolLM2-135M-Instruct, first adapted by `recipes/whisper_distill/teacher.yaml`):
  CE-only fine-tuning (`model.ot=0 model.rep=0`), CE + token OT (`model.rep=0`),
  CE + representation (`model.ot=0`; and its ablation with the embedded MiniLM's embedding of
  the window's text as the target instead of the teacher's context vector), CE + both, and
  CE + representation trained on voice- and channel-augmented windows (2 variants each), and
  that again with the training conversations added as whole recordings (the one row whose
  training data differs: conv/train's conversations, every turn in one file, cut into windows
  like the readings).

Test sets (from `susurrus synth longform --out out/gen/long --hours 2.2 --seed 1` and
`susurrus synth conversations --out out/gen/conv --hours 6 --seed 1`): long/test (news
bulletins read whole by training voices), long/test-ood (held-out voices and articles), the same
through a bad room and line (DEGRADE: made once into long-degraded/) and conv/test-ood (short
conversational turns, which must not get worse). Each recording is scored
whole, never truncated (the authors' scorer stops at the first run of 30 deletions; this one does
not). Columns: WER and cased WER with 95% bootstrap intervals over whole recordings,
punctuation F1, capitalization F1, NER F1 (spaCy), entity recall, RTF (from eval's own timing),
and punctuation F1 per mark (full stop, comma, question mark).

The teacher cache is computed once (`susurrus distill-teacher`), each student trains into
`runs/distill-<variant>` (resumable), each eval is cached under `runs/bench-distill/`; rerun to
resume. Writes benchmarks/results/distill_whisper.{json,md} and distill_whisper_wer.png;
`--render distill_whisper.json` redraws the table from the JSON alone.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, render_main, run, save_results, susurrus  # noqa: E402

RECIPE = ROOT / "recipes" / "whisper_distill" / "tiny.yaml"
TEACHER_RECIPE = ROOT / "recipes" / "whisper_distill" / "teacher.yaml"  # its LoRA adaptation
MARKS = (".", ",", "?")  # the marks the paper reports one by one
SHIPPED = "whisper-tiny.en-distilled"  # the embedded student: the "ce-rep" run, exported
SETS = {  # column -> manifest under --data
    "long-test": "long/test.jsonl",
    "long-test-ood": "long/test-ood.jsonl",
    "long-test-ood-degraded": "long-degraded/test-ood.jsonl",  # made by `degrade`
    "conv-test-ood": "conv/test-ood.jsonl",
}
# The degraded copy of long/test-ood: a bad room and line that no training window had in this
# combination (reverberation, then pink noise at 10 dB SNR, then a 16 kbit/s MP3), the same
# chain for every recording, trimmed to its length.
# The systems each set is decoded for (default: every one), and how many of its recordings
# (default: all). The degraded set asks whether the augmentation lever bought robustness: the
# shipped student with and without it, beside zero-shot Whisper. On that audio Whisper's
# temperature fallback makes decoding ~10x slower than on clean speech (RTF above 1 on 2
# cores), so its first 2 readings (8.5 min) are what fits a CPU session.
ONLY = {"long-test-ood-degraded": ("whisper-fw", "ce-rep", "ce-rep-aug")}
LIMIT = {"long-test-ood-degraded": 2}
DEGRADE = (("reverb", {"rt60": 0.5, "seed": 11}), ("noise", {"kind": "pink", "snr_db": 10.0,
                                                            "seed": 12}),
           ("codec", {"codec": "mp3", "kbps": 16}))
VARIANTS = {  # key -> (label, overrides of the recipe, reads the teacher)
    "ce": ("CE-only fine-tuning", ["model.ot=0", "model.rep=0"], False),
    "ce-ot": ("CE + token OT", ["model.rep=0"], True),
    "ce-rep": ("CE + representation", ["model.ot=0"], True),
    "ce-rep-sentence": ("CE + representation (MiniLM target)",
                        ["model.ot=0", "model.rep_target=sentence"], False),
    "ce-ot-rep": ("CE + OT + representation", [], True),
    # the shipped student's losses, its windows augmented (voice and channel: speed, tempo,
    # pitch, reverb, noise, band-limit, telephone, codec; susurrus.data.augment's defaults)
    "ce-rep-aug": ("CE + representation + augmentation",
                   ["model.ot=0", "data.augment.variants=2", "data.augment.seed=1"], True),
    # the same, trained on whole conversations too: conv/train's recordings (every turn of a
    # conversation in one file, two voices) cut into windows like the readings (a data lever:
    # the only row whose training data differs)
    "ce-rep-aug-conv": ("CE + representation + augmentation + conversations",
                        ["model.ot=0", "data.augment.variants=2", "data.augment.seed=1"], True),
}
TRAIN_SETS = {  # variant -> its training manifests under --data (default: the readings alone)
    "ce-rep-aug-conv": ("long/train-segments.jsonl", "conv/train.jsonl"),
}
READINGS = ("long/train-segments.jsonl",)


def systems(runs: Path) -> list[dict]:
    """Every row: label, what `susurrus eval --model` gets, engine, cache key."""
    rows = [{"system": "Whisper tiny.en zero-shot (torch)", "model": "whisper-tiny.en",
             "engine": "torch", "key": "whisper-torch"},
            {"system": "Whisper tiny.en zero-shot (faster-whisper)", "model": "whisper-tiny.en",
             "engine": "faster-whisper", "key": "whisper-fw"}]
    rows += [{"system": label, "model": str(runs / f"distill-{key}"), "engine": "torch",
              "key": key} for key, (label, _, _) in VARIANTS.items()]
    # what users get: the shipped overlay (SHIPPED's run, int8 deltas) through CTranslate2
    rows.append({"system": f"{SHIPPED} (shipped, faster-whisper)", "model": SHIPPED,
                 "engine": "faster-whisper", "key": "shipped-fw"})
    return rows


def train_all(data: Path, runs: Path, steps: int, teacher_only: bool = False) -> None:
    """The teacher adapted (LoRA, `teacher.yaml`) and its cache computed once, then every
    variant with the same data, steps and seed (those that read no teacher are not told of
    it)."""
    def paths(train: tuple[str, ...]) -> list[str]:
        return [f"data.train=[{','.join(str(data / t) for t in train)}]",
                f"data.valid={data / 'long' / 'dev-segments.jsonl'}"]

    adapter = runs / "teacher-lora"
    run(susurrus("train", str(TEACHER_RECIPE), *paths(READINGS), f"train.out={adapter}",
                 "--quiet"))
    teacher = [f"model.teacher_adapter={adapter}"]
    for train in sorted({READINGS, *TRAIN_SETS.values()}):  # a cache per set of windows
        run(susurrus("distill-teacher", str(RECIPE), *paths(train), *teacher, "--quiet"))
    if teacher_only:
        return
    for key, (_, overrides, reads_teacher) in VARIANTS.items():
        run(susurrus("train", str(RECIPE), *paths(TRAIN_SETS.get(key, READINGS)), *overrides,
                     *(teacher if reads_teacher else []), f"train.steps={steps}",
                     f"train.out={runs / f'distill-{key}'}", "--quiet"))


def degrade(src: Path, out: Path) -> None:
    """Write `out`, `src`'s manifest with every audio file passed through DEGRADE (files
    beside it under audio/; a file read by several lines is degraded once)."""
    import json

    import soundfile as sf

    from susurrus.audio.io import load_audio
    from susurrus.data.augment import Step, apply_chain

    chain = tuple(Step(name, params) for name, params in DEGRADE)
    lines, done = [], set()
    for line in src.read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        audio = Path(item["audio"])
        target = out.parent / "audio" / audio.name
        if audio.name not in done:
            clean = load_audio(audio if audio.is_absolute() else src.parent / audio)
            target.parent.mkdir(parents=True, exist_ok=True)
            sf.write(target, apply_chain(clean, chain)[: len(clean)], 16000)
            done.add(audio.name)
        lines.append(json.dumps(item | {"audio": f"audio/{audio.name}"}, ensure_ascii=False))
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")


def evaluate(system: dict, data: Path, out_dir: Path, ner: bool, cached_only: bool = False
             ) -> dict:
    """Each set's EvalResult (decoded unless cached; with `cached_only`, the cached ones)."""
    from susurrus.evaluate.results import EvalResult

    out = {}
    for name, rel in SETS.items():
        if system["key"] not in ONLY.get(name, (system["key"],)):
            continue
        path = out_dir / system["key"] / f"{name}.json"
        if not path.exists() and cached_only:
            continue
        if not path.exists():
            limit = ["--limit-sessions", str(LIMIT[name])] if name in LIMIT else []
            run(susurrus("eval", "--manifest", str(data / rel), "--model", system["model"],
                         "--engine", system["engine"], "--out", str(path), "--quiet", *limit,
                         *([] if ner else ["--no-ner"])))
        out[name] = EvalResult.from_json(path.read_text())
    return out


def row(system: dict, res: dict) -> dict:
    r = {k: system[k] for k in ("system", "model", "engine")}
    if Path(r["model"]).is_absolute() and Path(r["model"]).is_relative_to(ROOT):
        r["model"] = str(Path(r["model"]).relative_to(ROOT))  # no machine's path in the JSON
    for name, e in res.items():
        r[name] = {"wer": e.wer, "wer_cased": e.wer_cased, "punct_f1": e.punct_f1,
                   "cap_f1": e.cap_f1, "ner_f1": e.ner_f1, "entity": e.entity_recall,
                   "entity_first": e.entity_recall_first,
                   "entity_repeat": e.entity_recall_repeat, "entities_from": e.entities_from,
                   "rtf": e.rtf, "recordings": len(e.counts.wer_by_session),
                   "words": e.n_words, "seconds": e.counts.cost.audio_seconds,
                   "punct_by_mark": {m: asdict(c) for m, c in e.counts.punct_by_mark.items()}}
    return r


def add_intervals(rows: list[dict], evals: list[dict]) -> None:
    """95% bootstrap intervals of WER over whole recordings, and each row's paired WER
    difference from the CE-only student (the same budget without a teacher); the same for
    punctuation F1, overall and per mark, on the same draws."""
    from susurrus.metrics.bootstrap import bootstrap_f1, bootstrap_wer, interval

    base = next(r["system"] for r in rows if r["system"] == VARIANTS["ce"][0])
    for name in SETS:
        pairs = [(r, e) for r, e in zip(rows, evals, strict=True) if name in e]
        rows_in = [r for r, _ in pairs]
        if not pairs:
            continue
        samples = bootstrap_wer({r["system"]: e[name].counts.wer_by_session for r, e in pairs})
        paired = base in samples  # a set without the CE-only row has no differences from it
        for r in rows_in:
            r[name]["wer_ci95"] = interval(samples[r["system"]])
            if paired:
                r[name]["vs_ce_ci95"] = interval(samples[r["system"]] - samples[base])
        if all(e[name].counts.cased_by_session for _, e in pairs):
            cased = bootstrap_wer({r["system"]: e[name].counts.cased_by_session
                                   for r, e in pairs})
            for r in rows_in:
                r[name]["wer_cased_ci95"] = interval(cased[r["system"]])
                if paired:
                    r[name]["cased_vs_ce_ci95"] = interval(cased[r["system"]] - cased[base])
        if not all(e[name].counts.punct_by_session for _, e in pairs):
            continue  # results written before per-recording punctuation counts
        for mark in (None, *MARKS):
            f1 = bootstrap_f1({r["system"]: e[name].counts.punct_session_counts(mark)
                               for r, e in pairs})
            key = "punct_f1" if mark is None else f"punct_f1 {mark}"
            for r in rows_in:
                r[name].setdefault("f1_ci95", {})[key] = interval(f1[r["system"]])
                if paired:
                    r[name].setdefault("f1_vs_ce_ci95", {})[key] = interval(
                        f1[r["system"]] - f1[base])


def fmt(v, digits: int = 3) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def with_ci(scores: dict, key: str) -> str:
    """`key`'s value, with its 95% interval when the row has one."""
    ci = (scores.get("f1_ci95") or {}).get(key)
    return fmt(scores[key]) + ("" if ci is None else f" ({ci[0]:.2f}…{ci[1]:.2f})")


def rate_ci(scores: dict, key: str) -> str:
    """A rate with its 95% interval (`key`_ci95) when the row has one."""
    ci = scores.get(f"{key}_ci95")
    return fmt(scores[key]) + ("" if ci is None else f" ({ci[0]:.2f}…{ci[1]:.2f})")


def entities(scores: dict) -> str:
    """Entity recall, first / repeated mentions."""
    if scores.get("entity_first") is None:
        return fmt(scores["entity"])
    return f"{scores['entity_first']:.2f} / {scores['entity_repeat']:.2f}"


def mark_f1(scores: dict, mark: str) -> float | None:
    """F1 of one punctuation mark from the row's counts (None: results without them)."""
    from susurrus.metrics.scores import F1Counts

    counts = scores.get("punct_by_mark") or {}
    return F1Counts(**counts[mark]).f1 if mark in counts else None


def markdown(results: dict) -> str:
    """One table per test set: every system decoded on it (`ONLY`)."""
    out = []
    for name in SETS:
        rows = [r for r in results["rows"] if name in r]
        if not rows:
            continue
        out += [f"**{name}**", "",
                "| system | WER (95% CI) | cased WER (95% CI) | punct. F1 | cap. F1 | NER F1 | "
                "entity recall first / repeat | RTF | . F1 | , F1 | ? F1 |",
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in rows:
            s = r[name]
            out.append(f"| {r['system']} | {rate_ci(s, 'wer')} | {rate_ci(s, 'wer_cased')} | "
                       f"{with_ci(s, 'punct_f1')} | {fmt(s['cap_f1'])} | "
                       f"{fmt(s['ner_f1'])} | {entities(s)} | {fmt(s['rtf'])} | "
                       + " | ".join(fmt(mark_f1(s, m)) for m in MARKS) + " |")
        first = rows[0][name]
        source = {"manifest": "the entities the manifest lists",
                  "ner": "the names spaCy finds in each reference (the manifest lists none)"}
        out += ["", f"{first['recordings']} recordings, {first['words']} words, "
                    f"{first['seconds'] / 60:.0f} min, each scored whole. Entity recall: "
                    f"{source.get(first.get('entities_from'), 'the entities the manifest lists')}"
                    ".", ""]
    out.append(f"Students: {results['steps']} steps each of recipes/whisper_distill/tiny.yaml, "
               "same seed, same data but the conversations row's. Degraded: long-test-ood "
               "through reverberation (RT60 0.5 s), pink noise at 10 dB SNR and a 16 kbit/s MP3, "
               "its first 2 readings, decoded by 3 systems. Intervals: 95% bootstrap over whole "
               "recordings (WER, cased WER and punctuation F1 on the same draws; the JSON "
               "also holds each mark's F1 interval and every difference from CE-only). "
               "Per-mark F1 (full stop, comma, question mark) from counts summed over "
               "recordings; the JSON keeps every class's tp/fp/fn.")
    return "\n".join(out) + "\n"


def render(results: dict) -> str:
    return markdown(results)


def plot(rows: list[dict], path: Path) -> None:
    """WER and punctuation / capitalization F1 of every row on long-test-ood, clean and
    degraded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [n for n in ("long-test-ood", "long-test-ood-degraded")
              if any(n in r for r in rows)]
    fig, axes = plt.subplots(len(panels), 1, figsize=(11, 3.8 * len(panels)), squeeze=False)
    measures = ("wer", "wer_cased", "punct_f1", "cap_f1")
    width = 0.8 / len(measures)
    every = rows
    for ax, name in zip(axes[:, 0], panels, strict=True):
        rows = [r for r in every if name in r]
        for k, m in enumerate(measures):
            ax.bar([i + k * width for i in range(len(rows))],
                   [r[name][m] or 0.0 for r in rows], width, label=m)
        ax.set_xticks([i + width * (len(measures) - 1) / 2 for i in range(len(rows))])
        ax.set_xticklabels([r["system"].replace(" (", "\n(").replace(" + ", "\n+ ")
                            .replace(" zero-shot", "\nzero-shot")
                            for r in rows], fontsize=6)
        ax.set_title(name)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    if render_main(render):
        return
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=200, help="training steps of every student")
    p.add_argument("--data", type=Path, default=ROOT / "out" / "gen")
    p.add_argument("--runs", type=Path, default=ROOT / "runs")
    p.add_argument("--phase", choices=("all", "teacher", "train", "eval"), default="all")
    p.add_argument("--no-ner", action="store_true", help="skip spaCy NER F1 (faster)")
    p.add_argument("--cached-only", action="store_true",
                   help="decode nothing: tabulate the evaluations already made (a set a system "
                        "has not been scored on yet is left out of that set's table)")
    args = p.parse_args()

    train = sorted({*READINGS, *(t for ts in TRAIN_SETS.values() for t in ts)})
    need = [args.data / t for t in train] + [args.data / r for r in SETS.values()
                                             if not r.startswith("long-degraded/")]
    missing = [str(m) for m in need if not m.exists()]
    if missing:
        raise SystemExit(f"missing {', '.join(missing)}: make them with the synth commands in "
                         "this script's docstring")
    if args.phase in ("all", "teacher", "train"):
        train_all(args.data, args.runs, args.steps, teacher_only=args.phase == "teacher")
    if args.phase in ("teacher", "train"):
        return
    degraded = args.data / SETS["long-test-ood-degraded"]
    if not degraded.exists():
        degrade(args.data / SETS["long-test-ood"], degraded)
    rows_in = systems(args.runs)
    out_dir = args.runs / "bench-distill"
    evals = [evaluate(s, args.data, out_dir, not args.no_ner, args.cached_only)
             for s in rows_in]
    rows = [row(s, e) for s, e in zip(rows_in, evals, strict=True)]
    add_intervals(rows, evals)
    save_results("distill_whisper", {"steps": args.steps, "rows": rows}, render, plot, "wer")


if __name__ == "__main__":
    main()
