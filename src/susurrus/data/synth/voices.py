"""The voice catalogue: every (engine, voice, speed, pitch) a synthetic speaker can have.

Base voices (an engine's voice, or an espeak-ng accent with a variant) are either in-domain or
held out; held-out ones speak only in `test-ood`, so that split has voices train never hears.
Each base voice comes at a few speeds and pitches, so a base voice yields several speakers.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from susurrus.data.tts import ENGINES, TTSEngine, synthesize_batch
from susurrus.errors import UsageError

ESPEAK_ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan",
                  "en-us-nyc", "en-029", "en-gb-x-gbcwmd")
ESPEAK_VARIANTS = ("", "+m1", "+m2", "+m3", "+m4", "+m5", "+m6", "+m7",
                   "+f1", "+f2", "+f3", "+f4", "+f5")
FLITE_VOICES = ("kal16", "awb", "rms", "slt")
FESTIVAL_VOICES = ("kal_diphone", "ked_diphone", "cmu_us_slt_arctic_hts")
PIPER_VOICES = ("joe",)
# Held out for test-ood (issue: "voices that train never sees"): two espeak-ng accents and one
# voice each of flite and festival. piper has one voice, kept in-domain.
HELD_OUT_BASES = frozenset({"espeak-ng/en-029", "espeak-ng/en-gb-x-gbcwmd", "flite/rms",
                            "festival/ked_diphone"})
# Share of speakers per engine when all are allowed: piper is ~30x slower than espeak-ng on a
# core, so it stays a small share of a default corpus.
ENGINE_WEIGHTS: Mapping[str, float] = {"espeak-ng": 0.35, "flite": 0.3, "festival": 0.27,
                                       "piper": 0.08}


@dataclass(frozen=True)
class VoiceSpec:
    """One synthetic speaker: an engine voice at a speed and pitch."""

    engine: TTSEngine  # espeak-ng | flite | festival | piper
    voice: str  # engine voice name ('en-gb-scotland+m3', 'slt', 'kal_diphone', 'joe')
    speed: int = 175  # words per minute (175 = the engine's own pace)
    pitch: float = 0.0  # -1 (low) .. 1 (high); 0 for piper
    noise: float | None = None  # piper's generator noise; None for other engines

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ValueError(f"engine: one of {', '.join(ENGINES)}, got {self.engine!r}")
        if not 60 <= self.speed <= 450:
            raise ValueError(f"speed: words per minute in [60, 450], got {self.speed}")
        if not -1.0 <= self.pitch <= 1.0:
            raise ValueError(f"pitch: in [-1, 1], got {self.pitch}")

    @property
    def base(self) -> str:
        """The voice without speed/pitch; espeak-ng accent without its variant for hold-out."""
        return f"{self.engine}/{self.voice}"

    @property
    def held_out(self) -> bool:
        accent = self.base.split("+")[0]
        return self.base in HELD_OUT_BASES or accent in HELD_OUT_BASES

    @property
    def id(self) -> str:
        """A stable name, e.g. 'espeak-ng/en-gb+m3/s160/p+0.40' (the manifest's `voice`)."""
        knob = f"n{self.noise:.2f}" if self.noise is not None else f"p{self.pitch:+.2f}"
        return f"{self.base}/s{self.speed}/{knob}"

    def synthesize(self, texts: Sequence[str]):
        """16 kHz float32 arrays, one per text."""
        return synthesize_batch(texts, self.engine, self.voice, self.speed, self.pitch,
                                self.noise)


def _stable_pick(key: str, options: Sequence, k: int) -> list:
    """k options chosen by a hash of `key`: the catalogue is the same for every seed."""
    rng = random.Random(int(hashlib.sha1(key.encode()).hexdigest(), 16))
    return rng.sample(list(options), k)


def catalogue() -> tuple[VoiceSpec, ...]:
    """Every speaker, in a fixed order."""
    out: list[VoiceSpec] = []
    grid = [(s, p) for s in (145, 160, 175, 190) for p in (-0.6, -0.2, 0.2, 0.6)]
    for accent in ESPEAK_ACCENTS:
        for variant in ESPEAK_VARIANTS:
            for speed, pitch in _stable_pick(accent + variant, grid, 2):
                out.append(VoiceSpec("espeak-ng", accent + variant, speed, pitch))
    for engine, names in (("flite", FLITE_VOICES), ("festival", FESTIVAL_VOICES)):
        for name in names:
            out += [VoiceSpec(engine, name, s, p)
                    for s in (155, 175, 195) for p in (-0.4, 0.0, 0.4)]
    for name in PIPER_VOICES:
        out += [VoiceSpec("piper", name, s, 0.0, n) for s in (155, 175, 195) for n in (0.5, 0.8)]
    return tuple(out)


class VoicePool:
    """The speakers one split may use, drawn engine first (by weight), then uniformly."""

    def __init__(self, held_out: bool, engines: Sequence[str] | None = None) -> None:
        engines = tuple(engines or ENGINE_WEIGHTS)
        unknown = [e for e in engines if e not in ENGINES]
        if unknown:
            raise UsageError(f"engines: unknown {unknown}; choose from {', '.join(ENGINES)}")
        self.by_engine: dict[str, list[VoiceSpec]] = {}
        for v in catalogue():
            if v.engine in engines and v.held_out == held_out:
                self.by_engine.setdefault(v.engine, []).append(v)
        if not self.by_engine:
            which = "held-out (test-ood)" if held_out else "in-domain"
            raise UsageError(f"engines: {', '.join(engines)} have no {which} voices; "
                             "add espeak-ng, flite or festival, or leave out that split")
        self.engines = sorted(self.by_engine)
        self.weights = [ENGINE_WEIGHTS[e] for e in self.engines]

    def draw(self, rng: random.Random, avoid: Sequence[VoiceSpec] = ()) -> VoiceSpec:
        """A speaker whose base voice differs from those in `avoid` (when the pool allows)."""
        taken = {v.base for v in avoid}
        for _ in range(20):
            engine = rng.choices(self.engines, self.weights)[0]
            voice = rng.choice(self.by_engine[engine])
            if voice.base not in taken:
                return voice
        return voice

    @property
    def voices(self) -> list[VoiceSpec]:
        return [v for e in self.engines for v in self.by_engine[e]]
