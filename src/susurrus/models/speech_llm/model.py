"""The speech LLM (SLAM-ASR layout, paper 001): frozen encoder -> compressor -> projector -> LLM.

The LLM reads its own chat template with the audio tokens spliced in where the user's message
would be:

    <|im_start|>system\\nTranscribe the audio.<|im_end|>\\n<|im_start|>user\\n[AUDIO]<|im_end|>\\n
    <|im_start|>assistant\\n{transcript}<|im_end|>

so an instruction-tuned LLM starts from the conversation format it knows. Conversational context
(paper 000) is the same template with earlier exchanges: each prior turn is a user message holding
that turn's context audio (`raw`: its full audio tokens, `abstract`: K latent tokens, `text`:
nothing) and an assistant message holding its transcript; the current turn comes last.

A model with a first pass (issue 16, lever 4: generative error correction with audio) reads, in
the current turn's user message after its audio tokens, a Whisper model's transcript of the same
audio: `[AUDIO]\nFirst pass: {hypothesis}` (`susurrus.data.hypotheses` makes them).

Only the compressor, the projector (and, for `abstract`, the context compressor and its
projector) and the LLM's LoRA adapters train; the encoder and the LLM's own weights stay frozen.

A pure module: it is handed built parts (see `susurrus.models.speech_llm.build`) and knows
nothing of files, recipes or optimizers.

Shapes: B batch, M mel bins, T encoder frames (50/s), D encoder width, N audio tokens,
E LLM width, L assembled sequence length, V vocabulary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from susurrus.compression.base import Compressor
from susurrus.context import CONTEXT_MODES, ContextMode
from susurrus.models.speech_llm.generation import GeneratedRow, GenerateOptions, generate_rows

AUDIO_PLACEHOLDER = "<|audio|>"
TEXT_PLACEHOLDER = "<|transcript|>"
MIN_SAMPLES = 400  # one STFT frame: a shorter turn is padded with silence to it
FIRST_PASS_LABEL = "\nFirst pass: "  # what introduces the first-pass hypothesis after the audio
MAX_HYPOTHESIS_TOKENS = 256  # a looping first pass is cut here (30 s of speech is ~120 tokens)


def prompt_pieces(tokenizer, prompt: str) -> tuple[list[int], list[int]]:
    """Token ids before and after the audio in the LLM's chat template (with the assistant cue).

    Falls back to a plain `prompt\\n[AUDIO]\\n` for tokenizers without a chat template.
    """
    if getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template(
            [{"role": "system", "content": prompt},
             {"role": "user", "content": AUDIO_PLACEHOLDER}],
            tokenize=False, add_generation_prompt=True)
    else:
        text = f"{prompt}\n{AUDIO_PLACEHOLDER}\n"
    before, after = text.split(AUDIO_PLACEHOLDER)
    encode = lambda s: tokenizer(s, add_special_tokens=False)["input_ids"]  # noqa: E731
    return encode(before), encode(after)


@dataclass(frozen=True)
class TurnPieces:
    """Token ids around the audio and transcripts in the chat template.

    A sequence is `head + [prior: audio, mid, transcript, sep]* + audio + tail + target`; with no
    prior turn it is `head + audio + tail`, exactly what `prompt_pieces` gives.
    """

    head: list[int]  # system prompt and the first user-message opening
    mid: list[int]  # end of a user message, start of the assistant's
    sep: list[int]  # end of an assistant message, start of the next user message
    tail: list[int]  # end of the current user message and the assistant cue


def turn_pieces(tokenizer, prompt: str) -> TurnPieces:
    head, tail = prompt_pieces(tokenizer, prompt)
    if getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template(
            [{"role": "system", "content": prompt},
             {"role": "user", "content": AUDIO_PLACEHOLDER},
             {"role": "assistant", "content": TEXT_PLACEHOLDER},
             {"role": "user", "content": AUDIO_PLACEHOLDER}],
            tokenize=False, add_generation_prompt=True)
        _, mid, after = text.split(AUDIO_PLACEHOLDER)[:3]
        mid, sep = mid.split(TEXT_PLACEHOLDER)[0], mid.split(TEXT_PLACEHOLDER)[1]
    else:
        mid, sep = "\n", "\n"
    encode = lambda s: tokenizer(s, add_special_tokens=False)["input_ids"]  # noqa: E731
    return TurnPieces(head, encode(mid), encode(sep), tail)


@dataclass
class PriorTurn:
    """An earlier turn as the LLM reads it: context audio tokens and the transcript's ids."""

    audio: torch.Tensor  # (n, E): raw audio tokens, K abstract latents, or n = 0 (text)
    text_ids: list[int] = field(default_factory=list)
    text: str = ""  # the transcript those ids spell (kept for people, not read by the model)


