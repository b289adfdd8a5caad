"""`susurrus synth`: the arguments and the command, a thin wrapper over `synthesize`.

Wiring into the main parser is one line:
    add_synth_arguments(sub.add_parser("synth", help=...)).set_defaults(func=run_synth)
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from susurrus.data.synth.jobs import KINDS, SPLITS
from susurrus.data.synth.voices import ENGINE_WEIGHTS


def _names(allowed: tuple[str, ...]):
    def parse(value: str) -> tuple[str, ...]:
        names = tuple(v.strip() for v in value.split(",") if v.strip())
        bad = [n for n in names if n not in allowed]
        if bad or not names:
            raise argparse.ArgumentTypeError(f"{value!r}: comma-separated names from "
                                             f"{', '.join(allowed)}")
        return names
    return parse


def _counts(value: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r}: comma-separated talker counts, e.g. "
                                         "1,2,3") from None


def add_synth_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the `synth` arguments to a (sub)parser; returns it."""
    p.add_argument("kind", choices=KINDS,
                   help="conversations: two-party, entity-rich dialogues; longform: news "
                        "bulletins read aloud; mixtures: overlapped talkers (2-3, or 1-3 "
                        "with --talkers)")
    p.add_argument("--out", type=Path, required=True,
                   help="corpus folder (audio/, {split}.jsonl, cuts_{split}.jsonl.gz); "
                        "run again with the same arguments to resume")
    p.add_argument("--hours", type=float, default=1.0,
                   help="total audio over all splits, shared 70/10/10/10 (default 1)")
    p.add_argument("--seed", type=int, default=0, help="same seed, same corpus (default 0)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="parallel rendering processes (default: all cores)")
    p.add_argument("--splits", type=_names(SPLITS), default=SPLITS,
                   help=f"comma-separated subset of {','.join(SPLITS)} (default: all)")
    p.add_argument("--engines", type=_names(tuple(ENGINE_WEIGHTS)), default=tuple(ENGINE_WEIGHTS),
                   help="comma-separated TTS engines voices come from (default: all; piper is "
                        "the slowest)")
    p.add_argument("--noise-share", type=float, default=0.5,
                   help="mixtures: share of mixtures with added noise (default 0.5)")
    p.add_argument("--talkers", type=_counts, default=(2, 3),
                   help="mixtures: comma-separated talker counts drawn in equal shares, from "
                        "1,2,3 (default 2,3: 60%% two, 40%% three)")
    p.add_argument("--overlapped-share", type=float, default=0.0,
                   help="mixtures: share of multi-talker mixtures whose talkers all start at "
                        "0 s, as LibriMix's (default 0)")
    p.add_argument("--min-files", type=int, default=2,
                   help="at least this many files per split, however few the hours (default 2)")
    p.add_argument("--dry-run", action="store_true",
                   help="print what the run would make and take, then stop")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def run_synth(args: argparse.Namespace) -> int:
    """Print the estimate, synthesize, print the manifests.

    A bad option, a missing engine or voice, no gensim data: a UserError (one line, exit 2).
    """
    from susurrus.data.synth.runner import SynthOptions, estimate, synthesize

    kwargs = dict(hours=args.hours, seed=args.seed, workers=args.workers, splits=args.splits,
                  engines=args.engines, noise_share=args.noise_share, min_files=args.min_files,
                  talkers=args.talkers, overlapped_share=args.overlapped_share)
    SynthOptions(kind=args.kind, **kwargs)  # a bad option: refused before any work
    if args.dry_run:
        print(estimate(args.kind, out_dir=args.out, **kwargs).summary())
        return 0
    manifests = synthesize(args.kind, args.out, progress=not args.quiet, **kwargs)
    for split, path in manifests.items():
        print(f"{split}\t{path}")
    return 0
