"""Real LibriMix through lhotse's recipe, rendered to a susurrus mixture corpus.

LibriMix (Cosentino et al. 2020) mixes LibriSpeech utterances with WHAM! noise by the gains in its
published metadata CSVs. lhotse's `prepare_librimix` builds those mixtures as `MixedCut`s from
LibriSpeech and WHAM! manifests instead of the ~430 GB of generated wav files (16 kHz, `max` mode
only: a mixture lasts as long as its longest talker). This module runs the whole chain from the
three folders a user downloads:

1. LibriSpeech's parts that the chosen CSVs draw on: `lhotse.recipes.prepare_librispeech`, then a
   CutSet per part named as `prepare_librimix` looks for it (`librispeech_cutset_{part}`);
2. WHAM!'s `tr`/`cv`/`tt` recordings: `lhotse.recipes.prepare_wham`;
3. `lhotse.recipes.librimix.prepare_librimix` on the chosen CSVs only;
4. each mixture rendered once to FLAC with a susurrus manifest line per mixture
   (`susurrus.data.render_cuts`): one talker per LibriSpeech speaker, both starting at 0 s.

Every step keeps what an earlier run finished, so the same command resumes. The manifests then go
to `susurrus eval` / `train` like `susurrus synth mixtures`'s: `{out}/{part}.jsonl` for the clean
mixtures (`mix_clean`) and `{out}/{part}-noisy.jsonl` with WHAM! noise (`mix_both`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from susurrus.data.render_cuts import render_cuts
from susurrus.errors import UserError

MIX_KINDS = ("clean", "noisy")
WHAM_SPLITS = ("tr", "cv", "tt")


class LibriMixError(UserError):
    """A LibriMix input folder that is missing or does not hold what the recipe needs."""


def metadata_csvs(metadata: str | Path, talkers: int) -> dict[str, Path]:
    """LibriMix part name (`test-clean`, `train-clean-100`, ...) -> its metadata CSV.

    `metadata` is LibriMix's `metadata/` folder (holding `Libri2Mix/`, `Libri3Mix/`) or one
    `Libri{n}Mix/` folder in it.
    """
    metadata = Path(metadata)
    folder = metadata if metadata.name == f"Libri{talkers}Mix" else metadata / f"Libri{talkers}Mix"
    prefix = f"libri{talkers}mix_"
    csvs = {p.stem[len(prefix):]: p for p in sorted(folder.glob(f"{prefix}*.csv"))
            if "info" not in p.stem} if folder.is_dir() else {}
    if not csvs:
        raise LibriMixError(f"{folder}: no LibriMix metadata ({prefix}<part>.csv); give "
                            "--metadata the `metadata` folder of https://github.com/JorisCos/"
                            "LibriMix (it holds Libri2Mix/ and Libri3Mix/)")
    return csvs


def prepare_librimix(librispeech: str | Path, wham: str | Path, metadata: str | Path,
                     out: str | Path, talkers: int = 2, parts: Sequence[str] = ("test-clean",),
                     mix: Sequence[str] = ("clean",), workers: int = 1,
                     progress: Callable[[Iterable, int], Iterable] | None = None,
                     log: Callable[[str], None] = print) -> dict[str, Path]:
    """Make `{out}/{part}[-noisy].jsonl` for each LibriMix part; returns split -> manifest."""
    import shutil

    from lhotse import CutSet, load_manifest
    from lhotse.recipes import prepare_librispeech, prepare_wham
    from lhotse.recipes.librimix import prepare_librimix as lhotse_librimix

    librispeech, wham, out = Path(librispeech), Path(wham), Path(out)
    if talkers not in (2, 3):
        raise LibriMixError(f"talkers: LibriMix has 2 or 3 talkers, not {talkers}")
    bad = [m for m in mix if m not in MIX_KINDS]
    if bad or not mix:
        raise LibriMixError(f"mix: {', '.join(bad) or 'none'}; choose from {', '.join(MIX_KINDS)}")
    csvs = metadata_csvs(metadata, talkers)
    missing = [p for p in parts if p not in csvs]
    if missing or not parts:
        raise LibriMixError(f"parts: {', '.join(missing) or 'none'} not in the metadata; it has "
                            f"{', '.join(csvs)}")
    for part in parts:
        if not (librispeech / part).is_dir():
            raise LibriMixError(f"{librispeech / part}: missing; give --librispeech the "
                                f"LibriSpeech folder that holds {part}/ (speaker/chapter/*.flac)")
    for split in WHAM_SPLITS:
        if not (wham / split).is_dir():
            raise LibriMixError(f"{wham / split}: missing; give --wham the wham_noise folder "
                                f"that holds {', '.join(WHAM_SPLITS)}/")

    work = out / "lhotse"
    staged = work / "metadata" / f"Libri{talkers}Mix"  # only the chosen parts' CSVs
    staged.mkdir(parents=True, exist_ok=True)
    for part in parts:
        shutil.copyfile(csvs[part], staged / csvs[part].name)
    for stale in staged.glob("*.csv"):
        if stale.name not in {csvs[p].name for p in parts}:
            stale.unlink()

    ls_dir = work / "librispeech"
    todo = [p for p in parts if not (ls_dir / f"librispeech_cutset_{p}.jsonl.gz").is_file()]
    if todo:
        log(f"LibriSpeech {', '.join(todo)}: lhotse manifests")
        prepared = prepare_librispeech(librispeech, dataset_parts=list(todo), num_jobs=workers)
        ls_dir.mkdir(parents=True, exist_ok=True)
        for part, manifests in prepared.items():
            cuts = CutSet.from_manifests(recordings=manifests["recordings"],
                                         supervisions=manifests["supervisions"])
            cuts.to_file(ls_dir / f"librispeech_cutset_{part}.jsonl.gz")
    wham_dir = work / "wham"
    if not all((wham_dir / f"wham_recordings_{s}.jsonl.gz").is_file() for s in WHAM_SPLITS):
        log("WHAM! noise: lhotse manifests")
        prepare_wham(wham, output_dir=wham_dir)

    cuts_dir = work / "cuts"
    log(f"Libri{talkers}Mix {', '.join(parts)}: mixtures (lhotse's recipe)")
    lhotse_librimix(ls_dir, wham_dir, work / "metadata", work / "noise", output_dir=cuts_dir,
                    n_src=talkers, num_jobs=workers)
    manifests: dict[str, Path] = {}
    for part in parts:
        for kind in mix:
            name = f"libri{talkers}mix_{part}" + ("_noisy" if kind == "noisy" else "")
            cuts = load_manifest(cuts_dir / f"librimix_cutset_{name}.jsonl.gz")
            split = part + ("-noisy" if kind == "noisy" else "")
            log(f"{split}: rendering {len(cuts)} mixtures")
            manifests[split] = render_cuts(cuts, out, split, progress=progress)
    return manifests
