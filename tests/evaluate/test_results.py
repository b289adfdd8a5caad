"""`EvalResult`: typed counts that add, a JSON round trip, and results written before issue 15."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from susurrus.data.manifest import Talker, Utterance
from susurrus.evaluate.decode import DecodeConfig, Hypothesis
from susurrus.evaluate.evaluate import score
from susurrus.evaluate.results import RATES, BadResultsError, EvalCounts, EvalResult
from susurrus.metrics.scores import CpErrorCounts, ErrorCounts, F1Counts
from susurrus.testing.fakes import HYPS, TURNS

WAV = Path("unused.wav")  # score() reads no audio
LEGACY = Path(__file__).parent / "data" / "legacy_results.json"


def _talk(session: str | None = None) -> tuple[list[Utterance], list[Hypothesis]]:
    turns = [(k, t) for k, t in enumerate(TURNS) if session is None or t[1] == session]
    utts = [Utterance(uid, WAV, ref, session=s, turn=t, entities=tuple(e))
            for _, (uid, s, t, ref, _, e) in turns]
    hyps = [Hypothesis(uid, HYPS[uid], [HYPS[uid]], 1.0 + k, 0.25 * k, 2 * t, turn_index=t)
            for k, (uid, _, t, *_) in turns]
    return utts, hyps


def _mixtures() -> tuple[list[Utterance], list[Hypothesis]]:
    utts = [Utterance("mix0", WAV, talkers=(Talker("joe", 0.0, "Good morning."),
                                            Talker("ann", 0.4, "Hello there.")))]
    hyps = [Hypothesis("mix0", "good morning hello there x", ["hello there", "good morning",
                                                              "x"], 2.0, 1.0, 0)]
    return utts, hyps


def _same_but_memory(a: EvalCounts, b: EvalCounts) -> None:
    """Equal counts; the memory peak is the process's at scoring time, so it is left out."""
    def without(c: EvalCounts) -> EvalCounts:
        return replace(c, cost=replace(c.cost, peak_memory_bytes=0))

    assert without(a) == without(b)


def test_a_result_round_trips_through_json():
    utts, hyps = _talk()
    with_ner = score(utts, hyps, DecodeConfig(context="prompt"), "talk.jsonl", with_ner=True)
    mix = score(*_mixtures(), DecodeConfig(), "mix.jsonl", with_ner=False)
    # insertions against an empty reference: an infinite WER, written as null
    empty = score([Utterance("u", WAV, "")], [Hypothesis("u", "oh hi", ["oh hi"], 1.0, 0.1, 0)],
                  DecodeConfig(), "empty.jsonl", with_ner=False)
    assert math.isinf(empty.wer) and json.loads(empty.to_json())["wer"] is None
    for r in (with_ner, mix, empty):
        back = EvalResult.from_json(r.to_json())
        assert back == r
        assert back.to_json() == r.to_json()
    assert mix.counts.cpwer.assignments == (((0, 1), (1, 0), (None, 2)),)
    assert EvalResult.from_json(mix.to_json()).counts.cpwer.false_talkers == 1


def test_json_carries_every_rate_beside_the_counts():
    utts, hyps = _talk()
    r = score(utts, hyps, DecodeConfig(), "talk.jsonl", with_ner=False)
    data = json.loads(r.to_json())
    for key in RATES:
        assert data[key] == pytest.approx(getattr(r, key)), key
    assert data["counts"]["ner"] is None and data["ner_f1"] is None
    assert data["counts"]["wer_by_session"] == {"A": [1, 9], "B": [1, 7]}


def test_the_oracle_flag_and_context_mode_come_from_the_config():
    utts, hyps = _talk()
    # whatever spells the config's oracle flag, the result has one: `oracle`
    config = SimpleNamespace(model="runs/llm", engine="torch", context="abstract", oracle=True)
    r = score(utts, hyps, config, "talk.jsonl", with_ner=False)  # type: ignore[arg-type]
    assert (r.context, r.oracle, r.context_label) == ("abstract", True, "abstract (oracle)")
    legacy = score(utts, hyps, DecodeConfig(context="oracle-prompt"), "t", with_ner=False)
    assert (legacy.context, legacy.oracle, legacy.context_label) == ("text", True,
                                                                     "text (oracle)")


