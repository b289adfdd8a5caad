"""Dynamic mixing (issue 18): multi-talker training mixtures drawn on the fly from single-talker
utterances, instead of a fixed rendered corpus.

    mixer = DynamicMixer(MixingConfig(sources=("train.jsonl",), mixtures=100_000), max_duration=30)
    audio, talkers = mixer.render(i)     # (T,) float32 at 16 kHz, [(onset, text, seconds)]
    mixer.seconds(i)                     # its length, known before any audio is made

Why: a few hours of single-talker speech give millions of different mixtures (Zeghidour &
Grangier 2021; SepFormer's "dynamic mixing"), so a long run on a fast device never sees the same
mixture twice, and only the sources have to be stored or shipped to it (a rendered corpus of the
same variety would be orders of magnitude larger).

Mixture i is a pure function of (config.seed, i): which sources, their gains, onsets, noise and
augmentation are drawn from an RNG of its own, so any process makes the same audio for it, in any
order, and a resumed run sees the same data. The draw follows `susurrus synth mixtures` (its
talker counts, gains, onset fractions, share of fully overlapped mixtures, noise SNRs and
levelling, `data.synth.mixtures` and `data.synth.mixing`), so a model trained on dynamic mixtures
is tested on rendered ones of the same kind. Talkers of one mixture have different voices (the
manifest's `voice`, else its `speaker`). Each source may get an augmentation chain of its own
(`data.augment` pieces; by default only those that need no external program: speed, reverb,
band-limit), so the talkers of one mixture sound like different rooms and channels, as they do in
real recordings.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from susurrus.data.manifest import Utterance
from susurrus.data.synth import mixing
from susurrus.data.synth.mixtures import GAIN_DB, OVERLAP, SNR_DB
from susurrus.errors import BadManifestError, BadRecipeError

SAMPLE_RATE = mixing.SAMPLE_RATE
# the augmentation pieces a source may get by default: pure numpy/scipy, no sox or ffmpeg needed
AUGMENT = {"speed": 0.3, "reverb": 0.3, "bandlimit": 0.1}
MARGIN = SAMPLE_RATE // 2  # planned mixtures end this far below max_duration
DRAWS = 50  # attempts to draw a mixture that fits max_duration before giving up


@dataclass(frozen=True)
class MixingConfig:
    """The recipe's `data.mixing`: where the sources are and how mixtures are drawn."""

    sources: tuple[str, ...] = ()  # single-talker manifests whose utterances are mixed
    valid_sources: str = ""  # a manifest whose utterances make the valid mixtures ("" = none)
    mixtures: int = 100_000  # distinct mixtures (the examples of an epoch)
    talkers: tuple[int, ...] = (1, 2, 3)  # talker counts, drawn in equal shares
    overlapped_share: float = 0.3  # share of multi-talker mixtures whose talkers all start at 0
    noise_share: float = 0.5  # share of mixtures with added noise (SNR from synth's range)
    max_source_seconds: float = 12.0  # longer source utterances are not used
    augment: Mapping[str, float] = field(default_factory=lambda: dict(AUGMENT))  # piece -> p
    seed: int = 0

    def __post_init__(self) -> None:
        problems = []
        if not self.sources:
            problems.append("sources: name at least one single-talker manifest")
        if self.mixtures < 1:
            problems.append(f"mixtures: expected >= 1, got {self.mixtures}")
        if not self.talkers or any(int(n) < 1 for n in self.talkers):
            problems.append(f"talkers: expected counts >= 1, got {list(self.talkers)}")
        for name in ("overlapped_share", "noise_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                problems.append(f"{name}: expected 0..1, got {getattr(self, name)}")
        if self.max_source_seconds <= 0:
            problems.append(f"max_source_seconds: expected > 0, got {self.max_source_seconds}")
        if problems:
            raise BadRecipeError("mixing: " + "; ".join(problems))
        from susurrus.data.augment import AugmentConfig

        AugmentConfig(probabilities=dict(self.augment))  # unknown pieces fail here


def mixing_config(values: Mapping[str, Any]) -> tuple[MixingConfig | None, list[str]]:
    """`data.mixing` as a MixingConfig (None when empty), and its problems, each naming its
    key ('data.mixing.talkers: ...')."""
    if not values:
        return None, []
    known = {f.name for f in fields(MixingConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        return None, [f"data.mixing.{k}: unknown key; valid: {', '.join(sorted(known))}"
                      for k in unknown]
    kwargs = dict(values)
    for key in ("sources", "talkers"):
        if key in kwargs:
            value = kwargs[key]
            kwargs[key] = tuple(value) if isinstance(value, list | tuple) else (value,)
    try:
        return MixingConfig(**kwargs), []
    except (BadRecipeError, TypeError, ValueError) as e:
        text = str(e).removeprefix("mixing: ").removeprefix("augment: ")
        return None, [f"data.mixing.{p}" for p in text.split("; ")]


@dataclass(frozen=True)
class Source:
    """One single-talker utterance, trimmed, in RAM."""

    audio: np.ndarray  # (T,) float32
    text: str
    voice: str
    id: str


@dataclass(frozen=True)
class Plan:
    """What mixture i is made of; `render` turns it into audio."""

    sources: tuple[int, ...]
    gains_db: tuple[float, ...]
    fractions: tuple[float, ...]  # onset of talker k as a fraction of talker k-1's length
    snr_db: float | None
    noise_seed: int
    length: int  # samples, as planned (augmentation may change it by a few)


def _rng(*parts: object) -> random.Random:
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "little"))


def load_sources(utts: Sequence[Utterance], max_seconds: float, threads: int = 8,
                 progress: bool = False) -> list[Source]:
    """The single-talker utterances of a manifest as trimmed audio (those over `max_seconds`,
    or with no text, are left out). A mixture line is a BadManifestError: sources are single."""
    from susurrus.audio.io import load_audio

    mixed = [u.id for u in utts if u.is_mixture]
    if mixed:
        raise BadManifestError(f"data.mixing.sources: {mixed[0]} is a mixture ({len(mixed)} "
                               "such lines); dynamic mixing takes single-talker utterances")
    keep = [u for u in utts if u.text.strip()
            and (u.duration is None or u.duration <= max_seconds)]

    def one(u: Utterance) -> Source:
        audio = mixing.trim(load_audio(u.audio, u.start, u.duration))
        return Source(audio, u.text, str(u.meta.get("voice") or u.speaker or u.id), u.id)

    with ThreadPoolExecutor(threads) as pool:  # libsndfile decodes outside the GIL
        from tqdm.auto import tqdm

        sources = list(tqdm(pool.map(one, keep), total=len(keep), desc="mixing sources",
                            disable=not progress))
    sources = [s for s in sources if len(s.audio) <= max_seconds * SAMPLE_RATE]
    if not sources:
        raise BadManifestError(f"data.mixing.sources: no utterance with a reference of at most "
                               f"{max_seconds} s (data.mixing.max_source_seconds)")
    return sources


class DynamicMixer:
    """Mixtures 0..n-1 of `sources`, each a pure function of (config.seed, index)."""

    def __init__(self, config: MixingConfig, sources: list[Source], max_duration: float,
                 count: int | None = None, namespace: str = "train") -> None:
        self.config, self.sources = config, sources
        self.count = config.mixtures if count is None else count
        self.namespace = namespace
        self.max_samples = int(max_duration * SAMPLE_RATE)
        voices = {s.voice for s in sources}
        if max(config.talkers) > len(voices):
            raise BadManifestError(f"data.mixing: {max(config.talkers)} talkers need as many "
                                   f"voices; the sources have {len(voices)}")
        from susurrus.data.augment import AugmentConfig

        self.augment = AugmentConfig(probabilities=dict(config.augment))
        self.plans = [self._plan(i) for i in range(self.count)]

    def __len__(self) -> int:
        return self.count

    def seconds(self, index: int) -> float:
        return self.plans[index].length / SAMPLE_RATE

    def _plan(self, index: int) -> Plan:
        c = self.config
        rng = _rng(c.seed, self.namespace, index)
        for _ in range(DRAWS):
            n = rng.choice(sorted(set(int(t) for t in c.talkers)))
            overlapped = n > 1 and rng.random() < c.overlapped_share
            chosen: list[int] = []
            while len(chosen) < n:
                k = rng.randrange(len(self.sources))
                if self.sources[k].voice not in {self.sources[j].voice for j in chosen}:
                    chosen.append(k)
            gains = tuple(0.0 if k == 0 else round(rng.uniform(-GAIN_DB, GAIN_DB), 2)
                          for k in range(n))
            fractions = tuple(0.0 if k == 0 or overlapped else rng.uniform(*OVERLAP)
                              for k in range(n))
            snr = rng.uniform(*SNR_DB) if rng.random() < c.noise_share else None
            noise_seed = rng.randrange(2**31)
            lengths = [self._length(k, index, j) for j, k in enumerate(chosen)]
            offsets = mixing.overlap_offsets(lengths, fractions)
            length = max(o + m for o, m in zip(offsets, lengths, strict=True))
            if length <= self.max_samples - MARGIN:
                return Plan(tuple(chosen), gains, fractions, snr, noise_seed, length)
        raise BadManifestError(f"data.mixing: no mixture of {sorted(c.talkers)} talkers fits "
                               f"{self.max_samples / SAMPLE_RATE} s after {DRAWS} draws; lower "
                               "data.mixing.max_source_seconds or raise data.max_duration")

    def _chain(self, index: int, slot: int) -> tuple:
        from susurrus.data.augment import draw_chain

        return draw_chain(self.augment, self.config.seed, f"{self.namespace}/{index}/{slot}")

    def _length(self, source: int, index: int, slot: int) -> int:
        """Samples of a source after its augmentation (speed and reverb change the length,
        tempo about so; `render` uses the real lengths, the plan keeps a margin for that)."""
        from fractions import Fraction

        n = len(self.sources[source].audio)
        for step in self._chain(index, slot):
            if step.name == "speed":
                f = Fraction(step.params["factor"]).limit_denominator(100)
                n = -(-n * f.denominator // f.numerator)  # resample_poly: ceil(n * up / down)
            elif step.name == "tempo":
                n = int(round(n / step.params["factor"]))
            elif step.name == "reverb":
                n += int(step.params["rt60"] * SAMPLE_RATE) - 1
        return n

    def render(self, index: int) -> tuple[np.ndarray, list[tuple[float, str, float]]]:
        """(T,) float32 mixture `index` and its talkers as (onset s, text, duration s)."""
        from susurrus.data.augment import apply_chain

        plan = self.plans[index]
        audio = []
        for slot, (k, gain) in enumerate(zip(plan.sources, plan.gains_db, strict=True)):
            chain = self._chain(index, slot)
            x = self.sources[k].audio
            audio.append(mixing.level(apply_chain(x, chain) if chain else x, gain))
        lengths = [len(a) for a in audio]
        offsets = mixing.overlap_offsets(lengths, plan.fractions)
        out = mixing.mix(audio, offsets, plan.snr_db, plan.noise_seed)
        talkers = [(o / SAMPLE_RATE, self.sources[k].text, n / SAMPLE_RATE)
                   for k, o, n in zip(plan.sources, offsets, lengths, strict=True)]
        return out, talkers

    def render_many(self, indices: Sequence[int], threads: int = 8
                    ) -> list[tuple[np.ndarray, list[tuple[float, str, float]]]]:
        """`render` of several mixtures on a thread pool (numpy and scipy release the GIL)."""
        if len(indices) < 2 or threads < 2:
            return [self.render(i) for i in indices]
        with ThreadPoolExecutor(min(threads, len(indices))) as pool:
            return list(pool.map(self.render, indices))
