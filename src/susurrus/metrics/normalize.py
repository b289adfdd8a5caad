"""Text normalization for scoring: Whisper's English normalizer, and a cased tokenizer.

`normalize` is what plain WER, entity recall and NER matching compare: lower case, no punctuation,
numbers as digits, British spellings made American (Whisper paper, appendix C). `cased_words` keeps
what `normalize` throws away, so that case-and-punctuation-sensitive WER and the punctuation and
capitalization F1 can see it.
"""

from __future__ import annotations

import re
from functools import lru_cache

from whisper_normalizer.english import EnglishTextNormalizer

# A word: letters/digits, with inner apostrophes, hyphens or dots kept ("don't", "twenty-five",
# "3.5", "Siobhan's"). A punctuation token: one non-word, non-space character, repeated ("...").
_TOKEN = re.compile(r"\w+(?:['’\-.]\w+)*|([^\w\s])\1*")


@lru_cache(maxsize=1)
def _english() -> EnglishTextNormalizer:
    # Built once: the constructor reads the British->American spelling table.
    return EnglishTextNormalizer()


def normalize(text: str) -> str:
    """Whisper's English normalization: "Hello, Mr. Smith; 25 colours!" -> "hello mister smith
    25 colors". Words are separated by single spaces; an empty or all-punctuation text gives ""."""
    return _english()(text)


def cased_words(text: str) -> list[str]:
    """Case- and punctuation-keeping tokens: "Hello, world." -> ["Hello", ",", "world", "."].

    Each punctuation mark is a token of its own (a run of one mark, like "...", is one token);
    apostrophes, hyphens and dots inside a word stay in it ("don't", "e-mail", "3.5").
    """
    return [m.group(0) for m in _TOKEN.finditer(text)]


def is_word(token: str) -> bool:
    """True for a word token of `cased_words`, False for a punctuation token."""
    return bool(re.match(r"\w", token))
