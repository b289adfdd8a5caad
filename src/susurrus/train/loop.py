"""`susurrus train RECIPE.yaml [key=value ...]`: one training loop for every task, top to bottom.

The recipe's `task:` (see `susurrus.train.task`) builds the model, reads the data and computes
the loss; this loop owns the rest, the same for every kind of model:

- Hugging Face Accelerate: the same code runs on this CPU and on many GPUs under `torchrun` or
  `accelerate launch` (DDP);
- batches from lhotse's sampler (`susurrus.train.batches`): duration-bucketed, shuffled, and
  sharded by process, each process drawing its own share;
- AdamW with warmup and cosine decay, gradient accumulation and clipping; `precision: auto`
  measures whether bf16 pays on this machine (`susurrus.train.precision`);
- a progress bar, `log.jsonl` (the global mean loss over all processes) and the closing result,
  from the first process only;
- checkpoints (the last two kept) with the optimizer, scheduler, sampler and RNG states needed to
  resume exactly where a run stopped, and the run-folder rules of `susurrus.train.run`.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from susurrus.train.batches import BatchStream
from susurrus.train.precision import choose_precision
from susurrus.train.recipe import Recipe, check_recipe, recipe_to_dict
from susurrus.train.run import (
    KEEP_CHECKPOINTS,
    STATE,
    check_run_folder,
    drop_log_after,
    latest_checkpoint,
    logged,
    prepare_run_folder,
)
from susurrus.train.task import Run, task_class

__all__ = ["TrainResult", "train"]


@dataclass(frozen=True)
class TrainResult:
    """What a finished `train` call reports."""

    out: Path  # the run folder
    steps: int  # optimizer steps done in total (including resumed ones)
    final_loss: float  # mean training loss over the last log window, over all processes
    valid_wer: float | None  # WER on the validation subset at the end (None: no valid set)
    seconds: float  # wall time of this call
    primary: bool = True  # False on every process but the first of a multi-process run


# --- the schedule -------------------------------------------------------------------------------


def lr_lambda(step: int, warmup: int, total: int) -> float:
    """Linear warmup to 1, then cosine decay to 0.1 at `total`."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))


# --- checkpoints --------------------------------------------------------------------------------


def _rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(),
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_run_checkpoint(out: Path, task, model: torch.nn.Module, recipe: Recipe, step: int,
                        optimizer, scheduler, stream: BatchStream) -> Path:
    """checkpoints/step-N (trained weights + trainer state) and model/; keeps the last two and
    those of multiples of `train.keep_every` (a learning curve to evaluate afterwards)."""
    folder = out / "checkpoints" / f"step-{step:07d}"
    task.save(model, folder, recipe_to_dict(recipe))
    torch.save({"step": step, "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "stream": stream.state_dict(),
                "rng": _rng_state()}, folder / STATE)
    task.save(model, out / "model", recipe_to_dict(recipe))
    every = recipe.train.keep_every
    for old in sorted((out / "checkpoints").glob("step-*"))[:-KEEP_CHECKPOINTS]:
        if not (every and int(old.name.removeprefix("step-")) % every == 0):
            shutil.rmtree(old, ignore_errors=True)
    return folder


