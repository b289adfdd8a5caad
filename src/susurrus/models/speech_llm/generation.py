"""Batched generation for the speech LLM: greedy or beam, bounded by the audio's duration.

Two guards keep a speech LLM from running away, as Whisper's decoder can:
- a length limit per row derived from its audio (nobody speaks more than ~8 LLM tokens a second,
  so `tokens_per_second * seconds + extra_tokens` bounds a real transcript);
- a repetition guard: when a row's tail is the same n-gram `max_repeats` times in a row, that row
  stops and the copies are cut back to one ("no, no" is speech; four copies in a row is a loop).

When a guard fires anyway, the window is decoded again hotter, as openai/whisper does
(`decode_with_fallback`): `best_of` samples at each temperature of `fallback` in turn, until one
is not suspect; each sample is scored by its mean token log-probability under the model's own
(untempered) distribution, and sampling is seeded (`seed`), so a rerun gives the same text.

Shapes: B batch, L prompt length, E LLM width, G generated length.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

import torch
from torch import nn


@dataclass(frozen=True)
class GenerateOptions:
    """How the speech LLM decodes."""

    num_beams: int = 1  # 1 = greedy
    tokens_per_second: float = 8.0  # length limit: this many tokens per second of audio ...
    extra_tokens: int = 16  # ... plus this many
    max_repeats: int = 4  # stop a row whose tail repeats one n-gram this many times (0 = off)
    max_ngram: int = 8  # longest n-gram the repetition guard looks for
    # a suspect window (loop, length limit, text missing) is decoded again at each of these
    # temperatures in turn, `best_of` samples each, until one is not suspect (() = never)
    fallback: tuple[float, ...] = (0.2, 0.4, 0.6, 0.8, 1.0)
    best_of: int = 5
    seed: int = 0  # sampling seed of the fallback
    temperature: float = 0.0  # this pass: 0 = greedy or beam; > 0 samples (set by the fallback)
    # a model with a first pass (issue 16): "joint" lets the first pass's own transcript of a
    # window compete with the LLM's, scored by both models (`susurrus.infer.first_pass.
    # joint_choice`); "llm" keeps the LLM's
    first_pass_choice: Literal["joint", "llm"] = "joint"
    # with context and the joint choice: up to this many more texts per turn compete, the two
    # texts with a stretch respelled as a phrase of the earlier turns
    # (`susurrus.infer.context_candidates`; 0 = none)
    context_candidates: int = 6
    # with the joint choice: Whisper's beam search of this width gives more texts that compete
    # (`susurrus.infer.first_pass.beam_texts`; 0 or 1 = none)
    first_pass_nbest: int = 0

    def __post_init__(self) -> None:
        if self.num_beams < 1:
            raise ValueError(f"num_beams must be >= 1, got {self.num_beams}")
        if self.best_of < 1:
            raise ValueError(f"best_of must be >= 1, got {self.best_of}")
        if self.temperature < 0 or any(t <= 0 for t in self.fallback):
            raise ValueError("temperature must be >= 0 and every fallback temperature > 0, got "
                             f"{self.temperature} and {list(self.fallback)}")
        if self.tokens_per_second <= 0 or self.extra_tokens < 1:
            raise ValueError("tokens_per_second must be > 0 and extra_tokens >= 1, got "
                             f"{self.tokens_per_second} and {self.extra_tokens}")
        if self.first_pass_choice not in ("joint", "llm"):
            raise ValueError("first_pass_choice must be 'joint' or 'llm', got "
                             f"{self.first_pass_choice!r}")
        if self.context_candidates < 0:
            raise ValueError(f"context_candidates must be >= 0, got {self.context_candidates}")
        if self.first_pass_nbest < 0:
            raise ValueError(f"first_pass_nbest must be >= 0, got {self.first_pass_nbest}")
        if self.max_repeats == 1 or self.max_repeats < 0:
            raise ValueError(f"max_repeats must be 0 (off) or >= 2, got {self.max_repeats}")

    def max_new_tokens(self, seconds: float) -> int:
        return int(math.ceil(self.tokens_per_second * seconds)) + self.extra_tokens


def repeated_tail(ids: list[int], max_repeats: int, max_ngram: int) -> int:
    """How many tokens at the end of `ids` are surplus copies of a looping n-gram (0 if none).

    A tail of `max_repeats` consecutive copies of one n-gram (n <= max_ngram) is a loop; all but
    the first copy are surplus.
    """
    if max_repeats < 2:
        return 0
    for n in range(1, max_ngram + 1):
        if n * max_repeats > len(ids):
            break
        gram = ids[-n:]
        if all(ids[-(i + 1) * n: len(ids) - i * n] == gram for i in range(1, max_repeats)):
            # the loop may have started earlier: count every copy
            copies = max_repeats
            while (copies + 1) * n <= len(ids) and \
                    ids[-(copies + 1) * n: len(ids) - copies * n] == gram:
                copies += 1
            return (copies - 1) * n
    return 0


class _StopRows:
    """Stopping criterion: a row is done at its length limit or when its tail loops."""

    def __init__(self, limits: torch.Tensor, options: GenerateOptions, prompt_len: int) -> None:
        self.limits, self.options, self.prompt_len = limits, options, prompt_len

    def __call__(self, input_ids: torch.LongTensor, scores, **kwargs) -> torch.BoolTensor:
        gen = input_ids[:, self.prompt_len:]  # (B', G) with inputs_embeds the prompt is absent
        done = torch.zeros(gen.shape[0], dtype=torch.bool, device=gen.device)
        limits = self.limits
        if limits.shape[0] != gen.shape[0]:  # beams: B * num_beams rows
            limits = limits.repeat_interleave(gen.shape[0] // limits.shape[0])
        done |= gen.shape[1] >= limits.to(gen.device)
        if self.options.max_repeats:
            for b in range(gen.shape[0]):
                if not done[b] and repeated_tail(gen[b].tolist(), self.options.max_repeats,
                                                 self.options.max_ngram):
                    done[b] = True
        return done


@dataclass(frozen=True)
class GeneratedRow:
    """One row's generated ids and how its decoding ended."""

    ids: list[int]  # new token ids, without EOS/padding, a looping tail cut to one copy
    looped: bool = False  # the repetition guard found a looping tail and cut it
    hit_limit: bool = False  # `limit` tokens and no EOS among them: stopped at the length limit
    limit: int = 0  # that length limit (tokens)
    temperature: float = 0.0  # the pass that wrote it: 0 greedy/beam, > 0 a fallback sample
    avg_logprob: float = 0.0  # a sample's mean token log-probability (0.0 when not sampled)
    from_first_pass: bool = False  # the first pass's own transcript, which won `joint_choice`
    # a text respelled from the conversation's earlier turns, which won `joint_choice`
    from_context: bool = False

    @property
    def guarded(self) -> bool:
        """A guard fired: the tail looped or the length limit was reached."""
        return self.looped or self.hit_limit


