"""Multi-talker scores by talker count (paper 003, issue 18): cpWER per reference talker count,
talker-count accuracy and its confusion matrix, with the count a recognizer chose or an oracle
count, and what the decoding cost.

    scores = score_mixtures(recognizer, utterances)                     # the count head routes
    oracle = score_mixtures(recognizer, utterances, oracle_count=True)  # the true count
    scores.by_count[2].rate, scores.total.rate, scores.count.accuracy, scores.confusion

Any recognizer scores (a single-stream one writes one stream: its count is always 1); an oracle
count needs one that can be told how many talkers to decode (`recognize_with_counts`, the
multi-talker CTC recognizer). A plain utterance counts as one talker.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from susurrus.audio.io import SAMPLE_RATE, load_audio
from susurrus.data.manifest import Utterance
from susurrus.errors import IncompatibleOptionError
from susurrus.metrics.scores import (
    CountAccuracy,
    CpErrorCounts,
    cp_word_errors,
    talker_count_accuracy,
)


@dataclass(frozen=True)
class MixtureScores:
    """One system on a set of mixtures, as summed counts."""

    by_count: dict[int, CpErrorCounts] = field(default_factory=dict)  # reference talkers -> cp
    count: CountAccuracy = CountAccuracy()  # streams written == talkers
    confusion: dict[tuple[int, int], int] = field(default_factory=dict)  # (ref, hyp) -> n
    audio_seconds: float = 0.0
    wall_seconds: float = 0.0  # decoding time (loading the model not included)
    # mixture id -> (word errors, reference words): what a bootstrap over mixtures resamples
    by_mixture: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def total(self) -> CpErrorCounts:
        """cpWER counts over every mixture."""
        return sum(self.by_count.values(), CpErrorCounts())

    @property
    def rtf(self) -> float:
        return self.wall_seconds / self.audio_seconds if self.audio_seconds else 0.0


def _references(utt: Utterance) -> list[str]:
    return [t.text for t in utt.talkers] if utt.is_mixture else [utt.text]


def talker_count(utt: Utterance) -> int:
    """How many talkers an utterance holds: a mixture's, or 1 for a plain utterance."""
    return len(utt.talkers) if utt.is_mixture else 1


def check_oracle_count(recognizer) -> None:
    """A recognizer that cannot be told how many talkers to decode is an
    IncompatibleOptionError naming it."""
    if not hasattr(recognizer, "recognize_with_counts"):
        raise IncompatibleOptionError(
            f"oracle_count: {recognizer.model_name} is {recognizer.kind}, which cannot be told "
            "how many talkers to decode; score it with its own count")


def score_mixtures(recognizer, utterances: Sequence[Utterance], oracle_count: bool = False,
                   batch: int = 8) -> MixtureScores:
    """Decode `utterances` in batches and score every one (see the module docstring)."""
    if oracle_count:
        check_oracle_count(recognizer)
    by_count: dict[int, CpErrorCounts] = {}
    count, confusion = CountAccuracy(), Counter()
    by_mixture: dict[str, tuple[int, int]] = {}
    audio_seconds = wall = 0.0
    for i in range(0, len(utterances), batch):
        chunk = utterances[i:i + batch]
        audio = [load_audio(u.audio, u.start, u.duration) for u in chunk]
        refs = [_references(u) for u in chunk]
        t0 = time.perf_counter()
        if oracle_count:
            hyps = recognizer.recognize_with_counts(audio, [len(r) for r in refs])
        else:
            hyps = recognizer.recognize(audio)
        wall += time.perf_counter() - t0
        audio_seconds += sum(a.shape[0] for a in audio) / SAMPLE_RATE
        for utt, ref, hyp in zip(chunk, refs, hyps, strict=True):
            n, streams = len(ref), [s.text for s in hyp.streams]
            cp = cp_word_errors(ref, streams)
            by_count[n] = by_count.get(n, CpErrorCounts()) + cp
            by_mixture[utt.id] = (cp.errors, cp.ref_words)
            count += talker_count_accuracy(n, len(streams))
            confusion[(n, len(streams))] += 1
    return MixtureScores(dict(sorted(by_count.items())), count, dict(sorted(confusion.items())),
                         audio_seconds, wall, by_mixture)
