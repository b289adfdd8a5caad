"""`susurrus prepare`: corpora that other tools define, made into susurrus manifests.

- `librimix`: real LibriMix from the LibriSpeech, WHAM! and LibriMix-metadata folders, through
  lhotse's recipe (`susurrus.data.librimix`);
- `cuts`: any lhotse CutSet whose audio lhotse mixes on the fly (`MixedCut`s: lhotse's own
  `lhotse prepare librimix`, `CutSet.mix`), written to files once (`susurrus.data.render_cuts`).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def _names(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the `prepare` arguments to a (sub)parser; returns it."""
    p.add_argument("kind", choices=("librimix", "cuts"),
                   help="librimix: LibriMix mixtures from LibriSpeech + WHAM! + LibriMix's "
                        "metadata; cuts: render a lhotse CutSet of mixed cuts to files")
    p.add_argument("cuts", nargs="?", type=Path,
                   help="cuts: the lhotse CutSet (.jsonl.gz) to render")
    p.add_argument("--out", type=Path, required=True,
                   help="corpus folder: {split}.jsonl and audio/{split}/ (run the same command "
                        "again to resume)")
    p.add_argument("--split", default="",
                   help="cuts: the split's name (default: the CutSet file's name)")
    p.add_argument("--librispeech", type=Path, help="librimix: the LibriSpeech folder "
                   "(holding test-clean/, ...)")
    p.add_argument("--wham", type=Path, help="librimix: the wham_noise folder (tr/, cv/, tt/)")
    p.add_argument("--metadata", type=Path, help="librimix: LibriMix's metadata folder "
                   "(Libri2Mix/, Libri3Mix/)")
    p.add_argument("--talkers", type=int, default=2, choices=(2, 3),
                   help="librimix: Libri2Mix or Libri3Mix (default 2)")
    p.add_argument("--parts", type=_names, default=("test-clean",),
                   help="librimix: comma-separated parts (default test-clean; also dev-clean, "
                        "train-clean-100, train-clean-360)")
    p.add_argument("--mix", type=_names, default=("clean",),
                   help="librimix: clean (mix_clean), noisy (mix_both: with WHAM! noise) or "
                        "clean,noisy (default clean)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="librimix: lhotse's parallel jobs (default: all cores)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def run(args: argparse.Namespace) -> int:
    """Prepare the corpus and print each split's manifest."""
    from tqdm import tqdm

    from susurrus.errors import UserError

    def progress(items, total):
        return tqdm(items, total=total, desc="render", unit="cut", disable=args.quiet)

    def log(line: str) -> None:
        if not args.quiet:
            print(line, flush=True)

    if args.kind == "librimix":
        from susurrus.data.librimix import prepare_librimix

        missing = [f"--{n}" for n in ("librispeech", "wham", "metadata") if not getattr(args, n)]
        if missing or args.cuts:
            raise UserError("prepare librimix takes no CutSet and needs "
                            f"{', '.join(missing) or '--librispeech, --wham and --metadata'}")
        manifests = prepare_librimix(args.librispeech, args.wham, args.metadata, args.out,
                                     talkers=args.talkers, parts=args.parts, mix=args.mix,
                                     workers=args.workers, progress=progress, log=log)
    else:
        from susurrus.data.lhotse_io import load_cuts
        from susurrus.data.render_cuts import render_cuts

        if args.cuts is None:
            raise UserError("prepare cuts needs the CutSet file to render")
        split = args.split or args.cuts.name.split(".")[0]
        manifests = {split: render_cuts(load_cuts(args.cuts), args.out, split,
                                        progress=progress)}
    for split, manifest in manifests.items():
        print(f"{split}\t{manifest}")
    return 0