def generate_ids(llm: nn.Module, embeds: torch.Tensor, attention_mask: torch.Tensor,
                 seconds: torch.Tensor, options: GenerateOptions, eos_id: int, pad_id: int
                 ) -> list[list[int]]:
    """Decode from left-padded prompts embeds (B, L, E); row b may last `seconds[b]` of audio.

    Returns each row's new token ids without EOS/padding and with looping tails cut.
    """
    return [r.ids for r in generate_rows(llm, embeds, attention_mask, seconds, options,
                                         eos_id, pad_id)]


def generate_rows(llm: nn.Module, embeds: torch.Tensor, attention_mask: torch.Tensor,
                  seconds: torch.Tensor, options: GenerateOptions, eos_id: int, pad_id: int
                  ) -> list[GeneratedRow]:
    """`generate_ids`, with each row's guards that fired (loop cut, length limit) beside its ids.

    At `options.temperature` > 0 each row draws `best_of` samples (seeded) and keeps the most
    likely one (mean log-probability) that no guard stopped, else the most likely one. Rows are
    then sampled one at a time: scoring keeps every step's logits of the samples (~170 MB for 5
    samples of a 20-s window), which a batch of them would multiply.
    """
    from transformers import StoppingCriteriaList

    B = embeds.shape[0]
    if options.temperature > 0 and B > 1:
        return [row for b in range(B) for row in generate_rows(
            llm, embeds[b: b + 1], attention_mask[b: b + 1], seconds[b: b + 1], options,
            eos_id, pad_id)]
    limits = torch.tensor([options.max_new_tokens(float(s)) for s in seconds], dtype=torch.long)
    sample = options.temperature > 0
    n = options.best_of if sample else 1
    decoding = (dict(do_sample=True, temperature=options.temperature, top_k=0, top_p=1.0,
                     num_return_sequences=n, num_beams=1, output_logits=True,
                     return_dict_in_generate=True) if sample else
                # the model's own generation_config may carry sampling defaults; decoding is ours
                dict(do_sample=False, num_beams=options.num_beams, temperature=None, top_p=None,
                     top_k=None))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(options.seed)
        out = llm.generate(
            inputs_embeds=embeds, attention_mask=attention_mask,
            max_new_tokens=int(limits.max()), eos_token_id=eos_id, pad_token_id=pad_id,
            stopping_criteria=StoppingCriteriaList([_StopRows(limits, options, 0)]), **decoding,
        )  # (B * n, G): only new tokens when the prompt is given as embeddings
    seqs, scores = (out.sequences, _mean_logprobs(out.logits, out.sequences, eos_id, pad_id)) \
        if sample else (out, None)
    assert seqs.shape[0] == B * n, f"expected {B * n} rows, got {tuple(seqs.shape)}"
    rows = []
    for b in range(B):
        limit = int(limits[b])
        candidates = []
        for j in range(b * n, (b + 1) * n):
            ids = seqs[j].tolist()
            if eos_id in ids:  # (a row stopped early is padded, maybe with EOS: limit decides)
                ids = ids[: ids.index(eos_id)]
            while ids and ids[-1] == pad_id:
                ids.pop()
            ids = ids[:limit]
            cut = repeated_tail(ids, options.max_repeats, options.max_ngram)
            candidates.append(GeneratedRow(
                ids[: len(ids) - cut] if cut else ids, looped=cut > 0,
                hit_limit=len(ids) >= limit, limit=limit, temperature=options.temperature,
                avg_logprob=float(scores[j]) if scores is not None else 0.0))
        rows.append(max(candidates, key=lambda r: (not r.guarded, r.avg_logprob)))
    return rows


