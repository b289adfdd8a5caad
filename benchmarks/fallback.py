"""What the temperature fallback does for a speech LLM: each model greedy, then with the fallback.

    .venv/bin/python benchmarks/fallback.py [--models speech-llm-tiny-fp] [--data out/gen]
        [--sets test-ood,news-ood,read-3min] [--out runs/bench-fallback]

A speech-LLM window whose greedy decoding is suspect (no text or far too little for its speech,
a loop the repetition guard cut, the length limit) is decoded again at temperatures 0.2 … 1.0,
5 seeded samples each, keeping the most likely one, until one is fine
(`susurrus.models.speech_llm.generation.decode_with_fallback`); `--no-fallback` turns it off.
Both ways are scored here on the same audio, side by side:
- test-ood: the held-out conversations of docs/generalization.md
  (`susurrus synth conversations --out out/gen/conv --hours 6 --seed 1`), turn by turn;
- news-ood: minutes-long news bulletins by held-out voices, decoded whole
  (`susurrus synth longform --out out/gen/long --hours 2.2 --seed 1`);
- read-3min: the long-form test's ~3-minute espeak-ng reading (tests/data/longform.txt,
  `tests/infer/test_longform.py`), one file decoded whole.

WER with a 95% bootstrap interval over recordings, entity recall (test-ood), windows reported
suspect, windows decoded again hotter, and the eval's RTF (its wall time over audio time, in
the run that scored it: the fallback's extra decoding counted). Scores are cached per row and
set under `--out`; rerun to resume. Writes benchmarks/results/fallback.{json,md,png};
`--render fallback.json` redraws the table from the JSON alone.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, render_main, run, save_results, susurrus  # noqa: E402

from susurrus.evaluate.results import EvalResult  # noqa: E402

SETS = {  # column -> manifest under --data ("read-3min" is made here)
    "test-ood": "conv/test-ood.jsonl",
    "news-ood": "long/test-ood.jsonl",
    "read-3min": "read-3min/read-3min.jsonl",
}
LONGFORM_TEXT = ROOT / "tests" / "data" / "longform.txt"


def read_3min(folder: Path) -> Path:
    """The long-form test's file (espeak-ng en-us, rate 140) as a one-line manifest."""
    from susurrus.data.manifest import Utterance, write_manifest
    from susurrus.data.tts import speak

    manifest = folder / "read-3min.jsonl"
    if not manifest.exists():
        text = " ".join(LONGFORM_TEXT.read_text().split())
        wav = speak(text, folder / "read-3min.wav", "espeak-ng", "en-us", speed=140)
        write_manifest([Utterance("read-3min", wav.resolve(), text)], manifest)
    return manifest


def evaluate(model: str, fallback: bool, sets: list[str], data: Path, out: Path
             ) -> dict[str, EvalResult]:
    """Each set's results for one row (decoded now unless cached)."""
    res = {}
    for name in sets:
        manifest = read_3min(data / "read-3min") if name == "read-3min" else data / SETS[name]
        path = out / f"{Path(model).name}-{'fallback' if fallback else 'greedy'}" / f"{name}.json"
        if not path.exists():
            run(susurrus("eval", "--manifest", str(manifest), "--model", model, "--out",
                         str(path), "--no-ner", "--quiet", *([] if fallback else
                                                             ["--no-fallback"])))
        res[name] = EvalResult.from_json(path.read_text())
    return res


def rows_of(models: list[str], sets: list[str], data: Path, out: Path) -> list[dict]:
    from susurrus.metrics.bootstrap import bootstrap_wer, interval

    rows, evals = [], []
    for model in models:
        for fallback in (False, True):
            res = evaluate(model, fallback, sets, data, out)
            r = {"model": model, "fallback": fallback}
            for name, e in res.items():
                r[name] = {"wer": e.wer, "entity_first": e.entity_recall_first,
                           "entity_repeat": e.entity_recall_repeat,
                           "recordings": len(e.counts.wer_by_session), "words": e.n_words,
                           "seconds": e.counts.cost.audio_seconds,
                           "suspect_windows": e.suspect_windows,
                           "fallback_windows": e.fallback_windows, "rtf": e.counts.cost.rtf}
            rows.append(r)
            evals.append(res)
    for name in sets:  # intervals over recordings (one recording: no interval)
        samples = bootstrap_wer({i: e[name].counts.wer_by_session for i, e in enumerate(evals)})
        for i, r in enumerate(rows):
            r[name]["wer_ci95"] = (interval(samples[i]) if r[name]["recordings"] > 1
                                   else None)
    return rows


def render(results: dict) -> str:
    rows, sets = results["rows"], results["sets"]
    head = ["model", "decoding"] + [f"WER {n}" for n in sets] + [
        "entity recall first / repeat (test-ood)", "suspect windows", "windows redone", "RTF"]
    lines = ["| " + " | ".join(head) + " |", "|---|---|" + "---:|" * (len(head) - 2)]
    for r in rows:
        cells = [r["model"], "greedy + fallback" if r["fallback"] else "greedy"]
        for n in sets:
            ci = r[n]["wer_ci95"]
            cells.append(f"{r[n]['wer']:.3f}" + (f" ({ci[0]:.2f}…{ci[1]:.2f})" if ci else ""))
        o = r.get("test-ood")
        cells.append(f"{o['entity_first']:.2f} / {o['entity_repeat']:.2f}" if o else "–")
        cells.append(" / ".join(str(r[n]["suspect_windows"]) for n in sets))
        cells.append(" / ".join(str(r[n]["fallback_windows"]) for n in sets))
        cells.append(" / ".join(f"{r[n]['rtf']:.2f}" for n in sets))
        lines.append("| " + " | ".join(cells) + " |")
    first = rows[0]
    sizes = ", ".join(f"{n} {first[n]['recordings']} recording(s), {first[n]['words']} words, "
                      f"{first[n]['seconds'] / 60:.0f} min" for n in sets)
    return ("\n".join(lines) + f"\n\nSets: {sizes}. Intervals: 95% bootstrap over whole "
            "recordings. Suspect windows (reported: no text, too little, a loop, the length "
            "limit), windows decoded again hotter, and RTF (the eval's wall time over audio "
            f"time, fallback included) are given per set, in the order {' / '.join(sets)}. "
            f"Run {results['date']} on {results['machine']}.\n")


def plot(rows: list[dict], path: Path) -> None:
    from generalization import plot as bars

    sets = [k for k in SETS if k in rows[0]]
    bars([r | {"system": f"{Path(r['model']).name} ({'fallback' if r['fallback'] else 'greedy'})"}
          for r in rows], path, None, sets)


def main() -> None:
    if render_main(render):
        return
    import platform
    from datetime import date

    import torch

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="speech-llm-tiny-fp",
                   help="comma-separated speech LLMs (embedded names or folders)")
    p.add_argument("--sets", default=",".join(SETS), help=f"of {', '.join(SETS)}")
    p.add_argument("--data", type=Path, default=ROOT / "out" / "gen")
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "bench-fallback")
    args = p.parse_args()
    sets = [s for s in args.sets.split(",") if s]
    unknown = sorted(set(sets) - set(SETS))
    if unknown:
        raise SystemExit(f"--sets: unknown {', '.join(unknown)}; valid: {', '.join(SETS)}")
    rows = rows_of(args.models.split(","), sets, args.data, args.out)
    results = {"rows": rows, "sets": sets, "date": date.today().isoformat(),
               "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads"}
    save_results("fallback", results, render, plot, "wer")


if __name__ == "__main__":
    main()
