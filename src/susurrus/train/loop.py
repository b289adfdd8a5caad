"""`susurrus train RECIPE.yaml [key=value ...]`: train a speech LLM, top to bottom.

One loop on Hugging Face Accelerate: the same code runs on this CPU and under
`accelerate launch` on many GPUs (each process takes every world_size-th batch). The frozen
encoder runs once per utterance (`FeatureCache`); batches are bucketed by duration; only the
compressor, projector and LoRA adapters train and only they are checkpointed, with the optimizer,
scheduler, batch-stream and RNG states needed to resume exactly where a run stopped.

Run folder (`train.out`):

    recipe.yaml            the recipe as run (a different model/data recipe is refused)
    log.jsonl              one line per log/validation step (step 0: the alignment's result)
    model/                 the latest trained weights + recipe: what `--model RUN` loads
    checkpoints/step-N/    trained weights + trainer state, the last two kept
"""

from __future__ import annotations

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

from susurrus.data.manifest import Utterance
from susurrus.errors import BadRecipeError
from susurrus.files import write_text_atomic
from susurrus.models.speech_llm.checkpoint import load_trained, save_checkpoint
from susurrus.models.speech_llm.model import SpeechLLM
from susurrus.train.data import BatchStream, FeatureCache, pad_features, prior_turns
from susurrus.train.recipe import DataConfig, Recipe, recipe_fingerprint, recipe_to_dict
from susurrus.train.validate import validation_wer

STATE = "trainer_state.pt"
KEEP_CHECKPOINTS = 2


class RunError(BadRecipeError):
    """A run folder that cannot be used as asked (e.g. another recipe's run)."""


@dataclass(frozen=True)
class TrainResult:
    """What a finished `train` call reports."""

    out: Path  # the run folder
    steps: int  # optimizer steps done in total (including resumed ones)
    final_loss: float  # mean training loss over the last log window
    valid_wer: float | None  # WER on the validation subset at the end (None: no valid set)
    seconds: float  # wall time of this call


# --- data ---------------------------------------------------------------------------------------


def load_split(data: DataConfig, split: str, log=print) -> list[Utterance]:
    """Train or valid utterances; synthesizes the default corpus when the recipe names none."""
    from susurrus.data.lhotse_io import load_utterances

    given = data.train if split == "train" else data.valid
    if given:
        path = Path(given)
    else:
        path = Path(data.synth_dir) / ("train.jsonl" if split == "train" else "dev.jsonl")
        if not path.exists():
            from susurrus.data.synth import synthesize

            log(f"no {split} manifest given: synthesizing {data.synth_hours} h of conversations "
                f"into {data.synth_dir} (seed {data.synth_seed})")
            synthesize("conversations", data.synth_dir, hours=data.synth_hours,
                       seed=data.synth_seed, splits=("train", "dev"))
    if not path.exists():
        raise FileNotFoundError(f"data.{split}: {path} does not exist; give a manifest path")
    utts = load_utterances(path)
    keep = [u for u in utts if not u.is_mixture and u.text.strip()]
    long = [u for u in keep if u.duration is not None and u.duration > data.max_duration]
    if len(keep) < len(utts):
        log(f"{path}: skipping {len(utts) - len(keep)} mixtures or empty references")
    if long:
        log(f"{path}: skipping {len(long)} utterances over data.max_duration="
            f"{data.max_duration} s (e.g. {long[0].id}); split them to train on them")
        keep = [u for u in keep if u not in long]
    if not keep:
        raise ValueError(f"data.{split}: {path} holds no usable single-talker utterance")
    return keep


# --- the schedule -------------------------------------------------------------------------------


def lr_lambda(step: int, warmup: int, total: int) -> float:
    """Linear warmup to 1, then cosine decay to 0.1 at `total`."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))


def precision_of(name: str) -> str:
    """Recipe precision -> accelerate's mixed_precision (bf16 only where it is faster)."""
    if name == "auto":
        return "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "no"
    return "bf16" if name == "bf16" else "no"


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


def latest_checkpoint(out: Path) -> Path | None:
    steps = sorted((out / "checkpoints").glob("step-*"), key=lambda p: p.name)
    steps = [p for p in steps if (p / STATE).is_file()]
    return steps[-1] if steps else None


