"""Overlapped multi-talker mixtures, LibriMix-style: 2 or 3 single-talker sentences in
different voices, each levelled and given a relative gain, started at random offsets that
overlap the previous talker, optionally with low-level noise.

For a talker-count head (paper 003, issue 18) `talkers` may also ask for 1-talker "mixtures"
(one sentence, still with its noise) and any shares of 1, 2 and 3 talkers (equal shares of the
counts given; the default (2, 3) keeps the original 60/40 draw, so old corpora stay the same).
`overlapped_share` of the multi-talker mixtures are fully overlapped: every talker starts at
0 s, as LibriMix's mixtures do (its `max` mode: the file lasts as long as the longest talker;
`min` would cut talkers short and their references with them, so it is not offered).

Sentences are turns of freshly written conversation scripts of the same split, so test-ood
mixtures carry held-out entities, domains and voices too.
"""

from __future__ import annotations

from susurrus.data.synth.conversations import script
from susurrus.data.synth.jobs import Job, Part, job_rng
from susurrus.data.synth.voices import VoicePool

THREE_TALKER_SHARE = 0.4  # the rest are two-talker mixtures (with the default TALKERS)
TALKERS = (2, 3)  # the talker counts mixtures have by default
GAIN_DB = 5.0  # each later talker is within +-GAIN_DB of the first
OVERLAP = (0.1, 0.7)  # a talker starts this fraction of the previous one's length after it
SNR_DB = (5.0, 20.0)  # speech-to-noise ratio when a mixture gets noise
WORDS = (6, 30)  # sentence length in words


def mixture_job(seed: int, split: str, index: int, voices: VoicePool,
                noise_share: float = 0.5, talkers: tuple[int, ...] = TALKERS,
                overlapped_share: float = 0.0) -> Job:
    """Mixture `index` of a split; `noise_share` of mixtures get noise; its talker count drawn
    from `talkers`; `overlapped_share` of those with several talkers start all at 0 s."""
    rng = job_rng(seed, "mixtures", split, index)
    if tuple(talkers) == TALKERS:
        n = 3 if rng.random() < THREE_TALKER_SHARE else 2  # the original draw: same corpora
    else:
        n = rng.choice(sorted(talkers))
    overlapped = overlapped_share > 0 and n > 1 and rng.random() < overlapped_share
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
            gap=0.0 if k == 0 or overlapped else round(rng.uniform(*OVERLAP), 3),
            gain_db=0.0 if k == 0 else round(rng.uniform(-GAIN_DB, GAIN_DB), 2)))
    snr = round(rng.uniform(*SNR_DB), 1) if rng.random() < noise_share else None
    return Job(id=f"{split}-m{index:05d}", kind="mixtures", split=split, parts=tuple(parts),
               noise_snr=snr, noise_seed=rng.randrange(2**31))
