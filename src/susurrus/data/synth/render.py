"""Render one job into its audio file (runs in a worker process), resumably.

A job is finished when its audio file and its done marker exist and the marker's fingerprint
matches the job: the audio is written under a `.partial` name and renamed, then the marker is
written the same way, so an interrupted job is never taken as finished and is simply redone.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from susurrus.data.synth import mixing
from susurrus.data.synth.jobs import Job, Rendered
from susurrus.data.synth.voices import VoiceSpec
from susurrus.data.tts import TTSError
from susurrus.files import write_text_atomic

SR = mixing.SAMPLE_RATE


def finished(job: Job, out_dir: Path) -> Rendered | None:
    """The job's timings if it is finished on disk (same fingerprint), else None."""
    audio, marker = out_dir / job.audio, out_dir / job.marker
    if not (audio.is_file() and marker.is_file()):
        return None
    try:
        done = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    if done.get("fingerprint") != job.fingerprint() or len(done.get("starts", ())) != len(
            job.parts):
        return None
    return Rendered(tuple(done["starts"]), tuple(done["durations"]), done["total"], fresh=False)


def speak_parts(job: Job) -> list[np.ndarray]:
    """Each part's speech (trimmed), one engine call per voice (festival starts once)."""
    by_voice: dict[VoiceSpec, list[int]] = {}
    for i, part in enumerate(job.parts):
        by_voice.setdefault(part.voice, []).append(i)
    out: list[np.ndarray | None] = [None] * len(job.parts)
    for voice, idx in by_voice.items():
        try:
            speech = voice.synthesize([job.parts[i].say for i in idx])
        except TTSError as e:
            raise TTSError(f"{job.id} ({voice.id}): {e}") from e
        for i, audio in zip(idx, speech, strict=True):
            # piper's waveform carries unseeded noise: trimming at a level threshold would make
            # its length (so the manifest's timings) vary between runs; its length alone is fixed
            out[i] = audio if voice.engine == "piper" else mixing.trim(audio)
    return out  # type: ignore[return-value]


def compose(job: Job, speech: list[np.ndarray]) -> tuple[np.ndarray, list[int]]:
    """The file's signal and each part's start sample."""
    if job.kind == "mixtures":
        sources = [mixing.level(a, p.gain_db) for a, p in zip(speech, job.parts, strict=True)]
        offsets = mixing.overlap_offsets([len(a) for a in sources], [p.gap for p in job.parts])
        return mixing.mix(sources, offsets, job.noise_snr, job.noise_seed), offsets
    levelled = [mixing.level(a) for a in speech]
    return mixing.sequence(levelled, [p.gap for p in job.parts])


def render(job: Job, out_dir: str | Path) -> Rendered:
    """Make the job's audio file and done marker (or return the finished one's timings)."""
    out_dir = Path(out_dir)
    done = finished(job, out_dir)
    if done is not None:
        return done
    speech = speak_parts(job)
    signal, starts = compose(job, speech)
    rendered = Rendered(
        starts=tuple(round(s / SR, 4) for s in starts),
        durations=tuple(round(len(a) / SR, 4) for a in speech),
        total=round(len(signal) / SR, 4),
    )
    mixing.write_atomic(signal, out_dir / job.audio)
    marker = {"fingerprint": job.fingerprint(), "starts": rendered.starts,
              "durations": rendered.durations, "total": rendered.total}
    write_text_atomic(json.dumps(marker), out_dir / job.marker)
    return rendered
