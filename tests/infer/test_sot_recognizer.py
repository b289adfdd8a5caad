"""A speech LLM trained with `model.sot` (paper 003's LLM-SOT teacher) behind the recognizer
interface: one stream per talker, chosen by what its checkpoint declares; over 30 s refused,
naming the file; a plain speech LLM as before."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from susurrus.audio.io import SAMPLE_RATE
from susurrus.cli.main import main as cli
from susurrus.infer.recognizer import AudioTooLongError
from susurrus.infer.registry import load_recognizer
from susurrus.infer.speech_llm import SpeechLLMRecognizer
from susurrus.models.speech_llm.generation import GeneratedRow, GenerateOptions
from susurrus.models.speech_llm.model import SpeechLLM
from susurrus.train.sot import SOT_TALKERS, split_sot

pytestmark = pytest.mark.usefixtures("one_thread")
SR = SAMPLE_RATE
THREE = "Hello there.\ngood day to you\nbye"  # what the fake generation writes: 3 talkers


def save(folder: Path, tiny_whisper_dir, tiny_llm_dir, sot: bool) -> Path:
    from susurrus.models.speech_llm.build import build_speech_llm
    from susurrus.models.speech_llm.checkpoint import save_checkpoint
    from susurrus.models.speech_llm.config import LoraConfig, ModelConfig
    from susurrus.train.recipe import Recipe, recipe_to_dict

    config = ModelConfig(encoder=str(tiny_whisper_dir), llm=str(tiny_llm_dir),
                         compressor="stack", compressor_options={"k": 5}, projector_hidden=32,
                         lora=LoraConfig(r=2, alpha=4), sot=sot)
    torch.manual_seed(0)
    save_checkpoint(build_speech_llm(config), folder / "model",
                    recipe_to_dict(Recipe(model=config)))
    return folder


@pytest.fixture(scope="module")
def sot_run(one_thread, tiny_whisper_dir, tiny_llm_dir, tmp_path_factory) -> Path:
    return save(tmp_path_factory.mktemp("sot"), tiny_whisper_dir, tiny_llm_dir, sot=True)


@pytest.fixture(scope="module")
def plain_run(one_thread, tiny_whisper_dir, tiny_llm_dir, tmp_path_factory) -> Path:
    return save(tmp_path_factory.mktemp("plain"), tiny_whisper_dir, tiny_llm_dir, sot=False)


def noise(seconds: float, seed: int = 0) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(int(seconds * SR))
            ).astype(np.float32)


def writes(text: str, monkeypatch) -> list[int]:
    """Make every speech LLM's generation write `text` for each row; its ids."""
    ids: list[int] = []

    def generate_rows(self, feats, feat_lengths, options=None, context=None, hypotheses=None):
        ids[:] = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return [GeneratedRow(list(ids)) for _ in range(feats.shape[0])]

    monkeypatch.setattr(SpeechLLM, "generate_rows", generate_rows)
    return ids


def test_the_checkpoint_declares_sot_and_gets_one_stream_per_talker(sot_run, monkeypatch):
    rec = load_recognizer(str(sot_run))
    assert isinstance(rec, SpeechLLMRecognizer) and rec.model.sot
    assert rec.capabilities.streams == SOT_TALKERS == 3 and not rec.capabilities.timestamps
    # three talkers' worth of tokens as the length limit, as its validation decodes
    assert rec.options.tokens_per_second == GenerateOptions.tokens_per_second * SOT_TALKERS
    ids = writes(THREE, monkeypatch)
    hyps = rec.recognize([noise(2.5), noise(1.2, 1)])
    for hyp, seconds in zip(hyps, (2.5, 1.2), strict=True):
        assert [s.text for s in hyp.streams] == ["Hello there.", "good day to you", "bye"]
        assert [s.speaker for s in hyp.streams] == ["talker1", "talker2", "talker3"]
        # no times from the LLM: each stream's one segment spans the window it read
        assert all([(g.start, g.end) for g in s.segments] == [(0.0, seconds)]
                   for s in hyp.streams)
        assert [len(s.segments[0].tokens) for s in hyp.streams] == [len(ids), 0, 0]
        assert hyp.audio_tokens == hyp.streams[0].segments[0].audio_tokens > 0
        assert [t.speaker for t in hyp.talkers()] == ["talker1", "talker2", "talker3"]
    two = writes("one two\n\nthree\n", monkeypatch)  # a doubled change: no empty talker
    [hyp] = rec.recognize([noise(1.0)])
    assert [s.text for s in hyp.streams] == ["one two", "three"] and two
    writes("", monkeypatch)  # nothing written: one stream, empty
    [hyp] = rec.recognize([noise(1.0)])
    assert len(hyp.streams) == 1 and hyp.text == "" and hyp.audio_tokens > 0


