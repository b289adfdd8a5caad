"""The run folder (`train.out`): what it holds, and when a run may use it.

    recipe.yaml            the recipe as run (a different task/model/data recipe is refused)
    log.jsonl              one line per log/validation step (step 0: the task's first phase)
    model/                 the latest trained weights + recipe: what `--model RUN` loads
    checkpoints/step-N/    trained weights + trainer state, the last two kept
    ranks/rank-R.jsonl     with train.debug_ranks: each process's batches and final weights
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from susurrus.errors import BadRecipeError
from susurrus.files import write_text_atomic

STATE = "trainer_state.pt"
KEEP_CHECKPOINTS = 2


class RunError(BadRecipeError):
    """A run folder that cannot be used as asked (e.g. another recipe's run)."""


def latest_checkpoint(out: Path) -> Path | None:
    """The newest complete checkpoint of run folder `out` (None: a fresh run)."""
    steps = sorted((out / "checkpoints").glob("step-*"), key=lambda p: p.name)
    steps = [p for p in steps if (p / STATE).is_file()]
    return steps[-1] if steps else None


def check_run_folder(recipe, overwrite: bool) -> Path:
    """`train.out`, if this recipe may use it: empty, absent, or a run of the same task, model
    and data (or `overwrite`). Reads only, so every process may call it."""
    from susurrus.train.recipe import load_recipe, recipe_fingerprint

    out = Path(recipe.train.out)
    saved = out / "recipe.yaml"
    if saved.exists() and not overwrite:
        before = load_recipe(saved)
        if recipe_fingerprint(before) != recipe_fingerprint(recipe):
            raise RunError(f"{out} holds a run of a different model/data recipe; choose another "
                           "train.out, or pass --overwrite to delete that run")
    elif not saved.exists() and out.is_dir() and any(out.iterdir()):
        raise RunError(f"{out} exists and is not a susurrus run folder; choose another train.out")
    elif out.exists() and not out.is_dir():
        raise RunError(f"{out} is a file; train.out must be a folder")
    return out


def prepare_run_folder(recipe, overwrite: bool) -> Path:
    """Create `train.out` (or empty it, with `overwrite`) and save the recipe in it."""
    from susurrus.train.recipe import save_recipe

    out = check_run_folder(recipe, overwrite)
    if (out / "recipe.yaml").exists() and overwrite:
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    save_recipe(recipe, out / "recipe.yaml")
    return out


def drop_log_after(log: Path, step: int) -> None:
    """Drop the log lines of steps after `step`, the checkpoint a run resumes from.

    A process stopped between checkpoints has logged steps that the resumed run does again;
    without this they would be in the log twice (and a line cut off mid-write would not parse).
    """
    if not log.exists():
        return
    lines = log.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = []
    for line in lines:
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:  # cut off when the process was stopped
            continue
        if entry.get("step", 0) <= step:
            kept.append(line if line.endswith("\n") else line + "\n")
    if kept != lines:
        write_text_atomic("".join(kept), log)


def logged(log: Path, valid_wer: float | None) -> tuple[list[float], float | None]:
    """The last logged training loss and validation WER of a run."""
    losses: list[float] = []
    if log.exists():
        for line in log.read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            if "loss" in entry:
                losses.append(entry["loss"])
            if "valid_wer" in entry:
                valid_wer = entry["valid_wer"]
    return losses[-1:], valid_wer
