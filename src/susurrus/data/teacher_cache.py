"""The teacher's knowledge of each training chunk, computed once and read at every step (paper
002, issue 17): its top-K next-token probabilities at each of its tokens of the chunk's reference,
those tokens' character spans in the reference, and one context vector of the chunk.

One safetensors file per shard, arrays concatenated over the shard's chunks:

    ids      int32   (P, K)   top-K token ids per teacher position (descending probability)
    probs    float16 (P, K)   their probabilities (the rest of the mass is not kept: ULD over
                              the top K needs no more; K = 16: 32 tokens in 3 KB)
    spans    int32   (P, 2)   character span of each teacher token in the chunk's text
    offsets  int64   (C + 1,) chunk c owns positions offsets[c]:offsets[c + 1]
    context  float16 (C, H)   the chunk's context vector

and in the header's metadata: the format tag, the teacher's name, K, the chunk ids and texts (the
spans index into the text; the loader hands it back so a caller can check it is the reference
its student reads). Only numpy is needed to read it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from susurrus.errors import BadManifestError

FORMAT = "susurrus-teacher-cache/1"


class BadTeacherCacheError(BadManifestError):
    """A teacher cache shard that cannot be used (recompute it)."""


@dataclass(frozen=True)
class TeacherChunk:
    """The teacher's view of one chunk. M teacher positions, K top tokens, H context width."""

    id: str  # the chunk's id (the training example it belongs to)
    text: str  # the reference text the teacher read; spans index into it
    ids: np.ndarray  # (M, K) int32 top-K token ids, most probable first
    probs: np.ndarray  # (M, K) float32 their probabilities
    spans: np.ndarray  # (M, 2) int32 [start, end) characters of each teacher token in text
    context: np.ndarray  # (H,) float32 the chunk's context vector

    def __post_init__(self) -> None:
        m = self.ids.shape[0]
        if self.ids.ndim != 2 or self.probs.shape != self.ids.shape:
            raise ValueError(f"chunk {self.id}: ids {self.ids.shape} and probs "
                             f"{self.probs.shape} must both be (M, K)")
        if self.spans.shape != (m, 2) or self.context.ndim != 1:
            raise ValueError(f"chunk {self.id}: spans must be ({m}, 2), context (H,); got "
                             f"{self.spans.shape} and {self.context.shape}")


def write_teacher_shard(path: str | Path, chunks: Sequence[TeacherChunk], teacher: str) -> Path:
    """Write `chunks` (all of one K and one H) as one shard, atomically."""

    path = Path(path)
    if not chunks:
        raise ValueError(f"{path}: a shard needs at least one chunk")
    k, h = chunks[0].ids.shape[1], chunks[0].context.shape[0]
    bad = [c.id for c in chunks if c.ids.shape[1] != k or c.context.shape[0] != h]
    if bad:
        raise ValueError(f"{path}: chunks {bad[:5]} differ in K or H from {chunks[0].id}")
    if len({c.id for c in chunks}) != len(chunks):
        raise ValueError(f"{path}: chunk ids repeat")
    lengths = [c.ids.shape[0] for c in chunks]
    arrays = {
        "ids": np.concatenate([c.ids for c in chunks]).astype(np.int32),
        "probs": np.concatenate([c.probs for c in chunks]).astype(np.float16),
        "spans": np.concatenate([c.spans for c in chunks]).astype(np.int32),
        "offsets": np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        "context": np.stack([c.context for c in chunks]).astype(np.float16),
    }
    meta = {"format": FORMAT, "teacher": teacher, "top_k": str(k),
            "chunks": json.dumps([c.id for c in chunks]),
            "texts": json.dumps([c.text for c in chunks], ensure_ascii=False)}
    return save_shard(path, arrays, meta)


def save_shard(path: Path, arrays: dict[str, np.ndarray], meta: dict[str, str]) -> Path:
    """Write a safetensors shard atomically: readers see no file or the whole one."""
    from safetensors.numpy import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    save_file(arrays, str(tmp), metadata=meta)
    os.replace(tmp, path)
    return path


