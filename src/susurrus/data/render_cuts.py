"""lhotse cuts whose audio lhotse makes on the fly, written to files once.

lhotse's LibriMix recipe (and `CutSet.mix`, or any cut with in-memory or URL audio) gives
`MixedCut`s: a list of LibriSpeech tracks and a WHAM noise track, mixed at load time. susurrus
reads audio files (its encoder caches, its resume fingerprints and every command name audio by
file), so such a cut is rendered once: `render_cuts` mixes each cut with lhotse itself, writes it
as 16-kHz mono FLAC and writes a susurrus manifest whose lines are the cut's utterances by the
rules of `susurrus.data.lhotse_io` (overlapping supervisions of a short cut: one mixture with a
talker per speaker). Cuts whose audio already is one file are kept as they are, not copied.

Each file is written under a temporary name and renamed, so an interrupted run resumes: a file
that exists is finished and is not mixed again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from susurrus.data.lhotse_io import cut_utterances, file_source
from susurrus.data.manifest import Utterance, write_manifest
from susurrus.errors import UserError

SAMPLE_RATE = 16_000


class RenderError(UserError):
    """A cut that cannot be rendered (no audio lhotse can load, several channels it cannot mix)."""


def render_cut(cut, path: Path) -> Path:
    """Mix `cut` with lhotse and write it to `path` (16-kHz mono FLAC), atomically."""
    import soundfile as sf

    if path.is_file():
        return path
    if cut.sampling_rate != SAMPLE_RATE:
        cut = cut.resample(SAMPLE_RATE)
    try:
        audio = np.asarray(cut.load_audio(), dtype=np.float32)
    except Exception as e:  # lhotse raises many kinds for a missing or unreadable source
        raise RenderError(f"cut {cut.id!r}: lhotse could not load its audio ({type(e).__name__}: "
                          f"{e}); check that the files its recording sources name exist") from e
    if audio.ndim == 2:  # (channels, samples): a multi-channel cut is averaged to mono
        audio = audio.mean(axis=0)
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    if peak > 1.0:  # mixing can clip; scale the whole cut rather than cut its peaks off
        audio = audio / peak * 0.99
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".partial.flac")
    sf.write(tmp, audio, SAMPLE_RATE, format="FLAC", subtype="PCM_16")
    tmp.replace(path)
    return path


def render_cuts(cuts: Iterable, out: str | Path, split: str,
                progress: Callable[[Iterable, int], Iterable] | None = None) -> Path:
    """Write `cuts` as the corpus split `out/{split}.jsonl` (audio under `out/audio/{split}/`).

    Returns the manifest's path. `progress(iterable, total)` wraps the loop (a progress bar).
    """
    out = Path(out)
    cuts = list(cuts)
    folder = out / "audio" / split
    utterances: list[Utterance] = []
    seen: set[str] = set()
    for cut in (progress(cuts, len(cuts)) if progress else cuts):
        source = file_source(cut)
        if source is not None:
            utterances.extend(cut_utterances(cut, source, cut.start))
            continue
        name = _safe(cut.id)
        if name in seen:
            raise RenderError(f"cut id {cut.id!r}: a second cut of split {split!r} would be "
                              f"written to {name}.flac (files are named by cut id, with "
                              "characters other than letters, digits, '-', '_', '.' as '_'); "
                              "give the cuts unique ids")
        seen.add(name)
        path = render_cut(cut, folder / f"{name}.flac")
        utterances.extend(cut_utterances(cut, path.resolve(), 0.0))
    return write_manifest(utterances, out / f"{split}.jsonl")


def _safe(cut_id: str) -> str:
    """A file name for a cut id (ids may hold '/' or spaces)."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in cut_id)
