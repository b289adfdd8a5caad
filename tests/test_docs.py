"""README.md, docs/ and benchmarks/README.md: their code runs as written, their links stay inside
the repository, their results tables come from benchmarks/results/ (meeteval tests its README so).

Every ```bash and ```python block runs, in document order, in a fresh folder that holds a link to
the repository's `recipes/`: `susurrus ...` lines through the CLI's own `main` in this process
(each model loads once for all documents), other shell lines through bash, python blocks with
one namespace per document. A block that cannot run in a test carries `<!-- not run: reason -->`
on the line above its fence and is listed in NOT_RUN, so nothing is skipped silently.
`<!-- pending: reason -->` marks a block written for an interface that has not landed: it must
fail until it lands, and once it passes the test fails until the marker is removed.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")),
             ROOT / "benchmarks" / "README.md"]
RUNNABLE = ("bash", "python")
LITERAL = ("text", "json", "yaml")  # shown, not run: a prompt template, a manifest line, a recipe
FENCE = re.compile(r"^(\s*)```(.*)$")
MARKER = re.compile(r"^<!-- (not run|pending): (.*?) ?-->$")

# The blocks that do not run in a test: (document, first command of the block). A new one must
# be added here on purpose.
NOT_RUN = {
    ("README.md", "make demo"),
    ("README.md", "source .venv/bin/activate"),
    ("docs/install.md", "make demo"),
    ("docs/install.md", "source .venv/bin/activate"),
    ("docs/install.md", 'pip install "torch>=2.4" --index-url https://download.pytorch.org/whl/cu124'),
    ("docs/transcribe.md",
     "susurrus transcribe --session --model speech-llm-tiny-fp-abstract turn1.wav"),
    ("docs/data.md", "susurrus synth conversations --out data/conv --hours"),
    ("docs/data.md", "lhotse prepare librispeech /data/LibriSpeech data/libri"),
    ("docs/data.md", "susurrus prepare librimix --librispeech /data/LibriSpeech --wham"),
    ("docs/models.md", "susurrus synth conversations --out out/corpus --hours"),
    ("docs/demo.md", "make demo"),
    ("docs/generalization.md", "susurrus synth conversations --out out/gen/conv --hours"),
    ("benchmarks/README.md", ".venv/bin/python benchmarks/generalization.py --run "
                             "runs/speech-llm-generalize --last-step 1000"),
    ("docs/generalization.md", ".venv/bin/python benchmarks/generalization.py --run "
                               "runs/speech-llm-generalize --last-step 1000"),
    ("docs/generalization.md", "susurrus train recipes/speech_llm/first-pass.yaml"),
    ("docs/generalization.md", "susurrus train recipes/speech_llm/first-pass-masked.yaml"),
    ("docs/generalization.md", ".venv/bin/python benchmarks/fallback.py --models "
                               "speech-llm-tiny-fp,speech-llm-tiny-v2 --sets read-3min"),
    ("benchmarks/README.md", ".venv/bin/python benchmarks/first_pass.py --sets "
                             "test,test-ood,news-ood"),
    ("benchmarks/README.md", ".venv/bin/python benchmarks/fallback.py --models "
                             "speech-llm-tiny-fp,speech-llm-tiny-v2 --sets read-3min"),
    ("docs/training.md", "susurrus train recipes/speech_llm/default.yaml"),
    ("docs/training.md", "torchrun --standalone --nproc_per_node NUM_GPUS -m susurrus.cli.main"),
    ("docs/training.md", "ACCELERATE_USE_CPU=1 GLOO_SOCKET_IFNAME=lo OMP_NUM_THREADS=1"),
    ("docs/training.md", "from susurrus.train.loop import train"),
    ("docs/papers/001-compression.md", ".venv/bin/python benchmarks/compression.py --steps 1500"),
    ("docs/papers/001-compression.md",
     'B=".venv/bin/python benchmarks/compression.py --steps 100"'),
    ("docs/papers/000-context.md", "susurrus train recipes/speech_llm/default.yaml "
     "model.context=abstract model.abstract_tokens=4"),
    ("docs/papers/000-context.md",
     ".venv/bin/python benchmarks/context.py --steps 1000 --init runs/speech-llm-default"),
    ("docs/papers/002-whisper-distillation.md",
     "susurrus synth longform --out out/gen/long --hours"),
    ("docs/papers/002-whisper-distillation.md",
     ".venv/bin/python benchmarks/distill_whisper.py --steps 200"),
    ("docs/papers/002-whisper-distillation.md",
     "susurrus distill-export runs/whisper-distill-tiny --out my-student"),
    ("benchmarks/README.md", ".venv/bin/python scripts/docs_tables.py"),
    ("benchmarks/README.md", ".venv/bin/python benchmarks/compression.py --steps 1500"),
    ("benchmarks/README.md",
     ".venv/bin/python benchmarks/context.py --steps 1000 --init runs/speech-llm-default"),
    ("benchmarks/README.md", ".venv/bin/python benchmarks/transcribe_baseline.py"),
    ("benchmarks/README.md",
     ".venv/bin/python benchmarks/timing.py --manifest out/demo/corpus/test.jsonl"),
    ("benchmarks/README.md", ".venv/bin/python benchmarks/train_throughput.py"),
    ("benchmarks/README.md", ".venv/bin/python benchmarks/distill_whisper.py --steps 200"),
    ("benchmarks/README.md", ".venv/bin/python benchmarks/serve_load.py"),
    ("README.md",
     "susurrus train recipes/speech_llm/default.yaml train.out=runs/mine train.steps=2000"),
    ("README.md", "susurrus serve --model whisper-tiny.en --model speech-llm-tiny-fp-abstract"),
    ("docs/serve.md", "susurrus serve --model whisper-tiny.en --model speech-llm-tiny-fp-abstract"),
    ("docs/serve.md",
     'curl http://127.0.0.1:8000/v1/audio/transcriptions -H "Authorization: Bearer $KEY"'),
    ("docs/serve.md", "from openai import OpenAI"),
    ("docs/serve.md", 'curl -s http://127.0.0.1:8000/v1/sessions -H "Authorization: Bearer'),
    ("docs/papers/003-multitalker-ctc.md", "susurrus train recipes/multitalker/tiny.yaml"),
    ("docs/papers/003-multitalker-ctc.md", "susurrus train recipes/multitalker/dynamic.yaml"),
    ("docs/papers/003-multitalker-ctc.md", "OMP_NUM_THREADS=1 .venv/bin/python "
     "benchmarks/multitalker.py --data out/mix-bench-small --whisper-engines"),
    ("docs/papers/003-multitalker-ctc.md", ".venv/bin/python benchmarks/multitalker.py --teacher "
     "runs/sot-teacher --model no-distill=runs/multitalker-tiny"),
    ("benchmarks/README.md", ".venv/bin/python benchmarks/multitalker.py --teacher "
     "runs/sot-teacher --model no-distill=runs/multitalker-tiny"),
    ("docs/papers/003-multitalker-ctc.md", "susurrus train recipes/speech_llm/sot.yaml "
     "data.train=[out/mix/train.jsonl] data.valid=out/mix/dev.jsonl train.out=runs/sot-teacher"),
}


@dataclass(frozen=True)
class Block:
    """One fenced code block of a document."""

    doc: str  # repository-relative path of the document
    line: int  # line of its opening fence (1-based)
    lang: str  # the fence's language tag
    indent: str  # whitespace before the fence
    code: str
    marker: str | None  # 'not run', 'pending' or None (the comment on the line above the fence)
    reason: str

    @property
    def where(self) -> str:
        return f"{self.doc}:{self.line}"

    @property
    def first(self) -> str:
        """The first six words of the block's first command (blank and comment lines skipped)."""
        line = next((line for line in self.code.splitlines()
                     if line.strip() and not line.startswith("#")), "")
        return " ".join([w for w in line.split(" #")[0].split() if w != "\\"][:6])


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def read_blocks(path: Path) -> list[Block]:
    lines = path.read_text(encoding="utf-8").splitlines()
    out, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        end = i + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        assert end < len(lines), f"{_rel(path)}:{i + 1}: code block is never closed"
        mark = MARKER.match(lines[i - 1]) if i else None
        out.append(Block(_rel(path), i + 1, m.group(2).strip(), m.group(1),
                         "\n".join(lines[i + 1:end]), mark and mark.group(1),
                         mark.group(2) if mark else ""))
        i = end + 1
    return out


