"""The shipped `multitalker-ctc-tiny` runs by its embedded name, from Python and the CLI."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import soundfile as sf

from susurrus.pretrained import EMBEDDED

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def mixture(tmp_path_factory):
    """Two espeak-ng voices, the second starting 1 s into the first."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (scripts/setup.sh installs it)")
    if not (EMBEDDED["multitalker-ctc-tiny"].installed and EMBEDDED["whisper-tiny.en"].installed):
        pytest.skip("the embedded models are not installed")
    from susurrus.audio import load_audio
    from susurrus.data.tts import speak

    folder = tmp_path_factory.mktemp("mix")
    a = load_audio(speak("Let me check the shipment for you today.", folder / "a.wav"))
    b = load_audio(speak("The train to Boston leaves at noon.", folder / "b.wav",
                         voice="en-us+f3"))
    mix = np.zeros(max(len(a), 16_000 + len(b)), dtype=np.float32)
    mix[:len(a)] += a
    mix[16_000:16_000 + len(b)] += b
    path = folder / "mix.wav"
    sf.write(path, mix / max(1.0, float(np.abs(mix).max())), 16_000)
    return path


def test_the_shipped_model_loads_by_name_and_routes_by_its_count_head(mixture):
    from susurrus.audio import load_audio
    from susurrus.infer.registry import load_recognizer

    recognizer = load_recognizer("multitalker-ctc-tiny")
    audio = load_audio(mixture)
    [hyp] = recognizer.recognize([audio])
    assert 1 <= len(hyp.streams) <= 3
    assert [s.speaker for s in hyp.streams] == [f"talker{k + 1}" for k in range(len(hyp.streams))]
    assert any(s.text.strip() for s in hyp.streams)  # it hears speech, not silence
    [two] = recognizer.recognize_with_counts([audio], [2])
    assert len(two.streams) == 2


def test_transcribe_writes_one_stream_per_talker(mixture, tmp_path):
    from susurrus.cli.main import main

    assert main(["transcribe", str(mixture), "--model", "multitalker-ctc-tiny", "--format",
                 "json", "--output-dir", str(tmp_path)]) == 0
    doc = json.loads((tmp_path / "mix.json").read_text())
    assert doc["talkers"] and all(t["segments"] for t in doc["talkers"] if t["text"].strip())
