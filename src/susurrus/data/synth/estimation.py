"""What a synthesis run will take, printed before it starts: files, utterances, audio hours and
wall time, from per-engine speeds measured on our 2-core machine (`measure_speeds` re-measures).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from susurrus.data.synth.jobs import Job
from susurrus.data.synth.voices import VoiceSpec

# Speech rate at the engine's own pace (175 wpm): characters of TTS text per second of audio.
CHARS_PER_SECOND: Mapping[str, float] = {"espeak-ng": 17.0, "flite": 16.5, "festival": 16.0,
                                         "piper": 18.5}
# Seconds of audio per CPU second (the engine's processes included), measured with
# `measure_speeds` on entity-dense turns on our 2-core machine; keyed by base voice, else engine.
REAL_TIME: Mapping[str, float] = {
    "espeak-ng": 128.0, "flite/kal16": 160.0, "flite": 28.0, "festival/kal_diphone": 85.0,
    "festival/ked_diphone": 90.0, "festival": 14.5, "piper": 5.0}
FESTIVAL_START_SECONDS = 0.4  # festival starts once per voice per file
PART_SECONDS = 0.03  # per part: trim, level, resample; per-file FLAC and marker are in it too
WORKER_START_SECONDS = 1.0  # per worker: imports (scipy, soundfile)
PIPER_LOAD_SECONDS = 6.0  # per worker that speaks with piper: the ONNX session


def real_time(voice: VoiceSpec) -> float:
    return REAL_TIME.get(voice.base, REAL_TIME[voice.engine])


def speech_seconds(text: str, engine: str, speed: int) -> float:
    """Predicted seconds of speech for a text (before the engine has run)."""
    return len(text) / CHARS_PER_SECOND[engine] * 175.0 / speed


def job_seconds(job: Job) -> float:
    """Predicted length of the job's audio file."""
    lengths = [speech_seconds(p.say, p.voice.engine, p.voice.speed) for p in job.parts]
    if job.kind != "mixtures":
        return sum(lengths) + sum(p.gap for p in job.parts)
    end, start = lengths[0], 0.0
    for k in range(1, len(lengths)):
        start += job.parts[k].gap * lengths[k - 1]
        end = max(end, start + lengths[k])
    return end


def job_cpu_seconds(job: Job) -> float:
    """Predicted CPU seconds to render the job."""
    cpu = sum(speech_seconds(p.say, p.voice.engine, p.voice.speed) / real_time(p.voice)
              for p in job.parts)
    festival_voices = {p.voice for p in job.parts if p.voice.engine == "festival"}
    return cpu + FESTIVAL_START_SECONDS * len(festival_voices) + PART_SECONDS * len(job.parts)


@dataclass(frozen=True)
class Estimate:
    """What a run will make and how long it should take."""

    kind: str  # conversations | longform | mixtures
    workers: int  # processes rendering in parallel
    files: Mapping[str, int]  # split -> audio files
    utterances: Mapping[str, int]  # split -> manifest lines
    audio_seconds: Mapping[str, float]  # split -> predicted seconds of audio
    engine_seconds: Mapping[str, float]  # engine -> predicted seconds of audio it speaks
    todo_files: int  # files still to render (the others are finished on disk)
    cpu_seconds: float  # predicted CPU seconds for the files still to render
    wall_seconds: float = field(default=0.0)  # predicted wall time with `workers` processes
    notes: tuple[str, ...] = ()  # anything else worth knowing before the run

    def summary(self) -> str:
        hours = sum(self.audio_seconds.values()) / 3600
        lines = [f"synth {self.kind}: {sum(self.files.values())} files, "
                 f"{sum(self.utterances.values())} utterances, ~{hours:.2f} h of audio"]
        for split, n in self.files.items():
            lines.append(f"  {split:<9} {n:>6} files {self.utterances[split]:>7} utterances "
                         f"{self.audio_seconds[split] / 3600:>7.2f} h")
        total = sum(self.engine_seconds.values()) or 1.0
        lines.append("  engines: " + ", ".join(
            f"{e} {s / total:.0%}" for e, s in sorted(self.engine_seconds.items())))
        done = sum(self.files.values()) - self.todo_files
        lines.append(f"  to render: {self.todo_files} files ({done} already finished); "
                     f"estimated {_clock(self.wall_seconds)} with {self.workers} worker(s)")
        return "\n".join(lines + [f"  note: {n}" for n in self.notes])


def _clock(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


def estimate_jobs(kind: str, jobs: Mapping[str, Sequence[Job]], workers: int,
             todo: Iterable[Job] | None = None) -> Estimate:
    """Estimate for `jobs` (split -> jobs); `todo` = those not finished yet (default: all)."""
    engine_seconds: Counter[str] = Counter()
    audio: dict[str, float] = {}
    for split, js in jobs.items():
        audio[split] = 0.0
        for job in js:
            audio[split] += job_seconds(job)
            for p in job.parts:
                engine_seconds[p.voice.engine] += speech_seconds(p.say, p.voice.engine,
                                                                 p.voice.speed)
    todo = list(todo) if todo is not None else [j for js in jobs.values() for j in js]
    cpu = sum(job_cpu_seconds(j) for j in todo)
    wall = cpu / max(1, min(workers, len(todo) or 1))
    if todo:
        piper = any(p.voice.engine == "piper" for j in todo for p in j.parts)
        wall += WORKER_START_SECONDS + (PIPER_LOAD_SECONDS if piper else 0.0)
    notes = []
    for split, js in jobs.items():
        read = [a for j in js for a in j.articles]
        if len(read) > len(set(read)):
            notes.append(f"{split}: more hours than its {len(set(read))} articles; each is read "
                         f"{len(read) / len(set(read)):.1f} times on average, by other voices")
    return Estimate(kind=kind, workers=workers, files={s: len(js) for s, js in jobs.items()},
                    utterances={s: sum(1 if j.kind != "conversations" else len(j.parts)
                                       for j in js) for s, js in jobs.items()},
                    audio_seconds=audio, engine_seconds=dict(engine_seconds),
                    todo_files=len(todo), cpu_seconds=cpu, wall_seconds=wall, notes=tuple(notes))


def _cpu_seconds() -> float:
    import resource

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def measure_speeds(texts: Sequence[str], engines: Sequence[str] | None = None,
                   ) -> dict[str, dict[str, float]]:
    """Render `texts` once with every base voice of the catalogue (in this process):
    engine -> {'real_time': audio seconds per CPU second, 'chars_per_second': at 175 wpm}.
    CPU time (this process and the engines' processes) does not depend on what else runs."""
    from susurrus.data.synth.voices import catalogue

    seen: set[str] = set()
    stats: dict[str, list[float]] = {}  # engine -> [audio s, CPU s, chars x 175 / speed]
    for voice in catalogue():
        if (engines and voice.engine not in engines) or voice.base in seen:
            continue
        seen.add(voice.base)
        start = _cpu_seconds()
        audio = voice.synthesize(texts)
        s = stats.setdefault(voice.engine, [0.0, 0.0, 0.0])
        s[0] += sum(len(a) for a in audio) / 16000
        s[1] += _cpu_seconds() - start
        s[2] += sum(len(t) for t in texts) * 175.0 / voice.speed
    return {e: {"real_time": a / w, "chars_per_second": c / a} for e, (a, w, c) in stats.items()}