def prose(path: Path) -> list[tuple[int, str]]:
    """(line number, line) of a document outside its code blocks."""
    out, inside = [], False
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if FENCE.match(line):
            inside = not inside
        elif not inside:
            out.append((n, line))
    return out


ALL_BLOCKS = [b for doc in DOCUMENTS for b in read_blocks(doc)]


# -- shape ----------------------------------------------------------------------------------------
def test_the_documents_exist():
    assert [d for d in DOCUMENTS if not d.exists()] == []
    assert {"install.md", "transcribe.md", "models.md", "data.md", "evaluation.md",
            "training.md"} <= {d.name for d in DOCUMENTS}
    assert len(list((ROOT / "docs" / "papers").glob("*.md"))) == 4  # one page per paper


def test_readme_is_short_and_says_where_the_command_is():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 200
    # `make demo` leaves the command in .venv/bin/: the README must say how to call it
    assert "source .venv/bin/activate" in readme and ".venv/bin/susurrus" in readme
    for arxiv in ("2511.20973", "2603.26246", "2508.13376", "2603.10587"):
        assert f"https://arxiv.org/abs/{arxiv}" in readme


def test_every_code_block_is_tagged_and_unindented():
    bad = [f"{b.where}: ```{b.lang}" for b in ALL_BLOCKS if b.lang not in RUNNABLE + LITERAL]
    assert not bad, f"tag every block with one of {RUNNABLE + LITERAL}: {bad}"
    assert not [b.where for b in ALL_BLOCKS if b.indent], "fences start at column 0"


