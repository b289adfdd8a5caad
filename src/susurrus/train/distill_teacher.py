"""The teacher of paper 002 (issue 17), run once over the training windows and cached.

For each training window the teacher LLM reads the reference text around it (`context_words`
words: half before the window, half after, as in the authors' code) and then the window's own
text, cased and punctuated:

    Text before: <words before>
    Text after: <words after>
    The passage between them, with its punctuation and capitals:
    <the window's text>

At each of its tokens of the window's text we keep the top-K next-token probabilities that
predicted it (what the OT distillation needs, `susurrus.losses.ot_distill`) and the token's
character span in the text; the context vector is the mean of the last layer's states over those
tokens (they have read the context and the passage; a mean is steadier than the last token's
state alone, and the student's side is pooled the same way, `susurrus.losses.representation`).

The cache goes into shards of `shard_size` windows (`susurrus.data.teacher_cache`), each written
atomically: a stopped run resumes where the last full shard ended. Its default folder is keyed
by everything the teacher reads (teacher, K, context and texts): a changed manifest gets a new
cache, never a stale one.

Shapes: P prompt tokens, M the window's text tokens, V teacher vocabulary, H teacher width.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from susurrus.data.longform_windows import Window
from susurrus.data.teacher_cache import (
    TeacherCache,
    TeacherChunk,
    next_shard_number,
    write_teacher_shard,
)
from susurrus.data.token_spans import token_spans
from susurrus.errors import BadRecipeError

COMMAND = "susurrus distill-teacher"  # what computes the cache (named in the error without one)
SHARD_SIZE = 64  # windows per shard: what a stopped run may have to redo
ADAPTER = "adapter_model.safetensors"  # what PEFT's save_pretrained writes (a teacher_lora run)


class MissingTeacherCacheError(BadRecipeError):
    """Training with distillation, but the teacher's cache is missing or incomplete."""


@dataclass(frozen=True)
class TeacherInput:
    """What the teacher reads for one window."""

    id: str  # the window's id (the chunk id in the cache)
    before: str  # the reading's words before the window (at most context_words // 2)
    text: str  # the window's text, whose tokens are scored
    after: str  # the reading's words after the window (at most context_words // 2)

    def prompt(self) -> str:
        return (f"Text before: {self.before}\nText after: {self.after}\n"
                "The passage between them, with its punctuation and capitals:\n")


def teacher_inputs(windows: Sequence[Window], context_words: int) -> list[TeacherInput]:
    """The teacher's input for each window (windows of one reading in order, as
    `training_windows` gives them); windows without text (all cut) are left out."""
    half = context_words // 2
    by_reading: dict[str, list[Window]] = defaultdict(list)
    for w in windows:
        by_reading[w.id.rsplit("-w", 1)[0]].append(w)
    out = []
    for items in by_reading.values():
        for n, w in enumerate(items):
            if not w.text:
                continue
            before = w.prompt.split()[-half:] if half else []
            after = " ".join(x.text for x in items[n + 1:]).split()[:half]
            out.append(TeacherInput(w.id, " ".join(before), w.text, " ".join(after)))
    return out


def cache_key(teacher: str, top_k: int, inputs: Sequence[TeacherInput]) -> str:
    """A short id of everything the teacher computes from: its name, K and what it reads."""
    h = hashlib.sha256(json.dumps([teacher, top_k, [(i.id, i.before, i.text, i.after)
                                                    for i in inputs]]).encode())
    return h.hexdigest()[:16]


def default_cache_folder(teacher: str, top_k: int, inputs: Sequence[TeacherInput]) -> Path:
    from susurrus.pretrained.cache import cache_root

    safe = Path(teacher).name.replace("/", "--") or "teacher"
    return cache_root() / "teacher" / f"{safe}-k{top_k}-{cache_key(teacher, top_k, inputs)}"


