"""Augmentation pieces and chains (susurrus.data.augment): each piece does what it says."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from susurrus.data import augment as A
from susurrus.errors import BadAudioError, BadRecipeError, MissingDependencyError

SR = A.SAMPLE_RATE
needs_sox = pytest.mark.skipif(shutil.which("sox") is None, reason="sox is not installed")
needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")


def tone(hz: float, seconds: float = 0.5, amp: float = 0.5) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * hz * np.arange(int(seconds * SR)) / SR)).astype(np.float32)


def speechlike(seconds: float = 0.5, seed: int = 0) -> np.ndarray:
    """Amplitude-modulated harmonics of 150 Hz plus a little noise (voiced speech), peak 0.5."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    x = sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(1, 20))
    x = x * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t)) + 0.05 * rng.standard_normal(len(t))
    return (0.5 * x / np.max(np.abs(x))).astype(np.float32)


def peak_hz(x: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / SR)[np.argmax(spectrum)])


def snr_db(clean: np.ndarray, noisy: np.ndarray) -> float:
    clean, noisy = clean.astype(np.float64), noisy.astype(np.float64)
    return float(10 * np.log10(np.sum(clean**2) / np.sum((noisy - clean) ** 2)))


def band_power_db(x: np.ndarray, lo: float, hi: float) -> float:
    """Mean power per FFT bin in [lo, hi) Hz, in dB (Hann window: no leakage across bands)."""
    power = np.abs(np.fft.rfft(x.astype(np.float64) * np.hanning(len(x)))) ** 2
    f = np.fft.rfftfreq(len(x), 1 / SR)
    return float(10 * np.log10(np.mean(power[(f >= lo) & (f < hi)]) + 1e-30))


@pytest.mark.parametrize("kind", ["white", "pink", "babble"])
@pytest.mark.parametrize("target", [-5.0, 3.0, 17.5])
def test_noise_snr_is_exact(kind: str, target: float) -> None:
    x = speechlike()
    y = A.add_noise(x, kind, target, seed=7)
    assert y.shape == x.shape
    assert abs(snr_db(x, y) - target) < 0.1


def test_pink_noise_falls_with_frequency() -> None:
    noise = A.make_noise("pink", speechlike(seconds=2.0), seed=1)
    # 1/f power: about 10 dB per decade between 100-200 Hz and 1-2 kHz
    drop = band_power_db(noise, 100, 200) - band_power_db(noise, 1000, 2000)
    assert 7.0 < drop < 13.0


def test_speed_shortens_and_raises_pitch() -> None:
    x = tone(440.0)
    y = A.speed(x, 1.1)
    assert abs(len(y) - len(x) / 1.1) <= 1
    assert abs(peak_hz(y) - 440.0 * 1.1) < 5.0
    assert abs(len(A.speed(x, 0.9)) - len(x) / 0.9) <= 1
    np.testing.assert_array_equal(A.speed(x, 1.0), x)


@needs_sox
def test_tempo_changes_length_not_pitch() -> None:
    x = tone(440.0)
    y = A.tempo(x, 1.1)
    assert abs(len(y) - len(x) / 1.1) < 0.01 * len(x)
    assert abs(peak_hz(y) - 440.0) < 5.0


@needs_sox
def test_pitch_keeps_length_and_shifts_frequency() -> None:
    x = tone(440.0)
    y = A.pitch(x, 2.0)
    assert len(y) == len(x)
    assert abs(peak_hz(y) - 440.0 * 2 ** (2 / 12)) < 6.0


def test_telephone_removes_energy_outside_300_3400_hz() -> None:
    x = (0.2 * np.random.default_rng(0).standard_normal(SR)).astype(np.float32)  # white: flat
    y = A.telephone(x)
    assert len(y) == len(x)
    in_band = band_power_db(y, 500, 3200)
    assert abs(in_band - band_power_db(x, 500, 3200)) < 1.0  # the band itself passes
    # out of band, all that is left is the 8-bit mu-law quantization noise (~38 dB down)
    assert in_band - band_power_db(y, 0, 250) > 25.0
    assert in_band - band_power_db(y, 3600, 8000) > 25.0


