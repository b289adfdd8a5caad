"""Tiny random speech LLMs for tests: the frozen parts load once, the trained parts are fresh."""

from __future__ import annotations

import copy
from pathlib import Path

import torch

from susurrus.compression import (
    AbstractCompressor,
    AbstractConfig,
    Projector,
    ProjectorConfig,
    build_compressor,
)
from susurrus.encoders.whisper import AnyLengthWhisperEncoder
from susurrus.models.speech_llm.build import add_lora
from susurrus.models.speech_llm.config import LoraConfig
from susurrus.models.speech_llm.model import SpeechLLM

D = 64  # width of the tiny Whisper encoder
PROMPT = "Transcribe the audio."
OPTIONS = {  # a small instance of every compressor
    "stack": {"k": 2},
    "avgpool": {"k": 2},
    "segment": {"k": 2},
    "query": {"num_queries": 2, "window": 4, "num_heads": 2},
}


def load_parts(tiny_whisper_dir: Path, tiny_llm_dir: Path) -> tuple:
    """The frozen parts: (encoder, LLM, tokenizer); `build` copies the LLM."""
    from transformers import WhisperForConditionalGeneration

    from susurrus.pretrained import load_llm

    whisper = WhisperForConditionalGeneration.from_pretrained(tiny_whisper_dir).eval()
    return (AnyLengthWhisperEncoder(whisper.model.encoder), *load_llm(str(tiny_llm_dir)))


def build(parts: tuple, compressor: str = "stack", options: dict | None = None, r: int = 2,
          seed: int = 0, context: str = "none", num_latents: int = 3,
          lora_noise: float = 0.2, first_pass: str | None = None, sot: bool = False
          ) -> SpeechLLM:
    """A fresh speech LLM; its LoRA adapters are made non-zero (`lora_noise`) so they take part."""
    encoder, llm, tokenizer = parts
    torch.manual_seed(seed)
    llm = add_lora(copy.deepcopy(llm), LoraConfig(r=r, alpha=2 * r, dropout=0.0))
    comp = build_compressor(compressor, D, **(OPTIONS[compressor] if options is None else options))
    proj = Projector(comp.out_dim, llm.config.hidden_size, ProjectorConfig(hidden_dim=32))
    ctx_comp = ctx_proj = None
    if context == "abstract":
        ctx_comp = AbstractCompressor(D, AbstractConfig(num_latents=num_latents, num_heads=2))
        ctx_proj = Projector(D, llm.config.hidden_size, ProjectorConfig(hidden_dim=32))
    model = SpeechLLM(encoder, comp, proj, llm, tokenizer, PROMPT, context, ctx_comp, ctx_proj,
                      first_pass=first_pass, sot=sot)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name and lora_noise:  # peft starts B at 0: a no-op otherwise
                p.normal_(0.0, lora_noise)
    return model.eval()