def save_run_checkpoint(out: Path, model: SpeechLLM, recipe: Recipe, step: int,
                        optimizer, scheduler, stream: BatchStream) -> Path:
    folder = out / "checkpoints" / f"step-{step:07d}"
    save_checkpoint(model, folder, recipe_to_dict(recipe))
    torch.save({"step": step, "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "stream": stream.state_dict(),
                "rng": _rng_state()}, folder / STATE)
    save_checkpoint(model, out / "model", recipe_to_dict(recipe))
    for old in sorted((out / "checkpoints").glob("step-*"))[:-KEEP_CHECKPOINTS]:
        shutil.rmtree(old, ignore_errors=True)
    return folder


def prepare_run_folder(recipe: Recipe, overwrite: bool) -> Path:
    """Create `train.out`, or check that it holds a run of the same model and data."""
    from susurrus.train.recipe import load_recipe, save_recipe

    out = Path(recipe.train.out)
    saved = out / "recipe.yaml"
    if saved.exists() and overwrite:
        shutil.rmtree(out)
    elif saved.exists():
        before = load_recipe(saved)
        if recipe_fingerprint(before) != recipe_fingerprint(recipe):
            raise RunError(f"{out} holds a run of a different model/data recipe; choose another "
                           "train.out, or pass --overwrite to delete that run")
    elif out.exists() and any(out.iterdir()):
        raise RunError(f"{out} exists and is not a susurrus run folder; choose another train.out")
    out.mkdir(parents=True, exist_ok=True)
    save_recipe(recipe, saved)
    return out


# --- the loop -----------------------------------------------------------------------------------


