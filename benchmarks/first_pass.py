"""The first-pass speech LLMs next to the first pass they read, in one sitting (issue 16, levers 4
and 5).

    .venv/bin/python benchmarks/first_pass.py [--masked-run runs/speech-llm-fp-masked]
        [--context-runs runs/speech-llm-fp-abstract,runs/speech-llm-fp-copy]
        [--candidate-runs runs/speech-llm-fp-copy] [--nbest-runs runs/speech-llm-fp-copy]
        [--data out/gen]
        [--sets test,test-ood,news-ood] [--out runs/bench-first-pass] [--no-decode]

A first-pass speech LLM reads Whisper tiny.en's own transcript of each turn (faster-whisper,
greedy) next to the audio tokens, so the row it must beat is that first pass. Rows, every one
scored on the same audio in one run of this script:
- Whisper tiny.en through faster-whisper: the first pass itself;
- `speech-llm-tiny-fp` as shipped (recipes/speech_llm/first-pass.yaml), decoded with the
  temperature fallback, its own text everywhere (`--first-pass-choice llm`);
- the same model with the joint choice (the default): per window, whichever of its text and
  Whisper's own answer both models score higher (`susurrus.infer.first_pass.joint_choice`);
- `recipes/speech_llm/first-pass-masked.yaml` (speech-llm-tiny-fp trained further with half its
  examples reading time-masked audio, so that there the words can come only from the first pass)
  at each checkpoint `--steps` names (default: the run's last), when `--masked-run` holds them;
- each of `--context-runs`, multi-turn runs: `recipes/speech_llm/first-pass-abstract.yaml`
  (speech-llm-tiny-fp trained further on multi-turn samples with abstract context, paper 000)
  and `first-pass-copy.yaml` (that run trained further with names respelled per session, so a
  repeated name can be spelled only from the context), at its last checkpoint:
  read without context, with its own earlier turns as abstract context (K latent tokens and the
  transcript per prior turn), and with the references as those transcripts (oracle: the
  ceiling of that context), the two with context with the joint choice of before lever 5c;
  for `--candidate-runs`, those two again with 6 context candidates per turn (lever 5c: the
  turn's texts with a misheard stretch respelled as a name, number or date of the earlier turns
  compete in the joint choice); for `--nbest-runs`, without context and with its own earlier
  turns and the candidates again, Whisper's 5 best texts of each turn competing too (lever 4d:
  a beam search of width 5 by the first pass, `--first-pass-nbest 5`). These rows are decoded
  on test-ood only (the set the issue's bar names; the others show "not run"): a conversation
  with context is decoded turn by turn.

Test sets as benchmarks/generalization.py: `susurrus synth conversations --out out/gen/conv
--hours 6 --seed 1` (test: trained voices and domains; test-ood: voices, domains and entities no
training run sees; news-ood: long news readings by held-out voices). WER with a 95% bootstrap
interval over whole recordings and its paired difference from the first pass, entity recall of
first and repeated mentions (test-ood), windows reported suspect, decoded again hotter, and
those whose transcript is Whisper's answer. Speed is timed by benchmarks/generalization.py, not
here. Scores are cached per row under `--out`; rerun to resume. Writes
benchmarks/results/first_pass.{json,md} and first_pass_wer.png; `--render first_pass.json`
redraws the table from the JSON alone.
"""

from __future__ import annotations

import argparse
import platform
import sys
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, render_main, save_results  # noqa: E402
from generalization import SETS as ALL_SETS  # noqa: E402
from generalization import (  # noqa: E402
    add_intervals,
    evaluate,
    learning_curve,
    plot,
    row,
    wer_cells,
)

from susurrus.cli.common import CONTEXT_CANDIDATES  # noqa: E402  (eval's default)


