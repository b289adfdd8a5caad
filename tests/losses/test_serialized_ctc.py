"""Serialized CTC (paper 003): talkers ordered by onset with the documented tie rule, branch k
on talker k, idle branches on silence; PIT as the minimum over permutations; against slow
references written out by brute force."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from susurrus.losses.serialized_ctc import (
    LossWeights,
    MultiTalkerLoss,
    TalkerRef,
    ctc_matrix,
    onset_order,
    serialized_targets,
)


def encode(text: str) -> list[int]:
    return [ord(c) - ord("a") + 1 for c in text]


def test_one_talker_fills_branch_one_and_idles_the_rest():
    assert serialized_targets([TalkerRef(0.7, "abc")], 3, encode) == [[1, 2, 3], [], []]


def test_two_talkers_go_by_onset_not_by_manifest_order():
    talkers = [TalkerRef(1.3, "bb"), TalkerRef(0.2, "a")]
    assert serialized_targets(talkers, 3, encode) == [[1], [2, 2], []]


def test_three_talkers_by_onset():
    talkers = [TalkerRef(2.0, "c"), TalkerRef(0.0, "a"), TalkerRef(1.0, "b")]
    assert serialized_targets(talkers, 3, encode) == [[1], [2], [3]]


def test_simultaneous_onsets_put_the_longer_talker_first():
    # same frame (0.000 and 0.004 s round to frame 0): the 3-s talker before the 1-s one,
    # whatever the manifest order
    talkers = [TalkerRef(0.004, "short", 1.0), TalkerRef(0.0, "long", 3.0)]
    assert onset_order(talkers) == [1, 0]
    assert serialized_targets(talkers, 2, encode)[0] == encode("long")


def test_ties_without_durations_use_text_length_then_manifest_order():
    talkers = [TalkerRef(0.0, "ab"), TalkerRef(0.0, "abcd"), TalkerRef(0.0, "cd")]
    assert onset_order(talkers) == [1, 0, 2]  # longest first; "ab" and "cd" tie: manifest order


def test_onsets_a_frame_apart_are_not_a_tie():
    talkers = [TalkerRef(0.03, "long", 5.0), TalkerRef(0.0, "x", 1.0)]
    assert onset_order(talkers) == [1, 0]  # 0.03 s is frame 2, a later onset


def test_more_talkers_than_branches_is_refused():
    with pytest.raises(ValueError, match="3 talkers, but the model has 2 branches"):
        serialized_targets([TalkerRef(0.0, "a")] * 3, 2, encode)


# ---------------------------------------------------------------------- the loss vs a reference
def collapse(path: tuple[int, ...]) -> list[int]:
    out, prev = [], None
    for c in path:
        if c != prev and c != 0:
            out.append(c)
        prev = c
    return out


def brute_nll(logp: torch.Tensor, target: list[int]) -> float:
    """-log sum over every frame path collapsing to `target`."""
    T, C = logp.shape
    scores = [sum(float(logp[t, c]) for t, c in enumerate(p))
              for p in itertools.product(range(C), repeat=T) if collapse(p) == target]
    return -math.log(sum(math.exp(s) for s in scores))


@pytest.fixture
def case():
    g = torch.Generator().manual_seed(0)
    logp = torch.randn(2, 3, 5, 3, generator=g).log_softmax(-1)  # (B, S, T, C)
    lengths = torch.tensor([5, 4])
    counts = torch.randn(2, 3, generator=g)
    targets = [[[1, 2], [2]], [[1]]]  # sample 0: 2 talkers; sample 1: 1 talker
    return logp, lengths, counts, targets


def test_ctc_matrix_matches_brute_force(case):
    logp, lengths, _, targets = case
    m = ctc_matrix(logp[0, :2], lengths[0], targets[0])
    for s in range(2):
        for n, t in enumerate(targets[0]):
            assert float(m[s, n]) == pytest.approx(brute_nll(logp[0, s], t) / len(t), rel=1e-5)


def test_an_empty_target_costs_the_mean_blank_loss_per_frame(case):
    logp, lengths, _, _ = case
    m = ctc_matrix(logp[1, :1], lengths[1], [[]])
    assert float(m[0, 0]) == pytest.approx(-float(logp[1, 0, :4, 0].sum()) / 4, rel=1e-5)


def reference(logp, lengths, counts, targets, pit: bool, w: LossWeights) -> float:
    ctc, idle = [], []
    for b, tgts in enumerate(targets):
        n, T = len(tgts), int(lengths[b])
        cost = [[brute_nll(logp[b, s, :T], t) / len(t) for t in tgts] for s in range(n)]
        if pit:
            ctc.append(min(sum(cost[k][p[k]] for k in range(n))
                           for p in itertools.permutations(range(n))) / n)
        else:
            ctc.append(sum(cost[k][k] for k in range(n)) / n)
        if n < logp.shape[1]:
            idle.append(sum(brute_nll(logp[b, s, :T], []) / T for s in range(n, logp.shape[1]))
                        / (logp.shape[1] - n))
    ce = sum(-float(counts[b].log_softmax(-1)[len(t) - 1]) for b, t in enumerate(targets))
    return (w.ctc * sum(ctc) / len(ctc) + w.idle * sum(idle) / len(idle)
            + w.count * ce / len(targets))


@pytest.mark.parametrize("pit", [False, True])
def test_loss_matches_reference(case, pit):
    logp, lengths, counts, targets = case
    w = LossWeights(ctc=1.0, count=0.3, idle=0.7)
    total, parts = MultiTalkerLoss(w, pit=pit)(logp, lengths, counts, targets)
    assert float(total) == pytest.approx(reference(logp, lengths, counts, targets, pit, w),
                                         rel=1e-5)
    assert set(parts) == {"ctc", "idle", "count"}


def test_pit_never_costs_more_than_serialized(case):
    logp, lengths, counts, targets = case
    serial = MultiTalkerLoss(pit=False)(logp, lengths, counts, targets)[1]["ctc"]
    pit = MultiTalkerLoss(pit=True)(logp, lengths, counts, targets)[1]["ctc"]
    assert pit <= serial + 1e-6


def test_distillation_term_plugs_in_with_its_weight(case):
    logp, lengths, counts, targets = case
    branches = torch.ones(2, 3, 5, 4)
    seen = {}

    def term(b, lens, ids):
        seen["ids"] = list(ids)
        return b.sum() * 0 + 2.0

    plain = MultiTalkerLoss(LossWeights(distill=0.5))(logp, lengths, counts, targets)[0]
    total, parts = MultiTalkerLoss(LossWeights(distill=0.5), distill=term)(
        logp, lengths, counts, targets, branches, ["m0", "m1"])
    assert float(total) == pytest.approx(float(plain) + 1.0)
    assert parts["distill"] == 2.0 and seen["ids"] == ["m0", "m1"]


def test_the_batched_serialized_terms_equal_the_per_sample_matrices():
    """One CTC call for the batch gives each sample's diagonal of `ctc_matrix` and its idle
    branches' loss, averaged as the per-sample loop averaged them."""
    from susurrus.losses.serialized_ctc import serialized_terms

    g = torch.Generator().manual_seed(0)
    B, S, T, C = 5, 3, 40, 7
    logp = torch.randn(B, S, T, C, generator=g).log_softmax(-1)
    lengths = torch.tensor([40, 33, 12, 40, 25])
    targets = [[[1, 2, 3], [4, 4]], [[5]], [[1, 2], [3], [6, 6, 1]], [[2, 3, 2, 3]], [[1], []]]
    ctc, idle = serialized_terms(logp, lengths, targets)
    ctc_ref, idle_ref = [], []
    for b, tg in enumerate(targets):
        n = len(tg)
        ctc_ref.append(ctc_matrix(logp[b, :n], lengths[b], tg).diagonal().mean())
        if n < S:
            idle_ref.append(ctc_matrix(logp[b, n:], lengths[b], [[]]).mean())
    assert float(ctc) == pytest.approx(float(torch.stack(ctc_ref).mean()), rel=1e-6)
    assert float(idle) == pytest.approx(float(torch.stack(idle_ref).mean()), rel=1e-6)
