"""Abstract Compression: K latents per turn whatever its length, padding-invariant, trainable."""

from __future__ import annotations

import pytest
import torch

from susurrus.compression import AbstractCompressor, AbstractConfig

D, K = 16, 3


def compressor(seed: int = 0) -> AbstractCompressor:
    torch.manual_seed(seed)
    return AbstractCompressor(D, AbstractConfig(num_latents=K, num_heads=2)).eval()


@pytest.mark.parametrize("T", [1, 7, 50, 1500])
def test_k_latents_whatever_the_turn_length(T: int) -> None:
    c = compressor()
    y = c(torch.randn(2, T, D), torch.tensor([T, max(1, T // 2)]))
    assert y.shape == (2, K, D)
    assert torch.isfinite(y).all()


def test_a_padded_turn_gives_the_same_latents_as_unpadded() -> None:
    c = compressor()
    turn = torch.randn(1, 9, D)
    alone = c(turn, torch.tensor([9]))
    padded = torch.cat([turn, torch.full((1, 30, D), 1e4)], dim=1)  # huge garbage after it
    batch = torch.cat([padded, torch.randn(1, 39, D)])
    together = c(batch, torch.tensor([9, 39]))
    assert torch.allclose(together[0], alone[0], atol=1e-5)
    assert not torch.allclose(together[1], alone[0], atol=1e-3)  # the other turn differs


def test_a_turn_of_no_frames_gives_zeros_and_no_nan() -> None:
    c = compressor()
    y = c(torch.randn(2, 5, D), torch.tensor([0, 5]))
    assert torch.equal(y[0], torch.zeros(K, D)) and torch.isfinite(y).all()


def test_latents_depend_on_the_audio_and_gradients_reach_the_queries() -> None:
    c = compressor().train()
    x = torch.randn(2, 12, D, requires_grad=True)
    y = c(x, torch.tensor([12, 12]))
    assert not torch.allclose(y[0], y[1])
    y.square().sum().backward()
    assert c.block.queries.grad.abs().sum() > 0 and x.grad.abs().sum() > 0


@pytest.mark.parametrize("field, value", [("num_latents", 0), ("num_heads", 0)])
def test_bad_options_name_the_field(field: str, value: int) -> None:
    with pytest.raises(ValueError, match=field):
        AbstractConfig(**{field: value})


def test_heads_must_divide_the_width() -> None:
    with pytest.raises(ValueError, match="num_heads"):
        AbstractCompressor(D, AbstractConfig(num_heads=3))
