"""Duration-bucketed batches of training examples, from lhotse's sampler, sharded by process.

`BatchStream` hands out lists of example indices, epoch after epoch, forever. Bucketing,
shuffling, sharding across processes and the resume state all come from lhotse's
`DynamicBucketingSampler` over metadata-only cuts (one per example: its index and duration):

- a batch's padded cost (longest duration x size) stays within `batch_seconds`; an example
  longer than that gets a batch of its own. Lhotse closes a batch once one more example as long
  as its longest would not fit, so the example that closes it may overshoot by the duration
  spread of its bucket: buckets are at most `BUCKET_RATIO` wide (longest / shortest) and lhotse
  is given `batch_seconds / BUCKET_RATIO`, which keeps every batch within `batch_seconds`;
- with `world_size` processes, every process builds the same sampler (same seed) and lhotse
  deals each consecutive group of `world_size` batches out, one per rank: the ranks see disjoint
  batches and the same number of them (the last group of an epoch is split evenly);
- `state_dict()` saved with a checkpoint and given to `load_state_dict` continues with exactly
  the batch that would have come next (lhotse fast-forwards through the epoch).

The loop never passes a lhotse loader through `accelerator.prepare`, which would shard again.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

BUCKET_RATIO = 1.1  # longest / shortest duration of a bucket: at most 10 % of a batch is padding


def duration_bins(durations: Sequence[float], ratio: float = BUCKET_RATIO) -> list[float]:
    """Bucket boundaries for lhotse: a geometric grid from the shortest to the longest duration,
    each bucket `ratio` times as long as the one before."""
    lo, hi = min(durations), max(durations)
    bins = [lo * ratio]
    while bins[-1] < hi:
        bins.append(bins[-1] * ratio)
    return bins


class BatchStream:
    """Endless duration-bucketed batches of indices into `durations`, this process's share."""

    def __init__(self, durations: Sequence[float], batch_seconds: float, seed: int,
                 world_size: int = 1, rank: int = 0) -> None:
        if len(durations) == 0:
            raise ValueError("BatchStream needs at least one utterance, got none")
        if not batch_seconds > 0 or not math.isfinite(batch_seconds):
            raise ValueError(f"batch_seconds must be a positive number, got {batch_seconds!r}")
        for i, d in enumerate(durations):
            if not d > 0 or not math.isfinite(d):
                raise ValueError(f"duration {i} must be a positive number of seconds, got {d!r}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, {world_size}), got {rank}")
        self.durations = [float(d) for d in durations]
        self.batch_seconds = float(batch_seconds)
        self.world_size, self.rank = world_size, rank
        self._sampler = self._make(seed)
        iter(self._sampler)

    def _make(self, seed: int):
        from lhotse import CutSet, MonoCut
        from lhotse.dataset.sampling import DynamicBucketingSampler

        # Metadata only: lhotse never reads audio to sample. The id is the example's index.
        cuts = CutSet.from_cuts(MonoCut(id=str(i), start=0.0, duration=d, channel=0)
                                for i, d in enumerate(self.durations))
        with warnings.catch_warnings():  # it advises lazy manifests; ours are a few MB at most
            warnings.simplefilter("ignore")
            return DynamicBucketingSampler(
                cuts, max_duration=self.batch_seconds / BUCKET_RATIO, shuffle=True, seed=seed,
                duration_bins=duration_bins(self.durations), world_size=self.world_size,
                rank=self.rank, drop_last=False, buffer_size=max(20_000, len(cuts)))

    @property
    def seed(self) -> int:
        return self._sampler.seed

    @property
    def epoch(self) -> int:
        """Epochs completed."""
        return self._sampler.epoch

    def __iter__(self) -> Iterator[list[int]]:
        return self

    def __next__(self) -> list[int]:
        with warnings.catch_warnings():  # "the first cut exceeds max_duration": a batch of one
            warnings.simplefilter("ignore")
            try:
                batch = next(self._sampler)
            except StopIteration:
                self._sampler.set_epoch(self._sampler.epoch + 1)
                iter(self._sampler)
                batch = next(self._sampler)  # an epoch has at least one batch per rank
        # lhotse marks an example dealt twice (fewer examples than ranks) as "<id>_dup<n>"
        return [int(cut.id.split("_", 1)[0]) for cut in batch]

    def state_dict(self) -> dict[str, Any]:
        """Where the stream is (lhotse's sampler state)."""
        return copy.deepcopy(self._sampler.state_dict())

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a `state_dict()`: the next batch is the one that came next then.

        A state saved before the batches came from lhotse ({"epoch", "position"}) resumes at
        the same epoch and position, in lhotse's order.
        """
        if not isinstance(state, dict):
            raise ValueError(f"batch stream state must be a mapping, got {state!r}")
        if set(state) == {"epoch", "position"}:
            self._load_position(state)
            return
        saved = state.get("world_size")
        if saved != self.world_size:
            from susurrus.train.run import RunError

            raise RunError(f"this run was trained on {saved} processes and resumes on "
                           f"{self.world_size}; resume it with {saved} processes, or start a "
                           "new run (another train.out)")
        if state.get("seed") != self.seed:  # train.seed changed: keep the run's data order
            self._sampler = self._make(state["seed"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._sampler.load_state_dict(copy.deepcopy(state))  # lhotse consumes its input
        iter(self._sampler)  # a no-op right after a load: it keeps the restored position

    def _load_position(self, state: dict[str, int]) -> None:
        for key in ("epoch", "position"):
            v = state[key]
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"batch stream state: {key!r} must be an integer >= 0, "
                                 f"got {v!r} (state {state!r})")
        self._sampler.set_epoch(state["epoch"])
        iter(self._sampler)
        for _ in range(state["position"] // self.world_size):  # every process drew every batch
            next(self)