def systems(masked_run: Path | None, steps: list[int],
            context_runs: list[Path] = (), candidate_runs: list[Path] = (),
            nbest_runs: list[Path] = ()) -> list[dict]:
    rows = [
        {"system": "Whisper tiny.en (faster-whisper)", "lever": "the first pass the LLMs read",
         "model": "whisper-tiny.en", "engine": "faster-whisper", "key": "whisper-fw"},
        {"system": "speech-llm-tiny-fp, its own text",
         "lever": "+ Whisper's hypothesis as input (first-pass.yaml)",
         "model": "speech-llm-tiny-fp", "engine": "torch", "key": "fp",
         "eval_args": ("--first-pass-choice", "llm")},
        {"system": "speech-llm-tiny-fp, joint choice (shipped default)",
         "lever": "+ the first pass's text competes, scored by both models",
         "model": "speech-llm-tiny-fp", "engine": "torch", "key": "fp-joint"},
    ]
    for run in context_runs:
        rows += context_rows(run, CANDIDATES if run in candidate_runs else 0,
                             NBEST if run in nbest_runs else 0)
    from susurrus.train.run import latest_checkpoint

    if masked_run is None or not (masked_run / "checkpoints").is_dir():
        return rows
    for step in steps or [int(latest_checkpoint(masked_run).name.removeprefix("step-"))]:
        folder = masked_run / "checkpoints" / f"step-{step:07d}"
        if not folder.is_dir():
            raise SystemExit(f"{folder}: no such checkpoint (train.keep_every keeps them)")
        rows.append({"system": f"first-pass-masked recipe, step {step}",
                     "lever": f"+ half the examples time-masked ({step} more steps)",
                     "model": str(folder), "engine": "torch", "key": f"masked-{step}",
                     "eval_args": ("--first-pass-choice", "llm")})
    return rows


CANDIDATES = CONTEXT_CANDIDATES  # context candidates per turn of a --candidate-runs row
NBEST = 5  # the beam width of the first pass's n-best texts of an --nbest-runs row (lever 4d)


def context_rows(run: Path, candidates: int = 0, nbest: int = 0) -> list[dict]:
    """A multi-turn run's last checkpoint read on test-ood: no context, its own earlier turns as
    abstract context, the references as those turns (oracle), each of the two with the joint
    choice of before lever 5c (no context candidates) and, given `candidates`, with that many
    context candidates per turn; given `nbest` too, no context and its own earlier turns with
    candidates again, Whisper's `nbest` best texts competing as well (lever 4d). None when the
    run has no checkpoint."""
    from susurrus.train.recipe import load_recipe
    from susurrus.train.run import latest_checkpoint

    if not (run / "checkpoints").is_dir():
        return []
    last = latest_checkpoint(run)
    step = int(last.name.removeprefix("step-"))
    recipe = load_recipe(run / "recipe.yaml")
    window = recipe.model.context_turns
    lever = f"+ {step} multi-turn steps, abstract context of {window or 'all'} earlier turns"
    if recipe.data.respell_share:
        lever += (f", {recipe.data.respell_share:.0%} of names respelled per session "
                  f"(copyable mentions weigh {recipe.data.repeat_weight:g})")
    reads = [("none", "no context", ())]
    for key, how, args in (
            ("abstract", "abstract context, its own earlier turns", ("--context", "abstract")),
            ("oracle", "abstract context, the references (oracle)",
             ("--context", "abstract", "--oracle-context"))):
        reads.append((key, how, (*args, "--context-candidates", "0")))
        if candidates:
            reads.append((f"{key}-cands", f"{how} + {candidates} context candidates",
                          (*args, "--context-candidates", str(candidates))))
    if nbest:
        more = f"Whisper's {nbest} best texts compete"
        reads += [(f"none-nbest{nbest}", f"no context, {more}",
                   ("--first-pass-nbest", str(nbest))),
                  (f"abstract-cands-nbest{nbest}",
                   f"abstract context, its own earlier turns + {candidates} context candidates, "
                   f"{more}", ("--context", "abstract", "--context-candidates", str(candidates),
                               "--first-pass-nbest", str(nbest)))]
    # each context row's baseline: the same weights and decoding without context
    base = {key: "none-" + key.split("-")[-1] if "nbest" in key else "none"
            for key, _, _ in reads if not key.startswith("none")}
    return [{"system": f"{run.name}, step {step}: {how}", "lever": lever, "model": str(last),
             "engine": "torch", "key": f"{run.name}-{step}-{key}", "eval_args": args,
             "sets": ("test-ood",), "copy_ceiling": key == "none", "context_turns": window,
             **({"baseline": f"{run.name}-{step}-{base[key]}"} if key in base else {})}
            for key, how, args in reads]