def test_counts_add_to_the_counts_of_the_union():
    a, b, both = _talk("A"), _talk("B"), _talk()
    config = DecodeConfig()
    ra, rb, rboth = (score(*x, config, "talk.jsonl", with_ner=False) for x in (a, b, both))
    summed = ra.counts + rb.counts
    assert sum([ra.counts, rb.counts]) == summed  # sum() starts from 0
    _same_but_memory(summed, rboth.counts)
    assert summed.wer_by_session == {"A": (1, 9), "B": (1, 7)}
    assert summed.cost.peak_memory_bytes == max(ra.counts.cost.peak_memory_bytes,
                                                rb.counts.cost.peak_memory_bytes)
    # the rate of the sum is the corpus rate: errors summed, not rates averaged
    assert replace(rboth, counts=summed).wer == pytest.approx(2 / 16)
    assert ra.wer != rb.wer and (ra.wer + rb.wer) / 2 != pytest.approx(2 / 16)
    # NER counts add only where both scored it
    ner = EvalCounts(ner=F1Counts(1, 0, 0))
    assert (ner + ner).ner == F1Counts(2, 0, 0) and (ner + EvalCounts()).ner is None
    # a session found in both adds its counts
    assert (EvalCounts(wer_by_session={"s": (1, 5)}) + EvalCounts(
        wer_by_session={"s": (2, 5), "t": (0, 1)})).wer_by_session == {"s": (3, 10), "t": (0, 1)}


def test_punctuation_per_mark_is_counted_added_and_written():
    r = score(*_talk(), DecodeConfig(), "talk.jsonl", with_ner=False)
    # only a2's hypothesis is punctuated: its full stop is the one hit; the references hold
    # five full stops and two commas, no question mark
    marks = r.counts.punct_by_mark
    assert marks["."] == F1Counts(tp=1, fp=0, fn=4) and marks[","] == F1Counts(0, 0, 2)
    assert marks["?"] == marks["!"] == marks[";"] == marks[":"] == F1Counts()
    assert sum(marks.values(), F1Counts()) == r.counts.punct
    assert r.punct_f1_period == pytest.approx(2 / 6) and r.punct_f1_comma == 0.0
    assert r.punct_f1_question == 1.0  # nothing to find, nothing claimed
    assert r.punct_counts(",") == F1Counts(0, 0, 2)
    data = json.loads(r.to_json())
    assert data["counts"]["punct_by_mark"]["."] == {"tp": 1, "fp": 0, "fn": 4}
    assert data["punct_f1_period"] == pytest.approx(1 / 3)
    # per session (marks with no count left out), for the bootstrap
    assert r.counts.punct_by_session == {"A": {".": F1Counts(1, 0, 2)},
                                         "B": {".": F1Counts(0, 0, 2), ",": F1Counts(0, 0, 2)}}
    assert r.counts.punct_session_counts(".") == {"A": (1, 0, 2), "B": (0, 0, 2)}
    assert r.counts.punct_session_counts() == {"A": (1, 0, 2), "B": (0, 0, 4)}
    assert data["counts"]["punct_by_session"]["B"] == {".": [0, 0, 2], ",": [0, 0, 2]}
    # per session, added: the counts of the whole
    ra, rb = (score(*_talk(s), DecodeConfig(), "t", with_ner=False) for s in "AB")
    assert (ra.counts + rb.counts).punct_by_mark == marks
    assert (ra.counts + rb.counts).punct_by_session == r.counts.punct_by_session
    assert ra.counts.punct_by_mark[","] == F1Counts() and rb.counts.punct_by_mark["."].fn == 2
    # with a result that predates per-mark scoring, the sum has none (as NER)
    assert (ra.counts + EvalCounts()).punct_by_mark == {}


def test_results_without_per_mark_counts_still_load():
    r = score(*_talk(), DecodeConfig(), "talk.jsonl", with_ner=False)
    data = json.loads(r.to_json())
    del data["counts"]["punct_by_mark"], data["counts"]["punct_by_session"]
    for key in ("punct_f1_period", "punct_f1_comma", "punct_f1_question"):
        del data[key]
    old = EvalResult.from_dict(data)
    assert old.counts.punct_by_mark == {} and old.counts.punct == r.counts.punct
    assert old.counts.punct_by_session == {}
    assert old.punct_f1 == r.punct_f1 and old.punct_f1_period is None
    assert old.punct_counts("?") is None
    assert EvalResult.from_json(old.to_json()) == old
    data["counts"]["punct_by_mark"] = {".": {"tp": 1, "fq": 0}}
    with pytest.raises(BadResultsError, match=r"counts.punct_by_mark\.\."):
        EvalResult.from_dict(data)


