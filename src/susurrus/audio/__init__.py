"""Audio input and Whisper features."""

from susurrus.audio.features import (
    FRAMES_PER_SECOND,
    HOP_LENGTH,
    N_FRAMES_CHUNK,
    N_SAMPLES_CHUNK,
    log_mel_spectrogram,
)
from susurrus.audio.io import (
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
    check_samples,
    load_audio,
)

__all__ = [
    "FRAMES_PER_SECOND", "HOP_LENGTH", "N_FRAMES_CHUNK", "N_SAMPLES_CHUNK", "SAMPLE_RATE",
    "AudioDecodeError", "AudioError", "AudioFileNotFoundError", "EmptyAudioError",
    "InvalidSamplesError", "SampleRateError", "SegmentError", "SilentAudioError",
    "as_waveform", "check_samples", "load_audio", "log_mel_spectrogram",
]
