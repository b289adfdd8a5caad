"""`susurrus transcribe`: audio files of any length -> text on stdout, or files per format.

    susurrus transcribe talk.wav                                   # text to stdout
    susurrus transcribe *.wav --format all --output-dir out/       # txt, json, srt, vtt each
    susurrus transcribe *.wav --output-dir out/ --skip-existing    # go on after Ctrl-C

Every option is checked before any model loads: the device, the output folder, formats that
cannot be concatenated on stdout, outputs that would be overwritten. A file that fails (bad
audio, output exists) is reported on one line and the others still run (exit 2 at the end).
A window the model decoded suspectly (no text from speech, a loop cut, the length limit hit) is
a `warning:` line on stderr; the transcript is still what the model wrote (exit 0).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from susurrus.cli.common import (
    CONTEXT_CANDIDATES,
    ENGINE_NAMES,
    FIRST_PASS_NBEST,
    OUTPUT_FORMATS,
    Interrupted,
    whole_number,
)
from susurrus.context import CONTEXT_MODES
from susurrus.errors import OutputExistsError, UsageError, UserError
from susurrus.pretrained.registry import DEFAULT_MODEL

# Formats whose documents cannot be concatenated: two JSON objects are not JSON, two SRT files
# restart their cue numbers, two VTT files repeat the header.
ONE_DOCUMENT = ("json", "srt", "vtt")


def add_arguments(t: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the `transcribe` arguments to a (sub)parser; returns it."""
    t.add_argument("files", nargs="+",
                   help="audio files (wav, flac, ogg, mp3, anything ffmpeg reads)")
    t.add_argument("--model", default=DEFAULT_MODEL,
                   help="embedded name (see `susurrus models`, e.g. speech-llm-tiny), checkpoint "
                        "or run folder, or hub id")
    t.add_argument("--engine", default="torch", choices=sorted(ENGINE_NAMES),
                   help="torch: susurrus decoding; faster-whisper: the same weights in CTranslate2")
    t.add_argument("--prompt", default=None, help="context text: names, topic, previous turns")
    t.add_argument("--format", default="txt",
                   help=f"one or more of {','.join(OUTPUT_FORMATS)} (comma-separated) or 'all'")
    t.add_argument("--output-dir", type=Path, default=None,
                   help="write FILE_STEM.FORMAT here instead of printing")
    t.add_argument("--overwrite", action="store_true", help="replace existing output files")
    t.add_argument("--skip-existing", action="store_true",
                   help="with --output-dir: skip a file whose outputs all exist (to go on after "
                        "an interruption)")
    t.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ... or mps")
    t.add_argument("--no-condition-on-previous-text", action="store_true",
                   help="do not carry each window's text into the next window's prompt")
    t.add_argument("--no-fallback", action="store_true",
                   help="greedy only: no temperature fallback on repetitive/unlikely windows "
                        "(Whisper) or suspect ones (a speech LLM)")
    t.add_argument("--first-pass-choice", default="joint", choices=["joint", "llm"],
                   help="a speech LLM that reads a first pass (speech-llm-tiny-fp): joint "
                        "(default) keeps, window by window, whichever of its own and the first "
                        "pass's transcripts both models score higher; llm always keeps its own")
    t.add_argument("--context-candidates", type=whole_number, default=CONTEXT_CANDIDATES,
                   metavar="N",
                   help="--session with a first-pass speech LLM: up to N more texts per turn "
                        "compete in the joint choice, its texts with a misheard stretch "
                        "respelled as a name, number or date of the earlier turns (0 = none)")
    t.add_argument("--first-pass-nbest", type=whole_number, default=FIRST_PASS_NBEST,
                   metavar="N",
                   help="a first-pass speech LLM with the joint choice: Whisper's beam search "
                        "of width N gives more texts that compete (0 or 1 = none)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.add_argument("--session", action="store_true",
                   help="the files are one conversation's turns, in order (or one JSONL "
                        "manifest: each of its sessions); a speech LLM reads earlier turns")
    t.add_argument("--context", default=None, choices=list(CONTEXT_MODES),
                   help="with --session: how earlier turns are read (default: the model's own)")
    t.add_argument("--max-context-turns", type=int, default=None,
                   help="with --session: earlier turns read at most (default: as many as "
                        "the model was trained with)")
    t.add_argument("--session-state", default=None,
                   help="with --session: restore the conversation from this file if it exists, "
                        "save it after every turn")
    return t


def _formats(args: argparse.Namespace) -> list[str]:
    """The output formats asked for, checked against the number of files and --output-dir."""
    formats = list(OUTPUT_FORMATS) if args.format == "all" else args.format.split(",")
    bad = [f for f in formats if f not in OUTPUT_FORMATS]
    if bad:
        raise UsageError(f"--format: unknown {bad}; choose from {', '.join(OUTPUT_FORMATS)} or "
                         "'all'")
    if args.output_dir is None and len(formats) > 1:
        raise UsageError("--format with several formats needs --output-dir")
    if args.output_dir is None and len(args.files) > 1 and formats[0] in ONE_DOCUMENT:
        raise UsageError(f"--format {formats[0]} with {len(args.files)} files would print them "
                         f"as one invalid {formats[0]} document: give --output-dir (one file per "
                         "input), or --format txt")
    return formats


