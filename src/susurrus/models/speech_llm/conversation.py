"""A conversation's cached context: the LLM's key/value cache of the head and prior turns.

`ConversationSession` (susurrus.infer.session) keeps finished turns and decides which of them
the next turn reads; this class owns what the LLM has already computed of them, and offers the
session three whole operations: start afresh from some prior turns (`reset`), append finished
turns (`extend`), and decode a turn on what is cached (`generate`) without changing it. So turn
20 runs the LLM over turn 20's audio and the tokens it writes only; turns 1-19 stay cached.

Shapes: P cached positions, N audio tokens of the turn, E LLM width, V vocabulary.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from susurrus.errors import UsageError
from susurrus.models.kv_cache import cache_kwargs
from susurrus.models.speech_llm.generation import (
    GeneratedRow,
    GenerateOptions,
    repeated_tail,
)
from susurrus.models.speech_llm.model import EncodedTurn, PriorTurn, SpeechLLM


class ConversationContext:
    """The head and some prior turns of one conversation, as the LLM's key/value cache."""

    def __init__(self, model: SpeechLLM) -> None:
        self.model = model
        self.cache = None  # a transformers DynamicCache once `reset` ran
        self.length = 0  # P: positions the cache holds

    def _run(self, embeds: torch.Tensor) -> torch.Tensor:
        """Append embeds (1, L, E) to the cache; the last position's logits (V,).

        The decoder alone runs over the new positions; only the last one goes through the
        output layer (V is 49k wide: a context chunk needs no logits at all).
        """
        base = self.model._base()
        decoder = base.get_decoder()
        hidden = decoder(inputs_embeds=embeds, use_cache=True,
                         **cache_kwargs(decoder, self.cache)).last_hidden_state  # (1, L, E)
        return base.get_output_embeddings()(hidden[0, -1])

    @torch.no_grad()
    def reset(self, priors: Sequence[PriorTurn] = ()) -> None:
        """Start afresh: the cache holds the head, then `priors` in order."""
        from transformers import DynamicCache

        emb = self.model.prefix_embeddings(list(priors))  # (P, E)
        self.cache = DynamicCache()
        self._run(emb[None])
        self.length = emb.shape[0]

    @torch.no_grad()
    def extend(self, priors: Sequence[PriorTurn]) -> None:
        """Append finished turns after what is cached (the head first, if nothing is)."""
        if self.cache is None:
            self.reset(priors)
            return
        if not priors:
            return
        emb = torch.cat([self.model.prior_embeddings(p) for p in priors])  # (P', E)
        self._run(emb[None])
        self.length += emb.shape[0]

    @torch.no_grad()
    def generate(self, turn: EncodedTurn, options: GenerateOptions) -> list[int]:
        """`generate_row`'s ids."""
        return self.generate_row(turn, options).ids

    @torch.no_grad()
    def generate_row(self, turn: EncodedTurn, options: GenerateOptions) -> GeneratedRow:
        """Decode `turn` read after the cached context; the cache is left as it was.

        Greedy at `options.temperature` 0, with the same stopping rules as
        `SpeechLLM.generate`: EOS, the length limit, the repetition guard (and its cut), so the
        ids equal `SpeechLLM.generate_turn` with the same priors. Above 0, `best_of` samples
        (seeded by `options.seed`), keeping the most likely one no guard stopped (a fallback
        pass, as `generation.generate_rows` samples; the draws are this loop's own).
        """
        if options.num_beams != 1:
            raise UsageError("a cached conversation decodes greedily; use num_beams=1, or "
                             "use_cache=False for beam search")
        if self.cache is None:
            self.reset()
        limit = options.max_new_tokens(turn.seconds)
        if options.temperature <= 0:
            return self._decode(turn, options, limit, None)
        g = torch.Generator().manual_seed(options.seed)
        rows = [self._decode(turn, options, limit, g) for _ in range(options.best_of)]
        return max(rows, key=lambda r: (not r.guarded, r.avg_logprob))

    def _decode(self, turn: EncodedTurn, options: GenerateOptions, limit: int,
                g: torch.Generator | None) -> GeneratedRow:
        """One pass over `turn`: greedy (`g` None) or sampled at `options.temperature`."""
        model = self.model
        logits = self._run(model.turn_embeddings(turn.audio, turn.hypothesis)[None])
        ids: list[int] = []
        logprob, ended = 0.0, False
        try:
            while True:
                if g is None:
                    tok = int(logits.argmax())
                else:
                    probs = torch.softmax(logits.float() / options.temperature, dim=-1)
                    tok = int(torch.multinomial(probs, 1, generator=g))
                    logprob += float(torch.log_softmax(logits.float(), dim=-1)[tok])
                if tok == model.eos_id:
                    ended = True
                    break
                ids.append(tok)
                if len(ids) >= limit or repeated_tail(ids, options.max_repeats,
                                                      options.max_ngram):
                    break
                logits = self._run(model.embed_ids([tok])[None])
        finally:
            extra = self.cache.get_seq_length() - self.length
            if extra > 0:  # back to the context, whatever happened
                self.cache.crop(-extra)
        cut = repeated_tail(ids, options.max_repeats, options.max_ngram)
        steps = len(ids) + ended
        return GeneratedRow(ids[: len(ids) - cut] if cut else ids, looped=cut > 0,
                            hit_limit=len(ids) >= limit, limit=limit,
                            temperature=options.temperature if g is not None else 0.0,
                            avg_logprob=logprob / steps if g is not None and steps else 0.0)
