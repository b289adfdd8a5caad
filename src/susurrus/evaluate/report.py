"""`susurrus report results*.json`: one Markdown report with tables and plots comparing systems."""

from __future__ import annotations

import json
from pathlib import Path

COLUMNS = [  # (key, header, format)
    ("wer", "WER", "{:.3f}"),
    ("wer_cased", "cased WER", "{:.3f}"),
    ("entity_recall", "entity rec.", "{:.3f}"),
    ("entity_recall_first", "first", "{:.3f}"),
    ("entity_recall_repeat", "repeat", "{:.3f}"),
    ("ner_f1", "NER F1", "{:.3f}"),
    ("punct_f1", "punct F1", "{:.3f}"),
    ("cap_f1", "cap F1", "{:.3f}"),
    ("cpwer", "cpWER", "{:.3f}"),
    ("talker_count_acc", "talker acc.", "{:.3f}"),
    ("rtf", "RTF", "{:.3f}"),
    ("context_tokens_per_turn", "ctx tok/turn", "{:.0f}"),
    ("llm_audio_tokens_per_second", "LLM audio tok/s", "{:.1f}"),
    ("n_utterances", "utts", "{}"),
]


def load_results(paths: list[str | Path]) -> list[dict]:
    rows = []
    for p in paths:
        data = json.loads(Path(p).read_text())
        rows.extend(data if isinstance(data, list) else [data])
    return rows


def system_name(r: dict) -> str:
    return f"{r['model']} [{r['context']}]"


def markdown_table(rows: list[dict]) -> str:
    """One table: a row per system and manifest; columns with no value anywhere are dropped."""
    cols = [c for c in COLUMNS if any(r.get(c[0]) is not None for r in rows)]
    head = "| system | manifest | " + " | ".join(h for _, h, _ in cols) + " |"
    sep = "|---|---|" + "---:|" * len(cols)
    lines = [head, sep]
    for r in rows:
        cells = ["–" if r.get(k) is None else f.format(r[k]) for k, _, f in cols]
        lines.append(f"| {system_name(r)} | {Path(r['manifest']).stem} | " + " | ".join(cells)
                     + " |")
    return "\n".join(lines)


def _bar_plot(rows: list[dict], keys: list[tuple[str, str]], title: str, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    manifests = sorted({Path(r["manifest"]).stem for r in rows})
    systems = list(dict.fromkeys(system_name(r) for r in rows))
    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 3.6), squeeze=False)
    width = 0.8 / max(len(systems), 1)
    for ax, (key, label) in zip(axes[0], keys, strict=True):
        for i, sysname in enumerate(systems):
            vals = [next((r.get(key) for r in rows if system_name(r) == sysname
                          and Path(r["manifest"]).stem == m), None) for m in manifests]
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


def write_report(result_paths: list[str | Path], out: str | Path, title: str = "susurrus report",
                 preamble: str = "") -> Path:
    """Write `out` (Markdown) and its PNG plots beside it."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = load_results(result_paths)
    if not rows:
        raise ValueError("no results to report")
    plots = [
        _bar_plot(rows, [("wer", "WER (normalized)")], "Word error rate",
                  out.with_name(out.stem + "_wer.png")),
    ]
    if any(r.get("entity_recall_first") is not None for r in rows):
        plots.append(_bar_plot(
            rows, [("entity_recall_first", "entity recall, first mention"),
                   ("entity_recall_repeat", "entity recall, repeated mention")],
            "Entity recall", out.with_name(out.stem + "_entities.png")))
    plots.append(_bar_plot(rows, [("rtf", "real-time factor")], "Cost",
                           out.with_name(out.stem + "_rtf.png")))
    body = [f"# {title}", "", preamble, "", markdown_table(rows), ""]
    body += [f"![{p.stem}]({p.name})" for p in plots]
    out.write_text("\n".join(body) + "\n", encoding="utf-8")
    return out