def hyp_texts(hyps: Path) -> dict[str, str]:
    """Utterance id -> hypothesis text of an eval's `.hyps.jsonl` (its first line: the config)."""
    import json

    rows = (json.loads(line) for line in hyps.read_text(encoding="utf-8").splitlines()[1:])
    return {h["id"]: h["text"] for h in rows}


def session_entities(manifest: Path, hyps: Path) -> dict:
    """Session id -> `EntityCounts` of a decoded set's hypotheses (`entity_recall`)."""
    from susurrus.data.manifest import group_sessions, read_manifest
    from susurrus.metrics import entity_recall

    text = hyp_texts(hyps)
    return {sid: entity_recall([(u.reference, u.entities, text[u.id]) for u in turns])
            for sid, turns in group_sessions(read_manifest(manifest, check_audio=False)).items()}


def context_gains(rows_in: list[dict], rows: list[dict], out: Path, manifest: Path) -> None:
    """Each context row's repeated-entity recall on test-ood minus its baseline's (the same
    weights and decoding without context: what the issue's bar compares), with a 95% paired
    bootstrap interval over whole conversations; set as the row's "repeat_gain" on test-ood."""
    from susurrus.metrics.bootstrap import bootstrap_recall, interval

    for s, r in zip(rows_in, rows, strict=True):
        base = s.get("baseline")
        hyps = {k: out / k / "test-ood.json.hyps.jsonl" for k in (s["key"], base) if k}
        if not base or r.get("test-ood") is None or not all(h.exists() for h in hyps.values()):
            continue
        counts = {k: {sid: (c.repeat_hit, c.repeat_total)
                      for sid, c in session_entities(manifest, h).items()}
                  for k, h in hyps.items()}
        samples = bootstrap_recall(counts)
        point = {k: sum(h for h, _ in c.values()) / max(1, sum(t for _, t in c.values()))
                 for k, c in counts.items()}
        r["test-ood"]["repeat_gain"] = point[s["key"]] - point[base]
        r["test-ood"]["repeat_gain_ci95"] = interval(samples[s["key"]] - samples[base])


def copy_ceiling(manifest: Path, hyps: Path, window: int | None) -> dict:
    """Repeated-entity recall of a system decoded without context, and had it copied every
    repeated entity that its own hypotheses of the last `window` earlier turns (and of all
    earlier turns) got right (`susurrus.metrics.repeat_copy_ceiling`): the most that context
    made of its own earlier turns can add."""
    from susurrus.data.manifest import group_sessions, read_manifest
    from susurrus.metrics import EntityCounts, entity_recall, repeat_copy_ceiling

    text = hyp_texts(hyps)
    counts = {"plain": EntityCounts(), "window_recall": EntityCounts(), "all": EntityCounts()}
    for turns in group_sessions(read_manifest(manifest, check_audio=False)).values():
        session = [(u.reference, u.entities, text[u.id]) for u in turns]
        counts["plain"] += entity_recall(session)
        counts["window_recall"] += repeat_copy_ceiling(session, window)
        counts["all"] += repeat_copy_ceiling(session, None)
    return {"window": window, **{k: round(c.recall_repeat, 4) for k, c in counts.items()}}


