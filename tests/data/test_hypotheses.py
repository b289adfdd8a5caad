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
