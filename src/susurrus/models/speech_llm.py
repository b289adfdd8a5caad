"""The speech LLM (SLAM-ASR layout, paper 001): frozen encoder -> compressor -> projector -> LLM.

The LLM reads its own chat template with the audio tokens spliced in where the user's message
would be:

    <|im_start|>system\\nTranscribe the audio.<|im_end|>\\n<|im_start|>user\\n[AUDIO]<|im_end|>\\n
    <|im_start|>assistant\\n{transcript}<|im_end|>

so an instruction-tuned LLM starts from the conversation format it knows. Only the compressor, the
projector and the LLM's LoRA adapters train; the encoder and the LLM's own weights stay frozen.

A pure module: it is handed built parts (see `susurrus.models.build`) and knows nothing of files,
recipes or optimizers.

Shapes: B batch, M mel bins, T encoder frames (50/s), D encoder width, N audio tokens,
E LLM width, L assembled sequence length, V vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from susurrus.compression.base import Compressor
from susurrus.models.generation import GenerateOptions, generate_ids

AUDIO_PLACEHOLDER = "<|audio|>"


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
                 llm: nn.Module, tokenizer, prompt: str) -> None:
        super().__init__()
        self.encoder = encoder.eval().requires_grad_(False)
        self.compressor = compressor
        self.projector = projector
        self.llm = llm  # a causal LM, possibly wrapped by peft
        self.tokenizer = tokenizer
        self.prompt = prompt
        self.prefix_ids, self.suffix_ids = prompt_pieces(tokenizer, prompt)
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
            n.startswith(("compressor.", "projector.")))}

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

    def audio_embeddings(self, feats: torch.Tensor, feat_lengths: torch.Tensor
                         ) -> tuple[torch.Tensor, torch.Tensor]:
        """feats (B, T, D), lengths (B,) -> audio tokens in LLM space (B, N, E), counts (B,)."""
        tokens, n = self.compressor(feats, feat_lengths)  # (B, N, D')
        emb = self.projector(tokens, n)  # (B, N, E)
        return emb.to(self._base().get_input_embeddings().weight.dtype), n

    # -- layout ---------------------------------------------------------------------------------
    def assemble(self, audio: torch.Tensor, n_audio: torch.Tensor,
                 targets: list[list[int]] | None = None) -> Assembled:
        """Splice audio (B, N, E) with counts (B,) between the prompt pieces.

        With targets (training) rows are right-padded and each target token (then EOS) is a label;
        without (generation) rows are left-padded so every row ends at the assistant cue.
        """
        B = audio.shape[0]
        assert n_audio.shape == (B,), f"expected n_audio ({B},), got {tuple(n_audio.shape)}"
        embed = self._base().get_input_embeddings()
        device = audio.device
        ids = lambda x: torch.tensor(x, dtype=torch.long, device=device)  # noqa: E731
        prefix, suffix = embed(ids(self.prefix_ids)), embed(ids(self.suffix_ids))  # (P, E), (S, E)
        rows: list[torch.Tensor] = []
        label_rows, label_cols, labels = [], [], []
        for b in range(B):
            parts = [prefix, audio[b, : int(n_audio[b])], suffix]
            if targets is not None:
                tgt = list(targets[b]) + [self.eos_id]
                start = sum(p.shape[0] for p in parts)  # first target position
                parts.append(embed(ids(tgt[:-1])))
                # position start-1 (the assistant cue's last token) predicts tgt[0], and so on
                label_rows += [b] * len(tgt)
                label_cols += list(range(start - 1, start - 1 + len(tgt)))
                labels += tgt
            rows.append(torch.cat(parts))
        L = max(r.shape[0] for r in rows)
        E = prefix.shape[-1]
        embeds = audio.new_zeros(B, L, E)
        mask = torch.zeros(B, L, dtype=torch.long, device=device)
        left = targets is None
        for b, r in enumerate(rows):
            sl = slice(L - r.shape[0], L) if left else slice(0, r.shape[0])
            embeds[b, sl], mask[b, sl] = r, 1
        return Assembled(embeds, mask, ids(label_rows), ids(label_cols), ids(labels))

    # -- training -------------------------------------------------------------------------------
    def forward(self, feats: torch.Tensor, feat_lengths: torch.Tensor,
                targets: list[list[int]]) -> torch.Tensor:
        """feats (B, T, D), lengths (B,), target token ids per row -> mean cross-entropy.

        The loss is averaged over every target token and EOS of the batch. Only supervised
        positions go through the output layer (V is large; the audio positions need no logits).
        """
        audio, n = self.audio_embeddings(feats, feat_lengths)
        batch = self.assemble(audio, n, targets)
        base = self._base()
        hidden = base.get_decoder()(inputs_embeds=batch.embeds,
                                    attention_mask=batch.attention_mask).last_hidden_state
        h = hidden[batch.label_rows, batch.label_cols]  # (K, E)
        logits = base.get_output_embeddings()(h).float()  # (K, V)
        return F.cross_entropy(logits, batch.labels)

    # -- inference ------------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, feats: torch.Tensor, feat_lengths: torch.Tensor,
                 options: GenerateOptions | None = None) -> list[list[int]]:
        """feats (B, T, D), lengths (B,) -> each row's generated token ids (EOS excluded)."""
        options = options or GenerateOptions()
        audio, n = self.audio_embeddings(feats, feat_lengths)
        batch = self.assemble(audio, n)
        seconds = feat_lengths.float() / self.frames_per_second
        return generate_ids(self.llm, batch.embeds, batch.attention_mask, seconds, options,
                            eos_id=self.eos_id, pad_id=self.pad_id)

    def decode_text(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True).strip()
