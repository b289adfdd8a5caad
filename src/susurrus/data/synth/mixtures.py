"""Overlapped multi-talker mixtures, LibriMix-style: 2 or 3 single-talker sentences in
different voices, each levelled and given a relative gain, started at random offsets that
overlap the previous talker, optionally with low-level noise.

Sentences are turns of freshly written conversation scripts of the same split, so test-ood
mixtures carry held-out entities, domains and voices too.
"""

from __future__ import annotations

from susurrus.data.synth.conversations import script
from susurrus.data.synth.jobs import Job, Part, job_rng
from susurrus.data.synth.voices import VoicePool

THREE_TALKER_SHARE = 0.4  # the rest are two-talker mixtures
GAIN_DB = 5.0  # each later talker is within +-GAIN_DB of the first
OVERLAP = (0.1, 0.7)  # a talker starts this fraction of the previous one's length after it
SNR_DB = (5.0, 20.0)  # speech-to-noise ratio when a mixture gets noise
WORDS = (6, 30)  # sentence length in words


def mixture_job(seed: int, split: str, index: int, voices: VoicePool,
                noise_share: float = 0.5) -> Job:
    """Mixture `index` of a split; `noise_share` of mixtures get noise."""
    rng = job_rng(seed, "mixtures", split, index)
    n = 3 if rng.random() < THREE_TALKER_SHARE else 2
    parts: list[Part] = []
    for k in range(n):
        _, lines = script(seed, split, index * 3 + k, namespace="mixtures/script")
        fit = [ln for ln in lines if WORDS[0] <= len(ln.text.split()) <= WORDS[1]] or lines
        line = rng.choice(fit)
        voice = voices.draw(rng, avoid=[p.voice for p in parts])
        # talkers are told apart by speaker: a voice drawn twice (tiny pools) gets a suffix
        speaker = voice.id if all(p.voice != voice for p in parts) else f"{voice.id}~{k}"
        parts.append(Part(
            text=line.text, say=line.say, voice=voice, speaker=speaker, entities=line.entities,
            gap=0.0 if k == 0 else round(rng.uniform(*OVERLAP), 3),
            gain_db=0.0 if k == 0 else round(rng.uniform(-GAIN_DB, GAIN_DB), 2)))
    snr = round(rng.uniform(*SNR_DB), 1) if rng.random() < noise_share else None
    return Job(id=f"{split}-m{index:05d}", kind="mixtures", split=split, parts=tuple(parts),
               noise_snr=snr, noise_seed=rng.randrange(2**31))
