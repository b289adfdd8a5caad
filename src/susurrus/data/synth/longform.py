"""Long-form read speech: news bulletins of real articles (gensim's lee_background.cor).

Articles are partitioned between the splits by a hash of their line number (the same for every
seed); a bulletin joins consecutive articles of its split until it is minutes long, and one voice
reads it. The reference is the articles' own text: original case and punctuation.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import random
import re
from pathlib import Path

from susurrus.data.synth.jobs import SPLITS, Job, Part, job_rng
from susurrus.data.synth.voices import VoicePool
from susurrus.errors import MissingDependencyError

MIN_WORDS = 450  # a bulletin is at least this long (~3 minutes at 150 words a minute)
SENTENCE_GAP = (0.25, 0.5)  # seconds between sentences
ARTICLE_GAP = 1.2  # seconds between articles
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'A-Z0-9])|(?<=[.!?][\"'])\s+(?=[\"'A-Z0-9])")
_ABBREVIATION = re.compile(r"\b(Mr|Mrs|Ms|Dr|St|Sen|Gen|Lt|Col|Capt|Prof|Jan|Feb|Aug|Sept|Oct|"
                           r"Nov|Dec|No|U\.S|U\.N)\.$")


def corpus_path() -> Path:
    """gensim's lee_background.cor, found without importing gensim (seconds of imports)."""
    spec = importlib.util.find_spec("gensim")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError("long-form text needs gensim (pip install gensim): its "
                                "test data holds lee_background.cor")
    path = Path(spec.submodule_search_locations[0]) / "test" / "test_data" / "lee_background.cor"
    if not path.is_file():
        raise MissingDependencyError(f"{path}: missing from the gensim install; reinstall gensim")
    return path


@functools.lru_cache(maxsize=1)
def articles() -> tuple[str, ...]:
    """The 300 articles, whitespace normalized (one line each in the file)."""
    with open(corpus_path(), encoding="utf-8") as f:
        return tuple(" ".join(line.split()) for line in f if line.strip())


def article_split(index: int) -> str:
    """70/10/10/10 by a hash of the article's line number."""
    bucket = int(hashlib.sha1(f"lee/{index}".encode()).hexdigest(), 16) % 10
    return {0: "test-ood", 1: "test", 2: "dev"}.get(bucket, "train")


def sentences(text: str) -> list[str]:
    """Split at sentence ends (not after Mr., Dr., U.S. ...); joined with ' ' they give text."""
    out: list[str] = []
    for piece in _SENTENCE_END.split(text):
        if out and _ABBREVIATION.search(out[-1]):
            out[-1] = f"{out[-1]} {piece}"
        else:
            out.append(piece)
    return out


def bulletins(seed: int, split: str) -> list[tuple[int, ...]]:
    """The split's articles in a seeded order, grouped into bulletins of >= MIN_WORDS words."""
    if split not in SPLITS:
        raise ValueError(f"split: one of {', '.join(SPLITS)}, got {split!r}")
    texts = articles()
    mine = [i for i in range(len(texts)) if article_split(i) == split]
    random.Random(f"susurrus-synth/{seed}/longform-order/{split}").shuffle(mine)
    out: list[tuple[int, ...]] = []
    group: list[int] = []
    for i in mine:
        group.append(i)
        if sum(len(texts[j].split()) for j in group) >= MIN_WORDS:
            out.append(tuple(group))
            group = []
    if group:  # a short tail joins the last bulletin
        out[-1:] = [out[-1] + tuple(group)] if out else [tuple(group)]
    return out


def longform_job(seed: int, split: str, index: int, voices: VoicePool) -> Job:
    """Bulletin `index` (cycling when hours ask for more text than the split has; each cycle
    is read by another voice)."""
    groups = bulletins(seed, split)
    chosen = groups[index % len(groups)]
    rng = job_rng(seed, "longform", split, index)
    voice = voices.draw(rng)
    texts = articles()
    parts = []
    for n, article in enumerate(chosen):
        for k, sentence in enumerate(sentences(texts[article])):
            if k == 0:
                gap = ARTICLE_GAP if n else 0.0
            else:
                gap = round(rng.uniform(*SENTENCE_GAP), 3)
            parts.append(Part(text=sentence, say=sentence, voice=voice, speaker=voice.id,
                              gap=gap))
    return Job(id=f"{split}-l{index:04d}", kind="longform", split=split, parts=tuple(parts),
               domain="news", articles=chosen)
