"""A Whisper encoder that runs on the real length of the audio.

Hugging Face's `WhisperEncoder` insists on 3000 mel frames (30 s): 5 s of speech would pay for
30 s of encoder work. This module reuses the same weights (it holds the HF encoder's submodules,
no copies) and runs the identical computation on T frames, with an optional padding mask so a
batch of different lengths gives each sample the output it would get alone.

Shapes: B batch, M mel bins, T mel frames (100/s), T' = ceil(T / 2) encoder frames (50/s), D width.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def encoder_lengths(mel_lengths: torch.Tensor) -> torch.Tensor:
    """Mel frames -> encoder frames: conv2 has stride 2, kernel 3, padding 1."""
    return (mel_lengths - 1) // 2 + 1


class AnyLengthWhisperEncoder(nn.Module):
    """Whisper encoder over any number of mel frames up to 2 x max_source_positions."""

    def __init__(self, hf_encoder: nn.Module) -> None:
        super().__init__()
        self.conv1, self.conv2 = hf_encoder.conv1, hf_encoder.conv2
        self.embed_positions = hf_encoder.embed_positions
        self.layers = hf_encoder.layers
        self.layer_norm = hf_encoder.layer_norm
        self.num_heads = hf_encoder.config.encoder_attention_heads
        self.d_model = hf_encoder.config.d_model
        self.n_mels = hf_encoder.config.num_mel_bins
        self.max_frames = 2 * self.embed_positions.weight.shape[0]

    @property
    def frames_per_second(self) -> float:
        """Encoder output frames per second of audio (50 for Whisper)."""
        return 50.0

    def forward(
        self, mel: torch.Tensor, mel_lengths: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """mel (B, M, T), mel_lengths (B,) valid frames (default: all T).

        Returns hidden (B, T', D) and out_lengths (B,); frames past a sample's length are zeros.
        """
        B, M, T = mel.shape
        assert M == self.n_mels, f"expected {self.n_mels} mel bins, got {M}"
        if T > self.max_frames:
            raise ValueError(f"{T} mel frames exceed the encoder's {self.max_frames} (30 s); "
                             "chunk the audio first")
        if mel_lengths is None:
            mel_lengths = torch.full((B,), T, dtype=torch.long, device=mel.device)
        frame_ok = torch.arange(T, device=mel.device)[None] < mel_lengths[:, None]  # (B, T)
        mel = mel * frame_ok[:, None, :].to(mel.dtype)  # zero padding, as conv1's own padding is
        x = F.gelu(self.conv1(mel))  # (B, D, T)
        # conv2 must see zeros past the end, exactly like a sample encoded alone.
        x = x * frame_ok[:, None, :].to(x.dtype)
        x = F.gelu(self.conv2(x)).transpose(1, 2)  # (B, T', D)
        T2 = x.shape[1]
        out_lengths = encoder_lengths(mel_lengths)
        x = x + self.embed_positions.weight[:T2].to(x.dtype)
        valid = torch.arange(T2, device=x.device)[None] < out_lengths[:, None]  # (B, T')
        attn_mask = None if bool(valid.all()) else valid[:, None, None, :]  # (B, 1, 1, T')
        for layer in self.layers:
            x = x + self._self_attention(layer, layer.self_attn_layer_norm(x), attn_mask)
            h = layer.final_layer_norm(x)
            x = x + layer.fc2(F.gelu(layer.fc1(h)))
        x = self.layer_norm(x)
        return x * valid[..., None].to(x.dtype), out_lengths

    def _self_attention(
        self, layer: nn.Module, h: torch.Tensor, attn_mask: torch.Tensor | None
    ) -> torch.Tensor:
        """h (B, T', D) -> (B, T', D) with the layer's own q/k/v/out projections."""
        attn = layer.self_attn
        B, T, D = h.shape
        H = self.num_heads

        def heads(t: torch.Tensor) -> torch.Tensor:
            return t.view(B, T, H, D // H).transpose(1, 2)  # (B, H, T', D/H)

        q, k, v = heads(attn.q_proj(h)), heads(attn.k_proj(h)), heads(attn.v_proj(h))
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        return attn.out_proj(out.transpose(1, 2).reshape(B, T, D))
