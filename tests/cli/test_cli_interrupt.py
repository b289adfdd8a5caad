"""Ctrl-C in `transcribe` and `eval`: one line saying what was kept, exit 130, and the run can
go on where it stopped (a real SIGINT to a real process; the engine is a fake that sleeps)."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest

from susurrus.cli.main import main
from tests.cli.common import noise, start_cli


def interrupt_at(proc: subprocess.Popen, samples: int) -> tuple[str, str]:
    """Wait until the engine decodes the clip of `samples` samples, send SIGINT; (out, err)."""
    seen = []
    for line in proc.stderr:  # the runner says which clip it decodes, before sleeping on it
        seen.append(line)
        if line.strip() == f"decoding {samples}":
            proc.send_signal(signal.SIGINT)
            break
    else:
        proc.wait()
        pytest.fail("the command ended before decoding that clip:\n" + "".join(seen))
    out, err = proc.communicate(timeout=60)
    return out, "".join(seen) + err


def messages(err: str) -> list[str]:
    """stderr without the fake engine's own lines."""
    return [line for line in err.splitlines() if line and not line.startswith("decoding ")]


def test_ctrl_c_in_eval_keeps_the_hypotheses_and_the_same_command_resumes(manifest, tmp_path):
    out = tmp_path / "r.json"
    hyps = Path(str(out) + ".hyps.jsonl")
    argv = ["eval", "--manifest", str(manifest), "--out", str(out), "--quiet", "--no-ner"]
    proc = start_cli(*argv, slow_on=5000)  # s0 (4000 samples) decodes, s1 (5000) hangs
    _, err = interrupt_at(proc, 5000)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert messages(err) == [f"interrupted: kept 1 hypotheses in {hyps}; re-run the same "
                             "command to resume (only the rest is decoded)"]
    assert not out.exists()
    assert [json.loads(line)["id"] for line in hyps.read_text().splitlines()[1:]] == ["s0"]

    again = start_cli(*argv)
    _, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    # the warm-up (1 s), then only what the interruption left
    assert [line for line in err.splitlines() if line.startswith("decoding")] == [
        "decoding 16000", "decoding 5000", "decoding 6000"]
    assert json.loads(out.read_text())["n_utterances"] == 3


def test_ctrl_c_in_transcribe_keeps_finished_files_and_skip_existing_goes_on(tmp_path):
    clips = [str(noise(tmp_path / f"{n}.wav", n)) for n in (4000, 5000, 6000)]
    out = tmp_path / "out"
    argv = ["transcribe", *clips, "--output-dir", str(out), "--quiet"]
    proc = start_cli(*argv, slow_on=5000)
    _, err = interrupt_at(proc, 5000)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert messages(err) == [
        str(out / "4000.txt"),
        f"interrupted: kept the outputs of 1 finished file(s) in {out} ({clips[1]} was not "
        f"written); re-run the same command with --skip-existing to transcribe {clips[1]} and "
        "1 more file(s)"]
    assert sorted(p.name for p in out.iterdir()) == ["4000.txt"]  # no partial file either

    again = start_cli(*argv, "--skip-existing")
    _, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert [line for line in err.splitlines() if line.startswith("decoding")] == [
        "decoding 5000", "decoding 6000"]
    assert (out / "6000.txt").read_text() == "utt6000\n"


def test_ctrl_c_in_eval_without_out_says_nothing_was_kept(manifest, monkeypatch, capsys):
    class Stops:
        name = "stops"

        def segments(self, audio, prompt, on_progress):
            if audio.shape[0] == 5000:
                raise KeyboardInterrupt
            return []

    from susurrus.testing.fakes import SegmentsRecognizer

    recognizer = SegmentsRecognizer(Stops())
    monkeypatch.setattr("susurrus.infer.load_recognizer", lambda *a, **k: recognizer)
    assert main(["eval", "--manifest", str(manifest), "--quiet", "--no-ner"]) == 130
    assert capsys.readouterr().err == ("interrupted: nothing kept: without --out no hypotheses "
                                       "are written; add --out FILE to make a run resumable\n")


def test_ctrl_c_while_printing_says_what_was_not_transcribed(tmp_path, monkeypatch, capsys):
    import importlib

    from susurrus.infer.transcript import Segment

    class Stops:
        name = "stops"

        def segments(self, audio, prompt, on_progress):
            if audio.shape[0] == 5000:
                raise KeyboardInterrupt
            return [Segment(0.0, 1.0, " first")]

    from susurrus.testing.fakes import SegmentsRecognizer

    recognizer = SegmentsRecognizer(Stops())
    monkeypatch.setattr("susurrus.infer.load_recognizer", lambda *a, **k: recognizer)
    monkeypatch.setattr(importlib.import_module("susurrus.infer.transcribe"), "load_recognizer",
                        lambda *a, **k: recognizer)
    clips = [str(noise(tmp_path / f"{n}.wav", n)) for n in (4000, 5000)]
    assert main(["transcribe", *clips, "--quiet"]) == 130
    captured = capsys.readouterr()
    assert captured.out == "first\n"
    assert captured.err == (f"interrupted: {clips[1]} not transcribed; the transcripts printed "
                            "above are complete, nothing was written; re-run with the files not "
                            "yet printed\n")
