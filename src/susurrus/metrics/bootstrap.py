"""How sure a corpus WER is: bootstrap over whole sessions.

The turns of one conversation share voices, names and topics, so their errors are not independent;
resampling turns would make intervals too narrow. Each round draws sessions with replacement and
reads the corpus WER off the summed counts of the drawn sessions (errors / reference words, as the
WER itself is read). Every system is scored on the same draws, so the difference between two
systems has an interval of its own (a paired bootstrap), usually much narrower than either WER's.
F1 scores (punctuation, per mark or overall) are resampled the same way, off summed tp/fp/fn,
on the same draws as the WER of the same sessions and seed.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

SessionCounts = Mapping[str, tuple[int, int]]  # session id -> (word errors, reference words)
SessionF1Counts = Mapping[str, tuple[int, int, int]]  # session id -> (tp, fp, fn)


def _draws(systems: Mapping[str, Mapping[str, object]], rounds: int, seed: int,
           caller: str) -> tuple[list[str], np.ndarray]:
    """The sorted sessions every system is scored on, and (rounds, sessions) draws of them."""
    sessions = sorted(next(iter(systems.values())))
    for name, counts in systems.items():
        if sorted(counts) != sessions:
            raise ValueError(f"{caller}: {name!r} is scored on other sessions than the "
                             "first system; compare systems on the same manifest")
    if not sessions:
        raise ValueError(f"{caller}: no sessions to resample")
    return sessions, np.random.default_rng(seed).integers(0, len(sessions),
                                                          (rounds, len(sessions)))


def bootstrap_wer(systems: Mapping[str, SessionCounts], rounds: int = 2000,
                  seed: int = 0) -> dict[str, np.ndarray]:
    """System name -> (rounds,) corpus WER on each resample; the same resamples for every system.

    Every system must be scored on the same sessions.
    """
    return _ratio(systems, rounds, seed, "bootstrap_wer")


def bootstrap_recall(systems: Mapping[str, SessionCounts], rounds: int = 2000,
                     seed: int = 0) -> dict[str, np.ndarray]:
    """System name -> (rounds,) recall (hits / mentions, e.g. of repeated entities, summed over
    each resample's sessions) on the draws of `bootstrap_wer` for the same sessions and seed;
    session id -> (hits, mentions). A resample without mentions gives nan."""
    return _ratio(systems, rounds, seed, "bootstrap_recall")


def _ratio(systems: Mapping[str, SessionCounts], rounds: int, seed: int,
           caller: str) -> dict[str, np.ndarray]:
    """Summed numerators / summed denominators of each resample, per system."""
    if not systems:
        return {}
    sessions, draws = _draws(systems, rounds, seed, caller)
    out = {}
    for name, counts in systems.items():
        num = np.array([counts[s][0] for s in sessions], dtype=float)
        den = np.array([counts[s][1] for s in sessions], dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[name] = num[draws].sum(1) / den[draws].sum(1)
    return out


def bootstrap_f1(systems: Mapping[str, SessionF1Counts], rounds: int = 2000,
                 seed: int = 0) -> dict[str, np.ndarray]:
    """System name -> (rounds,) F1 = 2tp / (2tp + fp + fn) of each resample's summed counts
    (1.0 when they are all 0, as `F1Counts.f1`); the draws of `bootstrap_wer` for the same
    sessions and seed, so F1 and WER intervals and differences are paired."""
    if not systems:
        return {}
    sessions, draws = _draws(systems, rounds, seed, "bootstrap_f1")
    out = {}
    for name, counts in systems.items():
        tp, fp, fn = (np.array([counts[s][k] for s in sessions], dtype=float)[draws].sum(1)
                      for k in range(3))
        den = 2 * tp + fp + fn
        out[name] = np.where(den > 0, 2 * tp / np.maximum(den, 1), 1.0)
    return out


def interval(samples: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The central `level` percentile interval of bootstrap samples."""
    if not 0 < level < 1:
        raise ValueError(f"interval: level must be in (0, 1), got {level}")
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(samples, [tail, 100 - tail])
    return float(lo), float(hi)
