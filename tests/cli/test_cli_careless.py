"""Careless uses, as a new user would make them (issue 15): each is one line naming the option
or file, exit 2, found before any model loads, and nothing is written."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from susurrus.cli import models as models_cmd
from susurrus.cli.main import main
from susurrus.errors import BadCheckpointError
from tests.cli.common import noise


def one_line(capsys) -> str:
    """The error line (exactly one, no traceback)."""
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err.strip()


def test_a_user_error_anywhere_is_one_line_and_a_bug_keeps_its_traceback(monkeypatch, capsys):
    def bad_checkpoint(args):
        raise BadCheckpointError("runs/x: no trained.safetensors; finish or resume the run")

    monkeypatch.setattr(models_cmd, "run", bad_checkpoint)
    assert main(["models"]) == 2
    assert one_line(capsys) == "error: runs/x: no trained.safetensors; finish or resume the run"

    def bug(args):
        raise ValueError("an internal invariant broke")

    monkeypatch.setattr(models_cmd, "run", bug)
    with pytest.raises(ValueError, match="invariant"):
        main(["models"])


# ----------------------------------------------------------------------------- --device
@pytest.mark.parametrize("device", ["gpu0", "cuda:x"])
def test_a_malformed_device_is_refused_before_loading(device, tmp_path, capsys, fake_engine):
    clip = noise(tmp_path / "a.wav", 4000)
    assert main(["transcribe", str(clip), "--device", device, "--quiet"]) == 2
    line = one_line(capsys)
    assert f"--device {device!r}" in line and "cpu, cuda, cuda:N" in line and "mps" in line
    assert fake_engine.calls == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="this torch sees a GPU")
def test_cuda_without_a_gpu_is_refused_before_loading(tmp_path, capsys, fake_engine):
    clip = noise(tmp_path / "a.wav", 4000)
    out = tmp_path / "out"
    assert main(["transcribe", str(clip), "--device", "cuda", "--output-dir", str(out)]) == 2
    assert "--device cuda: no CUDA device here" in one_line(capsys)
    assert fake_engine.calls == [] and not out.exists()


# ----------------------------------------------------------------------------- outputs
def test_output_dir_that_is_a_file_is_refused_before_any_work(tmp_path, capsys, fake_engine):
    clip = noise(tmp_path / "a.wav", 4000)
    mine = tmp_path / "notes"
    mine.write_text("my notes")
    assert main(["transcribe", str(clip), "--output-dir", str(mine), "--quiet"]) == 2
    assert f"--output-dir {mine} is a file" in one_line(capsys)
    assert fake_engine.calls == [] and mine.read_text() == "my notes"


def test_eval_out_that_is_a_folder_is_refused_before_decoding(manifest, tmp_path, capsys,
                                                               fake_engine):
    folder = tmp_path / "results"
    folder.mkdir()
    assert main(["eval", "--manifest", str(manifest), "--out", str(folder), "--quiet"]) == 2
    line = one_line(capsys)
    assert f"--out {folder} is a folder" in line and "results.json" in line
    assert fake_engine.calls == [] and not list(folder.iterdir())
    assert not Path(str(folder) + ".hyps.jsonl").exists()


@pytest.mark.parametrize("fmt", ["json", "srt", "vtt"])
def test_one_document_formats_of_several_files_need_an_output_dir(fmt, tmp_path, capsys,
                                                                  fake_engine):
    clips = [str(noise(tmp_path / f"{n}.wav", n)) for n in (4000, 5000)]
    assert main(["transcribe", *clips, "--format", fmt, "--quiet"]) == 2
    line = one_line(capsys)
    assert f"--format {fmt} with 2 files" in line and "--output-dir" in line
    assert fake_engine.calls == []


def test_one_document_format_of_one_file_and_text_of_several_print(tmp_path, capsys,
                                                                   fake_engine):
    clips = [str(noise(tmp_path / f"{n}.wav", n)) for n in (4000, 5000)]
    assert main(["transcribe", clips[0], "--format", "json", "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out)["text"] == "hello there"
    assert main(["transcribe", *clips, "--quiet"]) == 0
    assert capsys.readouterr().out == "hello there\nhello there\n"


def test_two_inputs_that_would_write_the_same_output_are_refused(tmp_path, capsys, fake_engine):
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    clips = [str(noise(tmp_path / d / "take.wav", 4000)) for d in ("x", "y")]
    out = tmp_path / "out"
    assert main(["transcribe", *clips, "--output-dir", str(out), "--quiet"]) == 2
    assert "would both write" in one_line(capsys)
    assert fake_engine.calls == [] and not out.exists()


def test_skip_existing_keeps_finished_outputs_and_does_the_rest(tmp_path, capsys, fake_engine):
    clips = [str(noise(tmp_path / f"{n}.wav", n)) for n in (4000, 5000)]
    out = tmp_path / "out"
    assert main(["transcribe", clips[0], "--output-dir", str(out), "--quiet"]) == 0
    (out / "4000.txt").write_text("edited by hand")
    capsys.readouterr()
    assert main(["transcribe", *clips, "--output-dir", str(out), "--skip-existing",
                 "--quiet"]) == 0
    assert (out / "4000.txt").read_text() == "edited by hand"
    assert (out / "5000.txt").read_text() == "hello there\n"
    assert [n for n, _ in fake_engine.calls] == [4000, 5000]  # the first run, then only 5000
    assert "4000.wav: outputs exist, skipped" in capsys.readouterr().err
    assert main(["transcribe", *clips, "--output-dir", str(out), "--skip-existing",
                 "--overwrite"]) == 2
    assert "--skip-existing goes with --output-dir and without --overwrite" in one_line(capsys)


# ----------------------------------------------------------------------------- --manifest
def test_eval_of_a_folder_says_it_is_a_folder(manifest, capsys, fake_engine):
    folder = manifest.parent
    assert main(["eval", "--manifest", str(folder), "--quiet"]) == 2
    line = one_line(capsys)
    assert f"{folder} is a folder, not a manifest (it holds talk.jsonl)" in line
    assert fake_engine.calls == []


def test_eval_of_an_audio_file_says_to_transcribe_it(manifest, tmp_path, capsys, fake_engine):
    clip = manifest.parent / "s0.wav"
    out = tmp_path / "r.json"
    assert main(["eval", "--manifest", str(clip), "--out", str(out), "--quiet"]) == 2
    line = one_line(capsys)
    assert f"{clip} is an audio file, not a manifest" in line and "susurrus transcribe" in line
    assert fake_engine.calls == [] and not out.exists()


def test_eval_of_a_missing_manifest(tmp_path, capsys, fake_engine):
    assert main(["eval", "--manifest", str(tmp_path / "nope.jsonl"), "--quiet"]) == 2
    assert f"{tmp_path / 'nope.jsonl'}: no such manifest" in one_line(capsys)


# ----------------------------------------------------------------------------- model names
def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


TIMED = """
import sys, time
import susurrus.infer  # loaded before the clock starts: the lookup alone is timed
from transformers import AutoTokenizer, WhisperForConditionalGeneration
from susurrus.cli.main import main
t0 = time.perf_counter()
code = main(sys.argv[1:])
print(f"seconds {time.perf_counter() - t0:.2f}")
sys.exit(code)
"""


def test_a_mistyped_model_name_fails_fast_without_the_hub(tmp_path):
    """No network and no HF_HUB_OFFLINE: the hub client alone would retry for ~50 s."""
    clip = noise(tmp_path / "a.wav", 4000)
    env = {k: v for k, v in os.environ.items()
           if k not in {"HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"} and "proxy" not in k.lower()}
    env["HF_ENDPOINT"] = f"http://127.0.0.1:{_closed_port()}"  # refuses every connection
    proc = subprocess.run([sys.executable, "-c", TIMED, "transcribe", str(clip), "--model",
                           "whisper-tinyy", "--quiet"], capture_output=True, text=True, env=env,
                          timeout=120)
    assert proc.returncode == 2, proc.stderr
    err = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("error: model 'whisper-tinyy'"), proc.stderr
    assert "cannot be reached" in err[0] and "Did you mean whisper-tiny.en?" in err[0]
    assert float(proc.stdout.split()[-1]) < 8  # the probe waits 3 s at most; retries took 50
