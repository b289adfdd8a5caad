"""Cached per-talker states of a multi-talker teacher (paper 003's LLM-SOT teacher, issue 18):
for each training mixture and each of its talkers in onset order, one vector, the mean of the
teacher LLM's last-layer states over that talker's tokens.

One vector per talker, not one per token: a 135 M LLM's width is 576, so a talker is 1.2 KB in
float16 where its ~100 token states would be ~115 KB (a 0.3-h corpus: ~1 MB instead of
~100 MB); the distillation that reads it (`losses.talker_distill`) compares pooled states anyway.

One safetensors file per shard, arrays concatenated over the shard's mixtures:

    states   float16 (P, E)   one vector per talker (all-zero for a talker without tokens)
    tokens   int32   (P,)     the teacher tokens each vector pools (0: no tokens, no vector)
    offsets  int64   (C + 1,) mixture c owns talkers offsets[c]:offsets[c + 1]

and in the header's metadata: the format tag, the teacher's name and the mixture ids. Only numpy
is needed to read it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from susurrus.data.teacher_cache import BadTeacherCacheError, save_shard

FORMAT = "susurrus-talker-states/1"


@dataclass(frozen=True)
class TalkerStates:
    """One mixture's teacher states. S talkers in onset order, E teacher width."""

    id: str  # the mixture's id
    states: np.ndarray  # (S, E) float32: each talker's pooled teacher states
    tokens: np.ndarray  # (S,) int: tokens pooled per talker (0: the talker has no vector)

    def __post_init__(self) -> None:
        if self.states.ndim != 2 or self.tokens.shape != (self.states.shape[0],):
            raise ValueError(f"mixture {self.id}: states must be (S, E) and tokens (S,), got "
                             f"{self.states.shape} and {self.tokens.shape}")


def write_states_shard(path: str | Path, items: Sequence[TalkerStates], teacher: str) -> Path:
    """Write `items` (all of one width) as one shard, atomically."""

    path = Path(path)
    if not items:
        raise ValueError(f"{path}: a shard needs at least one mixture")
    width = items[0].states.shape[1]
    bad = [x.id for x in items if x.states.shape[1] != width]
    if bad:
        raise ValueError(f"{path}: mixtures {bad[:5]} differ in width from {items[0].id}")
    if len({x.id for x in items}) != len(items):
        raise ValueError(f"{path}: mixture ids repeat")
    arrays = {
        "states": np.concatenate([x.states for x in items]).astype(np.float16),
        "tokens": np.concatenate([x.tokens for x in items]).astype(np.int32),
        "offsets": np.concatenate([[0], np.cumsum([len(x.tokens) for x in items])]
                                  ).astype(np.int64),
    }
    meta = {"format": FORMAT, "teacher": teacher, "mixtures": json.dumps([x.id for x in items])}
    return save_shard(path, arrays, meta)


class TalkerStatesCache:
    """Every mixture of a set of shards by id; all shards are read when opened (they are small)."""

    def __init__(self, shards: Iterable[str | Path]) -> None:
        from safetensors import safe_open

        self.shards = [Path(p) for p in shards]
        self.teacher: str | None = None
        self.items: dict[str, TalkerStates] = {}
        for path in self.shards:
            if not path.is_file():
                raise BadTeacherCacheError(f"{path}: no such talker-states shard")
            try:
                with safe_open(str(path), "np") as f:
                    meta = f.metadata() or {}
                    arrays = {k: f.get_tensor(k) for k in f.keys()}
            except Exception as e:  # safetensors raises its own error types for a bad header
                raise BadTeacherCacheError(f"{path}: not a safetensors file ({e}); "
                                           "recompute the teacher states") from None
            if meta.get("format") != FORMAT:
                raise BadTeacherCacheError(f"{path}: format {meta.get('format')!r}, expected "
                                           f"{FORMAT!r}; recompute the teacher states")
            if self.teacher is None:
                self.teacher = meta["teacher"]
            elif meta["teacher"] != self.teacher:
                raise BadTeacherCacheError(f"{path}: teacher {meta['teacher']}, but "
                                           f"{self.shards[0]} has {self.teacher}; use one cache")
            off = arrays["offsets"]
            for i, mid in enumerate(json.loads(meta["mixtures"])):
                if mid in self.items:
                    raise BadTeacherCacheError(f"{path}: mixture {mid} is in two shards")
                a, b = off[i], off[i + 1]
                self.items[mid] = TalkerStates(mid, arrays["states"][a:b].astype(np.float32),
                                               arrays["tokens"][a:b])

    def __len__(self) -> int:
        return len(self.items)

    def __contains__(self, mixture_id: object) -> bool:
        return mixture_id in self.items

    def __getitem__(self, mixture_id: str) -> TalkerStates:
        if mixture_id not in self.items:
            raise KeyError(f"mixture {mixture_id!r} is not in the talker-states cache "
                           f"({len(self.shards)} shards); compute it for this manifest")
        return self.items[mixture_id]

    @classmethod
    def open(cls, folder: str | Path) -> TalkerStatesCache:
        """Every `*.safetensors` shard of a folder, in name order (none: an empty cache)."""
        return cls(sorted(Path(folder).glob("*.safetensors")))
