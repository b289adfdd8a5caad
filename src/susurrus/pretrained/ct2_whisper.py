"""CTranslate2 Whisper (`model.bin`, format v6) -> Hugging Face `WhisperForConditionalGeneration`.

The reader follows the layout written by `ctranslate2.specs.model_spec.ModelSpec.save`:

    u32 version | str spec name | u32 revision | u32 n_variables
    n_variables x (str name | u8 rank | rank x u32 dim | u8 dtype | u32 nbytes | bytes)
    u32 n_aliases | n_aliases x (str alias | str target)

where `str` is a u16 length (including a trailing NUL) followed by UTF-8 bytes. Whisper's spec fuses
self-attention q/k/v into `linear_0` (k has no bias: its slice of the fused bias is zero) and
cross-attention k/v into `linear_1`; the conversion splits them back. It is lossless: float16 values
are widened to float32 exactly.
"""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

import numpy as np
import torch

from susurrus.errors import BadCheckpointError

CT2_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}
SUPPORTED_VERSIONS = (5, 6)


class CT2FormatError(BadCheckpointError):
    """The file is not a CTranslate2 Whisper model this converter understands."""


def read_ct2_model(path: str | Path) -> tuple[str, dict[str, np.ndarray]]:
    """Read every variable of a CTranslate2 `model.bin`, aliases resolved -> (spec, variables)."""
    path = Path(path)
    data = path.read_bytes()
    pos = 0

    def take(fmt: str) -> tuple:
        nonlocal pos
        size = struct.calcsize(fmt)
        if pos + size > len(data):
            raise CT2FormatError(f"{path}: truncated at byte {pos}; re-install the model package")
        out = struct.unpack_from(fmt, data, pos)
        pos += size
        return out

    def take_str() -> str:
        nonlocal pos
        (n,) = take("<H")
        s = data[pos : pos + n - 1].decode("utf-8")
        pos += n
        return s

    (version,) = take("<I")
    if version not in SUPPORTED_VERSIONS:
        raise CT2FormatError(
            f"{path}: CTranslate2 binary version {version}, expected one of {SUPPORTED_VERSIONS}"
        )
    spec = take_str()
    take("<I")  # spec revision
    (n_vars,) = take("<I")
    variables: dict[str, np.ndarray] = {}
    for _ in range(n_vars):
        name = take_str()
        (rank,) = take("<B")
        shape = take("<" + "I" * rank) if rank else ()
        (dtype_id,) = take("<B")
        (nbytes,) = take("<I")
        if dtype_id not in CT2_DTYPES:
            raise CT2FormatError(f"{path}: variable {name} has unsupported dtype id {dtype_id}")
        if pos + nbytes > len(data):
            raise CT2FormatError(f"{path}: truncated inside {name}; re-install the model package")
        dtype = np.dtype(CT2_DTYPES[dtype_id])
        arr = np.frombuffer(data, dtype=dtype, count=nbytes // dtype.itemsize, offset=pos)
        pos += nbytes
        variables[name] = arr.reshape(shape).copy()
    (n_alias,) = take("<I")
    for _ in range(n_alias):
        alias, target = take_str(), take_str()
        variables[alias] = variables[target]
    return spec, variables


def _n_layers(variables: dict[str, np.ndarray], prefix: str) -> int:
    pattern = re.compile(rf"{prefix}/layer_(\d+)/")
    return len({m.group(1) for k in variables if (m := pattern.match(k))})


def ct2_to_hf_state_dict(variables: dict[str, np.ndarray]) -> tuple[dict[str, torch.Tensor], dict]:
    """Map CTranslate2 Whisper variables to HF parameter names -> (state dict, config kwargs)."""
    sd: dict[str, torch.Tensor] = {}

    def t(name: str) -> torch.Tensor:
        if name not in variables:
            raise CT2FormatError(f"model.bin has no variable {name!r}: not a Whisper model?")
        return torch.from_numpy(variables[name].astype(np.float32))

    def norm(dst: str, src: str) -> None:
        sd[f"{dst}.weight"], sd[f"{dst}.bias"] = t(f"{src}/gamma"), t(f"{src}/beta")

    def linear(dst: str, src: str) -> None:
        sd[f"{dst}.weight"], sd[f"{dst}.bias"] = t(f"{src}/weight"), t(f"{src}/bias")

    def fused(dsts: list[str], src: str) -> None:
        ws, bs = t(f"{src}/weight").chunk(len(dsts)), t(f"{src}/bias").chunk(len(dsts))
        for dst, w, b in zip(dsts, ws, bs, strict=True):
            sd[f"{dst}.weight"] = w.contiguous()
            if dst.endswith("k_proj"):
                if b.abs().max() != 0:
                    raise CT2FormatError(f"{src}: key bias is not zero; HF Whisper has no k bias")
            else:
                sd[f"{dst}.bias"] = b.contiguous()

    for side in ("encoder", "decoder"):
        sd[f"model.{side}.embed_positions.weight"] = t(f"{side}/position_encodings/encodings")
        norm(f"model.{side}.layer_norm", f"{side}/layer_norm")
    for i in ("1", "2"):
        linear(f"model.encoder.conv{i}", f"encoder/conv{i}")
    sd["model.decoder.embed_tokens.weight"] = t("decoder/embeddings/weight")
    sd["proj_out.weight"] = sd["model.decoder.embed_tokens.weight"]

    n_enc, n_dec = _n_layers(variables, "encoder"), _n_layers(variables, "decoder")
    for side, n in (("encoder", n_enc), ("decoder", n_dec)):
        for i in range(n):
            src, dst = f"{side}/layer_{i}", f"model.{side}.layers.{i}"
            norm(f"{dst}.self_attn_layer_norm", f"{src}/self_attention/layer_norm")
            qkv = [f"{dst}.self_attn.{p}_proj" for p in "qkv"]
            fused(qkv, f"{src}/self_attention/linear_0")
            linear(f"{dst}.self_attn.out_proj", f"{src}/self_attention/linear_1")
            norm(f"{dst}.final_layer_norm", f"{src}/ffn/layer_norm")
            linear(f"{dst}.fc1", f"{src}/ffn/linear_0")
            linear(f"{dst}.fc2", f"{src}/ffn/linear_1")
            if side == "decoder":
                norm(f"{dst}.encoder_attn_layer_norm", f"{src}/attention/layer_norm")
                linear(f"{dst}.encoder_attn.q_proj", f"{src}/attention/linear_0")
                kv = [f"{dst}.encoder_attn.{p}_proj" for p in "kv"]
                fused(kv, f"{src}/attention/linear_1")
                linear(f"{dst}.encoder_attn.out_proj", f"{src}/attention/linear_2")

    vocab, d_model = variables["decoder/embeddings/weight"].shape
    config = dict(
        vocab_size=int(vocab),
        num_mel_bins=int(variables["encoder/conv1/weight"].shape[1]),
        d_model=int(d_model),
        encoder_layers=n_enc,
        decoder_layers=n_dec,
        encoder_attention_heads=int(variables["encoder/num_heads"]),
        decoder_attention_heads=int(variables["decoder/num_heads"]),
        encoder_ffn_dim=int(variables["encoder/layer_0/ffn/linear_0/weight"].shape[0]),
        decoder_ffn_dim=int(variables["decoder/layer_0/ffn/linear_0/weight"].shape[0]),
        max_source_positions=int(variables["encoder/position_encodings/encodings"].shape[0]),
        max_target_positions=int(variables["decoder/position_encodings/encodings"].shape[0]),
        scale_embedding=bool(variables.get("decoder/scale_embeddings", np.array(0)) != 0),
    )
    return sd, config


def convert_ct2_whisper(src_dir: str | Path, out_dir: str | Path) -> None:
    """Write a HF Whisper folder (weights, configs, tokenizer, feature extractor) to out_dir.

    src_dir holds `model.bin`, `config.json` (suppress ids, alignment heads) and `tokenizer.json`.
    """
    from transformers import (
        GenerationConfig,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperTokenizerFast,
    )

    src_dir, out_dir = Path(src_dir), Path(out_dir)
    spec, variables = read_ct2_model(src_dir / "model.bin")
    if spec != "WhisperSpec":
        raise CT2FormatError(f"{src_dir / 'model.bin'}: spec {spec!r} is not WhisperSpec")
    ct2_cfg = json.loads((src_dir / "config.json").read_text())
    tok = WhisperTokenizerFast(
        tokenizer_file=str(src_dir / "tokenizer.json"),
        unk_token="<|endoftext|>", bos_token="<|endoftext|>", eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
    )
    eot = tok.convert_tokens_to_ids("<|endoftext|>")
    sot = tok.convert_tokens_to_ids("<|startoftranscript|>")
    no_ts = tok.convert_tokens_to_ids("<|notimestamps|>")
    multilingual = bool(ct2_cfg.get("lang_ids")) and "<|en|>" in tok.get_vocab() and (
        variables["decoder/embeddings/weight"].shape[0] >= 51865)

    sd, cfg = ct2_to_hf_state_dict(variables)
    config = WhisperConfig(
        **cfg,
        pad_token_id=eot, bos_token_id=eot, eos_token_id=eot, decoder_start_token_id=sot,
        suppress_tokens=list(ct2_cfg.get("suppress_ids", [])),
        begin_suppress_tokens=list(ct2_cfg.get("suppress_ids_begin", [])),
        tie_word_embeddings=True,
    )
    model = WhisperForConditionalGeneration(config)
    missing, unexpected = model.load_state_dict(sd, strict=False)
    # proj_out is tied to the token embeddings; anything else missing is a converter bug.
    missing = [k for k in missing if k != "proj_out.weight"]
    if missing or unexpected:
        raise CT2FormatError(f"conversion mismatch: missing {missing}, unexpected {unexpected}")
    model.tie_weights()
    model.generation_config = GenerationConfig(
        decoder_start_token_id=sot, eos_token_id=eot, pad_token_id=eot, bos_token_id=eot,
        no_timestamps_token_id=no_ts, is_multilingual=multilingual,
        suppress_tokens=config.suppress_tokens, begin_suppress_tokens=config.begin_suppress_tokens,
        alignment_heads=[list(h) for h in ct2_cfg.get("alignment_heads", [])],
        max_length=config.max_target_positions,
    )
    model.save_pretrained(out_dir, safe_serialization=True)
    tok.save_pretrained(out_dir)
    WhisperFeatureExtractor(feature_size=cfg["num_mel_bins"]).save_pretrained(out_dir)
