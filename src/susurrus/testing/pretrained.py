"""Tiny random pretrained parts with the real embedded tokenizers: a Whisper (2+2 layers, width
64) and a Llama (2 layers, width 64). They load through the same code paths as the real models
(`susurrus.pretrained.load_whisper` / `load_llm` on a local folder) in a second instead of minutes.
"""

from __future__ import annotations

from pathlib import Path

import torch


def make_tiny_whisper(out: Path, tokenizer_dir: Path) -> Path:
    """Save a tiny random HF Whisper with the tokenizer in `tokenizer_dir` (tiny.en's) to `out`."""
    from transformers import (
        GenerationConfig,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperTokenizerFast,
    )

    src = Path(tokenizer_dir)
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
    return Path(out)


def make_tiny_llm(out: Path, tokenizer_dir: Path) -> Path:
    """Save a tiny random Llama with the tokenizer (and chat template) in `tokenizer_dir` to `out`.

    The output layer is untied and drawn with std 1: with the default std 0.02 the logits stay
    near 0.2, and no adapter can make a 49k-way softmax confident, so nothing could be overfit.
    """
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
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
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return Path(out)
