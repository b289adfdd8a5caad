"""`susurrus` command: each sub-command is a plain function over the Python API.

Errors a user can fix (bad audio, unknown model, a file that would be overwritten) print one line
naming the file and what to do, and exit with status 2; no traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from susurrus.audio.io import AudioError
from susurrus.data.manifest import ManifestError
from susurrus.errors import UsageError
from susurrus.infer.session import SessionError
from susurrus.infer.transcript import FORMATS
from susurrus.models.speech_llm.checkpoint import CheckpointError
from susurrus.pretrained.cache import CacheCorruptError
from susurrus.pretrained.registry import ModelNotFoundError
from susurrus.train.loop import RunError
from susurrus.train.recipe import RecipeError

# Errors a user can fix: one line, no traceback. Anything else is our bug and shows a traceback.
USER_ERRORS = (AudioError, ModelNotFoundError, CacheCorruptError, FileExistsError,
               FileNotFoundError, ManifestError, UsageError, RecipeError, RunError,
               CheckpointError, SessionError)


def _transcribe_one(path: Path, args: argparse.Namespace, formats: list[str], options) -> None:
    from tqdm import tqdm

    from susurrus.audio.io import SAMPLE_RATE, load_audio
    from susurrus.infer import render, transcribe, write

    targets = []
    if args.output_dir is not None:
        targets = [args.output_dir / f"{path.stem}.{f}" for f in formats]
        clash = [t for t in targets if t.exists()]
        if clash and not args.overwrite:  # before any work: never clobber what the user has
            raise FileExistsError(f"{clash[0]} exists; pass --overwrite to replace it")
    audio = load_audio(path)
    total = round(audio.shape[0] / SAMPLE_RATE, 1)
    with tqdm(total=total, unit="s", desc=path.name, leave=False, disable=args.quiet) as bar:
        result = transcribe(
            audio, sample_rate=SAMPLE_RATE, model=args.model, engine=args.engine,
            prompt=args.prompt, device=args.device, options=options,
            on_progress=lambda done: bar.update(round(min(done, total) - bar.n, 1)),
        )
    result.source = str(path)
    if not targets:
        sys.stdout.write(render(result, formats[0]))
        return
    for target, fmt in zip(targets, formats, strict=True):
        write(result, target, fmt, overwrite=args.overwrite)
        print(target, file=sys.stderr)


def _check_speech_llm(model: str, engine: str, prompt_option: str | None, fix: str) -> None:
    """Refuse, before any work, what a speech-LLM checkpoint cannot do: another engine, a prompt."""
    from susurrus.infer.speech_llm_engine import is_speech_llm

    if not is_speech_llm(model):
        return
    if engine != "torch":
        raise UsageError(f"{model} is a speech-LLM checkpoint; it runs on the torch engine only "
                         f"(drop --engine {engine})")
    if prompt_option:
        raise UsageError(f"{model} is a speech-LLM checkpoint, which takes no text prompt yet "
                         f"({prompt_option}); {fix}")


def cmd_transcribe(args: argparse.Namespace) -> int:
    """Transcribe files; print text, or write one file per format into --output-dir.

    A file that fails (bad audio, output exists) is reported and the others still run.
    """
    from susurrus.infer import LongFormOptions

    if args.session:
        from susurrus.cli.session import transcribe_session

        return transcribe_session(args)
    if args.context or args.session_state or args.max_context_turns is not None:
        raise UsageError("--context, --max-context-turns and --session-state go with --session")
    formats = list(FORMATS) if args.format == "all" else args.format.split(",")
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise UsageError(f"--format: unknown {bad}; choose from {', '.join(FORMATS)} or 'all'")
    if args.output_dir is None and len(formats) > 1:
        raise UsageError("--format with several formats needs --output-dir")
    _check_speech_llm(args.model, args.engine, "--prompt" if args.prompt else None,
                      "drop --prompt")
    options = LongFormOptions(
        condition_on_previous_text=not args.no_condition_on_previous_text,
        temperatures=(0.0,) if args.no_fallback else LongFormOptions().temperatures,
    )
    failed = 0
    for path in args.files:
        try:
            _transcribe_one(Path(path), args, formats, options)
        except USER_ERRORS as e:
            failed += 1
            print(f"error: {e}", file=sys.stderr)
    return 2 if failed else 0


def cmd_models(args: argparse.Namespace) -> int:
    """List the embedded model names, what they are, and whether their package is installed."""
    from susurrus.pretrained import EMBEDDED, resolve

    print(f"{'name':<24} {'kind':<17} {'installed':<9} {'package':<22} description")
    for m in EMBEDDED.values():
        state = "yes" if m.installed else "no"
        if args.verify and m.installed:
            resolve(m.name)  # converts if needed and checks the cache's checksums
            state = "verified"
        print(f"{m.name:<24} {m.kind:<17} {state:<9} {m.package:<22} {m.description}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    """Decode a manifest with one system and context mode; print the table, write the JSON."""
    from susurrus.evaluate.decode import DecodeConfig
    from susurrus.evaluate.evaluate import evaluate, format_table

    if args.out is not None and args.out.exists():
        if not args.overwrite:
            raise FileExistsError(f"{args.out} exists; pass --overwrite to replace it")
        # A finished run is being replaced: decode afresh rather than reuse its hypotheses.
        Path(str(args.out) + ".hyps.jsonl").unlink(missing_ok=True)
    from susurrus.evaluate.decode import SPEECH_LLM_CONTEXTS, WHISPER_CONTEXTS
    from susurrus.infer.speech_llm_engine import is_speech_llm

    speech_llm = is_speech_llm(args.model)
    _check_speech_llm(args.model, args.engine,
                      f"--context {args.context}" if args.context in WHISPER_CONTEXTS[1:]
                      else None, f"use --context {' | '.join(SPEECH_LLM_CONTEXTS)}")
    if not speech_llm and args.context not in WHISPER_CONTEXTS:
        raise UsageError(f"--context {args.context} is for speech-LLM checkpoints; "
                         f"{args.model} is a Whisper model: use --context "
                         f"{' | '.join(WHISPER_CONTEXTS)}")
    if speech_llm and args.context != "none" and args.max_context_turns == 0:
        raise UsageError("--max-context-turns 0 reads no earlier turn: use --context none")
    try:
        config = DecodeConfig(model=args.model, engine=args.engine, context=args.context,
                              max_context_turns=args.max_context_turns,
                              limit_sessions=args.limit_sessions,
                              oracle_context=args.oracle_context)
    except ValueError as e:  # e.g. --max-context-turns -1: the user's to fix, not a traceback
        raise UsageError(str(e)) from None
    result = evaluate(args.manifest, config, args.out, progress=not args.quiet,
                      with_ner=not args.no_ner)
    print(format_table([result]))
    if args.out is not None:
        print(f"results: {args.out}", file=sys.stderr)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """Train a speech LLM from a recipe plus key=value overrides (resumes an unfinished run)."""
    from susurrus.train.loop import train
    from susurrus.train.recipe import load_recipe

    recipe = load_recipe(args.recipe, args.overrides)
    result = train(recipe, overwrite=args.overwrite, progress=not args.quiet)
    if not result.primary:  # another process of a multi-process run: the first one reports
        return 0
    wer = "n/a" if result.valid_wer is None else f"{result.valid_wer:.3f}"
    print(f"{result.out}: {result.steps} steps, loss {result.final_loss:.3f}, validation WER "
          f"{wer}, {result.seconds / 60:.1f} min; use it with --model {result.out}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Render results JSON files into one Markdown report with plots."""
    from susurrus.evaluate.report import write_report

    out = write_report(args.results, args.out, title=args.title)
    print(out)
    return 0


