"""What the benchmark scripts share: running `susurrus` commands and the demo's test corpus."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
RECIPE = ROOT / "recipes" / "speech_llm" / "default.yaml"


def run(cmd: list[str]) -> None:
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)


def susurrus(*args: str) -> list[str]:
    return [sys.executable, "-m", "susurrus.cli.main", *args]


def ensure_test_data(test_dir: Path) -> None:
    """The corpus `make demo` uses (same seed, same splits), synthesized if missing."""
    if not (test_dir / "test.jsonl").exists() or not (test_dir / "test-ood.jsonl").exists():
        run(susurrus("synth", "conversations", "--out", str(test_dir), "--hours", "0.1",
                     "--splits", "test,test-ood", "--seed", "0"))


def save_results(name: str, table: str, rows: list[dict], plot, plot_suffix: str) -> None:
    """Print the table; write RESULTS/name.md, name.json and the plot name_{plot_suffix}.png."""
    import json

    RESULTS.mkdir(parents=True, exist_ok=True)
    print(table)
    (RESULTS / f"{name}.md").write_text(table)
    (RESULTS / f"{name}.json").write_text(json.dumps(rows, indent=1))
    plot(rows, RESULTS / f"{name}_{plot_suffix}.png")
    print(f"wrote {RESULTS / name}.md, .json and _{plot_suffix}.png")
