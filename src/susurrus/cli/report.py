"""`susurrus report`: results JSON files from `susurrus eval` -> one Markdown report with plots."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(r: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the `report` arguments to a (sub)parser; returns it."""
    r.add_argument("results", nargs="+", type=Path, help="results*.json from `susurrus eval`")
    r.add_argument("--out", type=Path, default=None,
                   help="the report (its PNG plots go beside it); default: report.md beside "
                        "the first results file")
    r.add_argument("--overwrite", action="store_true",
                   help="replace an existing report and its plots")
    r.add_argument("--title", default="susurrus report")
    return r


def run(args: argparse.Namespace) -> int:
    """Render results JSON files into one Markdown report with plots."""
    from susurrus.evaluate.report import write_report

    out = write_report(args.results, args.out, title=args.title, overwrite=args.overwrite)
    print(out)
    return 0