def test_counts_are_frozen():
    r = score(*_talk(), DecodeConfig(), "talk.jsonl", with_ner=False)
    with pytest.raises(AttributeError):
        r.counts.wer = ErrorCounts()  # type: ignore[misc]
    with pytest.raises(AttributeError):
        r.context = "raw"  # type: ignore[misc]


@pytest.fixture(scope="module")
def legacy() -> list[dict]:
    return json.loads(LEGACY.read_text())


def test_results_written_before_issue_15_read_typed(legacy):
    results = [EvalResult.from_dict(d) for d in legacy]
    # 'prompt', 'oracle-prompt', 'abstract (oracle)', 'none'
    assert [(r.context, r.oracle) for r in results] == [
        ("text", False), ("text", True), ("abstract", True), ("none", False)]
    for data, r in zip(legacy, results, strict=True):
        # every rate read off the typed counts is the rate the old code wrote
        for key in RATES:
            if key not in data:  # per-mark punctuation came later (issue 17): not scored
                assert key.startswith("punct_f1_") and getattr(r, key) is None, key
                continue
            old, new = data[key], getattr(r, key)
            assert (old is None and new is None) or new == pytest.approx(old), key
        assert r.latency_by_turn == {int(k): v for k, v in data["latency_by_turn"].items()}
        assert r.wer_ci95 == pytest.approx(tuple(data["wer_ci95"]))
        # and the typed result writes the new format, which reads back equal
        assert EvalResult.from_json(r.to_json()) == r
    assert [r.counts.ner is None for r in results] == [True, False, True, True]
    assert results[0].counts.wer == ErrorCounts(2, 0, 0, 16)
    assert results[0].counts.wer_by_session == {"A": (1, 9), "B": (1, 7)}
    # the old loose cpWER dict: S/D/I and words; no talkers or assignment were kept
    cp = results[3].counts.cpwer
    assert cp.word_errors == ErrorCounts(**legacy[3]["counts"]["cpwer"])
    assert (cp.talkers, cp.missed_talkers, cp.false_talkers, cp.assignments) == (0, 0, 0, ())
    assert results[3].cpwer == pytest.approx(0.7)


def test_old_results_without_newer_counts_default_them_to_zero(legacy):
    data = json.loads(json.dumps(legacy[0]))
    del data["counts"]["wer_by_session"], data["counts"]["cost"]["prior_turns"]
    r = EvalResult.from_dict(data)
    assert r.counts.wer_by_session == {} and r.counts.cost.prior_turns == 0


@pytest.mark.parametrize("text, match", [
    ("{not json", "not JSON"),
    ('[{"model": "m"}]', "expected a results object"),
    ('{"source": "a.wav", "text": "hi", "segments": []}', "a transcript"),
    ('{"model": "m", "engine": "torch", "manifest": "x"}', "missing field.*context.*counts"),
])
def test_what_is_not_a_result_is_refused(text, match):
    with pytest.raises(BadResultsError, match=match):
        EvalResult.from_json(text)


def test_bad_fields_are_named(legacy):
    def broken(**change) -> dict:
        data = json.loads(json.dumps(legacy[0]))
        for path, value in change.items():
            *parents, leaf = path.split("__")
            target = data
            for p in parents:
                target = target[p]
            target[leaf] = value
        return data

    cases = [
        (broken(context="whisper"), "field 'context'.*none, text, raw, abstract"),
        (broken(oracle="yes"), "field 'oracle'"),
        (broken(counts__wer={"errors": 3}), "counts.wer: .*substitutions"),
        (broken(counts__cost={"turns": -1}), "counts.cost: .*>= 0"),
        (broken(counts__bleu={}), "counts: unknown field.*bleu"),
        (broken(counts__wer_by_session={"A": 3}), "counts.wer_by_session"),
        (broken(wer_ci95=[0.1]), "wer_ci95"),
    ]
    for data, match in cases:
        with pytest.raises(BadResultsError, match=match):
            EvalResult.from_dict(data)


def test_cp_counts_check_their_assignment():
    with pytest.raises(ValueError, match="assignments hold"):
        CpErrorCounts(ref_words=2, talkers=2, missed_talkers=0, assignments=(((0, None),),))
