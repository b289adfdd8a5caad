"""`susurrus --help` is instant: the parser imports no torch, transformers or numpy (issue 15)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

HEAVY = {"torch", "transformers", "numpy"}
# What the `susurrus` console script runs (pyproject: susurrus.cli.main:main).
ENTRY_POINT = "import sys; from susurrus.cli.main import main; sys.exit(main())"


def _imported(importtime_log: str) -> set[str]:
    """Top-level packages named in a `python -X importtime` log."""
    names = set()
    for line in importtime_log.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return names


@pytest.mark.parametrize("command", [[], ["transcribe"], ["eval"], ["train"], ["report"],
                                     ["models"], ["synth"], ["serve"]])
def test_help_imports_no_torch(command):
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", ENTRY_POINT, *command,
                           "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("usage: susurrus")
    imported = _imported(proc.stderr)
    assert "susurrus" in imported  # the log is read right
    assert not imported & HEAVY, f"`susurrus {' '.join(command)} --help` imports " \
                                 f"{sorted(imported & HEAVY)}"


def test_help_is_fast():
    """Measured, not raced: the bound is for a loaded 2-core machine (about 0.2 s idle)."""
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", ENTRY_POINT, "--help"], capture_output=True,
                       check=True)
        best = min(best, time.perf_counter() - t0)
    print(f"susurrus --help: {best:.2f} s")
    assert best < 3.0


def test_the_parser_offers_the_api_names():
    """The parser's light copies of the API's choices are the API's choices."""
    from susurrus import infer
    from susurrus.cli.common import (
        CONTEXT_CANDIDATES,
        ENGINE_NAMES,
        FIRST_PASS_NBEST,
        OUTPUT_FORMATS,
    )
    from susurrus.models.speech_llm.generation import GenerateOptions
    from susurrus.pretrained import DEFAULT_MODEL

    assert sorted(ENGINE_NAMES) == sorted(infer.ENGINES)
    assert OUTPUT_FORMATS == infer.FORMATS
    assert DEFAULT_MODEL == infer.DEFAULT_MODEL
    from susurrus.evaluate.decode import DecodeConfig

    assert CONTEXT_CANDIDATES == GenerateOptions().context_candidates == \
        DecodeConfig().context_candidates
    assert FIRST_PASS_NBEST == GenerateOptions().first_pass_nbest == \
        DecodeConfig().first_pass_nbest
