"""`susurrus train`: a recipe plus dotted key=value overrides; an unfinished run resumes.

    susurrus train recipes/speech_llm/default.yaml train.steps=200 model.compressor=avgpool
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(tr: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the `train` arguments to a (sub)parser; returns it."""
    tr.add_argument("recipe", type=Path, help="recipe YAML, e.g. recipes/speech_llm/default.yaml")
    tr.add_argument("overrides", nargs="*", metavar="key=value",
                    help="dotted overrides, e.g. train.steps=200 model.compressor=avgpool")
    tr.add_argument("--overwrite", action="store_true",
                    help="delete an existing run in train.out instead of resuming it")
    tr.add_argument("--quiet", action="store_true", help="no progress bar")
    return tr


def run(args: argparse.Namespace) -> int:
    """Train a recipe's task, with key=value overrides (resumes an unfinished run)."""
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
