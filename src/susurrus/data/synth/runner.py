"""`synthesize`: plan the files of every split, print the estimate, render in parallel with a
progress bar (resumable), write the manifests.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path

from susurrus.data.synth.conversations import conversation_job
from susurrus.data.synth.estimation import Estimate, estimate_jobs, job_seconds
from susurrus.data.synth.jobs import KINDS, OOD_SPLIT, SPLITS, Job, Kind, Rendered
from susurrus.data.synth.longform import longform_job
from susurrus.data.synth.mixtures import TALKERS, mixture_job
from susurrus.data.synth.outputs import write_split
from susurrus.data.synth.render import finished, render
from susurrus.data.synth.voices import ENGINE_WEIGHTS, VoicePool
from susurrus.errors import UsageError
from susurrus.files import write_text_atomic

# Share of the hours per split; test-ood is as large as test.
SPLIT_SHARE = {"train": 0.7, "dev": 0.1, "test": 0.1, "test-ood": 0.1}
MAX_HOURS = 1000.0


@dataclass(frozen=True)
class SynthOptions:
    """One synthesis run."""

    kind: Kind = "conversations"  # conversations | longform | mixtures
    hours: float = 1.0  # total audio over all splits (shared 70/10/10/10)
    seed: int = 0  # same seed, same scripts, voices, timings and manifests
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)  # parallel processes
    splits: tuple[str, ...] = SPLITS  # which splits to make
    engines: tuple[str, ...] = tuple(ENGINE_WEIGHTS)  # TTS engines voices may come from
    min_files: int = 2  # every split gets at least this many files, however few the hours
    noise_share: float = 0.5  # mixtures: share of mixtures with added noise
    talkers: tuple[int, ...] = TALKERS  # mixtures: talker counts drawn (1..3; default 2 or 3)
    overlapped_share: float = 0.0  # mixtures: share of multi-talker ones all starting at 0 s

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise UsageError(f"kind: one of {', '.join(KINDS)}, got {self.kind!r}")
        if not 0 < self.hours <= MAX_HOURS:
            raise UsageError(f"hours: in (0, {MAX_HOURS:g}], got {self.hours}")
        if self.workers < 1:
            raise UsageError(f"workers: at least 1, got {self.workers}")
        bad = [s for s in self.splits if s not in SPLITS]
        if bad or not self.splits or len(set(self.splits)) != len(self.splits):
            raise UsageError(f"splits: distinct names from {', '.join(SPLITS)}, got "
                             f"{list(self.splits)}")
        bad = [e for e in self.engines if e not in ENGINE_WEIGHTS]
        if bad or not self.engines:
            raise UsageError(f"engines: names from {', '.join(ENGINE_WEIGHTS)}, got "
                             f"{list(self.engines)}")
        if self.min_files < 1:
            raise UsageError(f"min_files: at least 1, got {self.min_files}")
        if not 0.0 <= self.noise_share <= 1.0:
            raise UsageError(f"noise_share: in [0, 1], got {self.noise_share}")
        if (not self.talkers or len(set(self.talkers)) != len(self.talkers)
                or any(n not in (1, 2, 3) for n in self.talkers)):
            raise UsageError(f"talkers: distinct counts from 1, 2, 3, got {list(self.talkers)}")
        if not 0.0 <= self.overlapped_share <= 1.0:
            raise UsageError(f"overlapped_share: in [0, 1], got {self.overlapped_share}")
        for ood in {s == OOD_SPLIT for s in self.splits}:
            VoicePool(held_out=ood, engines=self.engines)  # raises naming `engines` if empty


def plan(options: SynthOptions) -> dict[str, list[Job]]:
    """split -> its jobs: files are added until the split's share of the hours is reached."""
    pools = {ood: VoicePool(held_out=ood, engines=options.engines)
             for ood in {s == OOD_SPLIT for s in options.splits}}
    total_share = sum(SPLIT_SHARE[s] for s in options.splits)
    out: dict[str, list[Job]] = {}
    for split in options.splits:
        target = options.hours * 3600 * SPLIT_SHARE[split] / total_share
        voices = pools[split == OOD_SPLIT]
        jobs: list[Job] = []
        seconds = 0.0
        while seconds < target or len(jobs) < options.min_files:
            jobs.append(_make_job(options, split, len(jobs), voices))
            seconds += job_seconds(jobs[-1])
        out[split] = jobs
    return out


def _make_job(options: SynthOptions, split: str, index: int, voices: VoicePool) -> Job:
    if options.kind == "conversations":
        return conversation_job(options.seed, split, index, voices)
    if options.kind == "longform":
        return longform_job(options.seed, split, index, voices)
    return mixture_job(options.seed, split, index, voices, options.noise_share,
                       options.talkers, options.overlapped_share)


def _bar(total: int, done: int, kind: str, show: bool):
    from tqdm import tqdm

    return tqdm(total=total, initial=done, unit="file", desc=f"synth {kind}", disable=not show,
                dynamic_ncols=True)


