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


def save_results(name: str, results: dict, render, plot, plot_suffix: str) -> None:
    """Write RESULTS/name.json (`results`: everything the table shows), RESULTS/name.md (the
    table, `render(results)`) and the plot name_{plot_suffix}.png of `results["rows"]`; print
    the table."""
    import json

    RESULTS.mkdir(parents=True, exist_ok=True)
    table = render(results)
    print(table)
    (RESULTS / f"{name}.json").write_text(json.dumps(results, indent=1))
    (RESULTS / f"{name}.md").write_text(table)
    plot(results["rows"], RESULTS / f"{name}_{plot_suffix}.png")
    print(f"wrote {RESULTS / name}.md, .json and _{plot_suffix}.png")


def render_main(render, argv: list[str] | None = None) -> bool:
    """`script.py --render RESULTS.json`: print the table `render` makes of that JSON alone (the
    committed .md files are this output; tests/test_benchmark_tables.py checks it). Returns
    whether it was asked for."""
    import json

    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] != "--render":
        return False
    if len(argv) != 2:
        raise SystemExit("usage: --render RESULTS.json")
    sys.stdout.write(render(json.loads(Path(argv[1]).read_text())))
    return True