@torch.no_grad()
def teach(llm: Any, tokenizer: Any, items: Sequence[TeacherInput], top_k: int
          ) -> list[TeacherChunk]:
    """The teacher's view of windows `items`, read in one batch: top-K probabilities at each
    of each window's text tokens. Rows are right-padded: a causal LM's states at the real
    positions never see the pads, so a window's result does not depend on its batch."""
    rows = []
    for item in items:
        prompt = tokenizer(item.prompt(), add_special_tokens=False)["input_ids"]
        ids, spans = token_spans(tokenizer, item.text)
        rows.append((prompt, ids, spans))
    device = next(llm.parameters()).device
    length = max(len(p) + len(i) for p, i, _ in rows)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    x = torch.full((len(rows), length), pad, dtype=torch.long)  # (B, P + M) at most
    mask = torch.zeros(len(rows), length, dtype=torch.long)
    for b, (prompt, ids, _) in enumerate(rows):
        x[b, : len(prompt) + len(ids)] = torch.tensor(prompt + ids)
        mask[b, : len(prompt) + len(ids)] = 1
    out = llm(input_ids=x.to(device), attention_mask=mask.to(device), output_hidden_states=True)
    chunks = []
    for b, (item, (prompt, ids, spans)) in enumerate(zip(items, rows, strict=True)):
        p, m = len(prompt), len(ids)
        logits = out.logits[b, p - 1 : p + m - 1].float()  # (M, V): p-1+j predicts token j
        probs, top = logits.softmax(-1).topk(top_k, dim=-1)  # (M, K), most probable first
        context = out.hidden_states[-1][b, p : p + m].float().mean(0)  # (H,)
        chunks.append(TeacherChunk(item.id, item.text, top.cpu().numpy().astype(np.int32),
                                   probs.cpu().numpy().astype(np.float32),
                                   np.asarray(spans, dtype=np.int32).reshape(m, 2),
                                   context.cpu().numpy()))
    return chunks


def compute_teacher_cache(llm: Any, tokenizer: Any, teacher: str, inputs: Sequence[TeacherInput],
                          folder: str | Path, top_k: int = 16, shard_size: int = SHARD_SIZE,
                          batch_size: int = 4, progress: bool = True,
                          log: Callable[[str], None] = print) -> Path:
    """Run the teacher over every input not yet in `folder`'s shards, `batch_size` windows at
    a time (the logits of a batch take B × length × vocabulary floats); returns the folder."""
    from tqdm import tqdm

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    shards = sorted(folder.glob("*.safetensors"))
    done = set(TeacherCache(shards).ids) if shards else set()
    todo = [i for i in inputs if i.id not in done]
    if done:
        log(f"teacher cache {folder}: {len(done)} windows already done, {len(todo)} to go")
    n = next_shard_number(shards)
    bar = tqdm(total=len(todo), desc="teacher", unit="window", disable=not progress)
    try:
        for s in range(0, len(todo), shard_size):
            shard = todo[s : s + shard_size]
            chunks: list[TeacherChunk] = []
            for b in range(0, len(shard), batch_size):
                chunks += teach(llm, tokenizer, shard[b : b + batch_size], top_k)
                bar.update(len(shard[b : b + batch_size]))
            write_teacher_shard(folder / f"shard-{n:05d}.safetensors", chunks, teacher)
            n += 1
    finally:
        bar.close()
    return folder


def open_teacher_cache(folder: Path, inputs: Sequence[TeacherInput], teacher: str,
                       top_k: int) -> TeacherCache:
    """The cache the task reads: every input present, from this teacher with this K; else a
    MissingTeacherCacheError that says which command computes it."""
    shards = sorted(folder.glob("*.safetensors")) if folder.is_dir() else []
    run = (f"run `{COMMAND} RECIPE [key=value ...]` with this recipe first (it runs "
           f"{teacher} over the training windows once)")
    if not shards:
        raise MissingTeacherCacheError(f"model.teacher_cache: no teacher cache in {folder}; {run}")
    cache = TeacherCache(shards)
    missing = [i.id for i in inputs if i.id not in cache]
    if missing:
        raise MissingTeacherCacheError(
            f"model.teacher_cache: {folder} lacks {len(missing)} of {len(inputs)} windows "
            f"(e.g. {missing[0]}); {run} (it resumes)")
    if (cache.teacher, cache.top_k) != (teacher, top_k):
        raise MissingTeacherCacheError(
            f"model.teacher_cache: {folder} holds {cache.teacher} with K={cache.top_k}, the recipe "
            f"asks for {teacher} with K={top_k}; {run}")
    return cache


def adapter_folder(path: str | Path) -> Path:
    """The teacher's adapter folder in a teacher_lora run folder (its model/) or the folder
    itself."""
    path = Path(path)
    return path / "model" if (path / "model" / ADAPTER).is_file() else path
