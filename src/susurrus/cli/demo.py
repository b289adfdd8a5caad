"""`make demo`: synthesize a small conversational corpus and print the results table.

Whisper tiny.en with no context (`none`), with its own previous hypotheses as prompt (`text`) and
with the previous references as prompt (`text (oracle)`); then the default model, the shipped
first-pass speech LLM (`speech-llm-tiny-fp`, which reads Whisper's transcript too),
with no context (`--speech-llm RUN_FOLDER` for another) and the shipped session model
(`speech-llm-tiny-fp-abstract`; `--context-llm` for another) without context and with the
context it was trained with: a second table sets them beside Whisper with its own previous
hypotheses as prompt (context audio tokens per prior turn, seconds per turn). On the `test`
and `test-ood` splits: WER, entity recall on first and repeated mentions, LLM audio tokens
per second, real-time factor. Writes
`out/demo/report.md` (with plots) and the results JSON beside it. Everything is resumable: a
second run reuses audio and hypotheses."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

SPLITS = ("test", "test-ood")
# Whisper's contexts, (mode, oracle): none, its own earlier hypotheses as prompt, the references
WHISPER_CONTEXTS = (("none", False), ("text", False), ("text", True))


def shipped_speech_llm(with_context: bool = False) -> str:
    """The speech LLM the demo scores: of the installed embedded adapters trained without
    (or, `with_context`, with) conversational context, the default model (or the session
    model) when it is one, else the first; '' when none ships."""
    from susurrus.pretrained import DEFAULT_MODEL, EMBEDDED, SESSION_MODEL

    names = [m.name for m in EMBEDDED.values() if m.kind == "speech-llm" and m.installed
             and (trained_context(m.name) != "none") == with_context]
    preferred = SESSION_MODEL if with_context else DEFAULT_MODEL
    return preferred if preferred in names else next(iter(names), "")


def trained_context(model: str) -> str:
    """The context mode a speech-LLM checkpoint was trained with ('none' for single-turn)."""
    from susurrus.models.speech_llm.checkpoint import (
        find_checkpoint,
        read_model_config,
        speech_llm_folder,
    )

    found = find_checkpoint(speech_llm_folder(model))
    return read_model_config(found).context if found is not None else "none"


def context_table(results) -> str:
    """Systems with and without conversational context: what it buys, what it costs."""
    lines = ["| split | system | context | WER | entity recall (first) | entity recall (repeat) | "
             "context audio tokens / prior turn | seconds / turn |",
             "|---|---|---|---:|---:|---:|---:|---:|"]
    for split, r in sorted(results, key=lambda x: SPLITS.index(x[0])):
        ctx = r.context_audio_tokens_per_prior_turn
        lines.append(f"| {split} | {r.model} | {r.context_label} | {r.wer:.3f} | "
                     f"{r.entity_recall_first:.3f} | {r.entity_recall_repeat:.3f} | "
                     f"{'–' if ctx is None else f'{ctx:.1f}'} | {r.seconds_per_turn:.2f} |")
    return "\n".join(lines)


def results_table(results) -> str:
    """The demo's table: one row per split x system x context, the numbers the issues ask for."""
    lines = ["| split | system | context | WER | entity recall (first) | entity recall (repeat) "
             "| ctx tokens/turn | LLM audio tokens/s | RTF |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for split, r in sorted(results, key=lambda x: SPLITS.index(x[0])):
        tps = "–" if r.llm_audio_tokens_per_second is None else \
            f"{r.llm_audio_tokens_per_second:.1f}"
        lines.append(f"| {split} | {r.model} | {r.context_label} | {r.wer:.3f} | "
                     f"{r.entity_recall_first:.3f} | {r.entity_recall_repeat:.3f} | "
                     f"{r.context_tokens_per_turn:.0f} | {tps} | {r.rtf:.3f} |")
    return "\n".join(lines)


def systems_to_run(whisper: str, speech_llm: str, context_llm: str
                   ) -> list[tuple[str, tuple[tuple[str, bool], ...]]]:
    """(model, its (context mode, oracle) pairs) of every system the demo evaluates: Whisper
    with each of WHISPER_CONTEXTS, the speech LLM without context (and with the one it was
    trained with, if any), the context speech LLM without context and with its own."""
    systems: list[tuple[str, tuple[tuple[str, bool], ...]]] = [(whisper, WHISPER_CONTEXTS)]
    if speech_llm:
        context = trained_context(speech_llm)
        systems.append((speech_llm, (("none", False),)
                        + (((context, False),) if context != "none" else ())))
    if context_llm and context_llm != speech_llm:
        context = trained_context(context_llm)
        if context == "none":
            raise SystemExit(f"--context-llm {context_llm}: trained without context; give it "
                             "as --speech-llm instead")
        # without context too: what the earlier turns buy the same weights
        systems.append((context_llm, (("none", False), (context, False))))
    return systems


def demo_tables(results, whisper: str) -> str:
    """The results table (Whisper in every context, speech LLMs without context), and when a
    speech LLM read context, the context table setting it beside Whisper with its own earlier
    hypotheses as prompt."""
    table = results_table([(s, r) for s, r in results if r.model == whisper
                           or r.context == "none"])
    with_ctx = [(s, r) for s, r in results if r.model != whisper
                or (r.context == "text" and not r.oracle)]
    if any(r.model != whisper and r.context != "none" for _, r in results):
        table += ("\n\nConversational context (earlier turns' transcripts are each system's own "
                  "hypotheses)\n\n" + context_table(with_ctx))
    return table


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("out/demo"), help="corpus, results, report")
    p.add_argument("--hours", type=float, default=0.1,
                   help="audio hours of test + test-ood together (default 0.1: ~3 min each)")
    p.add_argument("--model", default="whisper-tiny.en", help="the Whisper baseline")
    p.add_argument("--speech-llm", default=None,
                   help="speech-LLM checkpoint (name or run folder) to compare; default: the "
                        "shipped single-turn one; '' to skip")
    p.add_argument("--context-llm", default=None,
                   help="speech-LLM checkpoint trained with conversational context, read with "
                        "that context; default: the shipped one; '' to skip")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    from susurrus.data.synth import synthesize
    from susurrus.evaluate.decode import DecodeConfig
    from susurrus.evaluate.evaluate import evaluate
    from susurrus.evaluate.report import write_report

    t0 = time.perf_counter()
    corpus = args.out / "corpus"
    manifests = synthesize("conversations", corpus, hours=args.hours, seed=args.seed,
                           splits=SPLITS)
    t_synth = time.perf_counter() - t0
    speech_llm = shipped_speech_llm() if args.speech_llm is None else args.speech_llm
    context_llm = shipped_speech_llm(with_context=True) if args.context_llm is None \
        else args.context_llm
    results, paths = [], []
    for split in SPLITS:
        for model, contexts in systems_to_run(args.model, speech_llm, context_llm):
            for mode, oracle in contexts:
                name = f"{split}_{Path(model).name}_{mode}{'-oracle' if oracle else ''}"
                out = args.out / "results" / f"{name}.json"
                # Hypotheses of an earlier identical run (out + ".hyps.jsonl") are reused.
                cfg = DecodeConfig(model=model, context=mode, oracle=oracle)
                results.append((split, evaluate(manifests[split], cfg, out, with_ner=True)))
                paths.append(out)
    elapsed = time.perf_counter() - t0
    table = demo_tables(results, args.model)
    n_turns = sum({split: r.n_utterances for split, r in results}.values())
    print(f"\nResults on synthesized conversations (test and test-ood, {n_turns} turns)\n")
    print(table)
    report = write_report(
        paths, args.out / "report.md", title="susurrus demo: Whisper baselines and the speech LLM",
        preamble=(f"Corpus: `susurrus synth conversations --hours {args.hours} --seed "
                  f"{args.seed}` (splits {', '.join(SPLITS)}). Synthesis {t_synth:.0f} s, total "
                  f"{elapsed:.0f} s.\n\n{table}\n\nAll metrics:"),
        overwrite=True)  # the demo's own report, redrawn on every run
    print(f"\nreport: {report}   ({elapsed:.0f} s; synthesis {t_synth:.0f} s)")


if __name__ == "__main__":
    main()