def test_bandlimit_removes_energy_outside_its_edges() -> None:
    x = (0.2 * np.random.default_rng(1).standard_normal(SR)).astype(np.float32)
    y = A.band_pass(x, 300.0, 3400.0)
    in_band = band_power_db(y, 500, 3200)
    assert abs(in_band - band_power_db(x, 500, 3200)) < 0.5
    assert in_band - band_power_db(y, 0, 200) > 40.0
    assert in_band - band_power_db(y, 3800, 8000) > 35.0
    # at the edges themselves filtfilt gives -6 dB; just outside them most energy is gone
    assert in_band - band_power_db(y, 200, 280) > 10.0
    assert in_band - band_power_db(y, 3500, 3700) > 10.0


def test_reverb_lengthens_the_tail_and_keeps_the_onset() -> None:
    onset = 1000
    x = np.zeros(SR // 2, np.float32)
    x[onset:onset + 2000] = tone(300.0, seconds=2000 / SR)
    y = A.reverb(x, rt60=0.4, seed=3)
    assert len(y) == len(x) + int(0.4 * SR) - 1
    assert np.max(np.abs(y[:onset])) < 1e-5  # nothing arrives before the direct path
    assert np.argmax(np.abs(y) > 1e-3) == np.argmax(np.abs(x) > 1e-3)
    tail = y[onset + 2000 + 800:]  # 50 ms after the dry sound ended
    assert np.sqrt(np.mean(tail[:1600] ** 2)) > 1e-3  # the room still rings
    assert abs(A._rms(y) - A._rms(x)) < 1e-3 * A._rms(x) + 1e-6


def test_a_variant_is_always_the_same_audio_and_variants_differ() -> None:
    config = A.AugmentConfig(probabilities={"speed": 1.0, "reverb": 1.0, "noise": 1.0,
                                            "telephone": 0.5})
    x = speechlike()
    a = A.augment(x, config, seed=5, utt_id="conv1-t3", variant=1)
    np.testing.assert_array_equal(a, A.augment(x, config, seed=5, utt_id="conv1-t3", variant=1))
    for other in [dict(variant=2), dict(utt_id="conv1-t4"), dict(seed=6)]:
        kwargs = dict(seed=5, utt_id="conv1-t3", variant=1) | other
        b = A.augment(x, config, **kwargs)
        assert len(a) != len(b) or not np.allclose(a, b), other
    np.testing.assert_array_equal(A.augment(x, config, seed=5, utt_id="conv1-t3", variant=0), x)


@needs_sox
@needs_ffmpeg
def test_every_piece_in_one_chain_is_deterministic() -> None:
    config = A.AugmentConfig(probabilities={name: 1.0 for name in A.ORDER})
    x = speechlike(seconds=0.3)
    chain = A.draw_chain(config, seed=0, utt_id="u", variant=3)
    assert [step.name for step in chain] == list(A.ORDER)
    y = A.apply_chain(x, chain)
    np.testing.assert_array_equal(y, A.apply_chain(x, chain))
    assert np.all(np.isfinite(y)) and np.max(np.abs(y)) <= 1.0


def test_describe_says_what_the_chain_did() -> None:
    config = A.AugmentConfig(probabilities={"speed": 1.0, "noise": 1.0})
    chain = A.draw_chain(config, seed=1, utt_id="u", variant=1)
    text = A.describe(chain)
    assert text.startswith("speed(factor=") and " -> noise(kind=" in text and "snr_db=" in text
    assert "seed" not in text
    assert A.describe(A.draw_chain(config, seed=1, utt_id="u", variant=0)) == "clean"


def test_changing_one_probability_keeps_the_other_pieces_draws() -> None:
    with_reverb = A.AugmentConfig(probabilities={"reverb": 1.0, "noise": 1.0})
    without = A.AugmentConfig(probabilities={"reverb": 0.0, "noise": 1.0})
    a = A.draw_chain(with_reverb, seed=2, utt_id="u", variant=1)
    b = A.draw_chain(without, seed=2, utt_id="u", variant=1)
    assert [s.name for s in a] == ["reverb", "noise"] and [s.name for s in b] == ["noise"]
    assert a[1] == b[0]


def test_output_is_finite_and_within_unit_range_by_a_gain_not_a_clip() -> None:
    x = speechlike() * 1.9  # peak 0.95
    loud = A.AugmentConfig(probabilities={"noise": 1.0, "reverb": 1.0}, snr_db_range=(-5, -5))
    chain = A.draw_chain(loud, seed=0, utt_id="u", variant=1)
    raw = x.astype(np.float32)
    for step in chain:
        raw = A.PIECES[step.name].apply(raw, **step.params)
    assert np.max(np.abs(raw)) > 1.0  # the chain itself overshoots ...
    y = A.apply_chain(x, chain)
    assert np.isclose(np.max(np.abs(y)), A.PEAK)  # ... and the output is scaled, not clipped
    np.testing.assert_allclose(y, raw * (A.PEAK / np.max(np.abs(raw))), rtol=1e-5, atol=1e-7)
    everything = A.AugmentConfig(probabilities={"speed": 0.5, "reverb": 0.5, "noise": 1.0,
                                                "bandlimit": 0.3, "telephone": 0.3})
    for variant in range(1, 9):
        z = A.augment(x, everything, seed=9, utt_id="u", variant=variant)
        assert np.all(np.isfinite(z)) and np.max(np.abs(z)) <= 1.0


@pytest.mark.parametrize(("kwargs", "field"), [
    (dict(probabilities={"noise": 1.5}), "probabilities.noise"),
    (dict(probabilities={"echo": 0.5}), "probabilities.echo"),
    (dict(speed_factors=(0.9, 3.0)), "speed_factors"),
    (dict(tempo_range=(1.2, 0.8)), "tempo_range"),
    (dict(pitch_semitones=(-20.0, 0.0)), "pitch_semitones"),
    (dict(rt60_range=(0.0, 0.5)), "rt60_range"),
    (dict(snr_db_range=(10.0, 5.0)), "snr_db_range"),
    (dict(noise_kinds=("brown",)), "noise_kinds"),
    (dict(bandlimit_high_hz=(3000.0, 9000.0)), "bandlimit_high_hz"),
    (dict(codecs=("aac",)), "codecs"),
    (dict(codec_kbps=(1.0, 8.0)), "codec_kbps"),
])
def test_bad_config_names_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(BadRecipeError, match=f"augment: .*{field}"):
        A.AugmentConfig(**kwargs)


def test_bad_config_reports_every_field_at_once() -> None:
    with pytest.raises(BadRecipeError) as error:
        A.AugmentConfig(rt60_range=(2.0, 1.0), noise_kinds=())
    assert "rt60_range" in str(error.value) and "noise_kinds" in str(error.value)


def test_bad_variant_and_bad_audio_are_typed_errors() -> None:
    config = A.AugmentConfig()
    with pytest.raises(BadRecipeError, match="variant"):
        A.draw_chain(config, seed=0, utt_id="u", variant=-1)
    with pytest.raises(BadAudioError, match="1-D"):
        A.augment(np.zeros((2, 100), np.float32), config, seed=0)
    with pytest.raises(BadAudioError, match="NaN"):
        A.augment(np.full(100, np.nan, np.float32), config, seed=0)


def test_a_missing_codec_or_sox_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(A, "_ffmpeg_encoders", lambda: "")
    with pytest.raises(MissingDependencyError, match="libopus"):
        A.codec(speechlike(), "opus", 16)
    monkeypatch.setattr(A.shutil, "which", lambda name: None)
    with pytest.raises(MissingDependencyError, match="sox"):
        A.tempo(speechlike(), 1.1)


@needs_ffmpeg
@pytest.mark.parametrize("name", ["opus", "mp3"])
def test_codec_round_trip_keeps_length_and_alignment(name: str) -> None:
    rng = np.random.default_rng(4)  # not periodic, so the correlation has one peak
    x = (0.3 * rng.standard_normal(SR // 2) * np.hanning(SR // 2)).astype(np.float32)
    x = A.band_pass(x, 200.0, 3000.0)
    y = A.codec(x, name, 16)
    assert len(y) == len(x)
    lag = np.argmax(np.correlate(y, x[1000:-1000], mode="valid")) - 1000
    assert abs(lag) <= 2  # no encoder delay left in
    assert 0.0 < snr_db(x, y) < 40.0  # lossy, yet the same signal


def test_fingerprint_changes_with_config_and_seed_only() -> None:
    config = A.AugmentConfig()
    key = A.fingerprint(config, seed=0)
    assert key == A.fingerprint(A.AugmentConfig(), seed=0) and len(key) == 16
    assert key != A.fingerprint(config, seed=1)
    assert key != A.fingerprint(A.AugmentConfig(snr_db_range=(0.0, 20.0)), seed=0)