def render(results: dict) -> str:
    rows, sets = results["rows"], results["sets"]
    key = "test-ood" if "test-ood" in sets else sets[-1]  # the set the bar is about
    head = ["system", "lever"] + [f"WER {n} (95% CI)" for n in sets] + [
        f"vs first pass, {key}", f"entity recall first / repeat ({key})",
        "suspect / redone windows", "first pass kept", f"context candidates kept ({key})",
        f"context audio tok / prior turn ({key})",
        f"repeat recall vs no context ({key}, 95% CI)"]
    lines = ["| " + " | ".join(head) + " |", "|---|---|" + "---:|" * (len(head) - 2)]
    for r in rows:
        cells = [r["system"], r["lever"]] + wer_cells(r, sets)
        last = r[key]
        if last is None or r is rows[0]:
            cells.append("–")
        else:
            lo, hi = last["vs_whisper_ci95"]
            cells.append(f"{last['wer'] - rows[0][key]['wer']:+.3f} ({lo:+.2f}…{hi:+.2f})")
        cells.append(f"{last['entity_first']:.2f} / {last['entity_repeat']:.2f}" if last
                     else "–")
        done = [r[n] for n in sets if r[n]]
        cells.append(f"{sum(d['suspect_windows'] for d in done)} / "
                     f"{sum(d['fallback_windows'] for d in done)}")
        # windows whose transcript is Whisper's own answer (the joint choice), per set
        cells.append("–" if r is rows[0] else
                     " / ".join(str(r[n].get("first_pass_windows", 0)) if r[n] else "–"
                                for n in sets))
        kept = last.get("context_windows") if last else None
        cells.append("–" if kept is None or r is rows[0] else str(kept))
        per_prior = last.get("context_audio_per_prior_turn") if last else None
        cells.append("–" if per_prior is None else f"{per_prior:.1f}")
        gain = last.get("repeat_gain") if last else None
        cells.append("–" if gain is None else "{:+.3f} ({:+.2f}…{:+.2f})".format(
            gain, *last["repeat_gain_ci95"]))
        lines.append("| " + " | ".join(cells) + " |")
    first = {n: next(r[n] for r in rows if r[n]) for n in sets}
    sizes = ", ".join(f"{n} {first[n]['conversations']} recordings, {first[n]['words']} "
                      f"words, {first[n]['seconds'] / 60:.0f} min" for n in sets)
    caps = results.get("copy_ceiling") or []
    ceiling = "".join(
        f"Repeated-entity recall of \"{cap['system']}\" on test-ood: {cap['plain']:.3f}; "
        f"had it copied every repeated entity that its own earlier turns got right, from the "
        f"last {cap['window'] or 'all'} (the window its context rows read): "
        f"{cap['window_recall']:.3f}, from all of them: {cap['all']:.3f} (the most that "
        "context made of its own earlier turns can add). "
        for cap in ([caps] if isinstance(caps, dict) else caps))
    curve = results.get("learning_curve", {}).get("valid_wer", [])
    learned = ("Validation WER of the first-pass-masked run (64 dev turns, in-domain voices) by "
               "step: " + ", ".join(f"{s}: {w:.3f}" for s, w in curve) + ". ") if curve else ""
    return ("\n".join(lines) + f"\n\n{ceiling}{learned}Sets: {sizes}. Intervals: 95% bootstrap "
            "over whole recordings (conversations, bulletins); \"vs first pass\": the paired "
            "difference from the first row. "
            "Suspect windows: reported by the speech LLM (no text, too little, a loop, the "
            "length limit) after the temperature fallback; redone: decoded again hotter (for "
            "faster-whisper, its own fallback's segments). First pass kept: windows (each set "
            "in turn) whose transcript is Whisper's own answer (or, in the n-best rows, one of "
            f"its {NBEST} best texts), chosen over the LLM's by the joint choice. Context "
            "candidates kept: turns whose transcript is a candidate that "
            "respells a stretch of Whisper's or the LLM's text as a name, number or date of the "
            "earlier turns (lever 5c), chosen by the joint choice. Context audio tokens per "
            "prior turn: what each earlier turn costs "
            "the LLM besides its transcript (abstract context: K latent tokens). Repeat recall "
            "vs no context: the row's repeated-entity recall minus that of the same weights "
            "and decoding without context (its run's no-context row; for the n-best row, the "
            "one with n-best), 95% paired bootstrap over conversations. Speed is not "
            "compared here (the evals shared the machine with other work): "
            "docs/generalization.md's table times these systems. "
            f"Run {results['date']} on {results['machine']}."
            + (" \"not run\": not decoded (the context rows: test-ood only; the others: not "
               "in that session)." if any(
                r[n] is None for r in rows for n in sets) else "") + "\n")


