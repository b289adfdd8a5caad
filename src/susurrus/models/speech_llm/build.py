"""Build a `SpeechLLM` from a `ModelConfig`: load the pretrained parts, add the trained ones.

The encoder and LLM come through `susurrus.pretrained` (embedded names resolve offline; anything
else is a local folder or hub id). The compressor and projector are freshly initialised from the
current torch seed, and LoRA adapters are injected into the LLM by peft.
"""

from __future__ import annotations

import torch

from susurrus.compression import (
    AbstractCompressor,
    AbstractConfig,
    Projector,
    ProjectorConfig,
    build_compressor,
)
from susurrus.encoders.whisper import AnyLengthWhisperEncoder
from susurrus.models.speech_llm.config import LoraConfig, ModelConfig
from susurrus.models.speech_llm.model import SpeechLLM


def add_lora(llm: torch.nn.Module, lora: LoraConfig) -> torch.nn.Module:
    """Inject LoRA adapters into `llm` in place (r=0: none); freezes everything else.

    A target name that matches no module of the LLM is an error naming it (peft's own check).
    """
    llm.requires_grad_(False)
    if lora.r == 0:
        return llm
    from peft import LoraConfig as PeftLoraConfig
    from peft import inject_adapter_in_model

    missing = [t for t in lora.targets
               if not any(name.split(".")[-1] == t for name, _ in llm.named_modules())]
    if missing:
        raise ValueError(f"model.lora.targets: no module of the LLM is called {missing}; "
                         "name Linear layers such as q_proj, v_proj (see model.named_modules())")
    config = PeftLoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                            target_modules=list(lora.targets), bias="none")
    return inject_adapter_in_model(config, llm)


def build_speech_llm(config: ModelConfig, dtype: torch.dtype = torch.float32) -> SpeechLLM:
    """Load the pretrained encoder and LLM named in `config` and add fresh trained parts."""
    from susurrus.pretrained import load_llm, load_whisper

    whisper, _ = load_whisper(config.encoder, dtype=dtype)
    encoder = AnyLengthWhisperEncoder(whisper.model.encoder)
    llm, tokenizer = load_llm(config.llm, dtype=dtype)
    llm = add_lora(llm, config.lora)
    compressor = build_compressor(config.compressor, encoder.d_model,
                                  **dict(config.compressor_options))
    projector = Projector(compressor.out_dim, llm.config.hidden_size,
                          ProjectorConfig(hidden_dim=config.projector_hidden))
    context_compressor = context_projector = None
    if config.context == "abstract":
        context_compressor = AbstractCompressor(encoder.d_model, AbstractConfig(
            num_latents=config.abstract_tokens, num_heads=config.abstract_heads)).to(dtype)
        context_projector = Projector(encoder.d_model, llm.config.hidden_size,
                                      ProjectorConfig(hidden_dim=config.projector_hidden)).to(dtype)
    return SpeechLLM(encoder, compressor.to(dtype), projector.to(dtype), llm, tokenizer,
                     config.prompt, config.context, context_compressor, context_projector,
                     config.context_turns, config.first_pass,
                     config.first_pass_engine, config.sot)
