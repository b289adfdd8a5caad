"""Paper 003's LLM-SOT teacher (issue 18 item 3): its per-talker states, cached once, and the
distillation term (`sot_states` in `multitalker_ctc.DISTILL_TERMS`) that reads them.

The teacher is a speech LLM trained with serialized output training (`model.sot`,
recipes/speech_llm/sot.yaml). Teacher-forced on each training mixture's reference SOT target
(`train/sot.py`), its last-layer states at the positions that read talker k's tokens are
mean-pooled into one vector per talker (`data/talker_states.py` says why pooled), in onset
order: the order of the student's branches. The teacher runs before training only:

    susurrus distill-teacher recipes/multitalker/distill.yaml   # resumable: re-run it
    susurrus train recipes/multitalker/distill.yaml

The cache's default folder is keyed by the teacher's weights and the mixtures' talkers, so a
retrained teacher or a changed manifest gets a new cache, never a stale one.

The term (`SotStatesTerm`): branch k's states mean-pooled over the valid frames stand for
talker k; `losses.talker_distill` matches their similarities to the teacher's (standardized)
vectors'. Talkers without tokens, and branches beyond a mixture's talkers, take no part.

Shapes: B batch, S branches, T' encoder frames, D branch width, E teacher width.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from susurrus.data.manifest import Utterance
from susurrus.data.talker_states import TalkerStates, TalkerStatesCache, write_states_shard
from susurrus.data.teacher_cache import next_shard_number
from susurrus.errors import BadRecipeError
from susurrus.losses.talker_distill import RelationalDistillLoss
from susurrus.train.mixtures import load_mixtures, talkers_of
from susurrus.train.sot import sot_target

COMMAND = "susurrus distill-teacher"  # what computes the cache (named in the error without one)
SHARD_SIZE = 64  # mixtures per shard: what a stopped run may have to redo


class MissingTalkerStatesError(BadRecipeError):
    """Training with the `sot_states` term, but the teacher's states are missing or incomplete."""


def teacher_name(teacher: str) -> str:
    """The teacher checkpoint's folder and a digest of its trained weights (the cache's key)."""
    from susurrus.models.speech_llm.checkpoint import WEIGHTS, find_checkpoint, read_model_config

    folder = find_checkpoint(teacher) if teacher else None
    if folder is None:
        raise BadRecipeError(f"model.teacher: {teacher!r} holds no speech-LLM checkpoint; "
                             "train one with `susurrus train recipes/speech_llm/sot.yaml`")
    if not read_model_config(folder).sot:
        raise BadRecipeError(f"model.teacher: {folder} was not trained with model.sot=true; "
                             "the teacher must write every talker (recipes/speech_llm/sot.yaml)")
    digest = hashlib.sha256((folder / WEIGHTS).read_bytes()).hexdigest()[:12]
    return f"{folder.resolve()}@{digest}"


def states_folder(config: Any, teacher: str, utts: Sequence[Utterance]) -> Path:
    """`model.teacher_cache`, or the default folder keyed by the teacher and the talkers."""
    if config.teacher_cache:
        return Path(config.teacher_cache)
    from susurrus.pretrained.cache import cache_root

    key = json.dumps([teacher, [(u.id, [(t.offset, t.text, t.duration) for t in talkers_of(u)])
                                for u in utts]])
    safe = Path(config.teacher).name or "teacher"
    return cache_root() / "sot-teacher" / f"{safe}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


@torch.no_grad()
def talker_states(model, feats: Sequence[torch.Tensor], utts: Sequence[Utterance]
                  ) -> list[TalkerStates]:
    """The SOT teacher's pooled states per talker of `utts` (their encoder features (T', D)),
    read in one teacher-forced batch (right-padded: a row's states do not see the pads)."""
    from susurrus.train.data import pad_features

    targets = [sot_target(talkers_of(u), model.tokenizer) for u in utts]
    device = next(model.projector.parameters()).device
    x, lengths = pad_features([f.float() for f in feats])
    states = model.target_states(x.to(device), lengths.to(device), [t.ids for t in targets])
    out = []
    for u, target, h in zip(utts, targets, states, strict=True):  # h: (N, E)
        pooled = [h[a:b].float().mean(0) if b > a else h.new_zeros(h.shape[1], dtype=torch.float)
                  for a, b in target.spans]
        out.append(TalkerStates(u.id, torch.stack(pooled).cpu().numpy(),
                                np.array([b - a for a, b in target.spans], dtype=np.int32)))
    return out


def compute_talker_states(model, teacher: str, utts: Sequence[Utterance],
                          features: Callable[[Utterance], torch.Tensor], folder: str | Path,
                          shard_size: int = SHARD_SIZE, batch_size: int = 4,
                          progress: bool = True, log: Callable[[str], None] = print) -> Path:
    """Run the teacher over every mixture not yet in `folder`'s shards, `batch_size` at a time
    (`features(u)` gives a mixture's (T', D) encoder features); returns the folder."""
    from tqdm import tqdm

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    done = TalkerStatesCache.open(folder)
    todo = [u for u in utts if u.id not in done]
    if len(done):
        log(f"teacher states {folder}: {len(done)} mixtures already done, {len(todo)} to go")
    n = next_shard_number(done.shards)
    model.eval()
    bar = tqdm(total=len(todo), desc="SOT teacher", unit="mixture", disable=not progress)
    try:
        for s in range(0, len(todo), shard_size):
            shard = todo[s : s + shard_size]
            items: list[TalkerStates] = []
            for b in range(0, len(shard), batch_size):
                chunk = shard[b : b + batch_size]
                items += talker_states(model, [features(u) for u in chunk], chunk)
                bar.update(len(chunk))
            write_states_shard(folder / f"shard-{n:05d}.safetensors", items, teacher)
            n += 1
    finally:
        bar.close()
    return folder


