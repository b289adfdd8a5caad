"""Context-copy training for multi-turn speech LLMs: entity respelling (issue 16, lever 5).

Why. A multi-turn model should write a name the way an earlier turn spelled it. It does not
learn to: the training sessions are seen for many epochs, so the model learns each training
name's spelling from its audio and never needs the context, while held-out names are new
(measured: with reference transcripts as context, repeated-entity recall on test-ood rose
only 0.017).

What. Each epoch, a share of each session's names is respelled, the same way in every turn of
that session: "Castaneda" -> "Kastanedda". The audio still says the name, so the new spelling
is one the name could have. Where the session's earlier turns in the context window (or the
same turn, before it) already hold the respelled form, the target keeps it and its tokens
weigh `repeat_weight` in the loss: the only way to spell it is to copy it from the context.
Where they do not (a first mention), those tokens weigh 0: nothing could have told the model
that spelling, and learning it would teach it to misspell what it hears.

Names are the entities listed in the manifest that are words of letters (dates and numbers
keep their form) of at least 4 letters; a respelling changes each such word by one or two
sound-keeping letter rules (c/k, ph/f, y/i, doubled consonants, ...). The draw depends on
(seed, epoch, session) only, so a resumed run draws the same targets.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from susurrus.data.token_spans import token_spans

# (pattern, replacement) on lower-case letters; each keeps roughly how a word sounds in English
RULES: tuple[tuple[str, str], ...] = (
    (r"ph", "f"), (r"f", "ph"), (r"c(?=[aou])", "k"), (r"k(?=[aou])", "c"), (r"ck", "k"),
    (r"(?<=.)y", "i"), (r"(?<=.)i(?=[^aeiou]|$)", "y"), (r"ee", "ea"), (r"ea", "ee"),
    (r"([bdfglmnprst])\1", r"\1"), (r"(?<=[aeiou])([dlmnrt])(?=[aeiou])", r"\1\1"),
    (r"(?<=[aeiou])s(?=[aeiou])", "z"), (r"z", "s"), (r"qu", "kw"), (r"x", "ks"),
    (r"(?<=.)ie$", "y"), (r"(?<=.)y$", "ie"), (r"son$", "sen"), (r"sen$", "son"),
    (r"(?<=.)ou", "oo"), (r"oo", "ou"), (r"(?<=.)w(?=[aeiou])", "v"), (r"th", "t"),
    (r"(?<=.)a$", "ah"), (r"(?<=.)o$", "oh"),
)
_WORD = re.compile(r"[^\W\d_]{4,}")  # a run of 4+ letters (any script), no digits


def _caps(template: str, word: str) -> str:
    """`word` with `template`'s capitalisation (all caps, capitalised or lower)."""
    if template.isupper():
        return word.upper()
    return word[:1].upper() + word[1:] if template[:1].isupper() else word


def _plain(letter: str) -> str:
    """A letter without its accents ("á" -> "a"); itself when it has none."""
    return unicodedata.normalize("NFKD", letter)[0]


def respell_word(word: str, rng: np.random.Generator, edits: int = 2) -> str:
    """`word` changed by `edits` letter rules drawn at random (an accent dropped counts as
    one), retried a few times when the edits undo each other; itself when no rule applies."""
    original = word.lower()
    lower = original
    for _ in range(3 * edits):
        options = [(p, r) for p, r in RULES if re.search(p, lower)]
        accents = [k for k, ch in enumerate(lower) if _plain(ch) != ch]
        if not options and not accents:
            break
        pick = int(rng.integers(len(options) + bool(accents)))
        if pick == len(options):  # drop one accent
            k = accents[int(rng.integers(len(accents)))]
            lower = lower[:k] + _plain(lower[k]) + lower[k + 1:]
        else:
            pattern, repl = options[pick]
            hits = list(re.finditer(pattern, lower))
            m = hits[int(rng.integers(len(hits)))]
            lower = lower[:m.start()] + m.expand(repl) + lower[m.end():]
        edits -= 1
        if edits <= 0 and lower != original:
            break
    return _caps(word, lower)


def respellable(entity: str) -> bool:
    """An entity whose words a respelling may change: no digit, a word of 4+ letters."""
    return not any(ch.isdigit() for ch in entity) and bool(_WORD.search(entity))


def respell_map(entities: Sequence[str], share: float, rng: np.random.Generator
                ) -> dict[str, str]:
    """word -> its respelling, for the words of a drawn `share` of the respellable `entities`
    (sorted, deduplicated): the same word gets the same form wherever it occurs."""
    out: dict[str, str] = {}
    for entity in sorted({e for e in entities if respellable(e)}):
        if rng.random() >= share:
            continue
        for m in _WORD.finditer(entity):
            word = m.group()
            if word not in out:
                new = respell_word(word, rng)
                if new != word:
                    out[word] = new
    return out


