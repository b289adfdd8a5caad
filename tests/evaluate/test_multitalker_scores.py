"""Scores by talker count: cpWER per reference count, count accuracy and confusion, with the
count a recognizer chose or an oracle count."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from susurrus.data.manifest import Talker, Utterance
from susurrus.errors import IncompatibleOptionError
from susurrus.evaluate.multitalker import score_mixtures
from susurrus.infer.recognizer import Recognition, TalkerStream
from susurrus.infer.transcript import Segment
from susurrus.metrics.scores import cp_word_errors

SR = 16_000


class Fixed:
    """Writes the streams it is given per input length; told a count, keeps that many."""

    model_name, kind = "fixed", "a test recognizer"

    def __init__(self, streams: dict[int, list[str]]) -> None:
        self.streams = streams

    def _hyp(self, a: np.ndarray, n: int | None = None) -> Recognition:
        texts = self.streams[a.shape[0]]
        texts = texts[:n] + [""] * (n - len(texts)) if n else texts
        return Recognition([TalkerStream([Segment(0, 1, t)]) for t in texts])

    def recognize(self, audio, prompt=None, on_progress=None):
        return [self._hyp(a) for a in audio]

    def recognize_with_counts(self, audio, counts, prompt=None, on_progress=None):
        return [self._hyp(a, n) for a, n in zip(audio, counts, strict=True)]


@pytest.fixture
def utterances(tmp_path):
    talkers = [["one two"], ["a b c", "d e"], ["x", "y z", "w"]]
    utts = []
    for k, texts in enumerate(talkers):
        path = tmp_path / f"m{k}.wav"
        sf.write(path, np.full(SR + 100 * k, 0.1, np.float32), SR)
        utts.append(Utterance(f"m{k}", path, talkers=tuple(
            Talker(f"s{j}", 0.1 * j, t) for j, t in enumerate(texts))))
    return utts


def test_scores_by_talker_count_with_the_recognizers_count(utterances):
    rec = Fixed({SR: ["one two", "extra"], SR + 100: ["d e", "a b"], SR + 200: ["x y z"]})
    s = score_mixtures(rec, utterances)
    assert sorted(s.by_count) == [1, 2, 3]
    assert s.by_count[1] == cp_word_errors(["one two"], ["one two", "extra"])
    assert s.by_count[3] == cp_word_errors(["x", "y z", "w"], ["x y z"])
    assert s.total.errors == sum(c.errors for c in s.by_count.values())
    assert (s.count.correct, s.count.total) == (1, 3)
    assert s.confusion == {(1, 2): 1, (2, 2): 1, (3, 1): 1}
    assert s.audio_seconds == pytest.approx(3 + 300 / SR) and s.rtf >= 0
    # each mixture's own counts, for a bootstrap over mixtures: they add up to the total
    assert s.by_mixture == {"m0": (1, 1), "m1": (1, 5), "m2": (3, 4)}  # "one two" -> "12"
    assert sum(e for e, _ in s.by_mixture.values()) == s.total.errors


def test_an_oracle_count_decodes_as_many_streams_as_talkers(utterances):
    rec = Fixed({SR: ["one two", "extra"], SR + 100: ["d e", "a b"], SR + 200: ["x y z"]})
    s = score_mixtures(rec, utterances, oracle_count=True, batch=2)
    assert s.count.accuracy == 1.0 and s.confusion == {(1, 1): 1, (2, 2): 1, (3, 3): 1}
    assert s.by_count[1].errors == 0  # the extra stream is not decoded


def test_an_oracle_count_needs_a_recognizer_that_takes_one(utterances):
    class Single:
        model_name, kind = "whisper", "a Whisper model"

        def recognize(self, audio, prompt=None, on_progress=None):
            return [Recognition([TalkerStream([Segment(0, 1, "one two")])]) for _ in audio]

    assert score_mixtures(Single(), utterances).confusion == {(1, 1): 1, (2, 1): 1, (3, 1): 1}
    with pytest.raises(IncompatibleOptionError, match="cannot be told how many talkers"):
        score_mixtures(Single(), utterances, oracle_count=True)