def test_markers_sit_right_above_runnable_blocks():
    for doc in DOCUMENTS:
        lines = doc.read_text(encoding="utf-8").splitlines()
        for n, line in enumerate(lines):
            if line.startswith("<!-- not run") or line.startswith("<!-- pending"):
                assert MARKER.match(line), f"{_rel(doc)}:{n + 1}: write '<!-- not run: reason -->'"
                assert n + 1 < len(lines) and FENCE.match(lines[n + 1]), \
                    f"{_rel(doc)}:{n + 1}: a marker must be the line right above a code block"
    for b in ALL_BLOCKS:
        if b.marker:
            assert b.lang in RUNNABLE, f"{b.where}: only bash/python blocks are run or not run"
            assert len(b.reason.split()) >= 2, f"{b.where}: say why it is {b.marker}"


def test_the_blocks_that_do_not_run_are_the_listed_ones():
    not_run = {(b.doc, b.first) for b in ALL_BLOCKS if b.marker == "not run"}
    for doc, first in sorted(not_run):
        print(f"not run: {doc}: {first}")
    assert not_run - NOT_RUN == set(), "a new not-run block: run it, or add it to NOT_RUN"
    assert NOT_RUN - not_run == set(), "NOT_RUN lists blocks that are gone or run now"
    runnable = [b for b in ALL_BLOCKS if b.lang in RUNNABLE and b.marker != "not run"]
    assert len(runnable) >= 10  # most examples run


# -- links ----------------------------------------------------------------------------------------
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    return {_slug(line.lstrip("#")) for _, line in prose(path) if re.match(r"^#{1,6} ", line)}


def test_links_point_at_files_in_the_repository():
    problems = []
    for doc in DOCUMENTS:
        for n, line in prose(doc):
            for target in LINK.findall(line):
                where = f"{_rel(doc)}:{n}: {target}"
                if re.match(r"https?://", target):
                    continue
                if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("/"):
                    problems.append(f"{where}: only http(s) links may leave the repository")
                    continue
                path, _, anchor = target.partition("#")
                file = (doc.parent / path).resolve() if path else doc
                if not file.is_relative_to(ROOT):
                    problems.append(f"{where}: outside the repository")
                elif not file.exists():
                    problems.append(f"{where}: no such file")
                elif anchor and file.suffix == ".md" and anchor not in _anchors(file):
                    problems.append(f"{where}: no heading #{anchor} in {_rel(file)}")
    assert problems == []


def test_no_document_names_a_path_outside_the_repository():
    for doc in DOCUMENTS:
        text = doc.read_text(encoding="utf-8")
        assert "../shared" not in text and "/work/" not in text, _rel(doc)


