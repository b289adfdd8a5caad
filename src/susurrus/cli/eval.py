"""`susurrus eval`: decode a manifest with one system and context mode; the table, the JSON.

    susurrus eval --manifest data/conv/test.jsonl --context text --out results/text.json

Hypotheses go to `<out>.hyps.jsonl` as they come: after Ctrl-C, the same command decodes only
what is missing. Options, the manifest's path and --out are checked before any model loads.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from susurrus.cli.common import (
    CONTEXT_CANDIDATES,
    ENGINE_NAMES,
    FIRST_PASS_NBEST,
    Interrupted,
    whole_number,
)
from susurrus.context import CONTEXT_MODES
from susurrus.errors import OutputExistsError
from susurrus.pretrained.registry import DEFAULT_MODEL

# Whisper's spellings of its text context before issue 15, still accepted (susurrus.context).
LEGACY_CONTEXTS = ("prompt", "oracle-prompt")


def add_arguments(e: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the `eval` arguments to a (sub)parser; returns it."""
    e.add_argument("--manifest", type=Path, required=True,
                   help="susurrus JSONL, lhotse CutSet, or lhotse RecordingSet (+ supervisions)")
    e.add_argument("--model", default=DEFAULT_MODEL,
                   help="embedded name (e.g. speech-llm-tiny), checkpoint or run folder, hub id")
    e.add_argument("--engine", default="torch", choices=sorted(ENGINE_NAMES))
    e.add_argument("--context", default="none",
                   choices=[*CONTEXT_MODES, *LEGACY_CONTEXTS],
                   help="what each turn reads of the session's earlier turns: text (their "
                        "transcripts; Whisper reads them as its prompt), raw (their audio tokens "
                        "+ transcripts, speech LLM), abstract (K latents + transcripts, speech "
                        "LLM); 'prompt' and 'oracle-prompt' are the old names of text and "
                        "text --oracle-context")
    e.add_argument("--oracle-context", action="store_true",
                   help="the earlier transcripts are the references, not the system's own "
                        "hypotheses")
    e.add_argument("--oracle-count", action="store_true",
                   help="mixtures: decode each with its true talker count instead of the one "
                        "the model picks (a multi-talker CTC model; paper 003's comparison row)")
    e.add_argument("--no-fallback", action="store_true",
                   help="greedy only: no temperature fallback on suspect windows (as "
                        "transcribe --no-fallback)")
    e.add_argument("--first-pass-choice", default="joint", choices=["joint", "llm"],
                   help="a speech LLM that reads a first pass: joint (default) keeps, window by "
                        "window, whichever of its own and the first pass's transcripts both "
                        "models score higher; llm always keeps its own (as transcribe "
                        "--first-pass-choice)")
    e.add_argument("--context-candidates", type=whole_number, default=CONTEXT_CANDIDATES,
                   metavar="N",
                   help="with a context and the joint choice: up to N more texts per turn "
                        "compete, its texts with a misheard stretch respelled as a name, number "
                        f"or date of the earlier turns (0 = none; default {CONTEXT_CANDIDATES})")
    e.add_argument("--first-pass-nbest", type=whole_number, default=FIRST_PASS_NBEST,
                   metavar="N",
                   help="with the joint choice: the first pass's beam search of width N gives "
                        "more texts that compete (0 or 1 = none; default "
                        f"{FIRST_PASS_NBEST}; as transcribe --first-pass-nbest)")
    e.add_argument("--max-context-turns", type=int, default=None,
                   help="previous turns read as context (default: Whisper all that fit its "
                        "prompt; a speech LLM as many as it was trained with)")
    e.add_argument("--limit-sessions", type=int, default=None, help="first N sessions only")
    e.add_argument("--out", type=Path, default=None, help="results JSON (hypotheses beside it)")
    e.add_argument("--overwrite", action="store_true",
                   help="replace an existing --out and decode again (an interrupted run, which "
                        "has no --out yet, resumes without it)")
    e.add_argument("--no-ner", action="store_true", help="skip spaCy NER F1 (faster)")
    e.add_argument("--quiet", action="store_true", help="no progress bar")
    return e


def _decode_config(args: argparse.Namespace):
    """The options as a DecodeConfig; what the model cannot run is refused by the API (typed
    errors, before any decoding)."""
    from susurrus.evaluate.decode import DecodeConfig

    return DecodeConfig(model=args.model, engine=args.engine, context=args.context,
                        max_context_turns=args.max_context_turns,
                        limit_sessions=args.limit_sessions, oracle=args.oracle_context,
                        oracle_count=args.oracle_count, no_fallback=args.no_fallback,
                        first_pass_choice=args.first_pass_choice,
                        context_candidates=args.context_candidates,
                        first_pass_nbest=args.first_pass_nbest)


def run(args: argparse.Namespace) -> int:
    """Decode a manifest with one system and context mode; print the table, write the JSON."""
    from susurrus.data.manifest import check_manifest_path
    from susurrus.preflight import check_output_file

    if args.out is not None:
        check_output_file(args.out, "--out")
        if args.out.exists() and not args.overwrite:
            raise OutputExistsError(f"{args.out} exists; pass --overwrite to replace it")
    config = _decode_config(args)
    check_manifest_path(args.manifest)
    hyps = None if args.out is None else Path(str(args.out) + ".hyps.jsonl")
    if args.out is not None and args.out.exists():
        # A finished run is being replaced: decode afresh rather than reuse its hypotheses. Its
        # results go too, so that an interrupted replacement resumes like any other run.
        hyps.unlink(missing_ok=True)
        args.out.unlink()
    from susurrus.evaluate.evaluate import evaluate, format_table

    try:
        result = evaluate(args.manifest, config, args.out, progress=not args.quiet,
                          with_ner=not args.no_ner)
    except KeyboardInterrupt:
        raise Interrupted(_kept(hyps)) from None
    print(format_table([result]))
    if result.suspect_windows:
        where = (f"each utterance's are under 'issues' in {hyps}" if hyps is not None
                 else "give --out to see which")
        print(f"warning: {result.suspect_windows} decoded window(s) were suspect (no text, too "
              f"little text, a loop or the length limit), scored as they came; {where}",
              file=sys.stderr)
    if args.out is not None:
        print(f"results: {args.out}", file=sys.stderr)
    return 0


def _kept(hyps: Path | None) -> str:
    """What an interrupted evaluation leaves, and how to go on."""
    if hyps is None:
        return ("nothing kept: without --out no hypotheses are written; add --out FILE to make a "
                "run resumable")
    done = 0
    if hyps.exists():
        for line in hyps.read_text(encoding="utf-8").splitlines()[1:]:  # line 1: the header
            try:
                json.loads(line)
            except json.JSONDecodeError:
                break  # cut by the interruption: decoded again on resume
            done += 1
    return (f"kept {done} hypotheses in {hyps}; re-run the same command to resume (only the "
            "rest is decoded)")
