"""Tiny compressors and padded batches shared by the compression tests."""

from __future__ import annotations

import torch

from susurrus.compression import Compressor, build_compressor

D = 8  # encoder width of every test

# One small instance of each compressor, compressing by about 3 (query: 2 tokens per 4 frames
# so K > 1 and windows are exercised).
TINY: dict[str, dict] = {
    "stack": {"k": 3},
    "avgpool": {"k": 3},
    "segment": {"k": 3},
    "query": {"num_queries": 2, "window": 4, "num_heads": 2},
}


def tiny(name: str, seed: int = 0) -> Compressor:
    torch.manual_seed(seed)
    return build_compressor(name, D, **TINY[name]).eval()


def expected_out_length(name: str, length: int) -> int:
    opts = TINY[name]
    if name == "query":
        return -(-length // opts["window"]) * opts["num_queries"]
    return -(-length // opts["k"])


def expected_n(name: str, T: int) -> int:
    """N, the padded token axis, for T padded frames."""
    return expected_out_length(name, T)


def padded_batch(samples: list[torch.Tensor], T: int | None = None,
                 garbage: float = 1e3) -> tuple[torch.Tensor, torch.Tensor]:
    """Samples (L_b, D) -> x (B, T, D) with random garbage * `garbage` in the padding, lengths."""
    T = max(len(s) for s in samples) if T is None else T
    g = torch.Generator().manual_seed(123)
    x = torch.randn(len(samples), T, samples[0].shape[-1], generator=g) * garbage
    for b, s in enumerate(samples):
        x[b, : len(s)] = s
    return x, torch.tensor([len(s) for s in samples])


def random_samples(lengths: list[int], seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(L, D, generator=g) for L in lengths]
