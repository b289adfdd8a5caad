"""The first-pass hypothesis cache: decoded once, read back, resumed, keyed by the audio."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf

from susurrus.audio.io import AudioFileNotFoundError
from susurrus.data.hypotheses import HypothesisCache
from susurrus.data.manifest import Utterance


class CountingRecognizer:
    """Writes each clip's length in samples: which audio it was handed shows in the text."""

    def __init__(self) -> None:
        self.clips = 0

    def recognize(self, clips):
        self.clips += len(clips)
        return [SimpleNamespace(text=f" {c.shape[0]} samples ") for c in clips]


@pytest.fixture
def utts(tmp_path: Path) -> list[Utterance]:
    rng = np.random.default_rng(0)
    path = tmp_path / "a.wav"
    sf.write(path, (0.1 * rng.standard_normal(64_000)).astype(np.float32), 16_000)
    return [Utterance(id=f"u{i}", audio=path, text="x", start=0.1 * i, duration=0.25 + 0.05 * i)
            for i in range(20)]


def test_prepare_decodes_each_segment_once_and_a_new_cache_reads_them_back(
        tmp_path: Path, utts) -> None:
    rec = CountingRecognizer()
    cache = HypothesisCache(tmp_path / "cache", "whisper-tiny.en", "torch", rec)
    assert cache.prepare(utts, progress=False) == 20 and rec.clips == 20
    assert cache.get(utts[3]) == f"{int(0.4 * 16_000)} samples"  # the segment, stripped
    assert cache.prepare(utts, progress=False) == 0 and rec.clips == 20
    again = HypothesisCache(tmp_path / "cache", "whisper-tiny.en", "torch", CountingRecognizer())
    assert [again.get(u) for u in utts] == [cache.get(u) for u in utts]
    assert again.recognizer.clips == 0
    other = HypothesisCache(tmp_path / "cache", "whisper-tiny.en", "faster-whisper",
                            CountingRecognizer())
    assert other.prepare(utts[:2], progress=False) == 2  # another engine: its own file
    assert other.path != cache.path


def test_an_interrupted_file_resumes_and_an_edited_audio_file_is_decoded_again(
        tmp_path: Path, utts) -> None:
    rec = CountingRecognizer()
    cache = HypothesisCache(tmp_path / "cache", "w", "torch", rec)
    cache.prepare(utts[:5], progress=False)
    with cache.path.open("a") as f:
        f.write('{"key": "abc", "te')  # cut mid-line by an interruption
    fresh = HypothesisCache(tmp_path / "cache", "w", "torch", rec)
    assert fresh.prepare(utts, progress=False) == 15 and rec.clips == 20
    audio = Path(utts[0].audio)
    st = audio.stat()
    os.utime(audio, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # the file changed
    assert HypothesisCache(tmp_path / "cache", "w", "torch", rec).prepare(
        utts, progress=False) == 20


def test_a_missing_audio_file_names_the_utterance(tmp_path: Path) -> None:
    cache = HypothesisCache(tmp_path, "w", "torch", CountingRecognizer())
    with pytest.raises(AudioFileNotFoundError, match="utterance gone"):
        cache.prepare([Utterance(id="gone", audio=tmp_path / "nope.wav", text="x")],
                      progress=False)


def test_an_augmented_variant_is_decoded_from_its_own_audio(tmp_path: Path, utts) -> None:
    """With the augmentation given, variant k's hypothesis comes from variant k's audio (the
    same audio as its features: `utterance_variant`), under a key of its own."""
    from susurrus.audio.io import load_audio
    from susurrus.data.augment import AugmentConfig, utterance_variant

    slow = AugmentConfig(probabilities={"speed": 1.0}, speed_factors=(0.8,))
    rec = CountingRecognizer()
    cache = HypothesisCache(tmp_path, "whisper-tiny.en", "torch", rec, slow, 3)
    assert cache.prepare(utts[:4], progress=False, variants=2) == 12  # clean + 2 variants each
    for u in utts[:4]:
        clean = load_audio(u.audio, u.start, u.duration)
        own = utterance_variant(clean, slow, 3, u.id, 1, 30 * 16_000, min_samples=400)
        assert own.shape[0] != clean.shape[0]  # the variant is really another clip
        assert cache.get(u) == f"{clean.shape[0]} samples"
        assert cache.get(u, 1) == f"{own.shape[0]} samples"
    assert rec.clips == 12  # all read back, none decoded twice
    # another augmentation (or none) never reads these variants
    other = HypothesisCache(tmp_path, "whisper-tiny.en", "torch", CountingRecognizer(),
                            AugmentConfig(probabilities={"speed": 1.0}, speed_factors=(1.1,)), 3)
    assert other.key(utts[0], 1) != cache.key(utts[0], 1)
    assert other.key(utts[0], 0) == cache.key(utts[0], 0)  # the clean audio's is shared
    with pytest.raises(ValueError, match="variant 1 needs the augmentation"):
        HypothesisCache(tmp_path, "whisper-tiny.en", "torch", rec).key(utts[0], 1)