def _weights_hash(params: list[torch.nn.Parameter]) -> str:
    """sha256 of the trained parameters' bytes: equal on every process of a correct DDP run."""
    h = hashlib.sha256()
    for p in params:
        h.update(p.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _quiet(*_: object) -> None:
    pass


# --- the loop -----------------------------------------------------------------------------------


def train(recipe: Recipe, overwrite: bool = False, progress: bool = True,
          cache_root: Path | None = None, log=print) -> TrainResult:
    """Train (or resume) the run `recipe.train.out`; returns where it ended.

    Every problem of the recipe (the task's builders and options, the manifests) and of its run
    folder is reported before anything is written or loaded.
    """
    from accelerate import Accelerator
    from accelerate.utils import DistributedDataParallelKwargs, set_seed

    t_start = time.perf_counter()
    check_recipe(recipe)
    cfg = recipe.train
    task = task_class(recipe.task)()
    # A trained part that gets no gradient in some step would stop DDP's reduction unless DDP
    # looks for such parts (an extra pass over the graph: only where the task needs it).
    idle = DistributedDataParallelKwargs(find_unused_parameters=task.idle_parameters(recipe.model))
    # auto: measured (once per machine, cached; every process reads the same rates)
    precision = choose_precision(cfg.precision)
    accelerator = Accelerator(
        mixed_precision=precision.mixed_precision, gradient_accumulation_steps=cfg.grad_accum,
        kwargs_handlers=[idle])
    main = accelerator.is_main_process
    world, rank = accelerator.num_processes, accelerator.process_index
    say = log if main else _quiet
    if cfg.precision == "auto":
        say(precision.describe())
    check_run_folder(recipe, overwrite)  # on every process: all refuse, none waits for another
    accelerator.wait_for_everyone()
    out = prepare_run_folder(recipe, overwrite) if main else Path(cfg.out)
    accelerator.wait_for_everyone()

    run = Run(recipe, out, accelerator.device, rank, world, progress and main, say, cache_root,
              accelerator.main_process_first)
    set_seed(cfg.seed)  # the trained parts' initial weights depend on it
    model = task.build(recipe.model, run)
    examples = task.prepare(model, run)
    stream = BatchStream([e.seconds for e in examples], recipe.data.batch_seconds, cfg.seed,
                         world, rank)
    resume = latest_checkpoint(out)
    first = task.start(model, run) if resume is None else None  # a resumed run has it already
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_lambda(s, cfg.warmup_steps, cfg.steps))

    step = 0
    if resume is not None:
        state = torch.load(resume / STATE, weights_only=False)
        task.load(model, resume)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        stream.load_state_dict(state["stream"])
        step = state["step"]
        accelerator.wait_for_everyone()  # every process has read the files before they change
        if main:
            drop_log_after(out / "log.jsonl", step)
        if cfg.debug_ranks:
            drop_log_after(out / "ranks" / f"rank-{rank}.jsonl", step)
        say(f"resuming {out} at step {step}")
    # The scheduler stays ours: accelerate would step it once per process at every step.
    model, optimizer = accelerator.prepare(model, optimizer)
    raw = accelerator.unwrap_model(model)
    if resume is not None:
        _set_rng_state(state["rng"])  # after prepare: nothing may draw from the RNGs between

    window: list[float] = []
    losses: list[float] = []
    valid_wer = None
    log_file = open(out / "log.jsonl", "a", encoding="utf-8") if main else None
    ranks_file = None
    if cfg.debug_ranks:
        (out / "ranks").mkdir(exist_ok=True)
        ranks_file = open(out / "ranks" / f"rank-{rank}.jsonl", "a", encoding="utf-8")
    if first is not None and log_file:  # the task's first phase, kept with the run
        log_file.write(json.dumps({"step": 0, **first}) + "\n")
    bar = tqdm(total=cfg.steps, initial=step, desc="train", unit="step",
               disable=not (progress and main))
    try:
        model.train()
        while step < cfg.steps:
            drawn = []
            for _ in range(cfg.grad_accum):
                batch = next(stream)  # this process's share (lhotse deals by rank)
                task.set_epoch(stream.epoch)  # e.g. to pick each example's augmented variant
                drawn.append([examples[i].id for i in batch])
                with accelerator.accumulate(model), accelerator.autocast():
                    loss = task.loss(model, batch, accelerator.device)
                    accelerator.backward(loss)
                    if accelerator.sync_gradients:
                        accelerator.clip_grad_norm_(params, cfg.grad_clip)
                    optimizer.step()
                    if accelerator.sync_gradients:  # the schedule counts optimizer steps
                        scheduler.step()
                    optimizer.zero_grad()
                window.append(float(loss.detach()))
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{window[-1]:.3f}", lr=f"{scheduler.get_last_lr()[0]:.1e}")
            if ranks_file:
                ranks_file.write(json.dumps({"step": step, "rank": rank, "world": world,
                                             "batches": drawn}) + "\n")
            if step % cfg.log_every == 0 or step == cfg.steps:
                losses.append(_global_mean(accelerator, window))
                if log_file:
                    log_file.write(json.dumps({"step": step, "loss": round(losses[-1], 5),
                                               "lr": scheduler.get_last_lr()[0]}) + "\n")
                    log_file.flush()
                window = []
            validate = (cfg.valid_every and step % cfg.valid_every == 0) or step == cfg.steps
            if validate and main:
                wer = task.validate(raw, run)
                model.train()
                if wer is not None:
                    valid_wer = wer
                    bar.write(f"step {step}: validation WER {wer:.3f}")
                    log_file.write(json.dumps({"step": step, "valid_wer": round(wer, 5)}) + "\n")
                    log_file.flush()
            if (step % cfg.save_every == 0 or step == cfg.steps) and main:
                save_run_checkpoint(out, task, raw, recipe, step, optimizer, scheduler, stream)
            accelerator.wait_for_everyone()
        if ranks_file:
            ranks_file.write(json.dumps({"step": step, "rank": rank, "world": world,
                                         "weights_sha256": _weights_hash(params)}) + "\n")
    finally:
        bar.close()
        for f in (log_file, ranks_file):
            if f:
                f.close()
    if not losses and main:  # nothing left to do (a finished run): report what its log says
        losses, valid_wer = logged(out / "log.jsonl", valid_wer)
    final = losses[-1] if losses else float("nan")
    return TrainResult(out, step, final, valid_wer, time.perf_counter() - t_start, main)


def _global_mean(accelerator, window: list[float]) -> float:
    """The mean loss of this log window over every process (each process's own mean, averaged:
    the same weighting DDP gives their gradients)."""
    mean = sum(window) / len(window)
    if accelerator.num_processes == 1:
        return mean
    local = torch.tensor(mean, dtype=torch.float64, device=accelerator.device)
    return float(accelerator.reduce(local, reduction="mean"))
