"""`susurrus models`: the embedded model names, what they are, whether they are installed."""

from __future__ import annotations

import argparse


def add_arguments(m: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the `models` arguments to a (sub)parser; returns it."""
    m.add_argument("--verify", action="store_true", help="convert if needed and check checksums")
    return m


def run(args: argparse.Namespace) -> int:
    """List the embedded model names, what they are, and whether their package is installed."""
    from susurrus.pretrained import EMBEDDED, resolve

    print(f"{'name':<24} {'kind':<17} {'installed':<9} {'package':<22} description")
    for m in EMBEDDED.values():
        state = "yes" if m.installed else "no"
        if args.verify and m.installed:
            resolve(m.name)  # converts if needed and checks the cache's checksums
            state = "verified"
        print(f"{m.name:<24} {m.kind:<17} {state:<9} {m.package:<22} {m.description}")
    return 0
