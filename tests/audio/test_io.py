"""susurrus.audio.io: typed, file-naming errors; formats; resampling; segments."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from susurrus.audio import (
    SAMPLE_RATE,
    AudioDecodeError,
    AudioError,
    AudioFileNotFoundError,
    EmptyAudioError,
    InvalidSamplesError,
    SampleRateError,
    SegmentError,
    SilentAudioError,
    as_waveform,
    load_audio,
    log_mel_spectrogram,
)

SR = SAMPLE_RATE


def tone(freq: float = 1000.0, seconds: float = 2.0, sr: int = SR, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(seconds * sr))) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def peak_hz(x: np.ndarray, sr: int = SR) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / sr)[spec.argmax()])


def raises_naming(exc: type[Exception], source: str | Path, fn, *args, **kwargs) -> AudioError:
    """fn(*args, **kwargs) raises exactly-typed `exc` whose message names `source`."""
    with pytest.raises(exc) as info:
        fn(*args, **kwargs)
    err = info.value
    assert isinstance(err, AudioError)
    assert str(source) in str(err)
    assert err.source == str(source)
    return err


@pytest.fixture
def tone_wav(tmp_path) -> Path:
    p = tmp_path / "tone.wav"
    sf.write(p, tone(), SR, subtype="PCM_16")
    return p


def ffmpeg_convert(src: Path, dst: Path, *codec: str) -> Path:
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed")
    proc = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(src), *codec, str(dst)],
        capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stderr
    return dst


# ---------------------------------------------------------------- bad audio: typed errors


def test_missing_file(tmp_path):
    p = tmp_path / "nope.wav"
    err = raises_naming(AudioFileNotFoundError, p, load_audio, p)
    assert isinstance(err, FileNotFoundError)
    raises_naming(AudioFileNotFoundError, p, as_waveform, str(p))


def test_directory_is_not_audio(tmp_path):
    raises_naming(AudioDecodeError, tmp_path, load_audio, tmp_path)


def test_a_manifest_is_not_audio_and_the_error_says_what_reads_it(tmp_path):
    p = tmp_path / "calls.jsonl"
    p.write_text('{"id": "u0", "audio": "a.wav", "text": "Hi."}\n')
    err = raises_naming(AudioDecodeError, p, load_audio, p)
    assert "is a manifest" in str(err) and "eval --manifest" in str(err)


def test_random_bytes_are_a_decode_error(tmp_path):
    p = tmp_path / "noise.wav"
    p.write_bytes(np.random.default_rng(0).bytes(4096))
    raises_naming(AudioDecodeError, p, load_audio, p)


@pytest.mark.parametrize("keep", [20, 40])
def test_truncated_wav_header_is_a_decode_error(tmp_path, tone_wav, keep):
    p = tmp_path / "cut.wav"
    p.write_bytes(tone_wav.read_bytes()[:keep])  # the 44-byte RIFF header, cut short
    raises_naming(AudioDecodeError, p, load_audio, p)


def test_zero_byte_file_is_empty(tmp_path):
    p = tmp_path / "zero.wav"
    p.write_bytes(b"")
    raises_naming(EmptyAudioError, p, load_audio, p)


@pytest.mark.parametrize("sr,channels", [(SR, 1), (44_100, 2)])
def test_file_with_zero_samples_is_empty(tmp_path, sr, channels):
    p = tmp_path / "nothing.wav"
    sf.write(p, np.zeros((0, channels), np.float32), sr, subtype="PCM_16")
    assert p.stat().st_size > 0 and sf.info(p).frames == 0
    raises_naming(EmptyAudioError, p, load_audio, p)


def test_all_zero_file_is_silent(tmp_path):
    p = tmp_path / "silence.wav"
    sf.write(p, np.zeros(SR, np.float32), SR, subtype="PCM_16")
    raises_naming(SilentAudioError, p, load_audio, p)


def test_allow_silence_accepts_silence(tmp_path):
    p = tmp_path / "silence.wav"
    sf.write(p, np.zeros(SR, np.float32), SR, subtype="PCM_16")
    audio = load_audio(p, allow_silence=True)
    assert audio.dtype == np.float32 and audio.shape == (SR,)
    assert not audio.any()
    out = as_waveform(np.zeros(8000, np.float32), sample_rate=8000, allow_silence=True)
    assert out.shape == (SR,) and not out.any()
    raises_naming(SilentAudioError, "<array>", as_waveform, np.zeros(8000), sample_rate=8000)


def test_quiet_but_audible_is_not_silent(tmp_path):
    p = tmp_path / "quiet.wav"
    sf.write(p, tone(amp=1e-3), SR, subtype="FLOAT")  # -60 dBFS: quiet, not silent
    assert np.abs(load_audio(p)).max() == pytest.approx(1e-3, rel=1e-3)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("sr", [SR, 44_100])
def test_nan_or_inf_samples(tmp_path, bad, sr):
    x = tone(sr=sr)
    x[1234] = bad
    p = tmp_path / "damaged.wav"
    sf.write(p, x, sr, subtype="FLOAT")
    raises_naming(InvalidSamplesError, p, load_audio, p)


def test_nan_in_array(tmp_path):
    x = tone()
    x[5] = np.nan
    raises_naming(InvalidSamplesError, "mic", as_waveform, x, sample_rate=SR, name="mic")


@pytest.mark.parametrize("rate", [None, 0, 16.5, 16000.0, -16000])
def test_array_needs_a_plausible_integer_sample_rate(rate):
    err = raises_naming(SampleRateError, "<array>", as_waveform, tone(), sample_rate=rate)
    assert "sample_rate" in str(err)


def test_array_sample_rate_error_names_the_given_name():
    raises_naming(SampleRateError, "clip-7", as_waveform, tone(), name="clip-7")


def test_log_mel_rejects_other_sample_rates():
    err = raises_naming(SampleRateError, "<array>", log_mel_spectrogram, tone(sr=8000),
                        sample_rate=8000)
    assert "8000" in str(err)


def test_segment_start_past_end(tone_wav):
    err = raises_naming(SegmentError, tone_wav, load_audio, tone_wav, start=5.0)
    assert "past the end" in str(err)


def test_segment_running_past_end(tone_wav):
    raises_naming(SegmentError, tone_wav, load_audio, tone_wav, start=1.9, duration=0.5)
    # a few ms over the end is tolerated (rounding of user-given times)
    assert load_audio(tone_wav, start=1.5, duration=0.505).shape == (8000,)


@pytest.mark.parametrize("start,duration", [(-0.5, None), (-1.0, 0.5), (0.0, 0.0), (0.5, -1.0)])
def test_segment_bad_bounds(tone_wav, start, duration):
    raises_naming(SegmentError, tone_wav, load_audio, tone_wav, start=start, duration=duration)


def test_errors_are_value_errors(tmp_path):
    # callers can catch every audio-input problem with one `except ValueError`
    for exc in (AudioFileNotFoundError, AudioDecodeError, EmptyAudioError, SilentAudioError,
                InvalidSamplesError, SampleRateError, SegmentError):
        assert issubclass(exc, AudioError) and issubclass(exc, ValueError)


# ---------------------------------------------------------------- formats


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> tuple[Path, np.ndarray]:
    """An espeak-ng sentence (16 kHz mono 16-bit WAV) and its samples as float32."""
    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        pytest.skip("espeak-ng/sox are not installed (scripts/setup.sh installs them)")
    from susurrus.data.tts import speak

    p = speak("The quick brown fox jumps over the lazy dog.",
              tmp_path_factory.mktemp("speech") / "fox.wav")
    ref, sr = sf.read(p, dtype="float32")
    assert sr == SR and ref.ndim == 1 and len(ref) > 2 * SR
    return p, ref


def check_loaded(audio: np.ndarray, ref: np.ndarray) -> None:
    assert audio.dtype == np.float32
    assert audio.ndim == 1
    assert abs(len(audio) - len(ref)) / SR <= 0.050
    assert np.abs(audio).max() > 0.05


def test_wav_loads_unchanged(speech):
    p, ref = speech
    audio = load_audio(p)
    check_loaded(audio, ref)
    np.testing.assert_array_equal(audio, ref)
    np.testing.assert_array_equal(as_waveform(p), ref)


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "FLOAT"])
def test_flac_and_wav_subtypes_are_lossless(tmp_path, speech, subtype):
    _, ref = speech
    fmt = "FLAC" if subtype != "FLOAT" else "WAV"
    p = tmp_path / f"fox.{fmt.lower()}"
    sf.write(p, ref, SR, format=fmt, subtype=subtype)
    audio = load_audio(p)
    check_loaded(audio, ref)
    assert len(audio) == len(ref)
    np.testing.assert_allclose(audio, ref, atol=1e-4)


def lossy_matches(audio: np.ndarray, ref: np.ndarray) -> None:
    check_loaded(audio, ref)
    n = min(len(audio), len(ref))
    assert np.corrcoef(audio[:n], ref[:n])[0, 1] > 0.9  # same signal, same alignment


def test_ogg_vorbis(tmp_path, speech):
    _, ref = speech
    p = tmp_path / "fox.ogg"
    sf.write(p, ref, SR, format="OGG", subtype="VORBIS")
    lossy_matches(load_audio(p), ref)


def test_mp3(tmp_path, speech):
    src, ref = speech
    p = ffmpeg_convert(src, tmp_path / "fox.mp3", "-c:a", "libmp3lame", "-b:a", "64k")
    lossy_matches(load_audio(p), ref)


@pytest.fixture(scope="module")
def speech_m4a(speech, tmp_path_factory) -> Path:
    """The espeak sentence as AAC in MP4, which libsndfile cannot read."""
    out = tmp_path_factory.mktemp("m4a") / "fox.m4a"
    return ffmpeg_convert(speech[0], out, "-c:a", "aac", "-b:a", "64k")


def test_m4a_goes_through_ffmpeg(speech, speech_m4a, monkeypatch):
    _, ref = speech
    p = speech_m4a
    with pytest.raises(sf.LibsndfileError):
        sf.info(p)  # libsndfile cannot read it: only the ffmpeg fallback can
    lossy_matches(load_audio(p), ref)
    seg = load_audio(p, start=1.0, duration=0.5)
    assert abs(len(seg) - SR // 2) <= 0.01 * SR
    # without ffmpeg on PATH the error says so and names the file
    monkeypatch.setattr(shutil, "which", lambda name: None)
    err = raises_naming(AudioDecodeError, p, load_audio, p)
    assert "ffmpeg" in str(err)


def test_segment_start_past_end_through_ffmpeg(speech_m4a):
    # ffmpeg itself returns no samples and no error here; it must still be a SegmentError
    raises_naming(SegmentError, speech_m4a, load_audio, speech_m4a, start=10.0)


def test_ffmpeg_decodes_to_16k_mono(tmp_path):
    # 44.1 kHz stereo AAC: ffmpeg resamples and mixes down
    left, right = tone(440, 1.5, 44_100, 0.6), tone(440, 1.5, 44_100, 0.2)
    wav = tmp_path / "st.wav"
    sf.write(wav, np.stack([left, right], axis=1), 44_100, subtype="PCM_16")
    p = ffmpeg_convert(wav, tmp_path / "st.m4a", "-c:a", "aac", "-b:a", "128k")
    audio = load_audio(p)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(len(audio) / SR - 1.5) <= 0.050
    assert abs(peak_hz(audio[:SR]) - 440) <= 2


# ---------------------------------------------------------------- resampling


def test_44k_stereo_file_is_16k_mono(tmp_path):
    seconds = 1.5
    left, right = tone(440, seconds, 44_100, 0.6), tone(440, seconds, 44_100, 0.2)
    p = tmp_path / "stereo44.wav"
    sf.write(p, np.stack([left, right], axis=1), 44_100, subtype="FLOAT")
    audio = load_audio(p)
    assert audio.dtype == np.float32 and audio.shape == (int(seconds * SR),)
    assert abs(peak_hz(audio) - 440) <= 1
    # the channels are averaged (0.6 and 0.2 -> 0.4), not one of them picked
    mid = audio[SR // 4: -SR // 4]
    assert np.abs(mid).max() == pytest.approx(0.4, abs=0.01)
    # and the samples are the 16 kHz sine itself
    np.testing.assert_allclose(mid, tone(440, seconds, SR, 0.4)[SR // 4: -SR // 4], atol=5e-3)


@pytest.mark.parametrize("sr", [8_000, 22_050, 48_000])
def test_other_rates_keep_duration_and_pitch(tmp_path, sr):
    p = tmp_path / f"tone{sr}.flac"
    sf.write(p, tone(440, 1.0, sr), sr)
    audio = load_audio(p)
    assert audio.shape == (SR,)
    assert abs(peak_hz(audio) - 440) <= 1


def test_int16_array_at_8k():
    x = np.round(tone(440, 1.0, 8_000, 0.5) * 32767).astype(np.int16)
    out = as_waveform(x, sample_rate=8_000)
    assert out.dtype == np.float32
    assert out.shape == (2 * len(x),)
    assert out.min() >= -1.0 and out.max() <= 1.0
    assert np.abs(out[1000:-1000]).max() == pytest.approx(0.5, abs=0.01)  # scaled, not raw ints
    assert abs(peak_hz(out) - 440) <= 1


def test_integer_full_scale_maps_into_unit_range():
    x = np.array([-32768, -16384, 0, 16384, 32767] * 400, np.int16)
    out = as_waveform(x, sample_rate=SR)
    assert out.min() == -1.0 and out.max() <= 1.0
    np.testing.assert_allclose(out[:5], [-1.0, -0.5, 0.0, 0.5, 32767 / 32768])
    u8 = np.array([0, 64, 128, 192, 255] * 400, np.uint8)  # 8-bit WAV PCM is unsigned
    np.testing.assert_allclose(as_waveform(u8, sample_rate=SR)[:5],
                               [-1.0, -0.5, 0.0, 0.5, 127 / 128])


@pytest.mark.parametrize("layout", ["time_channels", "channels_time"])
def test_multichannel_array_is_mixed_to_mono(layout):
    st = np.stack([tone(amp=0.6), tone(amp=0.2)], axis=1)
    if layout == "channels_time":
        st = st.T
    out = as_waveform(st, sample_rate=SR)
    np.testing.assert_allclose(out, tone(amp=0.4), atol=1e-6)


def test_16k_float_array_is_unchanged():
    x = tone()
    np.testing.assert_array_equal(as_waveform(x, sample_rate=SR), x)
    np.testing.assert_array_equal(as_waveform(x.astype(np.float64), sample_rate=np.int64(SR)), x)


# ---------------------------------------------------------------- segments


@pytest.mark.parametrize("ext", ["wav", "flac"])
def test_segment_equals_slice_of_full_load(tmp_path, speech, ext):
    _, ref = speech
    p = tmp_path / f"fox.{ext}"
    sf.write(p, ref, SR, subtype="PCM_16")
    full = load_audio(p)
    seg = load_audio(p, start=1.0, duration=0.5)
    assert seg.shape == (SR // 2,)
    np.testing.assert_allclose(seg, full[SR: SR + SR // 2], atol=1e-5)
    tail = load_audio(p, start=2.0)
    np.testing.assert_allclose(tail, full[2 * SR:], atol=1e-5)


def test_segment_of_44k_file_has_right_length_and_content(tmp_path):
    p = tmp_path / "t44.wav"
    sf.write(p, tone(440, 2.0, 44_100), 44_100, subtype="FLOAT")
    seg = load_audio(p, start=0.5, duration=1.0)
    assert seg.shape == (SR,)
    # inner part matches the same stretch of the whole file (edges see the resampling filter)
    full = load_audio(p)
    np.testing.assert_allclose(seg[500:-500], full[SR // 2 + 500: SR // 2 + SR - 500], atol=5e-3)