def _mean_logprobs(logits: Sequence[torch.Tensor], seqs: torch.Tensor, eos_id: int,
                   pad_id: int) -> list[float]:
    """Each sampled row's mean log-probability of its tokens (through its EOS) under the raw
    logits (one (R, V) tensor per step), as openai/whisper ranks its best_of samples."""
    picked = torch.stack([  # (R, G): a step at a time, never (R, G, V) at once
        x.float().gather(-1, seqs[:, g, None]).squeeze(-1) - torch.logsumexp(x.float(), -1)
        for g, x in enumerate(logits)], 1)
    out = []
    for r in range(seqs.shape[0]):
        ids = seqs[r, : picked.shape[1]].tolist()
        n = ids.index(eos_id) + 1 if eos_id in ids else len(ids)
        while n > 0 and ids[n - 1] == pad_id and pad_id != eos_id:
            n -= 1
        out.append(float(picked[r, :n].mean()) if n else 0.0)
    return out


def decode_with_fallback(decode: Callable[[list[int], GenerateOptions], list[GeneratedRow]],
                         rows: int, options: GenerateOptions,
                         suspect: Callable[[int, GeneratedRow], bool]) -> list[GeneratedRow]:
    """Decode rows 0..rows-1 (`decode(indices, options)`), then each row `suspect` calls wrong
    again at each fallback temperature in turn until it is not; a row still suspect after the
    last keeps its first (greedy or beam) decoding, for the caller to report."""
    out = decode(list(range(rows)), options)
    todo = [i for i in range(rows) if suspect(i, out[i])]
    for k, temperature in enumerate(options.fallback):
        if not todo:
            break
        tried = decode(todo, replace(options, temperature=temperature, seed=options.seed + k))
        for i, row in zip(todo, tried, strict=True):
            if not suspect(i, row):
                out[i] = row
        todo = [i for i in todo if suspect(i, out[i])]
    return out
