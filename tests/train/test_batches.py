"""Batches from lhotse's sampler: every example once per epoch within the budget, similar
durations together, deterministic per seed, disjoint shares per process, exact resume."""

from __future__ import annotations

import pickle
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from susurrus.train.batches import BatchStream
from susurrus.train.run import RunError


def cost(batch: list[int], durations: list[float]) -> float:
    return max(durations[i] for i in batch) * len(batch)


def random_durations(n: int, seed: int = 0) -> list[float]:
    rng = random.Random(seed)
    return [rng.uniform(0.5, 20.0) for _ in range(n)]


def epochs(stream: BatchStream, n: int) -> list[list[list[int]]]:
    """The next `n` whole epochs of a fresh stream, batch by batch."""
    out: list[list[list[int]]] = [[] for _ in range(n)]
    while True:
        batch = next(stream)
        if stream.epoch >= n:
            return out
        out[stream.epoch].append(batch)


def roundtrip(state: dict) -> dict:
    return pickle.loads(pickle.dumps(state))  # as torch.save stores it in a checkpoint


@settings(max_examples=40, deadline=None)
@given(
    durations=st.lists(st.floats(0.05, 90.0), min_size=1, max_size=80),
    budget=st.floats(1.0, 120.0),
    seed=st.integers(0, 10),
)
def test_each_epoch_covers_every_index_once_within_budget(durations, budget, seed):
    for epoch in epochs(BatchStream(durations, budget, seed), 2):
        assert sorted(i for b in epoch for i in b) == list(range(len(durations)))
        for b in epoch:  # (1e-9: the bound is exact up to float rounding)
            assert b and (cost(b, durations) <= budget * (1 + 1e-9) or len(b) == 1)


def test_batches_hold_similar_durations():
    d = random_durations(500)
    (batches,) = epochs(BatchStream(d, 60.0, seed=0), 1)
    assert sum(cost(b, d) for b in batches) < 1.1 * sum(d)  # little padding
    rng = random.Random(1)
    d = [rng.uniform(0.5, 1.0) for _ in range(300)] + [rng.uniform(10.0, 20.0) for _ in range(30)]
    (batches,) = epochs(BatchStream(d, 60.0, seed=0), 1)
    assert max(map(len, batches)) > 30  # short ones share big batches ...
    assert not any(min(d[i] for i in b) < 1 < max(d[i] for i in b) for b in batches)  # alone
    (long,) = epochs(BatchStream([5.0, 100.0, 5.0], 60.0, 0), 1)
    assert sorted(sorted(b) for b in long) == [[0, 2], [1]]  # 100 s > budget: alone


def test_batches_are_deterministic_per_seed_and_differ_per_epoch():
    d = random_durations(300)
    first = epochs(BatchStream(d, 60.0, seed=3), 2)
    assert first == epochs(BatchStream(d, 60.0, seed=3), 2)
    assert first[0] != first[1]
    assert first != epochs(BatchStream(d, 60.0, seed=4), 2)


def test_stream_resumes_with_the_same_next_batch():
    d = random_durations(60, seed=1)
    stream = BatchStream(d, 45.0, seed=2)
    n0 = len(epochs(BatchStream(d, 45.0, seed=2), 1)[0])
    for _ in range(n0 + 3):  # into the second epoch
        next(stream)
    state = roundtrip(stream.state_dict())
    expected = [next(stream) for _ in range(2 * n0)]
    resumed = BatchStream(d, 45.0, seed=2)
    resumed.load_state_dict(state)
    assert [next(resumed) for _ in range(2 * n0)] == expected
    # a state saved at the very end of an epoch continues with the next epoch's first batch
    at_end = BatchStream(d, 45.0, seed=2)
    for _ in range(n0):
        next(at_end)
    state = roundtrip(at_end.state_dict())
    again = BatchStream(d, 45.0, seed=2)
    again.load_state_dict(state)
    assert next(again) == next(at_end) and again.epoch == at_end.epoch == 1


def test_processes_draw_disjoint_shares_that_cover_the_epoch():
    d = random_durations(90, seed=4)
    ranks = [BatchStream(d, 40.0, seed=1, world_size=3, rank=r) for r in range(3)]
    seen: list[int] = []
    while ranks[0].epoch == 0:
        step = [next(s) for s in ranks]
        if ranks[0].epoch:  # the first step of the next epoch
            assert {s.epoch for s in ranks} == {1}
            break
        assert sum(len(b) for b in step) == len({i for b in step for i in b})  # disjoint
        seen += [i for b in step for i in b]
    assert sorted(seen) == list(range(90))
    # each process resumes its own share from the first process's saved state
    state = roundtrip(ranks[0].state_dict())
    expected = [[next(s) for _ in range(5)] for s in ranks]
    for r in range(3):
        resumed = BatchStream(d, 40.0, seed=1, world_size=3, rank=r)
        resumed.load_state_dict(state)
        assert [next(resumed) for _ in range(5)] == expected[r]


def test_a_state_from_another_number_of_processes_is_refused():
    d = random_durations(20)
    state = BatchStream(d, 30.0, seed=0, world_size=2, rank=0).state_dict()
    with pytest.raises(RunError, match="trained on 2 processes and resumes on 1"):
        BatchStream(d, 30.0, seed=0).load_state_dict(state)


def test_a_state_of_another_seed_keeps_the_runs_order():
    d = random_durations(40)
    stream = BatchStream(d, 30.0, seed=5)
    next(stream)
    state, expected = roundtrip(stream.state_dict()), next(stream)
    changed = BatchStream(d, 30.0, seed=6)  # train.seed changed between resumes
    changed.load_state_dict(state)
    assert next(changed) == expected


def test_a_state_saved_before_lhotse_resumes_at_its_epoch_and_position():
    d = random_durations(60, seed=3)
    epoch1 = epochs(BatchStream(d, 45.0, seed=2), 2)[1]
    stream = BatchStream(d, 45.0, seed=2)
    stream.load_state_dict({"epoch": 1, "position": 3})
    assert [next(stream) for _ in range(2)] == epoch1[3:5]
    with pytest.raises(ValueError, match="'position' must be an integer"):
        stream.load_state_dict({"epoch": 0, "position": -1})


@pytest.mark.parametrize(
    ("durations", "budget", "words"),
    [([1.0, 0.0], 10.0, "duration 1"), ([1.0, float("nan")], 10.0, "duration 1"),
     ([1.0], 0.0, "batch_seconds"), ([], 10.0, "at least one")],
)
def test_bad_durations_or_budget_are_refused(durations, budget, words):
    with pytest.raises(ValueError, match=words):
        BatchStream(durations, budget, 0)
