"""`susurrus synth mixtures` for a talker-count head (issue 18): 1, 2 and 3 talkers, fully
overlapped mixtures, and the default corpus left as it was."""

from __future__ import annotations

import hashlib
from collections import Counter

import pytest

from susurrus.data.manifest import read_manifest
from susurrus.data.synth import SynthOptions, plan, synthesize
from susurrus.errors import UsageError

from .test_synth import FAST, needs_tts


def _mixtures(**kw):
    options = SynthOptions(kind="mixtures", hours=0.4, seed=3, splits=("train",), workers=1,
                           **kw)
    return plan(options)["train"]


def test_talker_counts_are_drawn_from_those_asked_for():
    jobs = _mixtures(talkers=(1, 2, 3))
    counts = Counter(len(j.parts) for j in jobs)
    assert set(counts) == {1, 2, 3} and min(counts.values()) >= len(jobs) // 6
    assert {len(j.parts) for j in _mixtures(talkers=(1,))} == {1}


def test_overlapped_share_starts_every_talker_at_once():
    jobs = [j for j in _mixtures(talkers=(2, 3), overlapped_share=0.5) if len(j.parts) > 1]
    overlapped = [j for j in jobs if all(p.gap == 0.0 for p in j.parts)]
    offset = [j for j in jobs if all(p.gap > 0 for p in j.parts[1:])]
    assert len(overlapped) + len(offset) == len(jobs)
    assert len(jobs) // 5 <= len(overlapped) <= 4 * len(jobs) // 5


def test_default_mixtures_are_unchanged():
    # the same jobs as before the options existed (hash of the plan made by the code before
    # issue 18; it changes only if the voices, scripts or the mixture draw change)
    jobs = _mixtures()
    digest = hashlib.sha1("".join(j.fingerprint() for j in jobs).encode()).hexdigest()
    assert digest == "d498db8c2717aa7a8b86d0298ec890f1704b7131"
    assert {len(j.parts) for j in jobs} == {2, 3}
    assert all(p.gap > 0 for j in jobs for p in j.parts[1:])


@pytest.mark.parametrize("bad", [dict(talkers=(0, 2)), dict(talkers=(2, 2)), dict(talkers=()),
                                 dict(talkers=(4,)), dict(overlapped_share=1.5)])
def test_bad_options_are_refused_by_name(bad):
    with pytest.raises(UsageError, match=next(iter(bad))):
        SynthOptions(kind="mixtures", **bad)


@needs_tts
def test_one_talker_and_overlapped_mixtures_render(tmp_path):
    out = tmp_path / "mix"
    synthesize("mixtures", out, hours=0.003, seed=2, workers=2, engines=FAST, min_files=6,
               splits=("test",), talkers=(1, 2), overlapped_share=1.0, progress=False,
               log=lambda _: None)
    utts = read_manifest(out / "test.jsonl")
    assert {len(u.talkers) for u in utts} == {1, 2}
    assert all(t.offset == 0.0 for u in utts for t in u.talkers)
