import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from susurrus.metrics import (
    PUNCTUATION_MARKS,
    F1Counts,
    capitalization_f1,
    punctuation_f1,
    punctuation_f1_by_mark,
)


def test_f1_counts_read_off_the_sum():
    c = F1Counts(tp=3, fp=1, fn=2) + F1Counts(tp=1, fp=1, fn=0)
    assert c == F1Counts(4, 2, 2)
    assert c.precision == pytest.approx(4 / 6)
    assert c.recall == pytest.approx(4 / 6)
    assert c.f1 == pytest.approx(2 * 4 / (2 * 4 + 2 + 2))
    assert sum([F1Counts(1, 0, 0), F1Counts(0, 1, 0)]) == F1Counts(1, 1, 0)


def test_f1_empty_cases():
    nothing = F1Counts()
    assert (nothing.precision, nothing.recall, nothing.f1) == (1.0, 1.0, 1.0)
    all_missed = F1Counts(0, 0, 3)
    assert (all_missed.precision, all_missed.recall, all_missed.f1) == (1.0, 0.0, 0.0)
    all_spurious = F1Counts(0, 2, 0)
    assert (all_spurious.precision, all_spurious.recall, all_spurious.f1) == (0.0, 1.0, 0.0)


def test_punctuation_f1_hand_computed():
    # reference marks: Hello "," / world "." / you "?"; hypothesis: world "," / you "."
    c = punctuation_f1("Hello, world. How are you?", "Hello world, how are you.")
    assert c == F1Counts(tp=0, fp=2, fn=3)
    assert punctuation_f1("Hello, world. How are you?", "hello, world. how are you?") \
        == F1Counts(tp=3, fp=0, fn=0)


def test_punctuation_follows_words_through_substitutions_and_gaps():
    # "Pariss," is a substitution of "Paris,": its comma still counts
    c = punctuation_f1("I saw Paris, then Rome.", "I saw Pariss, then Rome.")
    assert c == F1Counts(2, 0, 0)
    # the deleted word took its full stop with it; the inserted word brings a spurious comma
    assert punctuation_f1("Go home now.", "Go home.") == F1Counts(0, 1, 1)
    assert punctuation_f1("Go home.", "Go, um, home.") == F1Counts(1, 2, 0)


def test_punctuation_classes_and_unscored_marks():
    # quotes are not scored; "..." is a full stop; the first scored mark after a word counts
    assert punctuation_f1('He said "no."', "He said no...") == F1Counts(1, 0, 0)
    assert punctuation_f1("Really?!", "Really?") == F1Counts(1, 0, 0)
    # one class alone
    c = punctuation_f1("Yes, really? Sure.", "Yes, really. Sure?", mark="?")
    assert c == F1Counts(tp=0, fp=1, fn=1)
    with pytest.raises(ValueError, match="mark"):
        punctuation_f1("a", "b", mark='"')


def test_punctuation_per_mark_hand_computed():
    # pairs: Yes ","/"," tp; really "?"/"." fn ? and fp .; Sure "."/"?" fn . and fp ?;
    # then "ok" has no mark in the reference and a comma in the hypothesis: fp ,
    c = punctuation_f1_by_mark("Yes, really? Sure. Ok", "Yes, really. Sure? Ok,")
    assert c["."] == F1Counts(tp=0, fp=1, fn=1)
    assert c[","] == F1Counts(tp=1, fp=1, fn=0)
    assert c["?"] == F1Counts(tp=0, fp=1, fn=1)
    assert c["!"] == c[":"] == c[";"] == F1Counts()
    assert set(c) == set(PUNCTUATION_MARKS) == {".", ",", "?", "!", ":", ";"}
    assert sum(c.values(), F1Counts()) == punctuation_f1("Yes, really? Sure. Ok",
                                                         "Yes, really. Sure? Ok,")


def _reference_per_class(ref_labels: list[str], hyp_labels: list[str]) -> dict[str, F1Counts]:
    """Multi-class detection counts from a confusion matrix of aligned labels ('' = no mark),
    as sklearn's precision_recall_fscore_support(labels=marks) counts them: tp the diagonal,
    fp the rest of the class's column, fn the rest of its row."""
    labels = ["", *PUNCTUATION_MARKS]
    conf = np.zeros((len(labels), len(labels)), dtype=int)
    for r, h in zip(ref_labels, hyp_labels, strict=True):
        conf[labels.index(r), labels.index(h)] += 1
    return {m: F1Counts(int(conf[k, k]), int(conf[:, k].sum() - conf[k, k]),
                        int(conf[k, :].sum() - conf[k, k]))
            for k, m in enumerate(labels) if m}


_MARK = st.sampled_from(["", ".", ",", "?", "!", ":", ";"])


@given(st.lists(st.tuples(st.sampled_from(["alpha", "beta", "gamma", "delta"]), _MARK, _MARK),
                min_size=1, max_size=25))
def test_punctuation_per_mark_matches_a_confusion_matrix(words):
    # the same words on both sides (cased differently): the alignment is position by position
    ref = " ".join(f"{w.capitalize()}{r}" for w, r, _ in words)
    hyp = " ".join(f"{w}{h}" for w, _, h in words)
    expected = _reference_per_class([r for _, r, _ in words], [h for *_, h in words])
    got = punctuation_f1_by_mark(ref, hyp)
    assert got == expected
    for m in PUNCTUATION_MARKS:
        assert punctuation_f1(ref, hyp, mark=m) == expected[m]
    assert punctuation_f1(ref, hyp) == sum(expected.values(), F1Counts())


def test_punctuation_empty_texts():
    assert punctuation_f1("", "") == F1Counts()
    assert punctuation_f1("Hi.", "") == F1Counts(0, 0, 1)
    assert punctuation_f1("", "Hi, there.") == F1Counts(0, 2, 0)


def test_capitalization_f1_hand_computed():
    # capitalized: reference Hello, How; hypothesis How, You
    c = capitalization_f1("Hello, world. How are you?", "hello world, How are You?")
    assert c == F1Counts(tp=1, fp=1, fn=1)
    assert capitalization_f1("Barack Obama visited Paris.", "Barack Obama visited Pariss.") \
        == F1Counts(3, 0, 0)
    # a deleted capitalized word is missed, an inserted one spurious
    assert capitalization_f1("I met Anna today.", "I met today.") == F1Counts(1, 0, 1)
    assert capitalization_f1("", "Hello") == F1Counts(0, 1, 0)
    assert capitalization_f1("", "") == F1Counts()
