"""Manifests of a rendered corpus: the JSONL interchange (DESIGN.md) and a lhotse CutSet.

Conversations: one line per turn (start/duration in the session's file). Long-form: one line
per file, and `{split}-segments.jsonl` cuts each reading at sentence ends into pieces of at most
SEGMENT_SECONDS (turns of a session named after the file) for models that read <= 30 s.
Mixtures: one line per file with its talkers. The lhotse CutSet has one cut per file whose
supervisions are the turns / the reading / the talkers, so lhotse readers see sessions
(non-overlapping supervisions) and mixtures (overlapping ones).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from susurrus.data.manifest import Talker, Utterance, write_manifest
from susurrus.data.synth.jobs import Job, Rendered

SEGMENT_SECONDS = 20.0  # long-form segments: whole sentences, at most this long (one may be longer)


def _dedupe(items) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def utterances(job: Job, done: Rendered, out_dir: Path) -> list[Utterance]:
    """The manifest lines of one rendered job."""
    audio = out_dir / job.audio
    if job.kind == "conversations":
        return [
            Utterance(id=f"{job.id}-t{turn:02d}", audio=audio, text=part.text,
                      start=done.starts[turn], duration=done.durations[turn], session=job.id,
                      turn=turn, speaker=part.speaker, entities=part.entities,
                      meta={"voice": part.voice.id, "domain": job.domain, "split": job.split})
            for turn, part in enumerate(job.parts)
        ]
    if job.kind == "longform":
        voice = job.parts[0].voice
        return [Utterance(id=job.id, audio=audio, text=" ".join(p.text for p in job.parts),
                          speaker=voice.id,
                          meta={"voice": voice.id, "domain": job.domain, "split": job.split,
                                "articles": list(job.articles)})]
    talkers = tuple(Talker(p.speaker, done.starts[k], p.text, done.durations[k])
                    for k, p in enumerate(job.parts))
    return [Utterance(id=job.id, audio=audio, talkers=talkers,
                      entities=_dedupe(e for p in job.parts for e in p.entities),
                      meta={"split": job.split, "gains_db": [p.gain_db for p in job.parts],
                            "noise_snr": job.noise_snr})]


def segments(job: Job, done: Rendered, out_dir: Path,
             max_seconds: float = SEGMENT_SECONDS) -> list[Utterance]:
    """A long-form reading as consecutive segments of whole sentences, each at most max_seconds
    (a single longer sentence is a segment of its own), in reading order as turns of a session."""
    if job.kind != "longform":
        raise ValueError(f"segments: {job.id} is a {job.kind} job, not long-form")
    groups: list[list[int]] = []
    for k in range(len(job.parts)):
        end = done.starts[k] + done.durations[k]
        if groups and end - done.starts[groups[-1][0]] <= max_seconds:
            groups[-1].append(k)
        else:
            groups.append([k])
    voice = job.parts[0].voice
    audio = out_dir / job.audio
    out = []
    for n, group in enumerate(groups):
        first, last = group[0], group[-1]
        start = done.starts[first]
        out.append(Utterance(
            id=f"{job.id}-s{n:03d}", audio=audio, text=" ".join(job.parts[k].text for k in group),
            start=start, duration=round(done.starts[last] + done.durations[last] - start, 4),
            session=job.id, turn=n, speaker=voice.id,
            meta={"voice": voice.id, "domain": job.domain, "split": job.split}))
    return out


def _cut(job: Job, done: Rendered, out_dir: Path):
    from lhotse import AudioSource, MonoCut, Recording, SupervisionSegment

    path = (out_dir / job.audio).resolve()
    samples = int(round(done.total * 16000))
    rec = Recording(id=job.id, sources=[AudioSource(type="file", channels=[0],
                                                    source=str(path))],
                    sampling_rate=16000, num_samples=samples, duration=samples / 16000)
    sups = []
    if job.kind == "longform":
        voice = job.parts[0].voice.id
        sups.append(SupervisionSegment(
            id=job.id, recording_id=job.id, start=0.0, duration=rec.duration,
            text=" ".join(p.text for p in job.parts), speaker=voice, language="English",
            custom={"voice": voice, "domain": job.domain, "split": job.split,
                    "articles": list(job.articles)}))
    else:
        for k, p in enumerate(job.parts):
            sid = f"{job.id}-t{k:02d}" if job.kind == "conversations" else f"{job.id}-{k}"
            custom = {"entities": list(p.entities), "voice": p.voice.id, "split": job.split}
            if job.kind == "conversations":
                custom["domain"] = job.domain
            sups.append(SupervisionSegment(
                id=sid, recording_id=job.id, start=done.starts[k], duration=done.durations[k],
                text=p.text, speaker=p.speaker, language="English", custom=custom))
    return MonoCut(id=job.id, start=0.0, duration=rec.duration, channel=0, recording=rec,
                   supervisions=sups)


def write_split(split: str, jobs: Sequence[Job], rendered: Sequence[Rendered],
                out_dir: Path) -> Path:
    """`{split}.jsonl` and `cuts_{split}.jsonl.gz` in out_dir; returns the JSONL path."""
    from lhotse import CutSet

    lines = [u for job, done in zip(jobs, rendered, strict=True)
             for u in utterances(job, done, out_dir)]
    path = write_manifest(lines, out_dir / f"{split}.jsonl")
    if any(job.kind == "longform" for job in jobs):
        write_manifest([s for job, done in zip(jobs, rendered, strict=True)
                        for s in segments(job, done, out_dir)], out_dir / f"{split}-segments.jsonl")
    cuts = CutSet.from_cuts(_cut(j, d, out_dir) for j, d in zip(jobs, rendered, strict=True))
    target = out_dir / f"cuts_{split}.jsonl.gz"
    tmp = out_dir / f"cuts_{split}.partial.jsonl.gz"  # lhotse picks gzip from the suffix
    cuts.to_file(tmp)
    os.replace(tmp, target)
    return path