def main() -> None:
    if render_main(render):
        return
    import torch

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--masked-run", type=Path, default=ROOT / "runs" / "speech-llm-fp-masked")
    p.add_argument("--steps", default="", help="comma-separated checkpoints of --masked-run "
                                               "(default: its last)")
    p.add_argument("--context-runs", default="runs/speech-llm-fp-abstract,runs/speech-llm-fp-copy",
                   help="comma-separated multi-turn runs (first-pass-abstract.yaml, "
                        "first-pass-copy.yaml): each one's last checkpoint")
    p.add_argument("--candidate-runs", default="runs/speech-llm-fp-copy",
                   help=f"comma-separated runs among --context-runs also read with "
                        f"{CANDIDATES} context candidates per turn (lever 5c)")
    p.add_argument("--nbest-runs", default="runs/speech-llm-fp-copy",
                   help=f"comma-separated runs among --candidate-runs also read with the first "
                        f"pass's {NBEST} best texts competing (lever 4d)")
    p.add_argument("--data", type=Path, default=ROOT / "out" / "gen")
    p.add_argument("--sets", default="test,test-ood", help="of test, test-ood, news-ood")
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "bench-first-pass")
    p.add_argument("--no-decode", action="store_true",
                   help="table of the results already decoded; the others show 'not run'")
    args = p.parse_args()
    sets = {n: ALL_SETS[n] for n in args.sets.split(",") if n}
    rows_in = systems(args.masked_run, [int(s) for s in args.steps.split(",") if s],
                      [ROOT / r for r in args.context_runs.split(",") if r],
                      [ROOT / r for r in args.candidate_runs.split(",") if r],
                      [ROOT / r for r in args.nbest_runs.split(",") if r])
    evals = []
    for s in rows_in:  # a row decodes the sets it names (default all); the others: not run
        e = evaluate(s, args.data, args.out, decode=not args.no_decode,
                     sets={n: v for n, v in sets.items() if n in s.get("sets", sets)})
        evals.append({n: e.get(n) for n in sets})
    rows = []
    for s, e in zip(rows_in, evals, strict=True):
        r = row(s, e, None)
        for n, res in e.items():
            if res is not None:
                r[n] |= {"fallback_windows": res.fallback_windows,
                         "first_pass_windows": res.first_pass_windows,
                         "context_windows": res.context_windows,
                         "context_audio_per_prior_turn":
                             res.context_audio_tokens_per_prior_turn}
        rows.append(r)
    add_intervals(rows, evals, sets)
    if "test-ood" in sets:
        context_gains(rows_in, rows, args.out, args.data / sets["test-ood"])
    ceiling = []
    for none in (s for s in rows_in if s.get("copy_ceiling")):  # each context run's no-context row
        hyps = args.out / none["key"] / "test-ood.json.hyps.jsonl"
        if hyps.exists() and "test-ood" in sets:
            cap = copy_ceiling(args.data / sets["test-ood"], hyps, none["context_turns"])
            ceiling.append(cap | {"system": none["system"]})
    curve = learning_curve(args.masked_run) if (args.masked_run / "log.jsonl").exists() else {}
    save_results("first_pass", {"rows": rows, "sets": list(sets), "learning_curve": curve,
                                "copy_ceiling": ceiling,
                                "date": date.today().isoformat(),
                                "machine": f"{platform.processor() or platform.machine()}, "
                                           f"{torch.get_num_threads()} torch threads"},
                 render, lambda r, path: plot(r, path, curve or None), "wer")


if __name__ == "__main__":
    main()
