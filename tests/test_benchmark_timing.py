"""benchmarks/timing.py: interleaved rounds, each utterance's fastest decode, one model loaded."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from timing import busy_cpus, first_utterances, positive_int, time_systems  # noqa: E402


class FakeClock:
    """Each decode takes the time the system's schedule says, round by round."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def system(name, clock, schedule, events, texts=None):
    """A loader whose decodes advance `clock` by schedule[round][utterance] seconds."""
    state = {"round": -1}

    def load():
        state["round"] += 1
        events.append(("load", name))
        r = state["round"]

        def decode(audio):
            i = int(audio[0])
            events.append(("decode", name, i))
            clock.now += schedule[r][i]
            return texts[r] if texts else "same"

        return decode

    return load


def test_fastest_decode_of_each_utterance_over_interleaved_rounds():
    clock, events = FakeClock(), []
    audios = [np.full(16000, i, dtype=np.float32) for i in range(2)]  # 1 s each
    a = system("a", clock, [[1.0, 4.0], [3.0, 2.0], [2.0, 2.5]], events)
    b = system("b", clock, [[0.5, 0.5], [0.5, 0.5], [0.5, 0.5]], events,
               texts=["x", "y", "x"])
    out = time_systems({"a": a, "b": b}, audios, rounds=3, clock=clock, log=lambda s: None)
    assert out["a"]["rtf"] == pytest.approx((1.0 + 2.0) / 2)  # best of utterance 0 and of 1
    assert out["a"]["rtf_by_round"] == pytest.approx([2.5, 2.5, 2.25])
    assert out["b"]["rtf"] == pytest.approx(0.5)
    assert out["a"]["same_text_every_round"] and not out["b"]["same_text_every_round"]
    # round-robin: every system's round r before any system's round r + 1; loaded every round
    loads = [e[1] for e in events if e[0] == "load"]
    assert loads == ["a", "b"] * 3


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="rounds"):
        time_systems({}, [np.zeros(10)], rounds=0)
    with pytest.raises(ValueError, match="no audio"):
        time_systems({}, [], rounds=1)


@pytest.mark.parametrize("text", ["0", "-2", "x", "1.5"])
def test_counts_on_the_command_line_must_be_positive_integers(text):
    import argparse

    with pytest.raises(argparse.ArgumentTypeError, match=f"integer >= 1, got '{text}'"):
        positive_int(text)
    assert positive_int("3") == 3


def test_first_utterances_follow_session_and_turn_order(tmp_path):
    import json

    import soundfile as sf

    sf.write(tmp_path / "a.wav", np.zeros(16000, dtype=np.float32), 16000)
    lines = [{"id": f"{s}{t}", "audio": "a.wav", "text": "hi", "session": s, "turn": t}
             for s, t in (("s1", 1), ("s2", 0), ("s1", 0))]
    (tmp_path / "m.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    assert [u.id for u in first_utterances(tmp_path / "m.jsonl", 2)] == ["s10", "s11"]
    with pytest.raises(SystemExit, match="--utterances"):
        first_utterances(tmp_path / "m.jsonl", 0)


def test_busy_cpus_sees_a_busy_loop_in_another_process():
    import subprocess

    if not Path("/proc/stat").exists():
        pytest.skip("no /proc/stat")
    spin = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        assert busy_cpus(1.0) > 0.5  # one CPU spinning (plus whatever else runs)
    finally:
        spin.kill()
        spin.wait()
