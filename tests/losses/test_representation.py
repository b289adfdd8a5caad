"""The representation loss against a per-sample loop."""

from __future__ import annotations

import math

import pytest
import torch

from susurrus.losses.representation import RepresentationLoss, masked_mean


def _slow(loss: RepresentationLoss, states, lengths, target) -> float:
    out = []
    for b, n in enumerate(lengths):
        if n == 0:
            continue
        pooled = [sum(states[b, i, d].item() for i in range(n)) / n for d in range(states.shape[2])]
        w, c = loss.proj.weight.tolist(), loss.proj.bias.tolist()
        z = [sum(w[e][d] * pooled[d] for d in range(len(pooled))) + c[e] for e in range(len(c))]
        t = target[b].tolist()
        if loss.distance == "cosine":
            dot = sum(x * y for x, y in zip(z, t, strict=True))
            norm = math.sqrt(sum(x * x for x in z)) * math.sqrt(sum(y * y for y in t))
            out.append(1 - dot / norm)
        else:
            out.append(sum((x - y) ** 2 for x, y in zip(z, t, strict=True)) / len(t))
    return sum(out) / len(out)


@pytest.mark.parametrize("distance", ["cosine", "mse"])
def test_matches_a_loop_and_ignores_pads(distance):
    torch.manual_seed(0)
    loss = RepresentationLoss(6, 4, distance).double()
    lengths = [3, 5, 0, 1]
    states = torch.randn(4, 5, 6, dtype=torch.float64, requires_grad=True)
    mask = torch.arange(5)[None] < torch.tensor(lengths)[:, None]
    target = torch.randn(4, 4, dtype=torch.float64)
    value = loss(states, mask, target)
    assert value.item() == pytest.approx(_slow(loss, states, lengths, target), rel=1e-9)
    value.backward()
    assert not states.grad[~mask].any() and states.grad[mask].abs().sum(-1).gt(0).all()
    junk = states.detach().clone()
    junk[~mask] = float("nan")  # whatever a pad holds changes nothing
    assert loss(junk, mask, target).item() == pytest.approx(value.item(), rel=1e-12)


def test_masked_mean_and_a_projection_that_learns_the_target():
    x = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    torch.testing.assert_close(masked_mean(x, torch.tensor([[True, True, False]])),
                               torch.tensor([[2.0, 3.0]]))
    torch.manual_seed(1)
    loss = RepresentationLoss(8, 3)
    states = torch.randn(16, 4, 8)
    mask = torch.rand(16, 4) > 0.3
    target = masked_mean(states, mask) @ torch.randn(8, 3)  # reachable: the minimum is 0
    opt = torch.optim.Adam(loss.parameters(), lr=0.05)
    first = loss(states, mask, target).item()
    for _ in range(300):
        opt.zero_grad()
        value = loss(states, mask, target)
        value.backward()
        opt.step()
    assert first > 0.2 and value.item() < 1e-3


def test_unknown_distance_is_refused():
    with pytest.raises(ValueError, match="distance"):
        RepresentationLoss(4, 4, "l1")  # type: ignore[arg-type]