def build_parser() -> argparse.ArgumentParser:
    from susurrus import __version__
    from susurrus.infer import DEFAULT_MODEL, ENGINES

    p = argparse.ArgumentParser(prog="susurrus", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"susurrus {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("transcribe", help="transcribe audio files of any length")
    t.add_argument("files", nargs="+",
                   help="audio files (wav, flac, ogg, mp3, anything ffmpeg reads)")
    t.add_argument("--model", default=DEFAULT_MODEL,
                   help="embedded name (see `susurrus models`, e.g. speech-llm-tiny), checkpoint "
                        "or run folder, or hub id")
    t.add_argument("--engine", default="torch", choices=sorted(ENGINES),
                   help="torch: susurrus decoding; faster-whisper: the same weights in CTranslate2")
    t.add_argument("--prompt", default=None, help="context text: names, topic, previous turns")
    t.add_argument("--format", default="txt",
                   help=f"one or more of {','.join(FORMATS)} (comma-separated) or 'all'")
    t.add_argument("--output-dir", type=Path, default=None,
                   help="write FILE_STEM.FORMAT here instead of printing")
    t.add_argument("--overwrite", action="store_true", help="replace existing output files")
    t.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    t.add_argument("--no-condition-on-previous-text", action="store_true",
                   help="do not carry each window's text into the next window's prompt")
    t.add_argument("--no-fallback", action="store_true",
                   help="greedy only: no temperature fallback on repetitive/unlikely windows")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.add_argument("--session", action="store_true",
                   help="the files are one conversation's turns, in order (or one JSONL "
                        "manifest: each of its sessions); a speech LLM reads earlier turns")
    t.add_argument("--context", default=None, choices=["none", "text", "raw", "abstract"],
                   help="with --session: how earlier turns are read (default: the model's own)")
    t.add_argument("--max-context-turns", type=int, default=None,
                   help="with --session: earlier turns read at most (default: as many as "
                        "the model was trained with)")
    t.add_argument("--session-state", default=None,
                   help="with --session: restore the conversation from this file if it exists, "
                        "save it after every turn")
    t.set_defaults(func=cmd_transcribe)

    from susurrus.cli.synth import add_synth_arguments, run_synth

    add_synth_arguments(sub.add_parser(
        "synth", help="synthesize a corpus: conversations, longform or mixtures",
    )).set_defaults(func=run_synth)

    e = sub.add_parser("eval", help="score a system on a manifest (JSONL or lhotse)")
    e.add_argument("--manifest", type=Path, required=True,
                   help="susurrus JSONL, lhotse CutSet, or lhotse RecordingSet (+ supervisions)")
    e.add_argument("--model", default=DEFAULT_MODEL,
                   help="embedded name (e.g. speech-llm-tiny), checkpoint or run folder, hub id")
    e.add_argument("--engine", default="torch", choices=sorted(ENGINES))
    e.add_argument("--context", default="none",
                   choices=["none", "prompt", "oracle-prompt", "text", "raw", "abstract"],
                   help="Whisper: prompt (the session's previous hypotheses) or oracle-prompt "
                        "(references). Speech LLM: text (previous transcripts), raw (previous "
                        "audio tokens + transcripts), abstract (K latents + transcripts)")
    e.add_argument("--oracle-context", action="store_true",
                   help="text/raw/abstract: previous transcripts are the references, not the "
                        "model's own hypotheses")
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
    e.set_defaults(func=cmd_eval)

    tr = sub.add_parser("train", help="train a speech LLM from a recipe (resumable)")
    tr.add_argument("recipe", type=Path, help="recipe YAML, e.g. recipes/speech_llm/default.yaml")
    tr.add_argument("overrides", nargs="*", metavar="key=value",
                    help="dotted overrides, e.g. train.steps=200 model.compressor=avgpool")
    tr.add_argument("--overwrite", action="store_true",
                    help="delete an existing run in train.out instead of resuming it")
    tr.add_argument("--quiet", action="store_true", help="no progress bar")
    tr.set_defaults(func=cmd_train)

    r = sub.add_parser("report", help="Markdown report with plots from results JSON files")
    r.add_argument("results", nargs="+", type=Path, help="results*.json from `susurrus eval`")
    r.add_argument("--out", type=Path, default=Path("report.md"))
    r.add_argument("--title", default="susurrus report")
    r.set_defaults(func=cmd_report)

    m = sub.add_parser("models", help="list embedded models")
    m.add_argument("--verify", action="store_true", help="convert if needed and check checksums")
    m.set_defaults(func=cmd_models)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # argparse stops filling `train`'s key=value list at the first option (`--quiet a=b`):
    # overrides after options are overrides all the same; anything else is an error
    if extra and args.command == "train" and all("=" in e and not e.startswith("-")
                                                 for e in extra):
        args.overrides = [*args.overrides, *extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return args.func(args)
    except USER_ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
