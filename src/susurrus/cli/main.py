"""`susurrus` command: each sub-command is a plain function over the Python API.

Errors a user can fix (`susurrus.errors.UserError`: bad audio, unknown model, a file that would
be overwritten) print one line naming the file and what to do, and exit with status 2; anything
else is a bug of ours and keeps its traceback. Ctrl-C prints one line saying what was kept and
exits with 130.

Building the parser imports no torch (`susurrus --help` is instant): each command module imports
what it needs inside its `run`.
"""

from __future__ import annotations

import argparse
import sys

from susurrus.cli import distill, models, prepare, report, serve, synth, train, transcribe
from susurrus.cli import eval as eval_cmd
from susurrus.errors import UserError


def build_parser() -> argparse.ArgumentParser:
    from susurrus import __version__

    p = argparse.ArgumentParser(prog="susurrus", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"susurrus {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    commands = [  # name, arguments, function, help, what Ctrl-C leaves (if it says nothing)
        ("transcribe", transcribe.add_arguments, transcribe.run,
         "transcribe audio files of any length", "nothing more was written"),
        ("synth", synth.add_synth_arguments, synth.run_synth,
         "synthesize a corpus: conversations, longform or mixtures",
         "finished files are kept; re-run the same command to resume"),
        ("prepare", prepare.add_arguments, prepare.run,
         "make a susurrus corpus of real LibriMix (through lhotse) or of lhotse's mixed cuts",
         "finished files are kept; re-run the same command to resume"),
        ("eval", eval_cmd.add_arguments, eval_cmd.run,
         "score a system on a manifest (JSONL or lhotse)", "nothing more was written"),
        ("train", train.add_arguments, train.run, "train a recipe's task (resumable)",
         "the run keeps its last checkpoint; re-run the same command to resume from it"),
        ("distill-teacher", distill.add_arguments, distill.run,
         "cache a whisper_distill recipe's teacher outputs (before training it)",
         "finished shards are kept; re-run the same command to resume"),
        ("distill-export", distill.add_export_arguments, distill.run_export,
         "write a trained Whisper student's shippable form (its trained tensors, float16)",
         "nothing was written"),
        ("report", report.add_arguments, report.run,
         "Markdown report with plots from results JSON files",
         "the report may be incomplete; re-run the same command"),
        ("models", models.add_arguments, models.run, "list embedded models",
         "nothing was changed"),
        ("serve", serve.add_arguments, serve.run,
         "OpenAI-compatible transcription server with conversation sessions and a web page",
         "the server stopped; sessions are kept in --state-dir"),
    ]
    for name, add_arguments, run, help_text, on_interrupt in commands:
        add_arguments(sub.add_parser(name, help=help_text)).set_defaults(
            func=run, on_interrupt=on_interrupt)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # argparse stops filling `train`'s key=value list at the first option (`--quiet a=b`):
    # overrides after options are overrides all the same; anything else is an error
    if extra and args.command in ("train", "distill-teacher") and all(
            "=" in e and not e.startswith("-") for e in extra):
        args.overrides = [*args.overrides, *extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return args.func(args)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:  # a command's `Interrupted` says what it kept
        print(f"interrupted: {e or args.on_interrupt}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
