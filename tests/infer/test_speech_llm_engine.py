"""A speech-LLM checkpoint through the user-facing paths: `transcribe()`, `load_recognizer`, the
CLI."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import susurrus
from susurrus.audio.io import SAMPLE_RATE
from susurrus.cli.main import main as cli
from susurrus.errors import IncompatibleOptionError
from susurrus.infer import load_recognizer
from susurrus.models.family import model_family
from susurrus.models.speech_llm.build import build_speech_llm
from susurrus.models.speech_llm.checkpoint import save_checkpoint
from susurrus.models.speech_llm.config import LoraConfig, ModelConfig
from susurrus.train.recipe import Recipe, recipe_to_dict

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def checkpoint(one_thread, tiny_whisper_dir, tiny_llm_dir, tmp_path_factory):
    config = ModelConfig(encoder=str(tiny_whisper_dir), llm=str(tiny_llm_dir),
                         compressor="stack", compressor_options={"k": 5}, projector_hidden=32,
                         lora=LoraConfig(r=2, alpha=4))
    torch.manual_seed(0)
    model = build_speech_llm(config)
    run = tmp_path_factory.mktemp("run")
    save_checkpoint(model, run / "model", recipe_to_dict(Recipe(model=config)))
    return run  # a run folder: --model accepts it


def test_a_run_folder_is_recognized_and_a_whisper_name_is_not(checkpoint, tmp_path):
    assert model_family(str(checkpoint)) == model_family(str(checkpoint / "model")) == \
        "speech_llm"
    assert model_family("whisper-tiny.en") == model_family(str(tmp_path)) == "whisper"


def test_long_audio_comes_back_whole_in_windows(checkpoint):
    rng = np.random.default_rng(0)
    audio = (rng.standard_normal(70 * SAMPLE_RATE) * 0.1).astype(np.float32)
    result = susurrus.transcribe(audio, sample_rate=SAMPLE_RATE, model=str(checkpoint))
    assert result.engine == "speech-llm"
    segs = result.segments
    # 70 s: windows of at most 20 s, each cut in its last 5 s
    assert 4 <= len(segs) <= 5
    assert segs[0].start == 0.0 and segs[-1].end == pytest.approx(70.0)
    assert all(a.end == b.start for a, b in zip(segs, segs[1:], strict=False))
    assert all(s.end - s.start <= 20.0 for s in segs)
    # stack k=5: 10 audio tokens per second of audio, counted per window
    assert sum(s.audio_tokens for s in segs) == pytest.approx(700, abs=3)


def test_faster_whisper_cannot_run_a_speech_llm(checkpoint):
    with pytest.raises(IncompatibleOptionError, match="engine 'faster-whisper'.*torch engine only"):
        load_recognizer(str(checkpoint), "faster-whisper")


def test_a_prompt_to_a_speech_llm_is_refused_before_decoding(checkpoint):
    recognizer = load_recognizer(str(checkpoint))
    assert not recognizer.capabilities.prompt
    assert recognizer.capabilities.contexts == ("none", "text", "raw")  # no abstract: untrained
    with pytest.raises(IncompatibleOptionError, match="prompt: .* takes no text prompt"):
        susurrus.transcribe(np.full(SAMPLE_RATE, 0.01, dtype=np.float32),
                            sample_rate=SAMPLE_RATE, model=str(checkpoint), prompt="Siobhan")
    with pytest.raises(IncompatibleOptionError, match="context 'abstract'.*none \\| text \\| raw"):
        recognizer.session("abstract")


def test_eval_refuses_a_context_the_speech_llm_was_not_trained_for(checkpoint, tmp_path,
                                                                    capsys):
    import soundfile as sf

    sf.write(tmp_path / "a.wav", np.zeros(SAMPLE_RATE, dtype=np.float32) + 0.01, SAMPLE_RATE)
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"id": "a", "audio": "a.wav", "text": "hi"}\n')
    code = cli(["eval", "--manifest", str(manifest), "--model", str(checkpoint),
                "--context", "abstract"])
    assert code == 2
    assert "reads context none | text | raw" in capsys.readouterr().err


def test_eval_of_an_empty_manifest_is_one_line(tmp_path, capsys):
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("")
    assert cli(["eval", "--manifest", str(manifest)]) == 2
    assert capsys.readouterr().err == f"error: {manifest}: holds no utterance to evaluate\n"


def test_a_folder_without_a_checkpoint_is_one_line_not_a_traceback(tmp_path, capsys):
    wav = tmp_path / "a.wav"
    import soundfile as sf

    sf.write(wav, np.zeros(SAMPLE_RATE, dtype=np.float32) + 0.01, SAMPLE_RATE)
    code = cli(["transcribe", str(wav), "--model", str(tmp_path)])
    assert code == 2
    assert "error:" in capsys.readouterr().err


def test_transcribe_refuses_a_prompt_or_another_engine_in_one_line(checkpoint, tmp_path, capsys):
    import soundfile as sf

    wav = tmp_path / "a.wav"
    sf.write(wav, np.zeros(SAMPLE_RATE, dtype=np.float32) + 0.01, SAMPLE_RATE)
    assert cli(["transcribe", str(wav), "--model", str(checkpoint), "--prompt", "Siobhan"]) == 2
    assert "takes no text prompt; drop the prompt" in capsys.readouterr().err
    assert cli(["transcribe", str(wav), "--model", str(checkpoint),
                "--engine", "faster-whisper"]) == 2
    assert "torch engine only" in capsys.readouterr().err
