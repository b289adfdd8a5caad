"""Rewrite the results tables in README.md, docs/ and benchmarks/README.md from the benchmarks'
outputs, so that no results table is edited by hand.

Each benchmark writes `benchmarks/results/NAME.json` and renders `NAME.md` from it (the renderers
are tested to reproduce the committed `.md` from the committed JSON). A block in a document

    <!-- table: benchmarks/results/compression.md
         columns: system | WER test (95% CI) | RTF
         rows: Whisper tiny.en (torch) | speech LLM (none, {'k': 1}) -->
    (anything: replaced)
    <!-- /table -->

is replaced by that file: whole (its table and notes) without `columns:`/`rows:`/`table:`, else
only its first table (`table: N`: its N-th) cut down to those columns (by header) and rows (by
first cell), in the order given.

    python scripts/docs_tables.py           # rewrite the blocks after a benchmark ran
    python scripts/docs_tables.py --check   # exit 1 naming the blocks that are out of date
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"<!-- table: (?P<spec>.*?)-->\n(?P<body>.*?)<!-- /table -->", re.DOTALL)
OPEN = "<!-- table:"


class TableSpecError(Exception):
    """A table block that cannot be rendered; the message names the document and line."""


@dataclass(frozen=True)
class Spec:
    source: str  # repository-relative path of the benchmark's Markdown output
    columns: tuple[str, ...] = ()  # headers to keep, in order (empty: the whole file)
    rows: tuple[str, ...] = ()  # first cells of the rows to keep, in order (empty: all rows)
    table: int = 0  # which table of the file (1-based; 0: the whole file unless columns/rows)


def documents(root: Path = ROOT) -> list[Path]:
    """The documents whose table blocks this script keeps: README.md, docs/**, benchmarks/."""
    docs = [root / "README.md", *sorted((root / "docs").rglob("*.md")),
            root / "benchmarks" / "README.md"]
    return [d for d in docs if d.exists()]


def parse_spec(text: str, where: str) -> Spec:
    """'PATH\\n columns: a | b\\n rows: x | y' -> Spec; unknown keys are errors."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        raise TableSpecError(f"{where}: the table block names no file")
    fields: dict[str, tuple[str, ...]] = {}
    for line in lines[1:]:
        key, sep, value = line.partition(":")
        if not sep or key.strip() not in ("columns", "rows", "table"):
            raise TableSpecError(f"{where}: {line!r}: expected 'columns: A | B', 'rows: A | B' "
                                 "or 'table: N'")
        fields[key.strip()] = tuple(v.strip() for v in value.split(" | "))
    table = fields.get("table", ("1",))
    if len(table) != 1 or not table[0].isdigit() or int(table[0]) < 1:
        raise TableSpecError(f"{where}: 'table: {' | '.join(table)}': expected a number >= 1")
    return Spec(lines[0], fields.get("columns", ()), fields.get("rows", ()),
                int(table[0]) if "table" in fields else 0)


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def cut_table(markdown: str, spec: Spec, where: str) -> str:
    """The first (spec.table-th) Markdown table in `markdown`, with only spec.columns and
    spec.rows."""
    lines = markdown.splitlines()
    starts = [i for i, line in enumerate(lines)
              if line.startswith("|") and (i == 0 or not lines[i - 1].startswith("|"))]
    which = max(spec.table, 1)
    if len(starts) < which:
        raise TableSpecError(f"{where}: {spec.source} holds {len(starts)} Markdown table(s), "
                             f"not {which}")
    start = starts[which - 1]
    end = start
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    header, align, body = _cells(lines[start]), _cells(lines[start + 1]), lines[start + 2:end]
    columns = spec.columns or tuple(header)
    missing = [c for c in columns if c not in header]
    if missing:
        raise TableSpecError(f"{where}: {spec.source} has no column {missing[0]!r}; its columns: "
                             f"{' | '.join(header)}")
    keep = [header.index(c) for c in columns]
    by_name = {_cells(line)[0]: _cells(line) for line in body}
    names = spec.rows or tuple(by_name)
    missing = [r for r in names if r not in by_name]
    if missing:
        raise TableSpecError(f"{where}: {spec.source} has no row {missing[0]!r}; its rows: "
                             f"{' | '.join(by_name)}")
    out = [_row([header[k] for k in keep]), "|" + "|".join(align[k] for k in keep) + "|"]
    out += [_row([by_name[name][k] for k in keep]) for name in names]
    return "\n".join(out)


def render(spec: Spec, root: Path, where: str) -> str:
    """What the block holds between its markers: the file, or the cut table."""
    path = (root / spec.source).resolve()
    if not path.is_relative_to(root.resolve()) or not path.is_file():
        raise TableSpecError(f"{where}: {spec.source} is not a file in the repository")
    text = path.read_text(encoding="utf-8").strip()
    content = cut_table(text, spec, where) if spec.columns or spec.rows or spec.table else text
    return f"\n{content}\n\n"


def rewrite(text: str, root: Path, name: str) -> str:
    """`text` with every table block rendered afresh (`name` for messages)."""
    out, pos = [], 0
    for m in BLOCK.finditer(text):
        where = f"{name}:{text.count(chr(10), 0, m.start()) + 1}"
        if OPEN in m.group("body"):
            raise TableSpecError(f"{where}: table block without its '<!-- /table -->'")
        spec = parse_spec(m.group("spec"), where)
        out += [text[pos:m.start("body")], render(spec, root, where)]
        pos = m.end("body")
    out.append(text[pos:])
    result = "".join(out)
    if result.count(OPEN) != len(BLOCK.findall(result)):
        raise TableSpecError(f"{name}: a '{OPEN}' block has no '<!-- /table -->'")
    return result


def out_of_date(root: Path = ROOT, fix: bool = False) -> list[str]:
    """Documents whose table blocks differ from the benchmarks' outputs (rewritten if `fix`)."""
    stale = []
    for doc in documents(root):
        text = doc.read_text(encoding="utf-8")
        fresh = rewrite(text, root, str(doc.relative_to(root)))
        if fresh != text:
            stale.append(str(doc.relative_to(root)))
            if fix:
                doc.write_text(fresh, encoding="utf-8")
    return stale


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true",
                   help="rewrite nothing; exit 1 if a block is out of date")
    args = p.parse_args(argv)
    try:
        stale = out_of_date(ROOT, fix=not args.check)
    except TableSpecError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for doc in stale:
        print(f"{'out of date' if args.check else 'rewrote'}: {doc}")
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