def apply_map(text: str, mapping: dict[str, str]) -> tuple[str, list[tuple[int, int]]]:
    """`text` with each whole word in `mapping` replaced -> (new text, the replaced words'
    character spans in the new text)."""
    if not mapping:
        return text, []
    pattern = re.compile(r"(?<![^\W_])(" + "|".join(
        re.escape(w) for w in sorted(mapping, key=len, reverse=True)) + r")(?![^\W_])")
    parts, spans, last, shift = [], [], 0, 0
    for m in pattern.finditer(text):
        new = mapping[m.group()]
        parts += [text[last:m.start()], new]
        start = m.start() + shift
        spans.append((start, start + len(new)))
        shift += len(new) - len(m.group())
        last = m.end()
    parts.append(text[last:])
    return "".join(parts), spans


@dataclass(frozen=True)
class Respelled:
    """One training row's targets this epoch: its ids, a loss weight per id, and the ids of
    each of its prior turns' transcripts (as they read this epoch)."""

    ids: list[int]
    weights: list[float] | None  # None: every token weighs 1
    prior_ids: list[list[int]]


class ContextRespelling:
    """Draws each epoch's respelled targets of multi-turn training rows (see the module doc).

    texts: each utterance's reference; entities: its manifest entities; sessions: its session
    id (None: alone); priors: indices of its prior turns in the context window; tokenizer: a
    fast tokenizer (offset mappings). With share 0 and repeat_weight 1 every row reads as it is.
    """

    def __init__(self, texts: Sequence[str], entities: Sequence[Sequence[str]],
                 sessions: Sequence[str | None], priors: Sequence[Sequence[int]], tokenizer,
                 share: float, repeat_weight: float, seed: int) -> None:
        self.texts = [t.strip() for t in texts]
        self.priors = [list(p) for p in priors]
        self.sessions = list(sessions)
        self.tokenizer = tokenizer
        self.share, self.repeat_weight, self.seed = share, repeat_weight, seed
        self.session_entities: dict[str, list[str]] = {}
        for s, es in zip(sessions, entities, strict=True):
            if s is not None:
                self.session_entities.setdefault(s, []).extend(es)
        self.entities = [list(e) for e in entities]

    def _map(self, session: str | None, epoch: int) -> dict[str, str]:
        if session is None or self.share <= 0:
            return {}
        key = [self.seed, epoch, *session.encode()]
        return respell_map(self.session_entities[session], self.share,
                           np.random.default_rng(key))

    def row(self, i: int, epoch: int, ids: Callable[[int], list[int]]) -> Respelled:
        """Row `i`'s targets in `epoch`; `ids(j)` is utterance j's unchanged target ids."""
        mapping = self._map(self.sessions[i], epoch)
        prior_texts = [apply_map(self.texts[j], mapping)[0] for j in self.priors[i]]
        prior_ids = ([ids(j) for j in self.priors[i]] if not mapping else
                     [self.tokenizer(t, add_special_tokens=False)["input_ids"]
                      for t in prior_texts])
        text, changed = apply_map(self.texts[i], mapping)
        repeats = self._repeats(i, text, " \n".join(prior_texts).lower(), mapping)
        if not changed and not repeats:
            return Respelled(ids(i), None, prior_ids)
        tokens, spans = token_spans(self.tokenizer, text)
        weights = [1.0] * len(tokens)
        for a, b in repeats:  # copyable mentions: earlier in the window or in this turn
            self._weigh(weights, spans, a, b, self.repeat_weight)
        for a, b in changed:  # respelled and not copyable: nothing says this spelling
            if (a, b) not in repeats:
                self._weigh(weights, spans, a, b, 0.0)
        return Respelled(tokens, weights, prior_ids)

    def _repeats(self, i: int, text: str, context: str, mapping: dict[str, str]
                 ) -> set[tuple[int, int]]:
        """Character spans in `text` of the mentions a model could copy: entity words (as
        respelled) that the window's earlier turns or this turn before them hold."""
        words = {mapping.get(w, w) for e in self.entities[i] if respellable(e)
                 for w in _WORD.findall(e)}
        lower = text.lower()
        out = set()
        for w in words:
            word = re.compile(r"(?<![^\W_])" + re.escape(w.lower()) + r"(?![^\W_])")
            in_context = word.search(context) is not None
            for m in word.finditer(lower):
                if in_context or word.search(lower, 0, m.start()):
                    out.add((m.start(), m.end()))
        return out

    @staticmethod
    def _weigh(weights: list[float], spans, a: int, b: int, value: float) -> None:
        for k, (s, e) in enumerate(spans):
            if s < b and e > a:  # the token holds part of the mention
                weights[k] = value
