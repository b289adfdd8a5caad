"""Decoding one 30-second Whisper window: greedy or sampled, with Whisper's logit rules.

Follows openai/whisper `decoding.py` (the same rules faster-whisper/CTranslate2 apply), so greedy
token ids match faster-whisper's on the same weights: the rules are small strategy classes applied
in order to the next-token logits.

Several windows decode as one batch (`decode_batch`): they share the prefix, each row keeps its
own rules, budget and sampling seed, and a row that has finished leaves the batch (its cache rows
are dropped), so every row's tokens are those it gets decoded alone.

Shapes: B batch, V vocabulary, N tokens so far, T' encoder frames (1500), D width.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import torch
import torch.nn.functional as F
from transformers.modeling_outputs import BaseModelOutput

from susurrus.models.kv_cache import cache_kwargs, returned_cache

TIME_PRECISION = 0.02  # seconds per timestamp token
MAX_INITIAL_TIMESTAMP = 1.0  # seconds: the first timestamp may not be later than this


@dataclass(frozen=True)
class WhisperTokens:
    """Special token ids of a Whisper tokenizer (read from the tokenizer, never assumed)."""

    eot: int  # <|endoftext|>
    sot: int  # <|startoftranscript|>
    sot_prev: int  # <|startofprev|>: the carried-context prefix
    no_speech: int  # <|nocaptions|> (older name) / <|nospeech|>
    no_timestamps: int  # <|notimestamps|>
    timestamp_begin: int  # <|0.00|>: every id from here on is a timestamp
    sot_sequence: tuple[int, ...]  # sot [+ language + task] for multilingual models
    suppress: tuple[int, ...]  # never generated: non-speech symbols and task tokens
    suppress_begin: tuple[int, ...]  # not allowed as the first token (blank, eot)

    @classmethod
    def from_tokenizer(cls, tokenizer, generation_config) -> WhisperTokens:
        ids = tokenizer.convert_tokens_to_ids
        vocab = tokenizer.get_vocab()
        no_speech = ids("<|nospeech|>") if "<|nospeech|>" in vocab else ids("<|nocaptions|>")
        sot = ids("<|startoftranscript|>")
        sot_sequence: tuple[int, ...] = (sot,)
        if getattr(generation_config, "is_multilingual", False):
            sot_sequence = (sot, ids("<|en|>"), ids("<|transcribe|>"))
        specials = [ids(t) for t in ("<|transcribe|>", "<|translate|>", "<|startoftranscript|>",
                                     "<|startofprev|>", "<|startoflm|>") if t in vocab]
        suppress = set(generation_config.suppress_tokens or []) | set(specials) | {no_speech}
        return cls(
            eot=ids("<|endoftext|>"), sot=sot, sot_prev=ids("<|startofprev|>"),
            no_speech=no_speech, no_timestamps=ids("<|notimestamps|>"),
            timestamp_begin=ids("<|notimestamps|>") + 1, sot_sequence=sot_sequence,
            suppress=tuple(sorted(suppress)),
            suppress_begin=tuple(generation_config.begin_suppress_tokens or []),
        )


@dataclass(frozen=True)
class DecodingOptions:
    """How one window is decoded."""

    temperature: float = 0.0  # 0 = greedy (argmax); > 0 samples from softmax(logits / T)
    timestamps: bool = True  # predict segment timestamps (else <|notimestamps|> is in the prefix)
    max_new_tokens: int = 224  # Whisper's own cap: half the decoder context
    suppress_blank: bool = True  # no blank/eot as the very first token
    seed: int = 0  # sampling seed (temperature > 0): the same seed gives the same text

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 1 <= self.max_new_tokens <= 448:
            raise ValueError(f"max_new_tokens must be in [1, 448], got {self.max_new_tokens}")


@dataclass
class DecodingResult:
    """What decoding one window produced."""

    tokens: list[int]  # generated ids, eot excluded (timestamps included when predicted)
    sum_logprob: float  # sum of log-probabilities of the generated tokens (eot included)
    no_speech_prob: float  # P(<|nospeech|>) at the start-of-transcript position
    temperature: float
    text: str = ""
    compression_ratio: float = field(default=0.0)

    @property
    def avg_logprob(self) -> float:
        return self.sum_logprob / (len(self.tokens) + 1)


class LogitFilter(Protocol):
    def apply(self, logits: torch.Tensor, tokens: list[int]) -> None:
        """Edit (V,) next-token logits in place given the tokens generated so far."""


class SuppressTokens:
    def __init__(self, ids: tuple[int, ...]) -> None:
        self.ids = list(ids)

    def apply(self, logits: torch.Tensor, tokens: list[int]) -> None:
        logits[self.ids] = -float("inf")


class SuppressBlank:
    def __init__(self, ids: tuple[int, ...]) -> None:
        self.ids = list(ids)

    def apply(self, logits: torch.Tensor, tokens: list[int]) -> None:
        if not tokens:
            logits[self.ids] = -float("inf")


class TimestampRules:
    """Timestamps come in pairs, never decrease, and the first one is early (openai/whisper)."""

    def __init__(self, tk: WhisperTokens, max_initial_index: int) -> None:
        self.tk, self.max_initial_index = tk, max_initial_index

    def apply(self, logits: torch.Tensor, tokens: list[int]) -> None:
        tb, eot = self.tk.timestamp_begin, self.tk.eot
        logits[self.tk.no_timestamps] = -float("inf")
        last_ts = len(tokens) >= 1 and tokens[-1] >= tb
        penult_ts = len(tokens) < 2 or tokens[-2] >= tb
        if last_ts:
            if penult_ts:  # a closed pair: text must follow
                logits[tb:] = -float("inf")
            else:  # an open segment end: another timestamp or eot
                logits[:eot] = -float("inf")
        stamps = [t for t in tokens if t >= tb]
        if stamps:
            # never decrease; after a closed pair the next must be strictly later
            floor = stamps[-1] if last_ts and not penult_ts else stamps[-1] + 1
            logits[tb:floor] = -float("inf")
        if not tokens:
            logits[:tb] = -float("inf")  # start with a timestamp
            logits[tb + self.max_initial_index + 1 :] = -float("inf")
        logprobs = F.log_softmax(logits.float(), dim=-1)
        if torch.logsumexp(logprobs[tb:], dim=-1) > logprobs[:tb].max():
            logits[:tb] = -float("inf")  # timestamps are likelier than any text token


def compression_ratio(text: str) -> float:
    """Bytes / zlib-compressed bytes: above ~2.4 the text repeats itself (a decoding loop)."""
    raw = text.encode("utf-8")
    return len(raw) / len(zlib.compress(raw)) if raw else 0.0


class WindowDecoder:
    """Decodes one 30-s window of a HF `WhisperForConditionalGeneration` with a KV cache."""

    def __init__(self, model, tokenizer) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.tk = WhisperTokens.from_tokenizer(tokenizer, model.generation_config)
        self.n_ctx = model.config.max_target_positions

    def prefix(self, prompt_tokens: list[int], timestamps: bool) -> list[int]:
        """startofprev + prompt (cut from the left) + sot sequence [+ notimestamps]."""
        out: list[int] = []
        if prompt_tokens:
            out = [self.tk.sot_prev, *prompt_tokens[-(self.n_ctx // 2 - 1) :]]
        out += list(self.tk.sot_sequence)
        if not timestamps:
            out.append(self.tk.no_timestamps)
        return out

    @torch.inference_mode()
    def encode(self, mel: torch.Tensor) -> torch.Tensor:
        """mel (1, M, 3000) -> encoder states (1, 1500, D)."""
        p = next(self.model.parameters())
        return self.model.model.encoder(mel.to(p.device, p.dtype)).last_hidden_state

    @torch.inference_mode()
    def decode(
        self, encoded: torch.Tensor, prompt_tokens: list[int], options: DecodingOptions
    ) -> DecodingResult:
        """encoded (1, T', D) -> the window's tokens; stops at eot or options.max_new_tokens."""
        return self.decode_batch(encoded, prompt_tokens, [options])[0]

    @torch.inference_mode()
    def score(self, encoded: torch.Tensor, texts: Sequence[str]) -> list[float]:
        """encoded (1, T', D) -> each text's log-probability as this window's transcript: its
        tokens then eot after the sot sequence (no prompt, no timestamps), by teacher forcing.

        Raw log-softmax, no logit rules: a score of what the model believes, not of what its
        decoding would allow. All texts go through the decoder as one right-padded batch.
        """
        if not texts:
            return []
        prefix = self.prefix([], timestamps=False)
        rows = [self.tokenizer.encode(" " + t.strip(), add_special_tokens=False)
                [: self.n_ctx - len(prefix) - 1] + [self.tk.eot] for t in texts]
        L = len(prefix) + max(len(r) for r in rows) - 1
        ids = torch.full((len(rows), L), self.tk.eot, dtype=torch.long, device=encoded.device)
        for b, r in enumerate(rows):
            seq = prefix + r[:-1]
            ids[b, : len(seq)] = torch.tensor(seq)
        enc = encoded.expand(len(rows), -1, -1)
        logits = self.model(encoder_outputs=BaseModelOutput(last_hidden_state=enc),
                            decoder_input_ids=ids).logits  # (B, L, V)
        out = []
        for b, r in enumerate(rows):
            # position len(prefix) - 1 + j predicts r[j]
            lp = F.log_softmax(logits[b, len(prefix) - 1 : len(prefix) - 1 + len(r)].float(), -1)
            out.append(float(lp.gather(1, torch.tensor(r, device=lp.device)[:, None]).sum()))
        return out

    def _row(self, options: DecodingOptions, prefix_len: int) -> _Row:
        filters: list[LogitFilter] = [SuppressTokens(self.tk.suppress)]
        if options.suppress_blank:
            filters.insert(0, SuppressBlank(self.tk.suppress_begin))
        if options.timestamps:
            filters.append(TimestampRules(self.tk, round(MAX_INITIAL_TIMESTAMP / TIME_PRECISION)))
        return _Row(filters, options, min(options.max_new_tokens, self.n_ctx - prefix_len),
                    torch.Generator().manual_seed(options.seed), self.tk.eot)

    @torch.inference_mode()
    def decode_batch(
        self, encoded: torch.Tensor, prompt_tokens: list[int], options: Sequence[DecodingOptions]
    ) -> list[DecodingResult]:
        """encoded (B, T', D), one options per row -> each row's result (rows share the prompt).

        A row stops at eot or its max_new_tokens and then leaves the batch.
        """
        B = encoded.shape[0]
        assert len(options) == B, f"expected {B} options, got {len(options)}"
        assert len({o.timestamps for o in options}) == 1, "rows share the prefix: one timestamps"
        prefix = self.prefix(prompt_tokens, options[0].timestamps)
        sot_index = prefix.index(self.tk.sot)
        rows = [self._row(o, len(prefix)) for o in options]
        enc = encoded
        ids = torch.tensor([prefix] * B, device=encoded.device)
        out = self.model(encoder_outputs=BaseModelOutput(last_hidden_state=enc),
                         decoder_input_ids=ids, use_cache=True)
        no_speech = F.softmax(out.logits[:, sot_index].float(), -1)[:, self.tk.no_speech]
        active = list(range(B))  # the batch rows still decoding, in the cache's order
        while True:
            logits = out.logits[:, -1]  # (B', V)
            chosen = [rows[b].step(logits[j]) for j, b in enumerate(active)]
            keep = [j for j, tok in enumerate(chosen) if tok is not None]
            if not keep:
                break
            cache = returned_cache(out)
            if len(keep) < len(active):  # finished rows leave the batch
                index = torch.tensor(keep, device=enc.device)
                cache.batch_select_indices(index)
                enc, active = enc[index], [active[j] for j in keep]
            step = torch.tensor([[chosen[j]] for j in keep], device=enc.device)
            out = self.model(encoder_outputs=BaseModelOutput(last_hidden_state=enc),
                             decoder_input_ids=step, use_cache=True,
                             **cache_kwargs(self.model, cache))
        results = []
        for row, p in zip(rows, no_speech.tolist(), strict=True):
            text = self.tokenizer.decode([t for t in row.tokens if t < self.tk.eot])
            results.append(DecodingResult(row.tokens, row.sum_logprob, p,
                                          row.options.temperature, text, compression_ratio(text)))
        return results


@dataclass
class _Row:
    """One window's decoding state within a batch: its rules, budget and sampler."""

    filters: list[LogitFilter]
    options: DecodingOptions
    budget: int  # tokens it may choose, eot included
    generator: torch.Generator  # its own sampler: a row samples as it would alone
    eot: int
    tokens: list[int] = field(default_factory=list)  # chosen so far, eot excluded
    sum_logprob: float = 0.0
    picks: int = 0  # tokens chosen so far, eot included

    def step(self, logits: torch.Tensor) -> int | None:
        """Choose the next token from the (V,) logits; None once the row is finished."""
        if self.picks >= self.budget:
            return None
        logits = logits.float().clone()
        for f in self.filters:
            f.apply(logits, self.tokens)
        logprobs = F.log_softmax(logits, -1)
        if self.options.temperature == 0:
            nxt = int(logits.argmax())
        else:
            probs = F.softmax(logits / self.options.temperature, -1)
            nxt = int(torch.multinomial(probs.cpu(), 1, generator=self.generator))
        self.sum_logprob += float(logprobs[nxt])
        self.picks += 1
        if nxt == self.eot:
            self.picks = self.budget  # finished: no further pick
            return None
        self.tokens.append(nxt)
        return nxt
