"""What one output file is made of: a Job (planned in the main process, rendered by a worker).

A job is plain data (picklable, hashable into a fingerprint): its parts say what each voice
reads and where it goes. Everything random is decided when the job is planned, from an RNG
seeded by (seed, kind, split, index), so the plan does not depend on the number of workers or on
which files a resumed run still has to make.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from susurrus.data.synth.voices import VoiceSpec

Kind = Literal["conversations", "longform", "mixtures"]
KINDS: tuple[str, ...] = ("conversations", "longform", "mixtures")
SPLITS: tuple[str, ...] = ("train", "dev", "test", "test-ood")
OOD_SPLIT = "test-ood"


def job_rng(seed: int, kind: str, split: str, index: int) -> random.Random:
    """The RNG of one file: the same for a seed whatever else runs (string seeds are hashed)."""
    return random.Random(f"susurrus-synth/{seed}/{kind}/{split}/{index}")


@dataclass(frozen=True)
class Part:
    """One stretch of one voice's speech."""

    text: str  # reference: true spelling, cased, punctuated
    say: str  # what the TTS engine reads (respelled names, numbers in words)
    voice: VoiceSpec  # who says it
    speaker: str  # 'A'/'B' in a conversation; the voice id in mixtures and long-form
    entities: tuple[str, ...] = ()  # entity surface strings in `text`
    gap: float = 0.0  # sequence: seconds of silence before; mixture: offset after the previous
    # talker's start, as a fraction of that talker's duration (LibriMix-style random overlap)
    gain_db: float = 0.0  # mixture: level relative to the first talker


@dataclass(frozen=True)
class Job:
    """One audio file to render and the references it carries."""

    id: str  # session / mixture id, also the file stem
    kind: str  # conversations | longform | mixtures
    split: str  # train | dev | test | test-ood
    parts: tuple[Part, ...]  # in order of speaking
    domain: str = ""  # conversation domain ('news' for long-form, '' for mixtures)
    noise_snr: float | None = None  # mixtures: speech-to-noise ratio in dB; None = no noise
    noise_seed: int = 0  # mixtures: seed of the noise signal
    articles: tuple[int, ...] = ()  # long-form: line numbers in lee_background.cor

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind: one of {', '.join(KINDS)}, got {self.kind!r}")
        if not self.parts:
            raise ValueError(f"parts: job {self.id} has nothing to say")

    @property
    def audio(self) -> str:
        """The audio file, relative to the corpus folder."""
        return f"audio/{self.split}/{self.id}.flac"

    @property
    def marker(self) -> str:
        """The done marker written after the audio (holds timings and the fingerprint)."""
        return f"audio/{self.split}/{self.id}.done.json"

    def fingerprint(self) -> str:
        """Changes whenever anything that goes into the audio changes."""
        blob = json.dumps(asdict(self), sort_keys=True, ensure_ascii=False)
        return hashlib.sha1(blob.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Rendered:
    """Timings of a rendered job (from its worker, or from the done marker on resume)."""

    starts: tuple[float, ...]  # seconds: each part's start (a mixture talker's offset)
    durations: tuple[float, ...]  # seconds of each part
    total: float  # seconds of the whole file
    fresh: bool = True  # rendered now (False: found finished on disk)
