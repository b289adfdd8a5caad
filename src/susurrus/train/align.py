"""CTC alignment warm-up: put the audio tokens where the LLM's own token embeddings are.

The speech LLM's hard part is the start: a freshly initialised projector hands the frozen LLM
vectors it has never seen, and the LLM ignores them and writes a fluent, generic sentence until
thousands of LLM steps later (what the README's CPU runs measured). This stage trains only the
compressor and projector, without running the LLM: each audio token is scored against the LLM's
input-embedding table (cosine similarity, restricted to the tokens the training targets use, plus
a learned blank), and CTC against the transcript's token ids pulls the audio tokens of a word onto
the embeddings of that word's tokens. The LLM then starts from audio that already reads like its
own text; LoRA training follows as usual.

A norm term keeps the audio tokens at the length of real token embeddings, since cosine scores
say nothing about length and the LLM's first layer sees it.

Shapes: B batch, N audio tokens, E LLM width, V' the vocabulary subset (+1 for the blank, index 0).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from tqdm import tqdm

from susurrus.losses.ctc_align import AlignHead, align_loss, greedy_classes
from susurrus.models.speech_llm.model import SpeechLLM
from susurrus.train.batches import BatchStream
from susurrus.train.data import pad_features


@dataclass(frozen=True)
class AlignResult:
    steps: int
    final_loss: float  # mean loss over the last 10 % of steps
    token_error_rate: float  # greedy CTC token error rate on the last batches (a diagnostic)
    seconds: float


def align(model: SpeechLLM, feats: Sequence[torch.Tensor], targets: Sequence[list[int]],
          durations: Sequence[float], steps: int, lr: float, batch_seconds: float, seed: int,
          device: torch.device, progress: bool = True, log=print,
          head: AlignHead | None = None) -> AlignResult:
    """Train the compressor and projector by CTC onto the LLM's embeddings (the LLM not run).

    Deterministic for a seed; the trained weights stay in `model` (the LLM is untouched). The
    head (its blank) trains too; by default one over the tokens of `targets` is made.
    """
    from susurrus.metrics.scores import align as align_tokens

    t0 = time.perf_counter()
    torch.manual_seed(seed)
    table = model._base().get_input_embeddings().weight
    head = (head or AlignHead(table, [t for row in targets for t in row])).to(device)
    params = [*model.compressor.parameters(), *model.projector.parameters(), head.blank]
    params = [p for p in params if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr)
    warmup = max(1, steps // 20)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) * max(0.05, 1 - s / steps))
    stream = BatchStream(durations, batch_seconds, seed + 1)
    model.train()
    losses: list[float] = []
    errors = counted = 0
    tail = max(1, steps // 10)
    bar = tqdm(total=steps, desc="align (CTC)", unit="step", disable=not progress)
    for step in range(steps):
        idx = next(stream)
        x, lengths = pad_features([feats[i] for i in idx])
        rows = [targets[i] for i in idx]
        loss, logp, counts = align_loss(model, head, x.to(device, torch.float32),
                                        lengths.to(device), rows)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        scheduler.step()
        losses.append(float(loss.detach()))
        if step >= steps - tail:  # diagnostic: how well the audio tokens read as text
            for b, row in enumerate(rows):
                hyp = greedy_classes(logp[b].detach(), int(counts[b]))
                errors += align_tokens([str(c) for c in head.classes(row)],
                                       [str(c) for c in hyp]).counts.errors
                counted += len(row)
        bar.update(1)
        bar.set_postfix(loss=f"{losses[-1]:.3f}")
    bar.close()
    model.projector.zero_grad(set_to_none=True)
    model.compressor.zero_grad(set_to_none=True)
    final = sum(losses[-tail:]) / len(losses[-tail:])
    ter = errors / max(1, counted)
    log(f"alignment: {steps} steps, loss {final:.3f}, greedy CTC token error rate {ter:.3f} "
        f"({time.perf_counter() - t0:.0f} s)")
    return AlignResult(steps, final, ter, time.perf_counter() - t0)
