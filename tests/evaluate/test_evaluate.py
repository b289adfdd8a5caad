"""`score` against hand-computed numbers, and `evaluate` writing its results JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from susurrus.data.manifest import Talker, Utterance
from susurrus.evaluate.decode import DecodeConfig, Hypothesis
from susurrus.evaluate.evaluate import EvalResult, evaluate, format_table, score
from susurrus.metrics.scores import EntityCounts, ErrorCounts, F1Counts
from susurrus.testing.fakes import HYPS, TURNS

WAV = Path("unused.wav")  # score() reads no audio


def _utts() -> list[Utterance]:
    return [Utterance(uid, WAV, ref, session=s, turn=t, entities=tuple(e))
            for uid, s, t, ref, _, e in TURNS]


def _hyp(uid: str, text: str, streams: list[str] | None = None, audio: float = 1.0,
         wall: float = 0.0, ctx: int = 0) -> Hypothesis:
    return Hypothesis(uid, text, streams or [text], audio, wall, ctx)


def test_score_matches_hand_computed_counts():
    ctx = {"a0": 0, "a1": 2, "a2": 6, "b0": 0, "b1": 3}
    audio = {"a0": 1.0, "a1": 2.0, "a2": 1.0, "b0": 2.0, "b1": 4.0}
    wall = {"a0": 0.1, "a1": 0.1, "a2": 0.1, "b0": 0.1, "b1": 0.5}
    hyps = [_hyp(uid, HYPS[uid], audio=audio[uid], wall=wall[uid], ctx=ctx[uid])
            for uid in ["b1", "a2", "a0", "b0", "a1"]]  # any order
    whisper = DecodeConfig(model="whisper-tiny.en", context="prompt")
    r = score(_utts(), hyps, whisper, "talk.jsonl", with_ner=False)
    # Whisper's 'prompt' is the text context, read from its own hypotheses
    assert (r.model, r.context, r.oracle, r.engine, r.manifest) == (
        "whisper-tiny.en", "text", False, "torch", "talk.jsonl")
    assert (r.n_utterances, r.n_words) == (5, 16)  # 2 + 4 + 3 + 3 + 4 normalized words
    # normalized: a1 "siobhan"->"shivaun", b1 "ann"->"anne": 2 substitutions
    assert r.wer == pytest.approx(2 / 16)
    # cased tokens (marks are tokens): a0 3/3, a1 3/5, a2 0/4, b0 4/5, b1 4/6
    assert r.wer_cased == pytest.approx(14 / 23)
    # entities, session by session in turn order. first mentions: a0 Siobhan (hit),
    # a1 Paris (hit), b0 Siobhan (hit: session B's first), b1 Ann (miss "anne");
    # repeats: a1 Siobhan (miss "shivaun"), a2 Paris (hit)
    assert r.entity_recall_first == pytest.approx(3 / 4)
    assert r.entity_recall_repeat == pytest.approx(1 / 2)
    assert r.entity_recall == pytest.approx(4 / 6)
    # only a2's hypothesis is cased and punctuated: 1 of 7 marks, 1 of 9 capitals
    assert r.punct_f1 == pytest.approx(2 / (2 + 6))
    assert r.cap_f1 == pytest.approx(2 / (2 + 8))
    assert r.ner_f1 is None and r.cpwer is None and r.talker_count_acc is None
    assert r.context_tokens_per_turn == pytest.approx(11 / 5)
    assert r.rtf == pytest.approx(0.9 / 10.0)  # summed wall / summed audio
    assert r.llm_audio_tokens_per_second is None and r.peak_memory_mb > 0
    assert r.counts.wer == ErrorCounts(substitutions=2, deletions=0, insertions=0, ref_words=16)
    assert r.counts.entities == EntityCounts(first_hit=3, first_total=4, repeat_hit=1,
                                             repeat_total=2)
    assert r.counts.ner is None  # not scored, which is not the same as nothing found
    # one substitution in each session: A has 2 + 4 + 3 words, B 3 + 4; resampling the two
    # sessions gives 2/18 (A twice), 2/16 or 2/14 (B twice), each of the tails a quarter
    assert r.counts.wer_by_session == {"A": (1, 9), "B": (1, 7)}
    assert r.wer_ci95 == pytest.approx((2 / 18, 2 / 14), abs=1e-6)
    # cased WER per session too (its interval's unit): A 3 + 3 + 0 of 3 + 5 + 4, B 4 + 4 of 5 + 6
    assert r.counts.cased_by_session == {"A": (6, 12), "B": (8, 11)}
    assert r.entities_from == "manifest"
    assert EvalResult.from_json(r.to_json()).counts.cased_by_session == r.counts.cased_by_session


def test_score_counts_only_decoded_utterances():
    hyps = [_hyp(uid, HYPS[uid]) for uid in ["a0", "a1", "a2"]]  # as with limit_sessions=1
    r = score(_utts(), hyps, DecodeConfig(), "m", with_ner=False)
    assert (r.n_utterances, r.n_words) == (3, 9)
    assert r.wer == pytest.approx(1 / 9)


def test_score_without_entities_reports_none():
    utts = [Utterance("u", WAV, "Hello there.")]
    r = score(utts, [_hyp("u", "Hello there.")], DecodeConfig(), "m", with_ner=False)
    assert r.entity_recall is r.entity_recall_first is r.entity_recall_repeat is None
    assert r.wer == 0.0 and r.wer_cased == 0.0 and r.punct_f1 == 1.0


def test_score_mixtures_by_cpwer_and_talker_count():
    utts = [
        Utterance("mix0", WAV, talkers=(Talker("joe", 0.0, "Good morning."),
                                        Talker("ann", 0.4, "Hello there."))),
        Utterance("mix1", WAV, talkers=(Talker("a", 0.0, "Red green blue."),
                                        Talker("b", 0.2, "Cats chase mice."))),
    ]
    hyps = [
        # two streams, in the other order: the best permutation has 1 substitution
        _hyp("mix0", "hello their good morning", ["hello their", "good morning"],
             audio=2.0, wall=1.0),
        # one stream for two talkers: 3 insertions + 3 deletions at best
        _hyp("mix1", "red green blue cats chase mice", audio=3.0, wall=0.5, ctx=10),
    ]
    r = score(utts, hyps, DecodeConfig(), "mix.jsonl", with_ner=False)
    assert r.cpwer == pytest.approx((1 + 6) / (4 + 6))  # summed, not (1/4 + 6/6) / 2
    assert r.talker_count_acc == pytest.approx(1 / 2)
    cp = r.counts.cpwer
    assert (cp.ref_words, cp.errors, cp.talkers) == (10, 7, 4)
    # mix1's second talker has no stream; every stream met a talker
    assert (cp.missed_talkers, cp.false_talkers) == (1, 0)
    # mix0: joe ("good morning") was scored against stream 1, ann against stream 0; mix1: one
    # of the two talkers met the one stream (a tie: either costs 6)
    assert cp.assignments[0] == ((0, 1), (1, 0))
    assert sorted(p[1] is None for p in cp.assignments[1]) == [False, True]
    # plain WER compares the talkers' texts joined by offset with the whole hypothesis
    assert r.counts.wer.ref_words == 10
    assert r.wer == pytest.approx(4 / 10)  # mix0: 4 edits at best; mix1: none
    assert r.rtf == pytest.approx(1.5 / 5.0) and r.context_tokens_per_turn == 5.0


def test_ner_f1_with_spacy():
    pytest.importorskip("spacy")
    ref = "Barack Obama visited Paris on Monday."
    utts = [Utterance("u0", WAV, ref), Utterance("u1", WAV, ref)]
    hyps = [_hyp("u0", ref), _hyp("u1", "John Smith visited London on Monday.")]
    r = score(utts, hyps, DecodeConfig(), "m", with_ner=True)
    # u0: person, place, date all found (3 tp); u1: date only (1 tp, 2 fp, 2 fn)
    assert r.counts.ner == F1Counts(tp=4, fp=2, fn=2)
    assert r.ner_f1 == pytest.approx(8 / 12)


def test_without_listed_entities_recall_counts_the_names_spacy_finds_in_the_reference():
    """A manifest that lists no entities (a real corpus, a long-form reading): entity recall
    counts the names spaCy finds in each reference (not dates or numbers), first and repeated
    mentions as for listed ones; the result says so. --no-ner: no recall at all."""
    pytest.importorskip("spacy")
    from susurrus.evaluate.evaluate import NAME_LABELS
    from susurrus.metrics.scores import reference_entities

    ref = "Barack Obama visited Paris on Monday. In Paris, Obama met the mayor."
    utts = [Utterance("u0", WAV, ref, session="s", turn=0)]
    hyps = [_hyp("u0", "Barack Obama visited Paris on Monday. In Paris, Obarma met the mayor.")]
    found = reference_entities(ref, NAME_LABELS)
    assert "Paris" in found and "Monday" not in found and len(found) == len(set(found))
    r = score(utts, hyps, DecodeConfig(), "m", with_ner=True)
    assert r.entities_from == "ner"
    from susurrus.metrics.scores import entity_recall

    assert r.counts.entities == entity_recall([(ref, found, hyps[0].text)])
    assert r.counts.entities.repeat_total >= 1 and r.entity_recall_first == 1.0
    assert r.entity_recall_repeat < 1.0  # "Obarma"
    back = EvalResult.from_json(r.to_json())
    assert back.entities_from == "ner" and back == r
    off = score(utts, hyps, DecodeConfig(), "m", with_ner=False)
    assert off.entities_from == "manifest" and off.entity_recall is None
    listed = [Utterance("u0", WAV, ref, session="s", turn=0, entities=("Barack Obama",))]
    r = score(listed, hyps, DecodeConfig(), "m", with_ner=True)
    assert r.entities_from == "manifest" and r.counts.entities.first_total == 1


RESULT_KEYS = {"model", "context", "oracle", "manifest", "wer", "wer_cased", "entity_recall",
               "entity_recall_first", "entity_recall_repeat", "ner_f1", "punct_f1", "cap_f1",
               "rtf", "n_utterances", "n_words", "context_tokens_per_turn", "cpwer",
               "talker_count_acc", "counts"}


def test_evaluate_writes_results_and_hypotheses(corpus, use_engine, tmp_path):
    engine = use_engine(corpus.engine())
    out = tmp_path / "results" / "r.json"
    result = evaluate(corpus.manifest, DecodeConfig(model="whisper-tiny.en", context="prompt"),
                      out, progress=False, with_ner=False)
    data = json.loads(out.read_text())
    assert RESULT_KEYS <= set(data)
    assert data == json.loads(result.to_json())
    assert EvalResult.from_json(out.read_text()) == result
    assert data["manifest"] == str(corpus.manifest)
    assert data["context"] == "text" and data["oracle"] is False
    assert data["n_utterances"] == 5 and data["n_words"] == 16
    assert data["wer"] == pytest.approx(2 / 16)
    assert data["entity_recall_first"] == pytest.approx(3 / 4)
    assert data["context_tokens_per_turn"] == pytest.approx((0 + 2 + 6 + 0 + 3) / 5)
    assert data["ner_f1"] is None and data["cpwer"] is None and data["talker_count_acc"] is None
    hyp_lines = Path(str(out) + ".hyps.jsonl").read_text().splitlines()
    assert [json.loads(line)["id"] for line in hyp_lines[1:]] == engine.decoded
    # the table shows the system and its numbers
    table = format_table([result])
    assert "whisper-tiny.en [text]" in table and "0.125" in table


def test_evaluate_a_mixture_manifest_reports_cpwer(mixture_corpus, use_engine, tmp_path):
    use_engine(mixture_corpus.engine())
    out = tmp_path / "mix.json"
    evaluate(mixture_corpus.manifest, DecodeConfig(), out, progress=False, with_ner=False)
    data = json.loads(out.read_text())
    assert RESULT_KEYS <= set(data)
    # one stream "hello there good morning" for two talkers: talker count wrong, and the
    # best assignment costs 2 insertions + 2 deletions
    assert data["talker_count_acc"] == 0.0
    assert data["cpwer"] == pytest.approx(4 / 4)
    assert data["entity_recall"] is None


def test_evaluate_without_out_writes_nothing(corpus, use_engine, tmp_path):
    use_engine(corpus.engine())
    before = sorted(tmp_path.rglob("*"))
    result = evaluate(corpus.manifest, DecodeConfig(), None, progress=False, with_ner=False)
    assert isinstance(result, EvalResult) and result.n_utterances == 5
    assert sorted(tmp_path.rglob("*")) == before


def test_suspect_windows_are_kept_with_the_hypothesis_and_counted(corpus, use_engine, tmp_path):
    from susurrus.infer.transcript import WindowIssue

    use_engine(corpus.engine())
    lengths = {uid: n for n, uid in corpus.by_length.items()}
    use_engine.recognizer.suspect = {lengths["a1"]: [WindowIssue(0.0, 0.3, "loop")],
                                     lengths["b1"]: [WindowIssue(0.0, 0.2, "no_text"),
                                                     WindowIssue(0.2, 0.4, "little_text")]}
    out = tmp_path / "r.json"
    result = evaluate(corpus.manifest, DecodeConfig(), out, progress=False, with_ner=False)
    assert result.suspect_windows == 3
    assert EvalResult.from_json(out.read_text()).suspect_windows == 3
    lines = [json.loads(x) for x in Path(f"{out}.hyps.jsonl").read_text().splitlines()[1:]]
    issues = {h["id"]: h["issues"] for h in lines}
    assert issues["a0"] == [] and len(issues["b1"]) == 2
    assert issues["a1"] == [WindowIssue(0.0, 0.3, "loop").message]


def test_windows_a_joint_choice_took_from_the_first_pass_or_the_context_are_counted():
    """Each hypothesis says whether its text is the first pass's or a context candidate's
    (`joint_choice`); the result sums them and keeps them through its JSON."""
    from dataclasses import replace

    utts = _utts()
    hyps = [replace(_hyp(u.id, u.reference), first_pass_windows=int(k % 2 == 0),
                    context_windows=int(k == 1)) for k, u in enumerate(utts)]
    r = score(utts, hyps, DecodeConfig(), "m", with_ner=False)
    assert (r.first_pass_windows, r.context_windows) == ((len(utts) + 1) // 2, 1)
    back = EvalResult.from_json(r.to_json())
    assert (back.first_pass_windows, back.context_windows) == (r.first_pass_windows, 1)


def test_a_negative_candidate_count_is_refused_by_the_config():
    from susurrus.errors import UsageError

    with pytest.raises(UsageError, match="context_candidates must be >= 0, got -1"):
        DecodeConfig(context_candidates=-1)
    with pytest.raises(ValueError, match="context_candidates must be >= 0"):
        from susurrus.models.speech_llm.generation import GenerateOptions

        GenerateOptions(context_candidates=-2)
