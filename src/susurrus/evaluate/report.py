"""`susurrus report results*.json`: one Markdown report with tables and plots comparing systems.

The report reads the results JSON that `susurrus eval --out` writes (one result, or a list of
them), typed (`EvalResult.from_dict`); anything else is refused with the file named. It never
replaces an existing file unless asked (`overwrite`), and goes by default beside the first
results file (`report.md` there): its PNG plots go beside it, so a study's results, report and
plots stay together instead of landing in whatever folder the shell is in.
"""

from __future__ import annotations

import json
from pathlib import Path

from susurrus.errors import OutputExistsError, UsageError
from susurrus.evaluate.results import BadResultsError, EvalResult

COLUMNS = [  # (EvalResult attribute, header, format)
    ("wer", "WER", "{:.3f}"),
    ("wer_cased", "cased WER", "{:.3f}"),
    ("entity_recall", "entity rec.", "{:.3f}"),
    ("entity_recall_first", "first", "{:.3f}"),
    ("entity_recall_repeat", "repeat", "{:.3f}"),
    ("ner_f1", "NER F1", "{:.3f}"),
    ("punct_f1", "punct F1", "{:.3f}"),
    ("punct_f1_period", ". F1", "{:.3f}"),
    ("punct_f1_comma", ", F1", "{:.3f}"),
    ("punct_f1_question", "? F1", "{:.3f}"),
    ("cap_f1", "cap F1", "{:.3f}"),
    ("cpwer", "cpWER", "{:.3f}"),
    ("talker_count_acc", "talker acc.", "{:.3f}"),
    ("rtf", "RTF", "{:.3f}"),
    ("context_tokens_per_turn", "ctx tok/turn", "{:.0f}"),
    ("llm_audio_tokens_per_second", "LLM audio tok/s", "{:.1f}"),
    ("n_utterances", "utts", "{}"),
]

EXPECTED = "`report` reads the results JSON that `susurrus eval --out` writes"


def load_results(paths: list[str | Path]) -> list[EvalResult]:
    """Every result in `paths` (a file holds one result or a list), in order.

    Raises BadResultsError naming the file (and the item of a list) that is not results JSON.
    """
    results = []
    for p in map(Path, paths):
        if not p.is_file():
            raise BadResultsError(f"{p}: {'a folder' if p.is_dir() else 'no such file'}; "
                                  f"{EXPECTED}")
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise BadResultsError(f"{p}: not JSON ({err}); {EXPECTED}") from None
        items = data if isinstance(data, list) else [data]
        for i, item in enumerate(items):
            try:
                results.append(EvalResult.from_dict(item))
            except BadResultsError as err:
                where = f"{p} (item {i})" if isinstance(data, list) else str(p)
                raise BadResultsError(f"{where}: {err}; {EXPECTED}") from None
    return results


def system_name(r: EvalResult) -> str:
    return f"{r.model} [{r.context_label}]" + (" oracle count" if r.oracle_count else "")


def markdown_table(results: list[EvalResult]) -> str:
    """One table: a row per system and manifest; columns with no value anywhere are dropped."""
    cols = [c for c in COLUMNS if any(getattr(r, c[0]) is not None for r in results)]
    head = "| system | manifest | " + " | ".join(h for _, h, _ in cols) + " |"
    sep = "|---|---|" + "---:|" * len(cols)
    lines = [head, sep]
    for r in results:
        cells = ["–" if getattr(r, k) is None else f.format(getattr(r, k)) for k, _, f in cols]
        lines.append(f"| {system_name(r)} | {Path(r.manifest).stem} | " + " | ".join(cells)
                     + " |")
    return "\n".join(lines)


def _bar_plot(results: list[EvalResult], keys: list[tuple[str, str]], title: str,
              out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    manifests = sorted({Path(r.manifest).stem for r in results})
    systems = list(dict.fromkeys(system_name(r) for r in results))
    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 3.6), squeeze=False)
    width = 0.8 / max(len(systems), 1)
    for ax, (key, label) in zip(axes[0], keys, strict=True):
        for i, sysname in enumerate(systems):
            vals = [next((getattr(r, key) for r in results if system_name(r) == sysname
                          and Path(r.manifest).stem == m), None) for m in manifests]
            xs = np.arange(len(manifests)) + i * width
            # a missing value draws no bar: 0 would read as a perfect WER (or a total miss)
            ax.bar(xs, [v if v is not None else np.nan for v in vals], width, label=sysname)
        ax.set_xticks(np.arange(len(manifests)) + width * (len(systems) - 1) / 2, manifests)
        ax.set_title(label)
    axes[0][-1].legend(fontsize=7, loc="best")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def _plots(results: list[EvalResult], out: Path) -> list[tuple[list[tuple[str, str]], str, Path]]:
    """The plots a report of `results` at `out` draws: (metrics, title, PNG path) each."""
    def png(name: str) -> Path:
        return out.with_name(f"{out.stem}_{name}.png")

    plots = [([("wer", "WER (normalized)")], "Word error rate", png("wer"))]
    if any(r.entity_recall_first is not None for r in results):
        plots.append(([("entity_recall_first", "entity recall, first mention"),
                       ("entity_recall_repeat", "entity recall, repeated mention")],
                      "Entity recall", png("entities")))
    plots.append(([("rtf", "real-time factor")], "Cost", png("rtf")))
    return plots


def default_out(result_paths: list[str | Path]) -> Path:
    """Where a report goes unless told: `report.md` beside the first results file."""
    return Path(result_paths[0]).parent / "report.md"


def write_report(result_paths: list[str | Path], out: str | Path | None = None,
                 title: str = "susurrus report", preamble: str = "",
                 overwrite: bool = False) -> Path:
    """Write `out` (Markdown; default `default_out`) and its PNG plots beside it.

    Everything is checked before anything is written: the results (BadResultsError naming the
    file), and that neither the report nor a plot it draws exists (OutputExistsError unless
    `overwrite`).
    """
    if not result_paths:
        raise UsageError("no results files given; pass the JSON files `susurrus eval --out` wrote")
    results = load_results(result_paths)
    if not results:
        raise BadResultsError(f"no results to report in {', '.join(map(str, result_paths))}")
    out = default_out(result_paths) if out is None else Path(out)
    if out.is_dir():
        raise UsageError(f"report {out} is a folder; give the report's file name, e.g. "
                         f"{out / 'report.md'}")
    plots = _plots(results, out)
    clash = [p for p in [out, *(png for *_, png in plots)] if p.exists()]
    if clash and not overwrite:
        raise OutputExistsError(f"{clash[0]} exists; pass --overwrite to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    drawn = [_bar_plot(results, keys, plot_title, png) for keys, plot_title, png in plots]
    body = [f"# {title}", "", preamble, "", markdown_table(results), ""]
    body += [f"![{p.stem}]({p.name})" for p in drawn]
    out.write_text("\n".join(body) + "\n", encoding="utf-8")
    return out
