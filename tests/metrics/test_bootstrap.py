"""The session bootstrap behind WER intervals: paired draws, determinism, scipy's numbers."""

from __future__ import annotations

import numpy as np
import pytest

from susurrus.metrics.bootstrap import bootstrap_f1, bootstrap_recall, bootstrap_wer, interval


def _sessions(n: int, seed: int) -> dict[str, tuple[int, int]]:
    rng = np.random.default_rng(seed)
    words = rng.integers(20, 200, n)
    errors = rng.binomial(words, rng.uniform(0.05, 0.5, n))
    pairs = zip(errors, words, strict=True)
    return {f"s{i:02d}": (int(e), int(w)) for i, (e, w) in enumerate(pairs)}


def test_every_system_is_scored_on_the_same_draws():
    a = _sessions(12, seed=0)
    doubled = {k: (2 * e, w) for k, (e, w) in a.items()}
    out = bootstrap_wer({"a": a, "same": dict(a), "doubled": doubled}, rounds=500)
    assert np.array_equal(out["a"], out["same"])  # so a difference has an interval of its own
    np.testing.assert_allclose(out["doubled"], 2 * out["a"])


def test_deterministic_for_a_seed_and_centred_on_the_corpus_wer():
    a = _sessions(20, seed=1)
    first, again = bootstrap_wer({"a": a}, seed=3)["a"], bootstrap_wer({"a": a}, seed=3)["a"]
    assert np.array_equal(first, again)
    assert not np.array_equal(first, bootstrap_wer({"a": a}, seed=4)["a"])
    wer = sum(e for e, _ in a.values()) / sum(w for _, w in a.values())
    lo, hi = interval(first)
    assert lo < wer < hi


def test_interval_agrees_with_scipy_bootstrap():
    """scipy.stats.bootstrap (percentile method, sessions paired) on the same statistic."""
    from scipy.stats import bootstrap

    a = _sessions(25, seed=2)
    errors = np.array([e for e, _ in a.values()], dtype=float)
    words = np.array([w for _, w in a.values()], dtype=float)
    theirs = bootstrap((errors, words), lambda e, w: e.sum() / w.sum(), paired=True,
                       vectorized=False, method="percentile", n_resamples=4000,
                       random_state=np.random.default_rng(0)).confidence_interval
    ours = interval(bootstrap_wer({"a": a}, rounds=4000, seed=0)["a"])
    width = theirs.high - theirs.low
    assert ours == pytest.approx((theirs.low, theirs.high), abs=0.1 * width)


def test_systems_on_different_sessions_are_refused():
    a = _sessions(3, seed=0)
    b = {k: v for k, v in list(a.items())[:2]}
    with pytest.raises(ValueError, match="'b' is scored on other sessions"):
        bootstrap_wer({"a": a, "b": b})


def test_interval_level_must_be_a_fraction():
    with pytest.raises(ValueError, match="level"):
        interval(np.arange(10.0), level=95)


def _f1_sessions(n: int, seed: int) -> dict[str, tuple[int, int, int]]:
    rng = np.random.default_rng(seed)
    return {f"s{i:02d}": tuple(int(x) for x in rng.integers(0, 30, 3)) for i in range(n)}


def test_f1_bootstrap_against_a_loop_over_the_same_draws():
    a = _f1_sessions(15, seed=5)
    a["s00"] = (0, 0, 0)  # a session with no marks at all counts for nothing
    ours = bootstrap_f1({"a": a}, rounds=300, seed=7)["a"]
    sessions = sorted(a)
    draws = np.random.default_rng(7).integers(0, len(sessions), (300, len(sessions)))
    for k in (0, 1, 299):
        tp, fp, fn = (sum(a[sessions[i]][j] for i in draws[k]) for j in range(3))
        assert ours[k] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    # the same draws as the WER of the same sessions and seed: paired with it
    wer_like = {s: (c[0], c[0] + c[2] + 1) for s, c in a.items()}
    sums = np.array([wer_like[s][0] for s in sessions])[draws].sum(1)
    words = np.array([wer_like[s][1] for s in sessions])[draws].sum(1)
    np.testing.assert_allclose(bootstrap_wer({"a": wer_like}, rounds=300, seed=7)["a"],
                               sums / words)


def test_f1_bootstrap_agrees_with_scipy_and_reads_nothing_as_perfect():
    from scipy.stats import bootstrap

    a = _f1_sessions(25, seed=6)
    tp, fp, fn = (np.array([c[j] for c in a.values()], dtype=float) for j in range(3))
    theirs = bootstrap((tp, fp, fn), lambda t, p, n: 2 * t.sum() / (2 * t.sum() + p.sum()
                                                                     + n.sum()),
                       paired=True, vectorized=False, method="percentile", n_resamples=4000,
                       random_state=np.random.default_rng(0)).confidence_interval
    ours = interval(bootstrap_f1({"a": a}, rounds=4000, seed=0)["a"])
    width = theirs.high - theirs.low
    assert ours == pytest.approx((theirs.low, theirs.high), abs=0.1 * width)
    none = bootstrap_f1({"n": {"x": (0, 0, 0), "y": (0, 0, 0)}}, rounds=10)["n"]
    assert np.array_equal(none, np.ones(10))
    with pytest.raises(ValueError, match="'b' is scored on other sessions"):
        bootstrap_f1({"a": a, "b": {"s00": (1, 0, 0)}})


def test_a_recall_gain_has_a_paired_interval_that_agrees_with_scipy():
    """Repeated-entity recall of one system with and without context, per session (hits,
    mentions): the gain's interval is read off the same draws (paired), as scipy's paired
    bootstrap of the difference of the two ratios gives it; a session-for-session copy gains
    exactly nothing on every draw."""
    from scipy.stats import bootstrap

    rng = np.random.default_rng(8)
    mentions = rng.integers(1, 12, 30)
    without = rng.binomial(mentions, 0.25)
    with_ctx = np.minimum(mentions, without + rng.binomial(mentions - without, 0.2))
    a, b = ({f"s{i:02d}": (int(h), int(m)) for i, (h, m) in enumerate(zip(hits, mentions,
                                                                          strict=True))}
            for hits in (without, with_ctx))
    out = bootstrap_recall({"none": a, "context": b, "copy": dict(a)}, rounds=4000, seed=0)
    assert np.array_equal(out["copy"], out["none"])
    ours = interval(out["context"] - out["none"])
    theirs = bootstrap((with_ctx.astype(float), without.astype(float), mentions.astype(float)),
                       lambda w, n, m: w.sum() / m.sum() - n.sum() / m.sum(), paired=True,
                       vectorized=False, method="percentile", n_resamples=4000,
                       random_state=np.random.default_rng(0)).confidence_interval
    width = theirs.high - theirs.low
    assert ours == pytest.approx((theirs.low, theirs.high), abs=0.1 * width)
    assert 0 < ours[0] < (with_ctx.sum() - without.sum()) / mentions.sum() < ours[1]
