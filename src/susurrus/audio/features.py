"""Whisper log-mel features in torch, for audio of any length.

Same recipe as openai/whisper `audio.py` and transformers' `WhisperFeatureExtractor`: 25 ms Hann
window, 10 ms hop, Slaney mel filters, log10 clamped to (max - 8), scaled (x + 4) / 4.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from susurrus.audio.io import SAMPLE_RATE, SampleRateError

N_FFT = 400
HOP_LENGTH = 160
FRAMES_PER_SECOND = SAMPLE_RATE // HOP_LENGTH  # 100 mel frames per second
CHUNK_SECONDS = 30
N_SAMPLES_CHUNK = CHUNK_SECONDS * SAMPLE_RATE
N_FRAMES_CHUNK = CHUNK_SECONDS * FRAMES_PER_SECOND  # 3000


@lru_cache(maxsize=4)
def mel_filters(n_mels: int) -> torch.Tensor:
    """(n_mels, N_FFT // 2 + 1) Slaney-style mel filter bank, as Whisper uses."""
    from transformers.audio_utils import mel_filter_bank

    fb = mel_filter_bank(
        num_frequency_bins=N_FFT // 2 + 1, num_mel_filters=n_mels, min_frequency=0.0,
        max_frequency=SAMPLE_RATE / 2, sampling_rate=SAMPLE_RATE, norm="slaney", mel_scale="slaney",
    )
    return torch.from_numpy(np.ascontiguousarray(fb.T)).float()


def log_mel_spectrogram(
    audio: np.ndarray | torch.Tensor,
    n_mels: int = 80,
    padding: int = 0,
    sample_rate: int = SAMPLE_RATE,
) -> torch.Tensor:
    """(T,) samples at 16 kHz -> (n_mels, T // 160) log-mel; `padding` zero samples are appended.
    A tensor is transformed on its own device (a GPU run makes its mixtures' features there)."""
    if sample_rate != SAMPLE_RATE:
        raise SampleRateError(
            "<array>", f"log-mel features need {SAMPLE_RATE} Hz audio, got {sample_rate} Hz; "
            "load it with susurrus.audio.load_audio or as_waveform(..., sample_rate=...)"
        )
    x = torch.as_tensor(audio, dtype=torch.float32)
    if padding:
        x = torch.nn.functional.pad(x, (0, padding))
    window = torch.hann_window(N_FFT, device=x.device)
    stft = torch.stft(x, N_FFT, HOP_LENGTH, window=window, return_complex=True)
    power = stft[..., :-1].abs() ** 2  # (F, frames): the last frame is dropped, as in Whisper
    mel = mel_filters(n_mels).to(x.device) @ power
    log_spec = torch.clamp(mel, min=1e-10).log10()
    log_spec = torch.maximum(log_spec, log_spec.max() - 8.0)
    return (log_spec + 4.0) / 4.0
