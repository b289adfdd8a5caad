"""Candidate transcripts that spell a name as the conversation's earlier turns did (issue 16,
lever 5c: context that corrects repeated entities).

A name, number or date that an earlier turn got right is often misheard when it comes again
("azithromycin" -> "Azzithra mice and", "7335209" -> "733520"). The LLM reads the earlier turns as
context, yet its own text and Whisper's answer both keep the mishearing. So each window also gets
candidates that put a context phrase where a stretch of its text is spelled like it, and
`susurrus.infer.first_pass.joint_choice` lets them compete: both models score every candidate,
Whisper on the audio alone and the LLM with the earlier turns as its context. A candidate wins
only where both models together find it likelier than the texts they wrote; nothing here
decides on its own.

Context phrases (`context_phrases`) are what a user's earlier turns would teach: spaCy's entities
of each earlier transcript, words with digits, capitalized words inside a sentence, and long rare
words (`RARE_PIECES` or more tokenizer pieces). A stretch matches a phrase when their letters and
digits (lower-cased, spaces dropped) are within `MIN_SIMILARITY` normalized Levenshtein
similarity (rapidfuzz); per phrase the most similar stretch is replaced.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import lru_cache

from rapidfuzz.distance import Levenshtein

MIN_SIMILARITY = 0.5  # letters and digits of a stretch vs a phrase (1 = the same)
MIN_KEY = 3  # a phrase with fewer letters and digits is too short to tell apart from chance
RARE_PIECES = 3  # a word the LLM's tokenizer cuts into this many pieces or more is rare
RARE_LETTERS = 6  # ... if it has at least this many letters

TITLES = frozenset({"Dr.", "Mr.", "Mrs.", "Ms.", "Mx.", "St.", "Prof.", "Rev."})  # no sentence end
_KEY = re.compile(r"[\W_]+")
_TRAIL = re.compile(r"[^\w%$]+$")


def key(text: str) -> str:
    """Letters and digits, lower-cased, accents kept, nothing else: what a stretch sounds like
    as far as spelling can tell."""
    return _KEY.sub("", text.lower())


@lru_cache(maxsize=4096)
def _entities(text: str) -> tuple[str, ...]:
    """spaCy's entities of one transcript (each earlier turn is read again by later turns)."""
    from susurrus.metrics.scores import entity_texts

    return entity_texts(text)


def context_phrases(texts: Sequence[str], pieces: Callable[[str], int] | None = None
                    ) -> list[str]:
    """The phrases of earlier transcripts worth spelling again, each once, in order: spaCy's
    entities, words with digits, capitalized words not opening a sentence, and (given `pieces`,
    a word's tokenizer piece count) long rare words."""
    out: dict[str, str] = {}

    def add(phrase: str) -> None:
        phrase = _TRAIL.sub("", phrase.strip()).lstrip("\"'(")
        if len(key(phrase)) >= MIN_KEY:
            out.setdefault(key(phrase), phrase)

    for text in texts:
        if not text.strip():
            continue
        for ent in _entities(text):
            add(ent)
        words = text.split()
        for i, w in enumerate(words):
            bare = _TRAIL.sub("", w)
            opens = i == 0 or (words[i - 1][-1:] in ".?!:" and words[i - 1] not in TITLES)
            if any(c.isdigit() for c in bare) or (bare[:1].isupper() and not opens):
                add(bare)
            elif pieces and sum(c.isalpha() for c in bare) >= RARE_LETTERS \
                    and pieces(bare) >= RARE_PIECES:
                add(bare)
    return list(out.values())


def candidates(text: str, phrases: Sequence[str], limit: int) -> list[str]:
    """`text` with one stretch of words (one to a phrase's words + 2) replaced by a phrase whose
    letters and digits it nearly spells (`MIN_SIMILARITY`), the stretch's trailing punctuation
    kept: per phrase the most similar stretch (of equals, the one nearest the phrase's length),
    the `limit` most similar overall. A phrase whose words the text already holds (punctuation
    inside a word counts: "945-3634" does not hold "9453634") is skipped."""
    words = text.split()
    keys = [key(w) for w in words]
    bare = [_TRAIL.sub("", w).lower() for w in words]  # "945-3634" is not "9453634"
    found: list[tuple[float, str]] = []
    for phrase in phrases:
        target, parts = key(phrase), [_TRAIL.sub("", w).lower() for w in phrase.split()]
        n = len(parts)
        if any(bare[i:i + n] == parts for i in range(len(words) - n + 1)):
            continue
        best: tuple[float, int, int, int] | None = None  # ties: the stretch nearest in length
        for i in range(len(words)):
            if not keys[i]:
                continue
            for j in range(i + 1, min(len(words), i + n + 2) + 1):
                stretch = "".join(keys[i:j])
                sim = Levenshtein.normalized_similarity(stretch, target)
                near = -abs(len(stretch) - len(target))
                if sim >= MIN_SIMILARITY and (best is None or (sim, near) > best[:2]):
                    best = (sim, near, i, j)
        if best is None:
            continue
        sim, _, i, j = best
        trail = _TRAIL.search(words[j - 1])
        new = [*words[:i], phrase + (trail.group() if trail else ""), *words[j:]]
        found.append((sim, " ".join(new)))
    found.sort(key=lambda f: -f[0])
    return list(dict.fromkeys(t for _, t in found))[:limit]