# -- results tables -------------------------------------------------------------------------------
def _docs_tables():
    """scripts/docs_tables.py as a module (scripts/ is not a package)."""
    if "docs_tables" not in sys.modules:
        path = ROOT / "scripts" / "docs_tables.py"
        spec = importlib.util.spec_from_file_location("docs_tables", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules["docs_tables"] = module  # its dataclasses look their module up there
        spec.loader.exec_module(module)
    return sys.modules["docs_tables"]


def test_results_tables_match_the_benchmarks_outputs():
    stale = _docs_tables().out_of_date(ROOT)
    assert stale == [], f"run `python scripts/docs_tables.py` (out of date: {stale})"


MEASURED = re.compile(r"^\**[−+-]?\d+\.\d{2,}")  # a cell that starts with a measured number


def test_results_tables_are_generated_or_recorded():
    """A table of measured numbers is generated from benchmarks/results/ or, for a run whose
    outputs are not committed (the demo), marked `<!-- recorded: where it came from -->`."""
    problems = []
    for doc in DOCUMENTS:
        lines = doc.read_text(encoding="utf-8").splitlines()
        in_block = False
        for n, line in enumerate(lines):
            in_block = (in_block or line.startswith("<!-- table:")) and line != "<!-- /table -->"
            header = line.startswith("|") and (n == 0 or not lines[n - 1].startswith("|"))
            if not header or in_block:
                continue
            end = n + 1
            while end < len(lines) and lines[end].startswith("|"):
                end += 1
            rows = lines[n + 2:end]
            cells = [c.strip() for r in rows for c in r.strip("|").split("|")]
            if any(MEASURED.match(c) for c in cells) and not lines[n - 1].startswith(
                    "<!-- recorded: "):
                problems.append(f"{_rel(doc)}:{n + 1}")
    assert problems == [], "generate these tables (scripts/docs_tables.py) or mark them recorded"


def test_docs_tables_cuts_columns_and_rows(tmp_path):
    dt = _docs_tables()
    (tmp_path / "benchmarks" / "results").mkdir(parents=True)
    (tmp_path / "benchmarks" / "results" / "x.md").write_text(
        "| system | WER | RTF |\n|---|---:|---:|\n| a | 0.1 | 1.0 |\n| b | 0.2 | 2.0 |\n\nnote\n")
    doc = ("intro\n<!-- table: benchmarks/results/x.md\n     columns: RTF | system\n"
           "     rows: b | a -->\nstale\n<!-- /table -->\n\n"
           "<!-- table: benchmarks/results/x.md -->\n<!-- /table -->\nend\n")
    (tmp_path / "README.md").write_text(doc)
    assert dt.out_of_date(tmp_path, fix=True) == ["README.md"]
    text = (tmp_path / "README.md").read_text()
    assert "| RTF | system |\n|---:|---|\n| 2.0 | b |\n| 1.0 | a |\n" in text
    assert "stale" not in text and text.startswith("intro\n") and text.endswith("end\n")
    assert "| a | 0.1 | 1.0 |\n| b | 0.2 | 2.0 |\n\nnote\n\n<!-- /table -->" in text  # whole
    assert dt.out_of_date(tmp_path) == []  # a second pass changes nothing


def test_docs_tables_picks_the_nth_table(tmp_path):
    dt = _docs_tables()
    (tmp_path / "benchmarks" / "results").mkdir(parents=True)
    (tmp_path / "benchmarks" / "results" / "x.md").write_text(
        "| a | b |\n|---|---|\n| 1 | 2 |\n\ntext\n\n| c | d |\n|---|---:|\n| 3 | 4 |\n| 5 | 6 |\n")
    (tmp_path / "README.md").write_text(
        "<!-- table: benchmarks/results/x.md\n table: 2\n rows: 5 -->\n<!-- /table -->\n"
        "<!-- table: benchmarks/results/x.md\n table: 2 -->\n<!-- /table -->\n")
    dt.out_of_date(tmp_path, fix=True)
    text = (tmp_path / "README.md").read_text()
    assert "-->\n\n| c | d |\n|---|---:|\n| 5 | 6 |\n\n<!-- /table -->" in text
    assert "-->\n\n| c | d |\n|---|---:|\n| 3 | 4 |\n| 5 | 6 |\n\n<!-- /table -->" in text
    assert "| a |" not in text and "text" not in text


@pytest.mark.parametrize("block, message", [
    ("<!-- table: benchmarks/results/x.md\n table: 3 -->\n<!-- /table -->", "1 Markdown table(s)"),
    ("<!-- table: benchmarks/results/x.md\n table: 0 -->\n<!-- /table -->", "a number >= 1"),
    ("<!-- table: benchmarks/results/x.md\n columns: WER | CER -->\n<!-- /table -->", "'CER'"),
    ("<!-- table: benchmarks/results/x.md\n rows: c -->\n<!-- /table -->", "no row 'c'"),
    ("<!-- table: benchmarks/results/y.md -->\n<!-- /table -->", "y.md is not a file"),
    ("<!-- table: ../x.md -->\n<!-- /table -->", "not a file in the repository"),
    ("<!-- table: benchmarks/results/x.md\n sort: WER -->\n<!-- /table -->", "'sort: WER'"),
    ("<!-- table: benchmarks/results/x.md -->\nno end\n", "has no '<!-- /table -->'"),
])
def test_docs_tables_refuses_a_bad_block_naming_it(tmp_path, block, message):
    dt = _docs_tables()
    (tmp_path / "benchmarks" / "results").mkdir(parents=True)
    (tmp_path / "benchmarks" / "results" / "x.md").write_text(
        "| system | WER |\n|---|---|\n| a | 1 |\n")
    (tmp_path / "x.md").write_text("outside")
    (tmp_path / "README.md").write_text(f"text\n{block}\n")
    with pytest.raises(dt.TableSpecError, match=re.escape(message)) as e:
        dt.out_of_date(tmp_path)
    assert "README.md" in str(e.value)


# -- running the examples -------------------------------------------------------------------------
def shell_commands(code: str) -> list[str]:
    """A bash block -> its commands: continued lines joined, here-documents kept whole, blank and
    comment lines dropped."""
    out, lines, i = [], code.splitlines(), 0
    while i < len(lines):
        line = lines[i]
        i += 1
        while line.endswith("\\") and i < len(lines):
            line = line[:-1] + " " + lines[i].strip()
            i += 1
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        heredoc = re.search(r"<<-?\s*'?(\w+)'?", line)
        if heredoc:
            end = lines.index(heredoc.group(1), i)
            line, i = "\n".join([line, *lines[i:end + 1]]), end + 1
        out.append(line)
    return out


def test_shell_commands_join_continuations_and_keep_heredocs():
    code = ("# a comment\nsusurrus eval --manifest m.jsonl \\\n    --out r.json   # why\n\n"
            "cat > m.jsonl <<'EOF'\n{\"id\": \"a\"}\nEOF\nls\n")
    assert shell_commands(code) == ["susurrus eval --manifest m.jsonl  --out r.json   # why",
                                    "cat > m.jsonl <<'EOF'\n{\"id\": \"a\"}\nEOF", "ls"]


def run_susurrus(argv: list[str]) -> tuple[int, str]:
    """The `susurrus` entry point (`susurrus.cli.main:main`) in this process: (status, output)."""
    from susurrus.cli.main import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            status = main(argv)
        except SystemExit as e:  # --help, argparse errors
            status = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return status, out.getvalue()


def run_block(block: Block, namespace: dict, cwd: Path) -> None:
    if block.lang == "python":
        exec(compile(block.code, block.where, "exec"), namespace)
        return
    for command in shell_commands(block.code):
        words = shlex.split(command.splitlines()[0], comments=True)
        if words and words[0] == "susurrus":
            assert not {"|", ">", ">>", "<", "&&", "||", ";"} & set(words) and "$" not in command, \
                f"{block.where}: keep `susurrus` lines plain (no pipes, redirections, variables)"
            status, output = run_susurrus(words[1:])
            assert status == 0, f"{block.where}: `{command}` exited {status}:\n{output[-3000:]}"
            if words[1:2] == ["transcribe"] and "--output-dir" not in words:
                assert output.strip(), f"{block.where}: `{command}` printed no text"
        else:
            p = subprocess.run(["bash", "-euo", "pipefail", "-c", command], cwd=cwd,
                               capture_output=True, text=True, timeout=300)
            assert p.returncode == 0, f"{block.where}: `{command}`:\n{p.stdout}{p.stderr}"


RUN_DOCS = sorted({b.doc for b in ALL_BLOCKS if b.lang in RUNNABLE and b.marker != "not run"})


@pytest.mark.integration
@pytest.mark.parametrize("doc", RUN_DOCS)
def test_the_examples_run_as_written(doc, tmp_path, monkeypatch, one_thread):
    """`one_thread`: these models decode one token at a time, several times faster on one thread
    than on two when other work shares the cores (and hardly slower when it does not)."""
    from susurrus.pretrained import EMBEDDED

    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (scripts/setup.sh installs it)")
    missing = [m.package for m in EMBEDDED.values() if not m.installed]
    if missing:
        pytest.skip(f"embedded model packages not installed: {missing}")
    (tmp_path / "recipes").symlink_to(ROOT / "recipes")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__main__"}
    passed_pending, failed_pending = [], []
    for block in [b for b in ALL_BLOCKS if b.doc == doc and b.lang in RUNNABLE]:
        if block.marker == "not run":
            continue
        try:
            run_block(block, namespace, tmp_path)
        except Exception as e:  # a pending block is expected to fail, whichever way
            if block.marker != "pending":
                raise
            failed_pending.append(f"{block.where}: {str(e).splitlines()[0][:200]}")
        else:
            if block.marker == "pending":
                passed_pending.append(block.where)
    for line in failed_pending:
        print(f"pending (fails until its interface lands): {line}")
    assert not passed_pending, f"these pending blocks run now: remove their marker {passed_pending}"