def train(recipe: Recipe, overwrite: bool = False, progress: bool = True,
          cache_root: Path | None = None, log=print) -> TrainResult:
    """Train (or resume) the run `recipe.train.out`; returns where it ended."""
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    from susurrus.models.speech_llm.build import build_speech_llm
    from susurrus.pretrained.cache import cache_root as cache_root_dir

    t_start = time.perf_counter()
    cfg = recipe.train
    accelerator = Accelerator(mixed_precision=precision_of(cfg.precision),
                              gradient_accumulation_steps=cfg.grad_accum)
    main = accelerator.is_main_process
    world, rank = accelerator.num_processes, accelerator.process_index
    say = log if main else (lambda *_: None)
    out = prepare_run_folder(recipe, overwrite) if main else Path(cfg.out)
    accelerator.wait_for_everyone()

    # Data: utterances, their frozen-encoder features (computed once), their target tokens.
    train_utts = load_split(recipe.data, "train", say)
    valid_utts = load_split(recipe.data, "valid", say)[: recipe.data.valid_limit]
    set_seed(cfg.seed)  # the trained parts' initial weights depend on it
    model = build_speech_llm(recipe.model)
    cache = FeatureCache(cache_root or cache_root_dir() / "features", recipe.model.encoder,
                         model.encoder)
    if main:
        cache.prepare(train_utts + valid_utts, progress=progress)
    accelerator.wait_for_everyone()
    feats = [cache.get(u).to(torch.float16) for u in train_utts]  # kept in RAM as float16
    targets = [model.tokenizer(u.text.strip(), add_special_tokens=False)["input_ids"]
               for u in train_utts]
    durations = [f.shape[0] / model.frames_per_second for f in feats]
    stream = BatchStream(durations, recipe.data.batch_seconds, cfg.seed)
    # Multi-turn samples (paper 000): each turn reads its session's earlier turns as context,
    # with their reference transcripts; batches are still bucketed by the current turn.
    context = recipe.model.context
    priors = (prior_turns(train_utts, recipe.model.context_turns) if context != "none"
              else [[] for _ in train_utts])
    say(f"train: {len(train_utts)} utterances, {sum(durations) / 3600:.2f} h; "
        f"valid: {len(valid_utts)}; audio tokens/s: {model.tokens_per_second():.1f}; "
        f"context: {context}" + (f" (mean {np.mean([len(p) for p in priors]):.1f} prior turns)"
                                 if context != "none" else "") +
        f"; trained parameters: "
        f"{sum(t.numel() for t in model.trainable_state_dict().values()):,}")

    resume = latest_checkpoint(out)
    aligned = None
    if cfg.init and resume is None:  # e.g. a single-turn model starting a multi-turn run
        from susurrus.models.speech_llm.checkpoint import CheckpointError, find_checkpoint

        folder = find_checkpoint(cfg.init)
        if folder is None:
            raise CheckpointError(f"train.init: {cfg.init} holds no speech-LLM checkpoint")
        load_trained(model, folder, may_lack=("context_compressor.", "context_projector."))
        say(f"initialised the trained parts from {folder}")
    elif cfg.align_steps and resume is None:  # a resumed run has its alignment in its weights
        from susurrus.train.align import align

        aligned = align(model.to(accelerator.device), feats, targets, durations,
                        cfg.align_steps, cfg.align_lr, recipe.data.batch_seconds, cfg.seed,
                        accelerator.device, progress=progress and main,
                        log=say)  # (DDP then broadcasts rank 0's weights)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_lambda(s, cfg.warmup_steps, cfg.steps))

    step = 0
    if resume is not None:
        state = torch.load(resume / STATE, weights_only=False)
        load_trained(model, resume)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        stream.load_state_dict(state["stream"])
        step = state["step"]
        if main:
            _drop_log_after(out / "log.jsonl", step)
        say(f"resuming {out} at step {step}")
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    raw = accelerator.unwrap_model(model)
    if resume is not None:
        _set_rng_state(state["rng"])  # after prepare: nothing may draw from the RNGs between

    window: list[float] = []
    losses: list[float] = []
    valid_wer = None
    log_file = open(out / "log.jsonl", "a", encoding="utf-8") if main else None
    if aligned is not None and log_file:  # the warm-up's diagnostic, kept with the run
        log_file.write(json.dumps({"step": 0, "align_steps": aligned.steps,
                                   "align_loss": round(aligned.final_loss, 5),
                                   "align_token_error_rate": round(aligned.token_error_rate, 5),
                                   "align_seconds": round(aligned.seconds, 1)}) + "\n")
    bar = tqdm(total=cfg.steps, initial=step, desc="train", unit="step",
               disable=not (progress and main))
    try:
        model.train()
        while step < cfg.steps:
            for _ in range(cfg.grad_accum):
                batches = [next(stream) for _ in range(world)]  # every process draws all ...
                idx = batches[rank]  # ... and keeps its own, so the stream state stays shared
                x, lengths = pad_features([feats[i] for i in idx])  # (B, T, D), (B,)
                ctx = None
                if context != "none":  # each row's prior turns: (frames, reference ids)
                    ctx = [[(feats[j].to(accelerator.device, torch.float32), targets[j])
                            for j in priors[i]] for i in idx]
                with accelerator.accumulate(model), accelerator.autocast():
                    loss = model(x.to(accelerator.device, torch.float32),
                                 lengths.to(accelerator.device), [targets[i] for i in idx], ctx)
                    accelerator.backward(loss)
                    if accelerator.sync_gradients:
                        accelerator.clip_grad_norm_(params, cfg.grad_clip)
                    optimizer.step()
                    scheduler.step()
                    optimizer.zero_grad()
                window.append(float(loss.detach()))
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{window[-1]:.3f}", lr=f"{scheduler.get_last_lr()[0]:.1e}")
            if step % cfg.log_every == 0 or step == cfg.steps:
                losses.append(sum(window) / len(window))
                if log_file:
                    log_file.write(json.dumps({"step": step, "loss": round(losses[-1], 5),
                                               "lr": scheduler.get_last_lr()[0]}) + "\n")
                    log_file.flush()
                window = []
            validate = (cfg.valid_every and step % cfg.valid_every == 0) or step == cfg.steps
            if validate and main and valid_utts:
                valid_wer = validation_wer(raw, cache, valid_utts, recipe.model.context_turns)
                model.train()
                bar.write(f"step {step}: validation WER {valid_wer:.3f}")
                log_file.write(json.dumps({"step": step, "valid_wer": round(valid_wer, 5)}) + "\n")
                log_file.flush()
            if (step % cfg.save_every == 0 or step == cfg.steps) and main:
                save_run_checkpoint(out, raw, recipe, step, optimizer, scheduler, stream)
            accelerator.wait_for_everyone()
    finally:
        bar.close()
        if log_file:
            log_file.close()
    if not losses and main:  # nothing left to do (a finished run): report what its log says
        losses, valid_wer = _logged(out / "log.jsonl", valid_wer)
    final = losses[-1] if losses else float("nan")
    return TrainResult(out, step, final, valid_wer, time.perf_counter() - t_start)


def _drop_log_after(log: Path, step: int) -> None:
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


def _logged(log: Path, valid_wer: float | None) -> tuple[list[float], float | None]:
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
