"""The projector maps each token to the LLM width and keeps padding zero."""

from __future__ import annotations

import pytest
import torch

from susurrus.compression import Projector, ProjectorConfig


def test_shapes_and_masked_tokens_stay_zero():
    torch.manual_seed(0)
    p = Projector(24, 16, ProjectorConfig(hidden_dim=32))
    y = torch.randn(3, 5, 24)
    out = p(y, torch.tensor([5, 2, 0]))
    assert out.shape == (3, 5, 16)
    assert (out[1, 2:] == 0).all() and (out[2] == 0).all()
    assert (out[0].abs().sum(-1) > 0).all()
    assert p.net[0].out_features == 32


def test_applied_per_token():
    torch.manual_seed(0)
    p = Projector(8, 16)
    y = torch.randn(1, 4, 8)
    with torch.no_grad():
        full = p(y, torch.tensor([4]))
        one = torch.cat([p(y[:, i : i + 1], torch.tensor([1])) for i in range(4)], dim=1)
    torch.testing.assert_close(full, one)
    assert p.net[0].out_features == 16  # hidden width defaults to the LLM width


def test_config_names_the_bad_field():
    with pytest.raises(ValueError, match="ProjectorConfig.hidden_dim"):
        ProjectorConfig(hidden_dim=0)
