"""The package's shape: no import cycles, imports flow down the pipeline, `import susurrus` light.

Every `import` statement counts, at module level or inside a function: a lazy import still
couples two modules, and a cycle of lazy imports is a cycle all the same.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import susurrus

SRC = Path(susurrus.__file__).parent

# Layers, low to high (DESIGN.md: imports flow left to right only). A module may import its own
# layer and the layers below it, never one above.
LAYERS = [
    {"files", "fields", "errors", "context", "preflight", "audio", "data", "pretrained",
     "metrics"},
    {"encoders", "compression"},
    {"models", "losses"},
    {"train", "evaluate", "infer"},
    {"cli", "serve", "testing"},  # testing: dummies for tests, which nothing in src imports
]


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in SRC.rglob("*.py")}


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """susurrus modules imported by `name` (a `from pkg import sub` counts as `pkg.sub`)."""
    is_pkg = path.name == "__init__.py"
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = name.split(".") if is_pkg else name.split(".")[:-1]
                pkg = pkg[: len(pkg) - node.level + 1]
                base = ".".join(pkg + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                       for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in modules:  # `import susurrus.a.b` -> the deepest module
                t = t.rpartition(".")[0]
            if t and t != name:
                out.add(t)
    return out


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _layer(module: str) -> int | None:
    top = module.split(".")[1] if "." in module else ""
    return next((i for i, names in enumerate(LAYERS) if top in names), None)


def test_the_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_no_import_cycles_in_src():
    cycles = _cycles(_graph())
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_every_top_level_part_has_a_layer():
    tops = {m.split(".")[1] for m in _modules() if m.count(".") >= 1}
    assert not [t for t in tops if _layer(f"susurrus.{t}") is None]


def test_imports_flow_down_the_pipeline():
    upward = [f"{a} imports {b}" for a, deps in _graph().items() for b in deps
              if _layer(a) is not None and _layer(b) is not None and _layer(b) > _layer(a)]
    assert not upward, "imports against the pipeline:\n" + "\n".join(sorted(upward))


def test_import_susurrus_loads_no_torch():
    code = ("import sys, susurrus; heavy = [m for m in ('torch', 'transformers', 'numpy') "
            "if m in sys.modules]; print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_every_shipped_model_is_a_small_adapter_with_its_recipe_and_command():
    """Shipped weights are small trained adapters (<= 25 MB each, issues 16 and 17), each with
    the recipe it was trained with and a README naming the command that made it."""
    shipped = sorted(p for p in (SRC / "models" / "shipped").iterdir() if p.is_dir()
                     and not p.name.startswith("__"))
    assert shipped
    for folder in shipped:
        size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
        assert size <= 25_000_000, f"{folder.name}: {size / 1e6:.1f} MB"
        assert (folder / "recipe.yaml").is_file(), folder.name
        readme = (folder / "README.md").read_text(encoding="utf-8")
        assert "susurrus " in readme or "benchmarks/" in readme, folder.name
