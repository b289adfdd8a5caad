"""The session bootstrap behind WER intervals: paired draws, determinism, scipy's numbers."""

from __future__ import annotations

import numpy as np
import pytest

from susurrus.metrics.bootstrap import bootstrap_wer, interval


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