@dataclass
class EncodedTurn:
    """One turn of a conversation, encoded once: what generating it and remembering it need."""

    feats: torch.Tensor  # (1, T, D) frozen encoder frames
    lengths: torch.Tensor  # (1,) valid frames
    audio: torch.Tensor  # (N, E) its audio tokens in LLM space
    seconds: float  # T / frames per second: what the length limit of generation counts
    hypothesis: list[int] | None = None  # first-pass transcript ids (models with a first pass)


@dataclass
class Assembled:
    """A batch laid out for the LLM: prompt, audio tokens, prompt end, target (if any)."""

    embeds: torch.Tensor  # (B, L, E)
    attention_mask: torch.Tensor  # (B, L) 1 on real positions
    label_rows: torch.Tensor  # (K,) batch row of each supervised position
    label_cols: torch.Tensor  # (K,) position whose output predicts the label
    labels: torch.Tensor  # (K,) the token to predict there


class SpeechLLM(nn.Module):
    """Audio in, the LLM's text out; `forward` gives the training loss, `generate` the tokens."""

    def __init__(self, encoder: nn.Module, compressor: Compressor, projector: nn.Module,
                 llm: nn.Module, tokenizer, prompt: str, context: ContextMode = "none",
                 context_compressor: nn.Module | None = None,
                 context_projector: nn.Module | None = None,
                 context_turns: int | None = None, first_pass: str | None = None,
                 first_pass_engine: str = "faster-whisper", sot: bool = False) -> None:
        super().__init__()
        if context not in CONTEXT_MODES:
            raise ValueError(f"context must be one of {CONTEXT_MODES}, got {context!r}")
        if context == "abstract" and (context_compressor is None or context_projector is None):
            raise ValueError("context 'abstract' needs a context compressor and projector")
        self.encoder = encoder.eval().requires_grad_(False)
        self.compressor = compressor
        self.projector = projector
        self.llm = llm  # a causal LM, possibly wrapped by peft
        self.tokenizer = tokenizer
        self.prompt = prompt
        self.context = context  # the context the model was trained with
        self.context_turns = context_turns  # N: prior turns it was trained to read (None = all)
        self.context_compressor = context_compressor  # abstract: turn frames -> K latents
        self.context_projector = context_projector  # abstract: latents -> LLM width
        self.pieces = turn_pieces(tokenizer, prompt)
        self.first_pass = first_pass  # the Whisper model whose transcript each turn reads
        self.first_pass_engine = first_pass_engine  # the engine that decodes it
        # trained with serialized output training (model.sot, paper 003): writes every talker
        # of a mixture in onset order, joined by a speaker-change token (susurrus.train.sot)
        self.sot = sot
        self.first_pass_ids = tokenizer(FIRST_PASS_LABEL, add_special_tokens=False)["input_ids"]
        self.prefix_ids, self.suffix_ids = self.pieces.head, self.pieces.tail
        self.eos_id = int(tokenizer.eos_token_id)
        pad = tokenizer.pad_token_id
        self.pad_id = int(pad if pad is not None else self.eos_id)
    # -- the parts ------------------------------------------------------------------------------
    def _base(self) -> nn.Module:
        """The LLM under any peft wrapper (its LoRA layers are injected in place, so they run)."""
        return self.llm.get_base_model() if hasattr(self.llm, "get_base_model") else self.llm

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """What training changes, and so all a checkpoint holds: compressor, projector, LoRA."""
        names = {n for n, p in self.named_parameters() if p.requires_grad}
        return {n: t for n, t in self.state_dict().items() if n in names or (
            n.startswith(("compressor.", "projector.", "context_compressor.",
                          "context_projector.")))}

    def merge_lora(self) -> None:
        """Fold LoRA adapters into the LLM weights (inference only: they stop training)."""
        for module in self.llm.modules():
            if hasattr(module, "lora_A") and hasattr(module, "merge") and not module.merged:
                module.merge()

    def train(self, mode: bool = True) -> SpeechLLM:
        super().train(mode)
        self.encoder.eval()  # frozen: no dropout, whatever the rest does
        return self

    @property
    def frames_per_second(self) -> float:
        return float(self.encoder.frames_per_second)

    def tokens_per_second(self) -> float:
        """Audio tokens the LLM reads per second of audio."""
        return float(self.compressor.tokens_per_second(self.frames_per_second))

    @torch.no_grad()
    def encode(self, mel: torch.Tensor, mel_lengths: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """mel (B, M, 2T), mel_lengths (B,) -> frozen features (B, T, D), lengths (B,)."""
        return self.encoder(mel, mel_lengths)

    def encode_audio(self, clips: list) -> tuple[torch.Tensor, torch.Tensor]:
        """16-kHz mono clips (numpy, each at most 30 s and one STFT frame long) -> frozen
        features (B, T, D) and lengths (B,) on the model's device: log-mels, padded, encoded."""
        from susurrus.audio.features import log_mel_spectrogram

        mels = [log_mel_spectrogram(c, n_mels=self.encoder.n_mels) for c in clips]  # (M, T_i)
        lengths = torch.tensor([m.shape[1] for m in mels])
        batch = torch.zeros(len(mels), mels[0].shape[0], int(lengths.max()))  # (B, M, T)
        for b, m in enumerate(mels):
            batch[b, :, : m.shape[1]] = torch.as_tensor(m)
        device = next(self.projector.parameters()).device
        return self.encode(batch.to(device), lengths.to(device))

    def audio_embeddings(self, feats: torch.Tensor, feat_lengths: torch.Tensor
                         ) -> tuple[torch.Tensor, torch.Tensor]:
        """feats (B, T, D), lengths (B,) -> audio tokens in LLM space (B, N, E), counts (B,)."""
        tokens, n = self.compressor(feats, feat_lengths)  # (B, N, D')
        emb = self.projector(tokens, n)  # (B, N, E)
        return emb.to(self._base().get_input_embeddings().weight.dtype), n

    # -- context --------------------------------------------------------------------------------
    def context_modes(self) -> tuple[ContextMode, ...]:
        """Context modes this model can run: all but `abstract` unless it was trained with it."""
        return tuple(m for m in CONTEXT_MODES
                     if m != "abstract" or self.context_compressor is not None)

    def context_audio(self, feats: torch.Tensor, feat_lengths: torch.Tensor,
                      mode: ContextMode) -> list[torch.Tensor]:
        """Prior turns' frames (B, T, D), lengths (B,) -> each turn's context audio (n_b, E)."""
        if mode not in self.context_modes():
            raise ValueError(f"context {mode!r} is not one this model can run; it runs "
                             f"{', '.join(self.context_modes())}")
        B = feats.shape[0]
        dtype = self._base().get_input_embeddings().weight.dtype
        if mode in ("none", "text"):
            return [feats.new_zeros(0, self._base().config.hidden_size, dtype=dtype)] * B
        if mode == "raw":
            audio, n = self.audio_embeddings(feats, feat_lengths)
            return [audio[b, : int(n[b])] for b in range(B)]
        latents = self.context_compressor(feats, feat_lengths)  # (B, K, D)
        K = latents.shape[1]
        counts = torch.full((B,), K, dtype=torch.long, device=feats.device)
        emb = self.context_projector(latents, counts).to(dtype)  # (B, K, E)
        return list(emb.unbind(0))

    def prior_turns(self, context: list[list[tuple[torch.Tensor, list[int]]]],
                    mode: ContextMode) -> list[list[PriorTurn]]:
        """Per row, prior turns given as (frames (T, D), transcript ids) -> `PriorTurn`s.

        All prior turns of the batch go through the context path at once (padded, masked).
        """
        flat = [turn for row in context for turn in row]
        if not flat:
            return [[] for _ in context]
        if mode in ("none", "text"):
            audio = [None] * len(flat)
        else:
            lengths = torch.tensor([f.shape[0] for f, _ in flat], device=flat[0][0].device)
            x = flat[0][0].new_zeros(len(flat), int(lengths.max()), flat[0][0].shape[1])
            for i, (f, _) in enumerate(flat):
                x[i, : f.shape[0]] = f
            audio = self.context_audio(x, lengths, mode)
        empty = self._base().get_input_embeddings().weight.new_zeros(
            0, self._base().config.hidden_size)
        turns = [PriorTurn(a if a is not None else empty, list(ids))
                 for a, (_, ids) in zip(audio, flat, strict=True)]
        out, i = [], 0
        for row in context:
            out.append(turns[i : i + len(row)])
            i += len(row)
        return out

    # -- layout ---------------------------------------------------------------------------------
    def embed_ids(self, ids: list[int]) -> torch.Tensor:
        """Token ids -> the LLM's input embeddings (len, E)."""
        embed = self._base().get_input_embeddings()
        return embed(torch.tensor(ids, dtype=torch.long, device=embed.weight.device))

    def prefix_embeddings(self, priors: list[PriorTurn] = ()) -> torch.Tensor:
        """The head and every prior turn: (P, E), the part a conversation session caches."""
        return torch.cat([self.embed_ids(self.pieces.head)]
                         + [self.prior_embeddings(p) for p in priors])

    def prior_embeddings(self, prior: PriorTurn) -> torch.Tensor:
        """One prior turn: its context audio, then its transcript as the assistant's reply."""
        p = self.pieces
        text = self.embed_ids(p.mid + list(prior.text_ids) + p.sep)
        return torch.cat([prior.audio.to(device=text.device, dtype=text.dtype), text])

    def hypothesis_ids(self, text: str) -> list[int]:
        """A first-pass transcript as the ids the LLM reads (at most MAX_HYPOTHESIS_TOKENS)."""
        ids = self.tokenizer(text.strip(), add_special_tokens=False)["input_ids"]
        return ids[:MAX_HYPOTHESIS_TOKENS]

    def _check_hypotheses(self, hypotheses: Sequence | None, rows: int) -> None:
        if self.first_pass and (hypotheses is None or len(hypotheses) != rows):
            raise ValueError(f"this model reads a first-pass ({self.first_pass}) hypothesis for "
                             f"each of its {rows} rows; got "
                             f"{'none' if hypotheses is None else len(hypotheses)}")
        if not self.first_pass and hypotheses is not None:
            raise ValueError("this model has no first pass; it reads no hypotheses")

    def turn_embeddings(self, audio: torch.Tensor,
                        hypothesis: Sequence[int] | None = None) -> torch.Tensor:
        """The current turn: its audio tokens (n, E), the first-pass hypothesis if the model
        reads one, then the assistant cue."""
        text = list(self.first_pass_ids) + list(hypothesis or []) if self.first_pass else []
        return torch.cat([audio, self.embed_ids(text + self.pieces.tail)])

    def assemble(self, audio: torch.Tensor, n_audio: torch.Tensor,
                 targets: list[list[int]] | None = None,
                 context: list[list[PriorTurn]] | None = None,
                 hypotheses: Sequence[Sequence[int]] | None = None) -> Assembled:
        """Splice audio (B, N, E) with counts (B,) after each row's prior turns, into the prompt
        (with each row's first-pass hypothesis ids, for a model with a first pass).

        With targets (training) rows are right-padded and each target token (then EOS) is a label;
        without (generation) rows are left-padded so every row ends at the assistant cue.
        """
        B = audio.shape[0]
        assert n_audio.shape == (B,), f"expected n_audio ({B},), got {tuple(n_audio.shape)}"
        assert context is None or len(context) == B, f"expected {B} context rows"
        self._check_hypotheses(hypotheses, B)
        device = audio.device
        ids = lambda x: torch.tensor(x, dtype=torch.long, device=device)  # noqa: E731
        rows: list[torch.Tensor] = []
        label_rows, label_cols, labels = [], [], []
        for b in range(B):
            parts = [self.prefix_embeddings(context[b] if context else []),
                     self.turn_embeddings(audio[b, : int(n_audio[b])],
                                          hypotheses[b] if hypotheses is not None else None)]
            if targets is not None:
                tgt = list(targets[b]) + [self.eos_id]
                start = sum(p.shape[0] for p in parts)  # first target position
                parts.append(self.embed_ids(tgt[:-1]))
                # position start-1 (the assistant cue's last token) predicts tgt[0], and so on
                label_rows += [b] * len(tgt)
                label_cols += list(range(start - 1, start - 1 + len(tgt)))
                labels += tgt
            rows.append(torch.cat(parts))
        L = max(r.shape[0] for r in rows)
        E = audio.shape[-1]
        embeds = audio.new_zeros(B, L, E)
        mask = torch.zeros(B, L, dtype=torch.long, device=device)
        left = targets is None
        for b, r in enumerate(rows):
            sl = slice(L - r.shape[0], L) if left else slice(0, r.shape[0])
            embeds[b, sl], mask[b, sl] = r, 1
        return Assembled(embeds, mask, ids(label_rows), ids(label_cols), ids(labels))

    # -- training -------------------------------------------------------------------------------
    def forward(self, feats: torch.Tensor, feat_lengths: torch.Tensor,
                targets: list[list[int]],
                context: list[list[tuple[torch.Tensor, list[int]]]] | None = None,
                mode: ContextMode | None = None,
                hypotheses: Sequence[Sequence[int]] | None = None,
                weights: Sequence[Sequence[float] | None] | None = None) -> torch.Tensor:
        """feats (B, T, D), lengths (B,), target token ids per row -> mean cross-entropy.

        `context` gives each row's prior turns as (frames (T_i, D), transcript ids), read in
        `mode` (default: the model's own); `hypotheses` each row's first-pass ids (models with
        a first pass). The loss is averaged over every target token and EOS
        of the batch (prior transcripts are context, not labels); with `weights` (per row, one
        per target token, or None for all 1; EOS weighs 1) it is their weighted mean. Only
        supervised positions go through the output layer (V is large; the audio positions
        need no logits).
        """
        audio, n = self.audio_embeddings(feats, feat_lengths)
        priors = self.prior_turns(context, mode or self.context) if context else None
        batch = self.assemble(audio, n, targets, priors, hypotheses)
        base = self._base()
        hidden = base.get_decoder()(inputs_embeds=batch.embeds,
                                    attention_mask=batch.attention_mask).last_hidden_state
        h = hidden[batch.label_rows, batch.label_cols]  # (K, E)
        logits = base.get_output_embeddings()(h).float()  # (K, V)
        if weights is None:
            return F.cross_entropy(logits, batch.labels)
        w = self._label_weights(targets, weights).to(logits.device)  # (K,)
        return (F.cross_entropy(logits, batch.labels, reduction="none") * w).sum() / w.sum()

    @staticmethod
    def _label_weights(targets: list[list[int]],
                       weights: Sequence[Sequence[float] | None]) -> torch.Tensor:
        """(K,) one weight per label in `assemble`'s order: each row's tokens, then its EOS."""
        if len(weights) != len(targets):
            raise ValueError(f"expected {len(targets)} weight rows, got {len(weights)}")
        out = []
        for b, (tgt, w) in enumerate(zip(targets, weights, strict=True)):
            if w is not None and len(w) != len(tgt):
                raise ValueError(f"row {b}: {len(w)} weights for {len(tgt)} target tokens")
            out += (list(w) if w is not None else [1.0] * len(tgt)) + [1.0]
        return torch.tensor(out, dtype=torch.float32)

    @torch.no_grad()
    def target_states(self, feats: torch.Tensor, feat_lengths: torch.Tensor,
                      targets: list[list[int]],
                      hypotheses: Sequence[Sequence[int]] | None = None) -> list[torch.Tensor]:
        """Teacher forcing: feats (B, T, D), lengths (B,), target ids per row -> per row the
        LLM's last-layer states (N_b, E) at the positions that read each target token (a
        teacher's states, e.g. paper 003's LLM-SOT teacher cache)."""
        audio, n = self.audio_embeddings(feats, feat_lengths)
        batch = self.assemble(audio, n, targets, None, hypotheses)
        hidden = self._base().get_decoder()(inputs_embeds=batch.embeds,
                                            attention_mask=batch.attention_mask
                                            ).last_hidden_state  # (B, L, E)
        out = []
        for b, target in enumerate(targets):
            # the label columns predict target[j] (then EOS); the next position reads target[j]
            cols = batch.label_cols[batch.label_rows == b][: len(target)] + 1
            out.append(hidden[b, cols])
        return out

    @torch.no_grad()
    def score_texts(self, feats: torch.Tensor, feat_lengths: torch.Tensor, texts: Sequence[str],
                    context: list[list[PriorTurn]] | None = None,
                    hypotheses: Sequence[Sequence[int]] | None = None) -> list[float]:
        """Teacher forcing: feats (B, T, D), lengths (B,), one candidate transcript per row ->
        each row's log-probability of that text then EOS, read as `generate_rows` reads the
        row (after `context`, with `hypotheses` for a model with a first pass)."""
        targets = [self.tokenizer(t.strip(), add_special_tokens=False)["input_ids"]
                   for t in texts]
        audio, n = self.audio_embeddings(feats, feat_lengths)
        batch = self.assemble(audio, n, targets, context, hypotheses)
        base = self._base()
        hidden = base.get_decoder()(inputs_embeds=batch.embeds,
                                    attention_mask=batch.attention_mask).last_hidden_state
        logits = base.get_output_embeddings()(hidden[batch.label_rows, batch.label_cols])
        lp = F.log_softmax(logits.float(), -1).gather(1, batch.labels[:, None])[:, 0]  # (K,)
        return lp.new_zeros(len(texts)).index_add_(0, batch.label_rows, lp).tolist()

    # -- inference ------------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, feats: torch.Tensor, feat_lengths: torch.Tensor,
                 options: GenerateOptions | None = None,
                 context: list[list[PriorTurn]] | None = None,
                 hypotheses: Sequence[Sequence[int]] | None = None) -> list[list[int]]:
        """feats (B, T, D), lengths (B,) -> each row's generated token ids (EOS excluded).

        Every row's whole sequence (prior turns too) is computed afresh; a conversation that goes
        on turn after turn should use `susurrus.ConversationSession`, which caches the prefix.
        """
        return [r.ids for r in self.generate_rows(feats, feat_lengths, options, context,
                                                  hypotheses)]

    @torch.no_grad()
    def generate_rows(self, feats: torch.Tensor, feat_lengths: torch.Tensor,
                      options: GenerateOptions | None = None,
                      context: list[list[PriorTurn]] | None = None,
                      hypotheses: Sequence[Sequence[int]] | None = None) -> list[GeneratedRow]:
        """`generate`, with each row's guards that fired (loop cut, length limit)."""
        options = options or GenerateOptions()
        audio, n = self.audio_embeddings(feats, feat_lengths)
        batch = self.assemble(audio, n, None, context, hypotheses)
        seconds = feat_lengths.float() / self.frames_per_second
        return generate_rows(self.llm, batch.embeds, batch.attention_mask, seconds, options,
                             eos_id=self.eos_id, pad_id=self.pad_id)

    def decode_text(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True).strip()

    # -- a conversation, turn by turn: the whole operations a session calls ---------------------
    @torch.no_grad()
    def encode_turn(self, audio: np.ndarray, hypothesis: str | None = None) -> EncodedTurn:
        """One turn's 16-kHz mono samples (at most 30 s) -> its frames and audio tokens (and,
        for a model with a first pass, the ids of `hypothesis`, its first-pass transcript)."""
        if self.first_pass and hypothesis is None:
            raise ValueError(f"this model reads a first-pass ({self.first_pass}) hypothesis "
                             "with each turn; give it")
        if audio.shape[0] < MIN_SAMPLES:
            audio = np.pad(audio, (0, MIN_SAMPLES - audio.shape[0]))
        feats, lengths = self.encode_audio([audio])
        tokens, n = self.audio_embeddings(feats, lengths)  # (1, N, E)
        return EncodedTurn(feats, lengths, tokens[0, : int(n[0])],
                           float(lengths[0]) / self.frames_per_second,
                           self.hypothesis_ids(hypothesis) if self.first_pass else None)

    @torch.no_grad()
    def remember_turn(self, turn: EncodedTurn, text: str, mode: ContextMode) -> PriorTurn:
        """A finished turn as later turns read it in `mode` (context audio on the CPU).

        raw: all its audio tokens; abstract: K latent tokens; text and none: no audio. The
        transcript `text` (stripped) is kept as ids either way.
        """
        if mode == "raw":
            audio = turn.audio
        elif mode == "abstract":
            audio = self.context_audio(turn.feats, turn.lengths, "abstract")[0]
        else:
            audio = turn.audio.new_zeros(0, turn.audio.shape[-1])
        text = text.strip()
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return PriorTurn(audio.detach().cpu(), ids, text)

    @torch.no_grad()
    def generate_turn(self, turn: EncodedTurn, priors: Sequence[PriorTurn],
                      options: GenerateOptions | None = None) -> list[int]:
        """The turn's token ids read after `priors`, the whole sequence computed afresh.

        `ConversationContext` gives the same ids without recomputing the priors every turn.
        """
        return self.generate_turn_row(turn, priors, options).ids

    @torch.no_grad()
    def generate_turn_row(self, turn: EncodedTurn, priors: Sequence[PriorTurn],
                          options: GenerateOptions | None = None) -> GeneratedRow:
        """`generate_turn`, with the guards that fired (loop cut, length limit)."""
        hyps = [turn.hypothesis or []] if self.first_pass else None
        return self.generate_rows(turn.feats, turn.lengths, options, [list(priors)], hyps)[0]
