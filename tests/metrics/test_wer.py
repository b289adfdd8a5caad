import math

import jiwer
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from meeteval.wer import cp_word_error_rate

from susurrus.metrics import (
    CountAccuracy,
    CpErrorCounts,
    ErrorCounts,
    align,
    cased_word_errors,
    cp_word_errors,
    talker_count_accuracy,
    word_errors,
)

words = st.lists(st.sampled_from(["a", "b", "c", "d", "e"]), max_size=12)


def test_hand_computed_wer():
    # +well, sat->sit, -the: the only alignment of cost 3
    c = word_errors("The cat sat on the mat.", "well the cat sit on mat")
    assert c == ErrorCounts(substitutions=1, deletions=1, insertions=1, ref_words=6)
    assert c.errors == 3 and c.hyp_words == 6 and c.rate == pytest.approx(0.5)


def test_normalizer_applies_before_alignment():
    assert word_errors("Twenty-five colours.", "25 colors").errors == 0
    assert word_errors("A B", "a b", normalizer=lambda s: s).substitutions == 2


def test_empty_reference_and_hypothesis():
    assert word_errors("", "") == ErrorCounts() and word_errors("", "").rate == 0.0
    only_ins = word_errors("", "hello there")
    assert only_ins == ErrorCounts(0, 0, 2, 0) and math.isinf(only_ins.rate)
    only_del = word_errors("hello there", "")
    assert only_del == ErrorCounts(0, 2, 0, 2) and only_del.rate == 1.0
    # in a corpus sum the empty reference is just more insertions
    assert (only_ins + only_del).rate == 2.0


def test_alignment_pairs_and_tie_breaking():
    a = align("a b c d".split(), "a x c d e".split())
    assert a.pairs == ((0, 0), (1, 1), (2, 2), (3, 3), (None, 4))
    assert a.counts == ErrorCounts(1, 0, 1, 4)
    # "a b" vs "b a": substitutions preferred over a deletion + insertion of equal cost
    assert align(["a", "b"], ["b", "a"]).pairs == ((0, 0), (1, 1))
    assert align(["a"], []).pairs == ((0, None),)
    assert align([], ["a"]).pairs == ((None, 0),)


def test_counts_add_and_sum():
    a, b = ErrorCounts(1, 2, 3, 10), ErrorCounts(0, 1, 0, 5)
    assert a + b == ErrorCounts(1, 3, 3, 15)
    assert sum([a, b]) == a + b
    with pytest.raises(TypeError):
        a + 1  # noqa: B018


def test_counts_validate_fields():
    with pytest.raises(ValueError, match="insertions"):
        ErrorCounts(0, 0, -1, 0)
    with pytest.raises(ValueError, match="ref_words"):
        ErrorCounts(2, 1, 0, 2)
    with pytest.raises(ValueError, match="correct"):
        CountAccuracy(2, 1)


def test_cased_wer_counts_case_and_marks():
    # Hello , world . vs hello world . : case of Hello (sub), missing comma (del)
    assert cased_word_errors("Hello, world.", "hello world.") == ErrorCounts(1, 1, 0, 4)
    assert cased_word_errors("Paris.", "Paris.").errors == 0
    assert cased_word_errors("", "Hi!") == ErrorCounts(0, 0, 2, 0)


@settings(max_examples=300, deadline=None)
@given(words, words)
def test_wer_matches_jiwer(ref, hyp):
    ours = align(ref, hyp)
    theirs = jiwer.process_words(" ".join(ref), " ".join(hyp))
    # jiwer (rapidfuzz) breaks ties between equal-cost alignments its own way, so the S/D/I split
    # may differ; the total, the lengths (hence D - I) and the number of hits may not.
    assert ours.counts.errors == theirs.substitutions + theirs.deletions + theirs.insertions
    assert ours.counts.ref_words == len(ref) and ours.counts.hyp_words == len(hyp)
    assert ours.counts.deletions - ours.counts.insertions == theirs.deletions - theirs.insertions
    # and the pairs are a valid alignment that explains the counts
    assert [i for i, _ in ours.pairs if i is not None] == list(range(len(ref)))
    assert [j for _, j in ours.pairs if j is not None] == list(range(len(hyp)))
    subs = sum(i is not None and j is not None and ref[i] != hyp[j] for i, j in ours.pairs)
    assert subs == ours.counts.substitutions


@settings(max_examples=200, deadline=None)
@given(st.lists(words, max_size=4), st.lists(words, max_size=4))
def test_wer_counts_add_over_utterances(refs, hyps):
    n = min(len(refs), len(hyps))
    per_utt = sum((align(r, h).counts for r, h in zip(refs[:n], hyps[:n], strict=True)),
                  ErrorCounts())
    concatenated = align(sum(refs[:n], []), sum(hyps[:n], [])).counts
    # Summed counts are the corpus counts; a joint alignment can only do as well or better.
    assert per_utt.ref_words == concatenated.ref_words
    assert concatenated.errors <= per_utt.errors


