"""Batched generation for the speech LLM: greedy or beam, bounded by the audio's duration.

Two guards keep a speech LLM from running away, as Whisper's decoder can:
- a length limit per row derived from its audio (nobody speaks more than ~8 LLM tokens a second,
  so `tokens_per_second * seconds + extra_tokens` bounds a real transcript);
- a repetition guard: when a row's tail is the same n-gram `max_repeats` times in a row, that row
  stops and the copies are cut back to one ("no, no" is speech; four copies in a row is a loop).

Shapes: B batch, L prompt length, E LLM width, G generated length.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

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

    def __post_init__(self) -> None:
        if self.num_beams < 1:
            raise ValueError(f"num_beams must be >= 1, got {self.num_beams}")
        if self.tokens_per_second <= 0 or self.extra_tokens < 1:
            raise ValueError("tokens_per_second must be > 0 and extra_tokens >= 1, got "
                             f"{self.tokens_per_second} and {self.extra_tokens}")
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
    """`generate_ids`, with each row's guards that fired (loop cut, length limit) beside its ids."""
    from transformers import StoppingCriteriaList

    B = embeds.shape[0]
    limits = torch.tensor([options.max_new_tokens(float(s)) for s in seconds], dtype=torch.long)
    out = llm.generate(
        inputs_embeds=embeds, attention_mask=attention_mask,
        max_new_tokens=int(limits.max()), num_beams=options.num_beams, do_sample=False,
        eos_token_id=eos_id, pad_token_id=pad_id,
        stopping_criteria=StoppingCriteriaList([_StopRows(limits, options, 0)]),
        # the model's own generation_config may carry sampling defaults; decoding is ours
        temperature=None, top_p=None, top_k=None,
    )  # (B, G): only new tokens when the prompt is given as embeddings
    assert out.shape[0] == B, f"expected {B} rows, got {tuple(out.shape)}"
    rows = []
    for b in range(B):
        ids, limit = out[b].tolist(), int(limits[b])
        if eos_id in ids:  # (a row stopped early is padded, maybe with EOS: limit decides below)
            ids = ids[: ids.index(eos_id)]
        while ids and ids[-1] == pad_id:
            ids.pop()
        ids = ids[:limit]
        cut = repeated_tail(ids, options.max_repeats, options.max_ngram)
        rows.append(GeneratedRow(ids[: len(ids) - cut] if cut else ids, looped=cut > 0,
                                 hit_limit=len(ids) >= limit, limit=limit))
    return rows
