"""Conversational context (paper 000): none / text / raw / abstract, against Whisper with prompts.

    .venv/bin/python benchmarks/context.py [--steps 1000] [--init runs/speech-llm-default]
        [--modes none,text,raw,abstract] [--k 1,4,16] [--n 1,2,4] [--latency-turns 20]
        [--rotations 3] [--splits test,test-ood] [--model RUN] [--test-dir out/demo/corpus]
        [key=value ...]

Systems, all on the same test and test-ood audio:
- Whisper tiny.en with no context and with its own previous hypotheses as prompt (context
  `text`; results before issue 15 call it `prompt`);
- the speech LLM trained with multi-turn samples in each context mode (same recipe, data, steps,
  seed; `--init` starts every one from a single-turn checkpoint), evaluated with its own earlier
  hypotheses as context and with the references (oracle), which bounds the exposure-bias gap;
- ablations: abstract with K latent tokens per prior turn for each `--k`, and abstract with at
  most N prior turns (trained and evaluated so) for each `--n` ("all": every earlier turn);
- or, with `--model RUN`, no training: that one context checkpoint read in each of `--modes`
  (with the window of earlier turns it was trained with), and in abstract mode with each `--n`
  as the window at inference only.

Latency per turn is measured on one conversation of `--latency-turns` test turns (several test
sessions one after another), transcribed turn by turn with each system's cached session,
`--rotations` times with the turns rotated so that every turn index sees different audio; the
table gives the mean at turn 1 and turn 16, the plot the whole curve.

Every step is a `susurrus` command in its own process and resumes; rerun after an interruption.
Writes benchmarks/results/context.{md,json} and context_latency.png. The JSON holds everything
the table shows; `python benchmarks/context.py --render benchmarks/results/context.json` redraws
the table from it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
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

from susurrus.evaluate.results import EvalResult  # noqa: E402

ALL = 1_000_000  # a window of "all" earlier turns, as --max-context-turns


def evaluate(model: str, context: str, test_dir: Path, out_dir: Path, splits: list[str],
             *extra: str) -> dict[str, EvalResult]:
    rows = {}
    for split in splits:
        out = out_dir / f"{split}.json"
        if not out.exists():
            run(susurrus("eval", "--manifest", str(test_dir / f"{split}.jsonl"), "--model", model,
                         "--context", context, "--out", str(out), "--no-ner", "--quiet", *extra))
        rows[split] = EvalResult.from_json(out.read_text())
    return rows


# --- latency against turn index -----------------------------------------------------------------


def latency_curve(model: str, context: str, test_dir: Path, turns: int, rotations: int,
                  out: Path, max_turns: int | None = None) -> list[float]:
    """Mean seconds per turn at each turn index (1-based order), over rotated conversations."""
    if out.exists():
        return json.loads(out.read_text())
    cmd = [sys.executable, __file__, "--measure-latency", model, context, str(test_dir),
           str(turns), str(rotations), str(out)] + ([str(max_turns)] if max_turns else [])
    run(cmd)  # its own process: one model in memory, timings not disturbed by the others
    return json.loads(out.read_text())


def measure_latency(model: str, context: str, test_dir: Path, turns: int, rotations: int,
                    out: Path, max_turns: int | None) -> None:
    import numpy as np

    from susurrus.audio.io import load_audio
    from susurrus.data.lhotse_io import load_utterances
    from susurrus.data.manifest import group_sessions

    utts = [u for s in group_sessions(load_utterances(test_dir / "test.jsonl")).values()
            for u in s][: turns + rotations]
    audio = [load_audio(u.audio, u.start, u.duration) for u in utts]
    curves = []
    for r in range(rotations):
        chain = audio[r: r + turns]
        if model.startswith("whisper"):
            curves.append(_whisper_latency(model, context, chain))
        else:
            from susurrus.infer.session import ConversationSession

            session = ConversationSession(model, context=context, max_turns=max_turns)
            session.transcribe_turn(chain[0])  # untimed warm-up turn, then a fresh session
            session = ConversationSession(session.model, context=context, max_turns=max_turns)
            curves.append([session.transcribe_turn(a).seconds for a in chain])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(np.mean(curves, axis=0).tolist()))


def _whisper_latency(model: str, context: str, chain: list) -> list[float]:
    from susurrus.infer import load_recognizer

    recognizer = load_recognizer(model, "torch")
    recognizer.recognize([chain[0]])  # warm-up
    prior, seconds = [], []
    for a in chain:
        prompt = " ".join(prior) if context == "text" and prior else None
        t0 = time.perf_counter()
        text = recognizer.recognize([a], prompt=prompt)[0].text
        seconds.append(time.perf_counter() - t0)
        prior.append(text)
    return seconds


# --- the table ----------------------------------------------------------------------------------


def row(system: str, context: str, res: dict[str, EvalResult],
        oracle: dict[str, EvalResult] | None, latency: list[float]) -> dict:
    t, o = res["test"], res.get("test-ood")
    oracle_t = oracle["test"] if oracle else None

    def of(r: EvalResult | None, key: str) -> float | None:
        return None if r is None else getattr(r, key)

    return {
        "system": system, "context": context,
        "wer_test": t.wer, "wer_ood": of(o, "wer"),
        "wer_test_oracle": of(oracle_t, "wer"),
        "entity_first_test": t.entity_recall_first,
        "entity_repeat_test": t.entity_recall_repeat,
        "entity_first_ood": of(o, "entity_recall_first"),
        "entity_repeat_ood": of(o, "entity_recall_repeat"),
        "entity_repeat_test_oracle": of(oracle_t, "entity_recall_repeat"),
        "context_audio_tokens_per_prior_turn": t.context_audio_tokens_per_prior_turn,
        "context_text_tokens_per_turn": t.context_tokens_per_turn,
        "latency_turn1": latency[0] if latency else None,
        "latency_turn16": latency[15] if len(latency) >= 16 else None,
        "latency": latency,
    }


def fmt(v, digits=3) -> str:
    return "–" if v is None else f"{v:.{digits}f}" if isinstance(v, float) else str(v)


def markdown(rows: list[dict], steps: int, model: str = "") -> str:
    head = ("| system | context | WER test (oracle ctx) | WER test-ood | entity recall first / "
            "repeat, test (repeat, oracle ctx) | entity recall first / repeat, ood | "
            "context audio tok / prior turn | latency turn 1 / 16 (s) |")
    lines = [head, "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(
            f"| {r['system']} | {r['context']} | {fmt(r['wer_test'])} "
            f"({fmt(r['wer_test_oracle'])}) | {fmt(r['wer_ood'])} | "
            f"{fmt(r['entity_first_test'], 2)} / {fmt(r['entity_repeat_test'], 2)} "
            f"({fmt(r['entity_repeat_test_oracle'], 2)}) | {fmt(r['entity_first_ood'], 2)} / "
            f"{fmt(r['entity_repeat_ood'], 2)} | "
            f"{fmt(r['context_audio_tokens_per_prior_turn'], 1)} | "
            f"{fmt(r['latency_turn1'], 2)} / {fmt(r['latency_turn16'], 2)} |")
    trained = (f"Speech LLM: one checkpoint, {model}, read in each context mode" if model else
               f"Speech LLMs: {steps} multi-turn training steps each, same data and seed")
    return ("\n".join(lines) + f"\n\n{trained}. Context transcripts are each system's own "
            "earlier hypotheses; (oracle ctx) uses the references.\n")


def render(results: dict) -> str:
    """The table (context.md) from what `main` writes to context.json."""
    return markdown(results["rows"], results["steps"], results["model"])


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for r in rows:
        if r["latency"]:
            ax.plot(range(1, len(r["latency"]) + 1), r["latency"], marker=".",
                    label=f"{r['system']} [{r['context']}]")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("turn index")
    ax.set_ylabel("seconds per turn")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


# --- the benchmark ------------------------------------------------------------------------------


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--measure-latency":
        model, context, test_dir, turns, rotations, out, *rest = sys.argv[2:]
        measure_latency(model, context, Path(test_dir), int(turns), int(rotations), Path(out),
                        int(rest[0]) if rest else None)
        return
    if render_main(render):  # --render RESULTS.json: the table again, from the JSON alone
        return
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=1000, help="multi-turn training steps of each")
    p.add_argument("--init", default="", help="single-turn checkpoint every run starts from")
    p.add_argument("--modes", default="none,text,raw,abstract")
    p.add_argument("--k", default="1,4,16", help="abstract ablation: latent tokens per turn")
    p.add_argument("--n", default="1,2,4,all",
                   help="abstract ablation: prior turns read at most ('all': every one)")
    p.add_argument("--latency-turns", type=int, default=20)
    p.add_argument("--rotations", type=int, default=3, help="latency: conversations per system")
    p.add_argument("--model", default="",
                   help="no training: evaluate this one context checkpoint in each of --modes")
    p.add_argument("--splits", default="test,test-ood")
    p.add_argument("--test-dir", type=Path, default=ROOT / "out" / "demo" / "corpus")
    p.add_argument("--runs", type=Path, default=ROOT / "runs" / "bench-context")
    p.add_argument("--name", default="context", help="results file stem")
    p.add_argument("overrides", nargs="*", help="recipe overrides for every training run")
    args = p.parse_args()
    splits = args.splits.split(",")

    ensure_test_data(args.test_dir)
    lat = lambda m, c, d, n=None: latency_curve(  # noqa: E731
        m, c, args.test_dir, args.latency_turns, args.rotations, d / "latency.json", n)
    rows = []
    for context in ("none", "text"):  # text: Whisper's own earlier hypotheses as its prompt
        d = args.runs / f"whisper-{context}"
        res = evaluate("whisper-tiny.en", context, args.test_dir, d, splits)
        rows.append(row("Whisper tiny.en", context, res, None, lat("whisper-tiny.en", context, d)))

    systems = [(m, {}) for m in args.modes.split(",") if m]
    windows = [n if n == "all" else int(n) for n in args.n.split(",") if n]
    if "abstract" in args.modes and not args.model:
        systems += [("abstract", {"model.abstract_tokens": int(k)}) for k in args.k.split(",")
                    if k and int(k) != 4]
    if "abstract" in args.modes:  # trained so, or (--model) read so at inference
        systems += [("abstract", {"model.context_turns": n}) for n in windows]
    for context, extra in systems:
        name = context + "".join(f"-{k.split('.')[-1]}{v}" for k, v in extra.items())
        run_dir = args.runs / name
        model = args.model or str(run_dir)
        overrides = [f"model.context={context}", f"train.steps={args.steps}",
                     f"train.out={run_dir}",
                     *(f"{k}={'null' if v == 'all' else v}" for k, v in extra.items())]
        if args.init:
            overrides.append(f"train.init={args.init}")
        if not args.model:
            run(susurrus("train", str(RECIPE), *overrides, "--quiet", *args.overrides))
        n = extra.get("model.context_turns")
        n = ALL if n == "all" else n
        # a trained run reads its own window by default; a given model is told the window
        limit = ["--max-context-turns", str(n)] if n and args.model else []
        res = evaluate(model, context, args.test_dir, run_dir / "eval", splits, *limit)
        oracle = None
        if context != "none":
            oracle = evaluate(model, context, args.test_dir, run_dir / "eval-oracle", splits,
                              "--oracle-context", *limit)
        knobs = ", ".join(f"{k.split('.')[-1]}={v}" for k, v in extra.items())
        label = f"speech LLM ({knobs})" if extra else "speech LLM"
        rows.append(row(label, context, res, oracle, lat(model, context, run_dir, n)))
    save_results(args.name, {"steps": args.steps, "model": args.model, "rows": rows}, render,
                 plot, "latency")


if __name__ == "__main__":
    main()
