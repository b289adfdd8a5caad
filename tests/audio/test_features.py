"""susurrus.audio.features.log_mel_spectrogram against transformers' WhisperFeatureExtractor."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from susurrus.audio import (
    FRAMES_PER_SECOND,
    HOP_LENGTH,
    N_FRAMES_CHUNK,
    N_SAMPLES_CHUNK,
    SAMPLE_RATE,
    SampleRateError,
    log_mel_spectrogram,
)

SR = SAMPLE_RATE


@pytest.fixture(scope="module")
def extractor():
    from transformers import WhisperFeatureExtractor

    return WhisperFeatureExtractor(feature_size=80)


def reference_log_mel(audio: np.ndarray, mel_filters: np.ndarray) -> np.ndarray:
    """Whisper's recipe written out in numpy (float64): reflect-padded periodic-Hann STFT."""
    n_fft = 400
    x = np.pad(audio.astype(np.float64), n_fft // 2, mode="reflect")
    n_frames = 1 + (len(x) - n_fft) // HOP_LENGTH
    idx = np.arange(n_fft)[None, :] + HOP_LENGTH * np.arange(n_frames)[:, None]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    power = np.abs(np.fft.rfft(x[idx] * window, axis=1)) ** 2  # (frames, 201)
    mel = mel_filters.T @ power[:-1].T  # the last frame is dropped
    log_spec = np.log10(np.maximum(mel, 1e-10))
    log_spec = np.maximum(log_spec, log_spec.max() - 8.0)
    return (log_spec + 4.0) / 4.0


def random_audio(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    # noise plus a tone, with a quiet stretch, so the (max - 8) clamp also bites inside the audio
    x = 0.1 * rng.standard_normal(n) + 0.3 * np.sin(2 * np.pi * 440 * np.arange(n) / SR)
    x[n // 3: n // 3 + SR // 2] *= 1e-6
    return x.astype(np.float32)


def test_matches_whisper_feature_extractor_on_30s_padded_audio(extractor):
    audio = random_audio(7.0)
    ref = extractor(audio, sampling_rate=SR, return_tensors="np").input_features[0]
    assert ref.shape == (80, N_FRAMES_CHUNK)
    ours = log_mel_spectrogram(audio, padding=N_SAMPLES_CHUNK - len(audio))
    assert isinstance(ours, torch.Tensor) and ours.dtype == torch.float32
    assert ours.shape == (80, N_FRAMES_CHUNK)
    ours = ours[:, :N_FRAMES_CHUNK].numpy()
    np.testing.assert_allclose(ours, ref, atol=1e-4, rtol=0)
    # the padded tail is clamped to exactly max - 8 (in scaled units: max - 2)
    assert np.allclose(ours[:, -100:], ours.max() - 2.0, atol=1e-6)


def test_matches_numpy_reference_unpadded(extractor):
    audio = random_audio(2.5, seed=1)
    ours = log_mel_spectrogram(audio).numpy()
    ref = reference_log_mel(audio, extractor.mel_filters)
    assert ours.shape == ref.shape == (80, 250)
    np.testing.assert_allclose(ours, ref, atol=1e-4, rtol=0)


def test_frame_count_is_samples_over_hop():
    assert log_mel_spectrogram(random_audio(2.5)).shape == (80, 250)
    assert log_mel_spectrogram(random_audio(1.0), padding=SR).shape == (80, 2 * FRAMES_PER_SECOND)
    assert log_mel_spectrogram(np.zeros(12_345, np.float32) + 0.1).shape == (80, 12_345 // 160)


def test_128_mels_and_tensor_input(extractor):
    audio = random_audio(1.0, seed=2)
    ours = log_mel_spectrogram(torch.from_numpy(audio), n_mels=128)
    assert ours.shape == (128, 100)
    from transformers import WhisperFeatureExtractor

    fe128 = WhisperFeatureExtractor(feature_size=128)
    np.testing.assert_allclose(ours.numpy(), reference_log_mel(audio, fe128.mel_filters),
                               atol=1e-4, rtol=0)


def test_padding_only_appends_zeros():
    audio = random_audio(1.0, seed=3)
    padded = log_mel_spectrogram(audio, padding=SR)
    explicit = log_mel_spectrogram(np.concatenate([audio, np.zeros(SR, np.float32)]))
    np.testing.assert_allclose(padded.numpy(), explicit.numpy(), atol=1e-6, rtol=0)


def test_tone_lands_in_the_right_mel_band(extractor):
    t = np.arange(SR) / SR
    low = log_mel_spectrogram((0.5 * np.sin(2 * np.pi * 300 * t)).astype(np.float32))
    high = log_mel_spectrogram((0.5 * np.sin(2 * np.pi * 3000 * t)).astype(np.float32))
    assert low.mean(dim=1).argmax() < high.mean(dim=1).argmax()

    def band(hz: float) -> int:  # the mel filter that peaks nearest `hz`
        return int(np.argmax(extractor.mel_filters[int(round(hz / (SR / 400)))]))

    assert abs(int(low.mean(dim=1).argmax()) - band(300)) <= 1
    assert abs(int(high.mean(dim=1).argmax()) - band(3000)) <= 1


@pytest.mark.parametrize("rate", [8_000, 44_100])
def test_other_sample_rates_are_refused(rate):
    with pytest.raises(SampleRateError) as info:
        log_mel_spectrogram(np.ones(rate, np.float32), sample_rate=rate)
    assert "<array>" in str(info.value) and str(rate) in str(info.value)