def next_shard_number(shards: Iterable[Path]) -> int:
    """The number after every `shard-NNNNN` present: a folder missing a middle shard (deleted,
    damaged) gets the redone work in a new file, never over its last one."""
    numbers = [int(p.stem.rsplit("-", 1)[-1]) for p in shards
               if p.stem.rsplit("-", 1)[-1].isdigit()]
    return max(numbers, default=-1) + 1


class TeacherCache:
    """Every chunk of a set of shards by id; shards are read whole on first use of one chunk."""

    def __init__(self, shards: Iterable[str | Path]) -> None:
        from safetensors import safe_open

        self.shards = [Path(p) for p in shards]
        self.index: dict[str, tuple[int, int]] = {}  # chunk id -> (shard, position in shard)
        self.teacher: str | None = None
        self.top_k: int | None = None
        self._loaded: dict[int, tuple[dict[str, np.ndarray], list[str]]] = {}
        for s, path in enumerate(self.shards):
            if not path.is_file():
                raise BadTeacherCacheError(f"{path}: no such teacher cache shard")
            try:
                with safe_open(str(path), "np") as f:
                    meta = f.metadata() or {}
            except Exception as e:  # safetensors raises its own error types for a bad header
                raise BadTeacherCacheError(f"{path}: not a safetensors file ({e}); "
                                           "recompute the teacher cache") from None
            self._check_meta(path, meta)
            for i, cid in enumerate(json.loads(meta["chunks"])):
                if cid in self.index:
                    other = self.shards[self.index[cid][0]]
                    raise BadTeacherCacheError(f"{path}: chunk {cid} is also in {other}")
                self.index[cid] = (s, i)

    def _check_meta(self, path: Path, meta: dict[str, str]) -> None:
        if meta.get("format") != FORMAT:
            raise BadTeacherCacheError(f"{path}: format {meta.get('format')!r}, expected "
                                       f"{FORMAT!r}; recompute the teacher cache")
        if self.teacher is None:
            self.teacher, self.top_k = meta["teacher"], int(meta["top_k"])
        elif (meta["teacher"], int(meta["top_k"])) != (self.teacher, self.top_k):
            raise BadTeacherCacheError(
                f"{path}: teacher {meta['teacher']} with K={meta['top_k']}, but the first shard "
                f"{self.shards[0]} has {self.teacher} with K={self.top_k}; use one teacher cache")

    def __len__(self) -> int:
        return len(self.index)

    def __contains__(self, chunk_id: object) -> bool:
        return chunk_id in self.index

    @property
    def ids(self) -> list[str]:
        return list(self.index)

    def _shard(self, s: int) -> tuple[dict[str, np.ndarray], list[str]]:
        if s not in self._loaded:
            from safetensors import safe_open

            with safe_open(str(self.shards[s]), "np") as f:
                arrays = {k: f.get_tensor(k) for k in f.keys()}
                texts = json.loads(f.metadata()["texts"])
            self._loaded[s] = (arrays, texts)
        return self._loaded[s]

    def __getitem__(self, chunk_id: str) -> TeacherChunk:
        if chunk_id not in self.index:
            raise KeyError(f"chunk {chunk_id!r} is not in the teacher cache ({len(self.shards)} "
                           f"shards); compute the cache for this manifest")
        s, i = self.index[chunk_id]
        arrays, texts = self._shard(s)
        a, b = arrays["offsets"][i], arrays["offsets"][i + 1]
        return TeacherChunk(id=chunk_id, text=texts[i], ids=arrays["ids"][a:b],
                            probs=arrays["probs"][a:b].astype(np.float32),
                            spans=arrays["spans"][a:b],
                            context=arrays["context"][i].astype(np.float32))

    @classmethod
    def open(cls, folder: str | Path) -> TeacherCache:
        """Every `*.safetensors` shard of a folder, in name order."""
        folder = Path(folder)
        shards = sorted(folder.glob("*.safetensors"))
        if not shards:
            raise BadTeacherCacheError(f"{folder}: no teacher cache shards (*.safetensors)")
        return cls(shards)