def test_cpwer_hand_computed():
    # speaker 0 "a b c" goes with stream 1 "a c" (1 deletion), speaker 1 "d e" with stream 0
    # "d e f" (1 insertion)
    c = cp_word_errors(["a b c", "d e"], ["d e f", "a c"])
    assert c.word_errors == ErrorCounts(0, 1, 1, 5) and c.rate == pytest.approx(2 / 5)
    assert c == CpErrorCounts(0, 1, 1, 5, talkers=2, missed_talkers=0, false_talkers=0,
                              assignments=(((0, 1), (1, 0)),))
    # a missed speaker is all deletions, a false stream all insertions
    missed = cp_word_errors(["a b", "c"], ["a b"])
    assert missed.word_errors == ErrorCounts(0, 1, 0, 3)
    assert (missed.talkers, missed.missed_talkers, missed.false_talkers) == (2, 1, 0)
    assert missed.assignments == (((0, 0), (1, None)),)
    false = cp_word_errors(["a b"], ["x y", "a b"])
    assert false.word_errors == ErrorCounts(0, 0, 2, 2)
    assert (false.talkers, false.missed_talkers, false.false_talkers) == (1, 0, 1)
    assert false.assignments == (((0, 1), (None, 0)),)
    assert cp_word_errors([], []) == CpErrorCounts(assignments=((),))


def test_cp_counts_add_and_keep_one_assignment_per_mixture():
    one, two = cp_word_errors(["a b", "c"], ["a b"]), cp_word_errors(["a"], ["a", "b"])
    total = sum([one, two])
    assert total.word_errors == one.word_errors + two.word_errors
    assert (total.talkers, total.missed_talkers, total.false_talkers) == (3, 1, 1)
    assert total.assignments == one.assignments + two.assignments
    assert len(total.assignments) == 2


@settings(max_examples=100, deadline=None)
@given(st.lists(words, min_size=1, max_size=3), st.lists(words, min_size=1, max_size=3))
def test_cpwer_matches_meeteval(refs, hyps):
    ref_texts, hyp_texts = [" ".join(w) for w in refs], [" ".join(w) for w in hyps]
    ours = cp_word_errors(ref_texts, hyp_texts, normalizer=lambda s: s)
    theirs = cp_word_error_rate(ref_texts, hyp_texts, reference_sort=False,
                                hypothesis_sort=False)
    assert ours.errors == theirs.errors
    assert ours.ref_words == theirs.length
    assert ours.talkers == theirs.scored_speaker
    assert ours.missed_talkers == theirs.missed_speaker
    assert ours.false_talkers == theirs.falarm_speaker
    # Equal-cost assignments may differ; ours must cost what it says, and when no other
    # assignment costs as little it must be meeteval's.
    (pairs,) = ours.assignments
    cost = sum(align(refs[r] if r is not None else [], hyps[h] if h is not None else [])
               .counts.errors for r, h in pairs)
    assert cost == ours.errors
    assert sorted(r for r, _ in pairs if r is not None) == list(range(len(refs)))
    assert sorted(h for _, h in pairs if h is not None) == list(range(len(hyps)))
    if _optimal_assignments(refs, hyps) == 1:
        assert sorted(pairs, key=str) == sorted(theirs.assignment, key=str)


def _optimal_assignments(refs: list[list[str]], hyps: list[list[str]]) -> int:
    """How many talker-to-stream assignments reach the minimum cpWER errors (brute force)."""
    from itertools import permutations

    size = max(len(refs), len(hyps))
    r = refs + [[]] * (size - len(refs))
    h = hyps + [[]] * (size - len(hyps))
    costs = [sum(align(r[i], h[j]).counts.errors for i, j in enumerate(perm))
             for perm in permutations(range(size))]
    best = min(costs)
    # permutations that differ only among padded (empty) rows or columns are one assignment
    seen = set()
    for perm, c in zip(permutations(range(size)), costs, strict=True):
        if c == best:
            seen.add(tuple((i if i < len(refs) else None, j if j < len(hyps) else None)
                           for i, j in enumerate(perm)
                           if i < len(refs) or j < len(hyps)))
    return len(seen)


def test_talker_count_accuracy():
    total = talker_count_accuracy(2, 2) + talker_count_accuracy(3, 2) + talker_count_accuracy(1, 1)
    assert total == CountAccuracy(correct=2, total=3)
    assert total.accuracy == pytest.approx(2 / 3)
    assert CountAccuracy().accuracy == 1.0