def open_talker_states(folder: Path, utts: Sequence[Utterance], teacher: str
                       ) -> TalkerStatesCache:
    """The cache training reads: every mixture present, from this teacher; else a
    MissingTalkerStatesError that says which command computes it."""
    run = (f"run `{COMMAND} RECIPE [key=value ...]` with this recipe first (it runs the SOT "
           "teacher over the training mixtures once)")
    cache = TalkerStatesCache.open(folder) if folder.is_dir() else TalkerStatesCache([])
    if not len(cache):
        raise MissingTalkerStatesError(f"model.teacher_cache: no teacher states in {folder}; "
                                       f"{run}")
    missing = [u.id for u in utts if u.id not in cache]
    if missing:
        raise MissingTalkerStatesError(
            f"model.teacher_cache: {folder} lacks {len(missing)} of {len(utts)} mixtures (e.g. "
            f"{missing[0]}); {run} (it resumes)")
    if cache.teacher != teacher:
        raise MissingTalkerStatesError(f"model.teacher_cache: {folder} holds the states of "
                                       f"{cache.teacher}, the recipe's teacher is {teacher}; "
                                       f"{run}")
    return cache


def compute_sot_states(recipe: Any, progress: bool = True, log: Callable[[str], None] = print,
                       batch_size: int = 4, device: str = "cpu",
                       features_root: Path | None = None) -> Path:
    """Cache the teacher states a `multitalker_ctc` recipe's `sot_states` term reads (the
    `distill-teacher` command); resumes a stopped run. The teacher's encoder features are read
    from (or written to) `features_root` (default: the susurrus cache's `features/`)."""
    from susurrus.models.speech_llm.checkpoint import (
        find_checkpoint,
        load_speech_llm,
        read_model_config,
    )
    from susurrus.pretrained.cache import cache_root
    from susurrus.train.data import FeatureCache

    cfg = recipe.model
    teacher = teacher_name(cfg.teacher)
    utts = load_mixtures(recipe.data, "train", log)
    model = load_speech_llm(cfg.teacher).to(device)
    if model.first_pass:
        raise BadRecipeError(f"model.teacher: {cfg.teacher} reads a first pass; the SOT teacher "
                             "cache runs teachers without one")
    encoder = read_model_config(find_checkpoint(cfg.teacher)).encoder
    cache = FeatureCache(features_root or cache_root() / "features", encoder, model.encoder)
    cache.prepare(utts, progress=progress)
    return compute_talker_states(model, teacher, utts, cache.get, states_folder(cfg, teacher, utts),
                                 batch_size=batch_size, progress=progress, log=log)


class SotStatesTerm:
    """The `sot_states` DistillTerm: branch k of each mixture against the teacher's talker k."""

    def __init__(self, cache: TalkerStatesCache) -> None:
        every = np.concatenate([x.states[x.tokens > 0] for x in cache.items.values()])  # (P, E)
        mean, std = every.mean(0), every.std(0) + 1e-6
        self.teacher = {k: torch.from_numpy((x.states - mean) / std).float()
                        for k, x in cache.items.items()}
        self.valid = {k: torch.from_numpy(x.tokens > 0) for k, x in cache.items.items()}
        self.loss = RelationalDistillLoss()

    def __call__(self, branches: torch.Tensor, lengths: torch.Tensor,
                 ids: Sequence[str]) -> torch.Tensor:
        """branches (B, S, T', D), lengths (B,), the mixtures' ids -> scalar."""
        B, S, T, _ = branches.shape
        valid = (torch.arange(T, device=branches.device)[None] < lengths[:, None]).float()
        pooled = ((branches * valid[:, None, :, None]).sum(2)
                  / valid.sum(1).clamp(min=1)[:, None, None])  # (B, S, D)
        student, teacher = [], []
        for b, mid in enumerate(ids):
            if mid not in self.teacher:
                raise MissingTalkerStatesError(f"mixture {mid} has no cached teacher states; "
                                               f"re-run `{COMMAND}` with this recipe")
            keep = self.valid[mid][:S]
            student.append(pooled[b, : keep.shape[0]][keep.to(branches.device)])
            teacher.append(self.teacher[mid][:S][keep])
        return self.loss(torch.cat(student), torch.cat(teacher).to(branches.device))


def sot_states_term(config: Any, run: Any) -> SotStatesTerm:
    """The `sot_states` term of a multitalker_ctc run: its training mixtures' cached states."""
    teacher = teacher_name(config.teacher)
    with run.main_process_first():  # the first process synthesizes a missing corpus
        utts = load_mixtures(run.recipe.data, "train", run.log)
    folder = states_folder(config, teacher, utts)
    cache = open_talker_states(folder, utts, teacher)
    run.log(f"distillation: sot_states from {len(cache)} mixtures' teacher states in {folder}")
    return SotStatesTerm(cache)
