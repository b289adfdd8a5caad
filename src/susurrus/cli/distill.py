"""`susurrus distill-teacher`: run a recipe's teacher once over its training data and cache
what the distillation reads (resumable: re-run the same command). A `whisper_distill` recipe:
the teacher LLM over its windows (paper 002); a `multitalker_ctc` recipe with a distillation
term: the SOT speech LLM's per-talker states over its mixtures (paper 003).
`susurrus distill-export`: write a trained student's shippable form (the tensors training
changed, float16, over the base model it names).

    susurrus distill-teacher recipes/whisper_distill/tiny.yaml
    susurrus train recipes/whisper_distill/tiny.yaml
    susurrus distill-export runs/whisper-distill-tiny --out my-student
    susurrus transcribe --model my-student reading.wav
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the `distill-teacher` arguments to a (sub)parser; returns it."""
    p.add_argument("recipe", type=Path,
                   help="a whisper_distill recipe (e.g. recipes/whisper_distill/tiny.yaml) or a "
                        "multitalker_ctc one with model.distill (recipes/multitalker/distill.yaml)")
    p.add_argument("overrides", nargs="*", metavar="key=value",
                   help="the same dotted overrides `susurrus train` will get")
    p.add_argument("--device", default="cpu", help="where the teacher runs: cpu, cuda, ...")
    p.add_argument("--batch-size", type=int, default=4,
                   help="windows (or mixtures) the teacher reads at once (default 4)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def run(args: argparse.Namespace) -> int:
    """Compute (or complete) the teacher cache of a whisper_distill recipe."""
    from susurrus.errors import BadRecipeError
    from susurrus.train.recipe import load_recipe
    from susurrus.train.sot_teacher import compute_sot_states
    from susurrus.train.tasks.whisper_distill import compute_teacher

    recipe = load_recipe(args.recipe, args.overrides)
    computes = {"whisper_distill": compute_teacher}
    if recipe.task == "multitalker_ctc" and recipe.model.distill:
        computes["multitalker_ctc"] = compute_sot_states
    if recipe.task not in computes:
        raise BadRecipeError(f"{args.recipe}: task {recipe.task!r} has no teacher to cache; "
                             "distill-teacher takes a whisper_distill recipe or a "
                             "multitalker_ctc one with model.distill")
    if args.batch_size < 1:
        raise BadRecipeError(f"--batch-size must be >= 1, got {args.batch_size}")
    folder = computes[recipe.task](recipe, progress=not args.quiet,
                                   batch_size=args.batch_size, device=args.device)
    print(f"{folder}: teacher cache complete; now run susurrus train {args.recipe} "
          f"{' '.join(args.overrides)}".rstrip())
    return 0


def add_export_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the `distill-export` arguments to a (sub)parser; returns it."""
    p.add_argument("checkpoint", type=Path,
                   help="a whisper_distill run folder, or the student folder it holds (model/)")
    p.add_argument("--out", type=Path, required=True, help="the folder to write")
    p.add_argument("--base", default=None,
                   help="the model the student was trained from (default: the recipe's "
                        "model.student); it must be installed wherever the student runs")
    p.add_argument("--storage", choices=("int8-delta", "float16"), default="int8-delta",
                   help="how the changed matrices are stored: their change from the base in "
                        "int8 with a scale per row (default: half the size, and closer to the "
                        "trained float32 weights than float16 is), or their values in float16")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    return p


def run_export(args: argparse.Namespace) -> int:
    """Export a student: its changed tensors (int8 deltas or float16) and recipe, over its
    base."""
    from susurrus.models.whisper_student import export_student
    from susurrus.pretrained.whisper_overlay import OVERLAY

    out, n = export_student(args.checkpoint, args.out, args.base, args.overwrite,
                            args.storage)
    size = sum(f.stat().st_size for f in out.iterdir() if f.is_file()) / 1e6
    print(f"{out}: {n} trained tensors in {OVERLAY}, {size:.1f} MB in all; run it with "
          f"susurrus transcribe --model {out}")
    return 0