def render_all(jobs: Sequence[Job], out_dir: Path, workers: int,
               progress: bool = True, kind: str = "") -> list[Rendered]:
    """Render every job (finished ones are read back), in parallel; results in job order."""
    results: list[Rendered | None] = [finished(j, out_dir) for j in jobs]
    todo = [i for i, r in enumerate(results) if r is None]
    initial = len(jobs) - len(todo)
    if workers == 1 or len(todo) <= 1:
        with _bar(len(jobs), initial, kind, progress) as bar:
            for i in todo:
                results[i] = render(jobs[i], out_dir)
                bar.update(1)
        return results  # type: ignore[return-value]
    pool = ProcessPoolExecutor(max_workers=min(workers, len(todo)))
    try:
        # submitting starts the workers: before the progress bar starts its monitor thread
        pending = {pool.submit(render, jobs[i], out_dir): i for i in todo}
        with _bar(len(jobs), initial, kind, progress) as bar:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    results[pending.pop(future)] = future.result()
                    bar.update(1)
    finally:  # on an error or Ctrl-C: drop what has not started; finished files stay
        pool.shutdown(wait=True, cancel_futures=True)
    return results  # type: ignore[return-value]


def _options(kind, hours, seed, workers, splits, engines, noise_share, min_files,
             talkers=TALKERS, overlapped_share=0.0) -> SynthOptions:
    return SynthOptions(kind=kind, hours=hours, seed=seed,
                        workers=workers or SynthOptions().workers, splits=tuple(splits),
                        engines=tuple(engines or ENGINE_WEIGHTS), min_files=min_files,
                        noise_share=noise_share, talkers=tuple(talkers),
                        overlapped_share=overlapped_share)


def estimate(
    kind: Kind,
    hours: float = 1.0,
    seed: int = 0,
    workers: int | None = None,
    splits: Sequence[str] = SPLITS,
    engines: Sequence[str] | None = None,
    *,
    out_dir: str | Path | None = None,
    noise_share: float = 0.5,
    min_files: int = 2,
    talkers: Sequence[int] = TALKERS,
    overlapped_share: float = 0.0,
) -> Estimate:
    """What `synthesize` with these arguments will make and take (files already finished in
    `out_dir` are not counted as work). Plans the scripts; renders nothing."""
    options = _options(kind, hours, seed, workers, splits, engines, noise_share, min_files,
                       talkers, overlapped_share)
    jobs = plan(options)
    todo = None
    if out_dir is not None:
        todo = [j for js in jobs.values() for j in js if finished(j, Path(out_dir)) is None]
    return estimate_jobs(kind, jobs, options.workers, todo)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def synthesize(
    kind: Kind,
    out_dir: str | Path,
    hours: float = 1.0,
    seed: int = 0,
    workers: int | None = None,
    splits: Sequence[str] = SPLITS,
    engines: Sequence[str] | None = None,
    *,
    noise_share: float = 0.5,
    min_files: int = 2,
    talkers: Sequence[int] = TALKERS,
    overlapped_share: float = 0.0,
    progress: bool = True,
    log: Callable[[str], None] = _log,
) -> dict[str, Path]:
    """Make a synthetic corpus in `out_dir`; returns split -> its JSONL manifest.

    Writes `audio/{split}/*.flac`, `{split}.jsonl` (DESIGN.md interchange), `cuts_{split}.jsonl.gz`
    (lhotse) and `synth.json` (the options and the estimate). Run it again to resume: finished
    files are kept, unfinished ones are redone.
    """
    options = _options(kind, hours, seed, workers, splits, engines, noise_share, min_files,
                       talkers, overlapped_share)
    out_dir = Path(out_dir)
    jobs = plan(options)
    all_jobs = [j for split in options.splits for j in jobs[split]]
    todo = [j for j in all_jobs if finished(j, out_dir) is None]
    est = estimate_jobs(kind, jobs, options.workers, todo)
    log(est.summary())
    rendered = render_all(all_jobs, out_dir, options.workers, progress, kind)
    by_id = {j.id: r for j, r in zip(all_jobs, rendered, strict=True)}
    manifests = {split: write_split(split, jobs[split], [by_id[j.id] for j in jobs[split]],
                                    out_dir) for split in options.splits}
    _write_summary(out_dir, options, est, rendered)
    hours_made = sum(r.total for r in rendered) / 3600
    log(f"synth {kind}: {hours_made:.2f} h of audio in {len(rendered)} files -> {out_dir}")
    return manifests


def _write_summary(out_dir: Path, options: SynthOptions, est: Estimate,
                   rendered: Sequence[Rendered]) -> None:
    summary = {"options": asdict(options), "estimate": asdict(est),
               "audio_hours": round(sum(r.total for r in rendered) / 3600, 4),
               "rendered_now": sum(r.fresh for r in rendered)}
    write_text_atomic(json.dumps(summary, indent=2) + "\n", out_dir / "synth.json")