def test_a_real_decode_splits_what_the_model_wrote_at_the_speaker_change(sot_run):
    rec = load_recognizer(str(sot_run))
    audio = [noise(1.5, 3), noise(3.0, 4)]
    hyps = rec.recognize(audio)
    model = rec.model
    for a, hyp in zip(audio, hyps, strict=True):
        ids = hyp.streams[0].segments[0].tokens
        assert 0 < len(ids) <= rec.options.max_new_tokens(a.shape[0] / SR)
        written = split_sot(model.decode_text(ids)) or [""]
        assert [s.text for s in hyp.streams] == written
        assert [s.speaker for s in hyp.streams] == [f"talker{k + 1}" for k in range(len(written))]
        assert all(s.segments[0].start == 0.0 and s.segments[0].end == a.shape[0] / SR
                   for s in hyp.streams)


def test_over_30_s_a_sot_model_refuses_and_a_plain_one_still_windows(sot_run, plain_run,
                                                                     monkeypatch):
    writes(THREE, monkeypatch)
    long = noise(31.0)
    with pytest.raises(AudioTooLongError, match=r"input 1: 31\.0 s .*30-s limit.*per talker"):
        load_recognizer(str(sot_run)).recognize([noise(1.0), long])
    assert load_recognizer(str(sot_run)).recognize([noise(30.0)])[0].streams[2].text == "bye"
    plain = load_recognizer(str(plain_run))
    assert not plain.model.sot and plain.capabilities.streams == 1
    assert plain.options == GenerateOptions()
    [hyp] = plain.recognize([long])  # 20-s windows, each a segment of the one stream
    assert len(hyp.streams) == 1 and len(hyp.segments) == 2
    assert hyp.segments[0].text == " " + plain.model.decode_text(
        plain.model.tokenizer(THREE, add_special_tokens=False)["input_ids"])


def test_a_sot_model_keeps_no_conversation(sot_run, plain_run, tmp_path):
    from susurrus.errors import IncompatibleOptionError

    sot = load_recognizer(str(sot_run))
    with pytest.raises(IncompatibleOptionError, match="SOT speech LLM.*keeps no conversation"):
        sot.session()
    with pytest.raises(IncompatibleOptionError, match="keeps no conversation"):
        sot.restore_session(tmp_path / "s.json")
    load_recognizer(str(plain_run)).session()  # a plain one still does


def test_transcribe_writes_talker_streams_and_names_a_file_too_long(sot_run, tmp_path,
                                                                    monkeypatch, capsys):
    writes(THREE, monkeypatch)
    sf.write(tmp_path / "mix.wav", noise(2.0), SR, subtype="FLOAT")
    sf.write(tmp_path / "long.wav", noise(31.0), SR, subtype="FLOAT")
    out = tmp_path / "out"
    assert cli(["transcribe", str(tmp_path / "mix.wav"), "--model", str(sot_run), "--format",
                "json,srt,vtt", "--output-dir", str(out), "--quiet"]) == 0
    data = json.loads((out / "mix.json").read_text())
    assert [(t["speaker"], t["text"]) for t in data["talkers"]] == [
        ("talker1", "Hello there."), ("talker2", "good day to you"), ("talker3", "bye")]
    assert [(s["start"], s["end"]) for t in data["talkers"] for s in t["segments"]] == \
        [(0.0, 2.0)] * 3
    srt = (out / "mix.srt").read_text()
    assert "talker1: Hello there." in srt and "talker3: bye" in srt and srt.count("-->") == 3
    assert "<v talker2>good day to you" in (out / "mix.vtt").read_text()
    capsys.readouterr()
    assert cli(["transcribe", str(tmp_path / "long.wav"), "--model", str(sot_run),
                "--quiet"]) == 2
    [line] = [x for x in capsys.readouterr().err.splitlines() if x.startswith("error:")]
    assert f"{tmp_path / 'long.wav'}: 31.0 s" in line and "30-s limit" in line
