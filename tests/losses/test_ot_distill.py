"""The token-level OT distillation loss against exact and slow references."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from susurrus.data.token_spans import overlap_matrix
from susurrus.fields import FieldError
from susurrus.losses.ot_distill import (
    OTDistillConfig,
    OTDistillLoss,
    log_sinkhorn,
    sorted_topk_l1,
    span_iou,
)


def _exact_ot(cost: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, float]:
    """The unregularised optimal plan by linear programming."""
    from scipy.optimize import linprog

    n, m = cost.shape
    rows = np.kron(np.eye(n), np.ones((1, m)))  # Σ_j P_ij = a_i
    cols = np.kron(np.ones((1, n)), np.eye(m))  # Σ_i P_ij = b_j
    res = linprog(cost.ravel(), A_eq=np.vstack([rows, cols]), b_eq=np.concatenate([a, b]),
                  bounds=(0, None), method="highs")
    assert res.success
    return res.x.reshape(n, m), float(res.fun)


@pytest.mark.parametrize("shape", [(3, 3), (2, 4)])
def test_sinkhorn_reaches_the_exact_plan_at_small_epsilon(shape):
    rng = np.random.default_rng(1)
    cost = rng.uniform(0, 1, size=shape)
    a = rng.uniform(0.5, 1.5, size=shape[0])
    a /= a.sum()
    b = rng.uniform(0.5, 1.5, size=shape[1])
    b /= b.sum()
    exact, value = _exact_ot(cost, a, b)
    log_p = log_sinkhorn(torch.tensor(cost)[None], torch.tensor(a).log()[None],
                         torch.tensor(b).log()[None], epsilon=5e-4, iterations=20000)
    plan = log_p[0].exp().numpy()
    np.testing.assert_allclose(plan, exact, atol=1e-3)
    assert (plan * cost).sum() == pytest.approx(value, abs=1e-4)


def test_sinkhorn_on_a_permutation_finds_it_by_brute_force():
    """Uniform 3×3 marginals: the optimum is a permutation (Birkhoff); try all six."""
    cost = np.array([[0.9, 0.1, 0.5], [0.3, 0.8, 0.2], [0.05, 0.7, 0.6]])
    best = min(itertools.permutations(range(3)), key=lambda p: sum(cost[i, p[i]] for i in range(3)))
    log_u = torch.full((1, 3), -np.log(3.0), dtype=torch.float64)
    plan = log_sinkhorn(torch.tensor(cost)[None], log_u, log_u, 1e-3, 3000)[0].exp().numpy()
    expected = np.zeros((3, 3))
    expected[range(3), best] = 1 / 3
    np.testing.assert_allclose(plan, expected, atol=1e-3)


def test_plan_marginals_and_masks():
    torch.manual_seed(0)
    cost = torch.rand(2, 4, 5, dtype=torch.float64)
    a = torch.tensor([[0.5, 0.25, 0.25, 0.0], [0.1, 0.2, 0.3, 0.4]], dtype=torch.float64)
    b = torch.tensor([[0.2, 0.2, 0.2, 0.4, 0.0], [0.0, 0.0, 0.5, 0.25, 0.25]], dtype=torch.float64)
    plan = log_sinkhorn(cost, a.log(), b.log(), 0.05, 300).exp()
    torch.testing.assert_close(plan.sum(2), a, atol=1e-6, rtol=0)
    torch.testing.assert_close(plan.sum(1), b, atol=1e-9, rtol=0)
    assert not plan[0, 3].any() and not plan[0, :, 4].any() and not plan[1, :, :2].any()


def test_span_iou_matches_the_numpy_overlap():
    spans_s = [(0, 3), (3, 4), (5, 8), (9, 9)]
    spans_t = [(0, 1), (1, 3), (3, 4), (5, 6), (6, 8), (8, 8)]
    got = span_iou(torch.tensor([spans_s]), torch.tensor([spans_t]))[0].numpy()
    np.testing.assert_allclose(got, overlap_matrix(spans_s, spans_t, "iou"), rtol=1e-6)


def test_sorted_topk_l1_is_vocabulary_free():
    p = torch.tensor([0.1, 0.6, 0.05, 0.25])
    logits = p.log()
    perm = logits[torch.tensor([2, 0, 3, 1])]
    teacher = torch.tensor([[0.6, 0.25], [0.25, 0.6], [0.5, 0.5]])  # sorted inside
    d = sorted_topk_l1(torch.stack([logits, perm])[None], teacher[None])[0]
    torch.testing.assert_close(d[0], d[1])
    torch.testing.assert_close(d[0], torch.tensor([0.0, 0.0, 0.1 + 0.25]), atol=1e-6, rtol=0)


# ---------------------------------------------------------------- the loss against a slow one


def _slow_loss(samples, cfg: OTDistillConfig) -> float:
    """Per sample, in float64 numpy with Python loops: the costs from sets of characters and
    sorted lists, the plan by plain (non-log) Sinkhorn, the plan-weighted distance."""
    losses = []
    for logits, s_spans, probs, t_spans in samples:
        p = np.exp(logits - logits.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        k = probs.shape[1]
        n, m = len(s_spans), len(t_spans)
        dist = np.zeros((n, m))
        cost = np.zeros((n, m))
        for i, j in itertools.product(range(n), range(m)):
            top = sorted(p[i], reverse=True)[:k]
            ref = sorted(probs[j], reverse=True)
            dist[i, j] = sum(abs(x - y) for x, y in zip(top, ref, strict=True))
            si, tj = set(range(*s_spans[i])), set(range(*t_spans[j]))
            iou = len(si & tj) / len(si | tj) if si | tj else 0.0
            cost[i, j] = cfg.span_weight * (1 - iou) + cfg.distance_weight * dist[i, j]
        if cfg.marginals == "chars":
            a = np.array([e - s for s, e in s_spans], float)
            b = np.array([e - s for s, e in t_spans], float)
        else:
            a, b = np.ones(n), np.ones(m)
        a, b = a / a.sum(), b / b.sum()
        kern = np.exp(-cost / cfg.epsilon)
        u, v = np.ones(n), np.ones(m)
        for _ in range(cfg.iterations):
            u = a / (kern @ v)
            v = b / (kern.T @ u)
        plan = u[:, None] * kern * v[None, :]
        losses.append(float((plan * dist).sum()))
    return float(np.mean(losses))


def _batch(samples, n_pad=2, m_pad=3, junk=0.0):
    """Pad samples into batch tensors; pads get `junk` logits/probs and arbitrary spans."""
    b = len(samples)
    n = max(len(s[1]) for s in samples) + n_pad
    m = max(len(s[3]) for s in samples) + m_pad
    v, k = samples[0][0].shape[1], samples[0][2].shape[1]
    logits = torch.full((b, n, v), junk, dtype=torch.float64)
    probs = torch.full((b, m, k), abs(junk), dtype=torch.float64)
    s_spans = torch.full((b, n, 2), 0, dtype=torch.long)
    t_spans = torch.full((b, m, 2), 0, dtype=torch.long)
    s_spans[..., 1] = 5  # pads overlap real tokens: a mask that leaked would show
    t_spans[..., 1] = 5
    s_mask = torch.zeros(b, n, dtype=torch.bool)
    t_mask = torch.zeros(b, m, dtype=torch.bool)
    for i, (lg, ss, pr, ts) in enumerate(samples):
        logits[i, :len(ss)] = torch.tensor(lg)
        s_spans[i, :len(ss)] = torch.tensor(ss)
        s_mask[i, :len(ss)] = True
        probs[i, :len(ts)] = torch.tensor(pr)
        t_spans[i, :len(ts)] = torch.tensor(ts)
        t_mask[i, :len(ts)] = True
    return logits.requires_grad_(), s_spans, s_mask, probs, t_spans, t_mask


def _samples(seed=0, v=7, k=3):
    rng = np.random.default_rng(seed)

    def probs(m):
        q = rng.dirichlet(np.ones(v) * 0.5, size=m)
        return -np.sort(-q, axis=1)[:, :k]

    # "Growth was 12.9%": student (Whisper-like) and teacher (SmolLM2-like) spans
    s1 = [(0, 1), (1, 6), (7, 10), (11, 13), (13, 14), (14, 15), (15, 16)]
    t1 = [(0, 6), (7, 10), (11, 12), (12, 13), (13, 14), (14, 15), (15, 16)]
    s2 = [(0, 3), (3, 5)]
    t2 = [(0, 2), (2, 5)]
    s3 = [(0, 4), (5, 7), (8, 9)]
    t3 = [(0, 2), (2, 4), (5, 7), (8, 9)]
    return [(rng.normal(size=(len(s), v)) * 2, s, probs(len(t)), t)
            for s, t in [(s1, t1), (s2, t2), (s3, t3)]]


@pytest.mark.parametrize("marginals", ["chars", "uniform"])
def test_loss_matches_the_slow_reference(marginals):
    cfg = OTDistillConfig(span_weight=1.0, distance_weight=0.5, epsilon=0.1, iterations=200,
                          marginals=marginals)
    samples = _samples()
    got = OTDistillLoss(cfg)(*_batch(samples))
    assert got.item() == pytest.approx(_slow_loss(samples, cfg), rel=1e-6)


def test_pads_change_nothing_and_get_no_gradient():
    loss = OTDistillLoss(OTDistillConfig(epsilon=0.1))
    samples = _samples(seed=3)
    clean = _batch(samples, n_pad=0, m_pad=0)
    padded = _batch(samples, n_pad=4, m_pad=5, junk=float("nan"))
    a, b = loss(*clean), loss(*padded)
    assert a.item() == pytest.approx(b.item(), rel=1e-9)
    alone = [loss(*_batch([s], n_pad=0, m_pad=0)).item() for s in samples]
    assert a.item() == pytest.approx(np.mean(alone), rel=1e-9)  # samples' plans never mix
    b.backward()
    grad = padded[0].grad
    assert torch.isfinite(grad).all()
    mask = padded[2]
    assert not grad[~mask].any() and grad[mask].abs().sum(-1).gt(0).all()


def test_samples_without_tokens_are_left_out():
    loss = OTDistillLoss()
    samples = _samples()
    batch = list(_batch(samples))
    batch[2] = batch[2].clone()
    batch[2][1] = False  # the second sample has no valid student token
    full = loss(*batch).item()
    expected = np.mean([loss(*_batch([s], n_pad=0, m_pad=0)).item()
                        for s in (samples[0], samples[2])])
    assert full == pytest.approx(expected, rel=1e-9)
    nothing = [t.clone() for t in batch]
    nothing[2][:] = False
    out = loss(*nothing)
    assert out.item() == 0.0 and out.requires_grad


def test_plan_follows_the_text_when_distributions_agree():
    """Identical tokenizations and identical distributions (under a vocabulary permutation):
    the plan is the character coupling (diagonal) and the loss is 0, its known minimum."""
    rng = np.random.default_rng(5)
    spans = [(0, 3), (3, 4), (5, 9), (9, 10)]
    p = rng.dirichlet(np.ones(6), size=4)
    teacher = -np.sort(-p, axis=1)[:, :3]
    logits = np.log(p)[:, rng.permutation(6)]
    batch = _batch([(logits, spans, teacher, spans)], n_pad=0, m_pad=0)
    loss = OTDistillLoss(OTDistillConfig(epsilon=0.02, iterations=300))
    plan, _, _ = loss.plan(*batch)
    chars = np.array([3, 1, 4, 1]) / 9
    np.testing.assert_allclose(plan[0].numpy(), np.diag(chars), atol=1e-6)
    assert loss(*batch).item() == pytest.approx(0.0, abs=1e-9)


def test_a_student_learns_down_to_the_known_minimum():
    """Student tokens "ab" "cde" "fg" against teacher "abcde" "f" "g" (masses by characters
    2,3,2 and 5,1,1 of 7). The plan sends "ab" and "cde" to "abcde" (their sorted top-2 can equal
    the teacher's: distance 0), and "fg" half to "f", half to "g": its best distribution lies
    between theirs, costing (2/7)·½·|t_f − t_g|₁ = (2/7)·½·(0.4 + 0.25). Gradient descent from
    random logits reaches that minimum."""
    rng = np.random.default_rng(2)
    s_spans = [(0, 2), (2, 5), (6, 8)]
    t_spans = [(0, 5), (6, 7), (7, 8)]
    teacher = np.array([[0.7, 0.2], [0.9, 0.05], [0.5, 0.3]])
    logits = torch.tensor(rng.normal(size=(1, 3, 6)), requires_grad=True)
    _, ss, sm, tp, ts, tm = _batch([(logits.detach().numpy()[0], s_spans, teacher, t_spans)],
                                   n_pad=0, m_pad=0)
    loss = OTDistillLoss(OTDistillConfig(epsilon=0.05))
    opt = torch.optim.Adam([logits], lr=0.05)
    sched = torch.optim.lr_scheduler.StepLR(opt, 200, 0.3)  # L1 is not smooth: settle down
    first = loss(logits, ss, sm, tp, ts, tm).item()
    for _ in range(600):
        opt.zero_grad()
        value = loss(logits, ss, sm, tp, ts, tm)
        value.backward()
        opt.step()
        sched.step()
    assert first > 0.3 and value.item() == pytest.approx(2 / 7 * 0.5 * 0.65, abs=3e-4)


def test_the_constant_plan_gives_the_entropic_ot_gradient():
    """Envelope theorem: d/dz min_P <P, C(z)> − εH(P) = Σ P* dC/dz. Differentiate the entropic
    objective through many unrolled Sinkhorn steps and compare with the loss's gradient."""
    cfg = OTDistillConfig(span_weight=1.0, distance_weight=1.0, epsilon=0.2, iterations=500,
                          marginals="uniform")
    batch = _batch(_samples(seed=4)[:1], n_pad=0, m_pad=0)
    logits = batch[0]
    OTDistillLoss(cfg)(*batch).backward()
    ours = logits.grad.clone()
    logits.grad = None
    dist = sorted_topk_l1(logits, batch[3])
    cost = cfg.span_weight * (1 - span_iou(batch[1], batch[4])) + cfg.distance_weight * dist
    n, m = cost.shape[1:]
    log_p = log_sinkhorn(cost, torch.full((1, n), -np.log(n), dtype=torch.float64),
                         torch.full((1, m), -np.log(m), dtype=torch.float64),
                         cfg.epsilon, cfg.iterations)
    p = log_p.exp()
    value = (p * cost).sum() + cfg.epsilon * (p * (log_p - 1)).sum()
    value.backward()
    torch.testing.assert_close(ours, logits.grad / cfg.distance_weight, atol=1e-6, rtol=1e-4)


def test_config_is_checked():
    with pytest.raises(FieldError, match="epsilon"):
        OTDistillConfig(epsilon=0)
    with pytest.raises(FieldError, match="marginals"):
        OTDistillConfig(marginals="mass")  # type: ignore[arg-type]
    with pytest.raises(FieldError, match="both be 0"):
        OTDistillConfig(span_weight=0, distance_weight=0)
