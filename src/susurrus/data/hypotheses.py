"""First-pass hypotheses (issue 16, lever 4): what Whisper heard, as text a speech LLM reads.

Generative error correction with audio (Whispering-LLaMA, HyPoradise): the LLM reads the audio
tokens *and* a first-pass recognizer's transcript of the same audio, so it can copy what the
first pass got right and correct it from the audio and the context. The first pass is a Whisper
model decoded greedily (temperature 0, no fallback ladder, no timestamps), the same way in
training and at inference (`susurrus.infer.first_pass`).

Training reads the hypotheses of the clean audio of every utterance, computed once and kept on
disk: `root/<first pass>-<engine>/hyps.jsonl`, one `{"key", "text"}` line per utterance, where
the key covers the audio file's identity (path, size, mtime) and the segment, like the encoder
feature cache. Lines are appended as they are decoded, so an interrupted `prepare` resumes.
By default augmented variants train with the clean audio's hypothesis. Given the augmentation
(`augment`, its seed and `max_seconds`, as the feature cache has them), variant k's hypothesis is
decoded from variant k's own audio (`augment.utterance_variant`: the same audio its features
come from) and keyed by the variant and the augmentation's fingerprint too: the first pass is
then as wrong as the audio is hard, as it is on voices the model never heard
(`model.first_pass_augmented`; measured on 2026-11-30, it did not help on held-out voices:
docs/generalization.md).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from susurrus.audio.io import SAMPLE_RATE, AudioFileNotFoundError, load_audio
from susurrus.data.manifest import Utterance

FIRST_PASS_ENGINES = ("faster-whisper", "torch")
BATCH = 16  # utterances handed to the recognizer at once (the torch engine decodes them together)


def audio_key(utt: Utterance) -> str:
    """sha256 of the audio file's identity (resolved path, size, mtime) and the segment."""
    path = Path(utt.audio).resolve()
    if not path.is_file():
        raise AudioFileNotFoundError(path, f"utterance {utt.id}: no such audio file")
    stat = path.stat()
    ident = [str(path), stat.st_size, stat.st_mtime_ns, utt.start, utt.duration]
    return hashlib.sha256(json.dumps(ident).encode()).hexdigest()


class HypothesisCache:
    """First-pass transcripts of utterances, decoded once and kept on disk as JSON lines."""

    def __init__(self, root: Path, first_pass: str, engine: str, recognizer,
                 augment=None, augment_seed: int = 0, max_seconds: float = 30.0) -> None:
        """`recognizer` decodes what is missing: anything whose `recognize(clips)` gives one
        result with a `.text` per 16-kHz clip (`susurrus.infer.first_pass`). `augment` (an
        AugmentConfig) makes augmented variants' hypotheses from their own audio."""
        slug = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{first_pass}-{engine}").strip("-")
        self.path = Path(root) / slug / "hyps.jsonl"
        self.first_pass, self.engine = first_pass, engine
        self.recognizer = recognizer
        self.augment, self.augment_seed, self.max_seconds = augment, augment_seed, max_seconds
        self._aug = None
        if augment is not None:
            from susurrus.data.augment import fingerprint

            self._aug = fingerprint(augment, augment_seed)
        self._texts: dict[str, str] | None = None

    def key(self, utt: Utterance, variant: int = 0) -> str:
        """The cache key of an utterance's `variant` (0 = the clean audio's, as before)."""
        if variant == 0:
            return audio_key(utt)
        if self._aug is None:
            raise ValueError(f"utterance {utt.id}: variant {variant} needs the augmentation "
                             "(HypothesisCache(augment=...))")
        return hashlib.sha256(f"{audio_key(utt)}/aug-{self._aug}/{variant}".encode()).hexdigest()

    def _load(self) -> dict[str, str]:
        if self._texts is None:
            self._texts = {}
            if self.path.is_file():
                for line in self.path.read_text(encoding="utf-8").splitlines():
                    try:
                        row = json.loads(line)
                        self._texts[row["key"]] = row["text"]
                    except (ValueError, KeyError, TypeError):
                        continue  # a line cut by an interruption: decoded again
        return self._texts

    def get(self, utt: Utterance, variant: int = 0) -> str:
        """The transcript of the utterance's `variant` (0 = clean), from disk or decoded now."""
        key = self.key(utt, variant)
        texts = self._load()
        if key not in texts:
            self._decode([(utt, variant)], [key])
        return texts[key]

    def prepare(self, utterances: Sequence[Utterance], progress: bool = True,
                variants: int = 0) -> int:
        """Decode every utterance (and its variants 1..`variants`) not yet cached; returns how
        many were decoded."""
        texts = self._load()
        missing: dict[str, tuple[Utterance, int]] = {}
        for u in utterances:
            for k in range(variants + 1):
                key = self.key(u, k)
                if key not in texts:
                    missing.setdefault(key, (u, k))
        keys = list(missing)
        with tqdm(total=len(keys), desc=f"first pass ({self.first_pass}, {self.engine})",
                  unit="utt", disable=not progress) as bar:
            for i in range(0, len(keys), BATCH):
                chunk = keys[i : i + BATCH]
                self._decode([missing[k] for k in chunk], chunk)
                bar.update(len(chunk))
        return len(keys)

    def _audio(self, utt: Utterance, variant: int):
        audio = load_audio(utt.audio, utt.start, utt.duration)
        if not variant:
            return audio
        from susurrus.audio.features import N_FFT  # as the feature cache: too short stays clean
        from susurrus.data.augment import utterance_variant

        return utterance_variant(audio, self.augment, self.augment_seed, utt.id, variant,
                                 int(self.max_seconds * SAMPLE_RATE), min_samples=N_FFT)

    def _decode(self, items: Sequence[tuple[Utterance, int]], keys: Sequence[str]) -> None:
        audio = [self._audio(u, k) for u, k in items]
        results = self.recognizer.recognize(audio)
        texts = self._load()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as f:
            for key, result in zip(keys, results, strict=True):
                text = result.text.strip()
                texts[key] = text
                f.write(json.dumps({"key": key, "text": text}) + "\n")