def _check_outputs(args: argparse.Namespace) -> None:
    """Before any model loads: a usable --output-dir, one name per input, consistent flags."""
    from susurrus.preflight import check_output_dir

    if args.skip_existing and (args.overwrite or args.output_dir is None):
        raise UsageError("--skip-existing goes with --output-dir and without --overwrite")
    if args.output_dir is None:
        return
    check_output_dir(args.output_dir, "--output-dir")
    stems: dict[str, str] = {}
    for f in args.files:
        stem = Path(f).stem
        if stem in stems and stems[stem] != f:
            raise UsageError(f"--output-dir: {stems[stem]} and {f} would both write "
                             f"{args.output_dir / stem}.*; rename one or transcribe them apart")
        stems[stem] = f


def recognizer_options(args: argparse.Namespace) -> tuple:
    """The options each model family takes from the command line (Whisper's long-form
    decoding, a speech LLM's generation)."""
    from susurrus.infer import LongFormOptions
    from susurrus.models.speech_llm.generation import GenerateOptions

    options: tuple = (LongFormOptions(
        condition_on_previous_text=not args.no_condition_on_previous_text,
        temperatures=(0.0,) if args.no_fallback else LongFormOptions().temperatures,
    ),)
    # the fallback ladder of a speech LLM is the long-form options' (the registry's rule)
    generate = GenerateOptions(first_pass_choice=args.first_pass_choice,
                               context_candidates=args.context_candidates,
                               first_pass_nbest=args.first_pass_nbest)
    if generate != GenerateOptions():
        options += (generate,)
    return options


def run(args: argparse.Namespace) -> int:
    """Transcribe files; print text, or write one file per format into --output-dir.

    A file that fails (bad audio, output exists) is reported and the others still run.
    """
    from susurrus.preflight import resolve_device

    if args.session:
        from susurrus.cli.session import transcribe_session

        args.device = resolve_device(args.device, "--device")
        return transcribe_session(args, recognizer_options(args))
    if args.context or args.session_state or args.max_context_turns is not None:
        raise UsageError("--context, --max-context-turns and --session-state go with --session")
    formats = _formats(args)
    _check_outputs(args)
    args.device = resolve_device(args.device, "--device")
    from susurrus.infer import load_recognizer
    from susurrus.infer.recognizer import check_prompt

    options = recognizer_options(args)
    # what the model cannot do (another engine, a prompt) is refused before any file is read
    check_prompt(load_recognizer(args.model, args.engine, args.device, options), args.prompt)
    failed, done = 0, 0
    for i, path in enumerate(args.files):
        try:
            done += _transcribe_one(Path(path), args, formats, options)
        except UserError as e:
            failed += 1
            print(f"error: {e}", file=sys.stderr)
        except KeyboardInterrupt:
            raise Interrupted(_kept(args, done, path, len(args.files) - i - 1)) from None
    return 2 if failed else 0


def _kept(args: argparse.Namespace, done: int, current: str, left: int) -> str:
    """What an interruption leaves, and how to go on."""
    rest = f"{current} and {left} more file(s)" if left else current
    if args.output_dir is None:
        return (f"{rest} not transcribed; the transcripts printed above are complete, nothing "
                "was written; re-run with the files not yet printed")
    how = "with --skip-existing instead of --overwrite" if args.overwrite else \
        "with --skip-existing"
    return (f"kept the outputs of {done} finished file(s) in {args.output_dir} ({current} was "
            f"not written); re-run the same command {how} to transcribe {rest}")


def _transcribe_one(path: Path, args: argparse.Namespace, formats: list[str], options) -> int:
    """Transcribe one file; returns 1 if its outputs were written, 0 if printed or skipped."""
    from tqdm import tqdm

    from susurrus.audio.io import SAMPLE_RATE, load_audio
    from susurrus.infer import render, transcribe, write
    from susurrus.infer.recognizer import AudioTooLongError

    outputs: list[tuple[Path, str]] = []  # (file, format); none: print to stdout
    if args.output_dir is not None:
        outputs = [(args.output_dir / f"{path.stem}.{f}", f) for f in formats]
        clash = [t for t, _ in outputs if t.exists()]
        if args.skip_existing:  # what an interrupted run finished stays as it is
            outputs = [(t, f) for t, f in outputs if not t.exists()]
            if not outputs:
                print(f"{path}: outputs exist, skipped", file=sys.stderr)
                return 0
        elif clash and not args.overwrite:  # before any work: never clobber what the user has
            raise OutputExistsError(f"{clash[0]} exists; pass --overwrite to replace it")
    audio = load_audio(path)
    total = round(audio.shape[0] / SAMPLE_RATE, 1)
    with tqdm(total=total, unit="s", desc=path.name, leave=False, disable=args.quiet) as bar:
        try:
            result = transcribe(
                audio, sample_rate=SAMPLE_RATE, model=args.model, engine=args.engine,
                prompt=args.prompt, device=args.device, options=options,
                on_progress=lambda done: bar.update(round(min(done, total) - bar.n, 1)),
            )
        except AudioTooLongError as e:  # the recognizer saw an array: name the file
            raise e.named(str(path)) from None
    result.source = str(path)
    for issue in result.issues:  # the transcript is what the model wrote; say where it is suspect
        print(f"warning: {path} {issue.message}", file=sys.stderr)
    if not outputs:
        sys.stdout.write(render(result, formats[0]))
        return 0
    for target, fmt in outputs:
        write(result, target, fmt, overwrite=args.overwrite)
        print(target, file=sys.stderr)
    return 1
