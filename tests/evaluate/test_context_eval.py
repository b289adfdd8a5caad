"""`susurrus eval --context text|raw|abstract` and `susurrus transcribe --session` end to end on a
tiny random abstract-context checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from susurrus.cli.main import main as cli
from susurrus.data.manifest import Utterance, write_manifest
from susurrus.models.speech_llm.build import build_speech_llm
from susurrus.models.speech_llm.checkpoint import save_checkpoint
from susurrus.models.speech_llm.config import LoraConfig, ModelConfig
from susurrus.train.recipe import Recipe, recipe_to_dict

pytestmark = pytest.mark.usefixtures("one_thread")

SR = 16_000
K = 2


@pytest.fixture(scope="module")
def checkpoint(one_thread, tiny_whisper_dir, tiny_llm_dir, tmp_path_factory) -> Path:
    config = ModelConfig(encoder=str(tiny_whisper_dir), llm=str(tiny_llm_dir),
                         compressor_options={"k": 5}, projector_hidden=32,
                         lora=LoraConfig(r=2, alpha=4), context="abstract", abstract_tokens=K,
                         abstract_heads=2)
    torch.manual_seed(0)
    run = tmp_path_factory.mktemp("run")
    save_checkpoint(build_speech_llm(config), run / "model", recipe_to_dict(Recipe(model=config)))
    return run


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> Path:
    """Two sessions of three 0.5-0.9 s turns of noisy tones."""
    root = tmp_path_factory.mktemp("calls")
    rng = np.random.default_rng(0)
    utts = []
    for i in range(6):
        t = np.arange(int((0.5 + 0.1 * (i % 3)) * SR)) / SR
        audio = 0.3 * np.sin(2 * np.pi * (150 + 30 * i) * t) + 0.05 * rng.standard_normal(t.size)
        sf.write(root / f"t{i}.wav", audio.astype(np.float32), SR)
        utts.append(Utterance(id=f"t{i}", audio=root / f"t{i}.wav", text=f"turn number {i}",
                              session=f"s{i // 3}", turn=i % 3, entities=("number",)))
    return write_manifest(utts, root / "calls.jsonl")


def evaluate(manifest: Path, checkpoint: Path, out: Path, *extra: str) -> dict:
    code = cli(["eval", "--manifest", str(manifest), "--model", str(checkpoint), "--no-ner",
                "--quiet", "--out", str(out), *extra])
    assert code == 0
    return json.loads(out.read_text())


def test_abstract_context_costs_k_tokens_per_prior_turn(manifest, checkpoint, tmp_path) -> None:
    r = evaluate(manifest, checkpoint, tmp_path / "abstract.json", "--context", "abstract")
    assert r["context"] == "abstract" and r["n_utterances"] == 6
    assert r["context_audio_tokens_per_prior_turn"] == pytest.approx(K)
    assert sorted(r["latency_by_turn"]) == ["1", "2", "3"]
    assert all(v > 0 for v in r["latency_by_turn"].values())
    text = evaluate(manifest, checkpoint, tmp_path / "text.json", "--context", "text")
    assert text["context_audio_tokens_per_prior_turn"] is None  # no audio context at all
    raw = evaluate(manifest, checkpoint, tmp_path / "raw.json", "--context", "raw")
    assert raw["context_audio_tokens_per_prior_turn"] > K  # 10 tokens/s of 0.5-0.7 s turns
    oracle = evaluate(manifest, checkpoint, tmp_path / "oracle.json", "--context", "abstract",
                      "--oracle-context")
    assert (oracle["context"], oracle["oracle"]) == ("abstract", True)


def test_an_interrupted_context_eval_resumes_to_the_same_hypotheses(manifest, checkpoint,
                                                                   tmp_path) -> None:
    out = tmp_path / "r.json"
    evaluate(manifest, checkpoint, out, "--context", "abstract")
    hyps = Path(str(out) + ".hyps.jsonl")
    lines = hyps.read_text().splitlines()
    hyps.write_text("\n".join(lines[:3]) + "\n")  # header + two turns: stopped in session 1
    out.unlink()
    evaluate(manifest, checkpoint, out, "--context", "abstract")
    again = hyps.read_text().splitlines()
    texts = lambda ls: [json.loads(x)["text"] for x in ls[1:]]  # noqa: E731
    assert texts(again) == texts(lines)


def test_context_modes_are_checked_against_the_model(manifest, checkpoint, capsys) -> None:
    whisper = ["--model", "whisper-tiny.en"]
    assert cli(["eval", "--manifest", str(manifest), "--context", "abstract", *whisper]) == 2
    assert "is a Whisper model" in capsys.readouterr().err
    assert cli(["eval", "--manifest", str(manifest), "--context", "raw", *whisper]) == 2
    assert "reads context none | text" in capsys.readouterr().err
    assert cli(["eval", "--manifest", str(manifest), "--model", str(checkpoint),
                "--context", "abstract", "--engine", "faster-whisper"]) == 2
    assert "torch engine only" in capsys.readouterr().err
    # oracle needs a context to read the references with ('prompt' + oracle is oracle-prompt)
    assert cli(["eval", "--manifest", str(manifest), "--context", "none",
                "--oracle-context"]) == 2
    assert "oracle" in capsys.readouterr().err
    assert cli(["eval", "--manifest", str(manifest), "--model", str(checkpoint),
                "--context", "abstract", "--max-context-turns", "0"]) == 2
    assert "use context 'none'" in capsys.readouterr().err


def test_the_old_oracle_prompt_is_text_with_oracle_for_a_speech_llm_too(manifest, checkpoint,
                                                                         tmp_path) -> None:
    """One ContextMode: 'oracle-prompt' (Whisper's old name) is text + oracle for any model."""
    old = evaluate(manifest, checkpoint, tmp_path / "old.json", "--context", "oracle-prompt")
    new = evaluate(manifest, checkpoint, tmp_path / "new.json", "--context", "text",
                   "--oracle-context")
    assert (old["context"], old["oracle"]) == ("text", True)
    assert old["wer"] == new["wer"]


def test_transcribe_session_goes_on_from_its_saved_state(manifest, checkpoint, tmp_path,
                                                         capsys) -> None:
    turns = [str(manifest.parent / f"t{i}.wav") for i in range(3)]
    assert cli(["transcribe", "--session", "--model", str(checkpoint), *turns]) == 0
    whole = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in whole] == [f"[{i + 1}] {t}"
                                                       for i, t in enumerate(turns)]
    state = tmp_path / "call.session"
    base = ["transcribe", "--session", "--model", str(checkpoint), "--session-state", str(state)]
    assert cli([*base, *turns[:2]]) == 0 and state.exists()
    assert cli([*base, turns[2]]) == 0
    out = capsys.readouterr()
    assert "continuing" in out.err and out.out.splitlines()[-1] == whole[-1]
    assert cli(["transcribe", "--session", "--model", str(checkpoint), str(manifest)]) == 0
    assert capsys.readouterr().out.splitlines()[:3] == [
        f"[s0 {i + 1}] t{i}\t{line.split(chr(9))[1]}" for i, line in enumerate(whole)]
    assert cli(["transcribe", "--context", "text", turns[0]]) == 2
    assert "go with --session" in capsys.readouterr().err


def test_eval_reads_the_window_the_model_was_trained_with(manifest, tmp_path, one_thread,
                                                          tiny_whisper_dir, tiny_llm_dir) -> None:
    """Trained on one earlier turn (model.context_turns=1): eval reads one by default, two when
    asked."""
    config = ModelConfig(encoder=str(tiny_whisper_dir), llm=str(tiny_llm_dir),
                         compressor_options={"k": 5}, projector_hidden=32,
                         lora=LoraConfig(r=2, alpha=4), context="abstract", abstract_tokens=K,
                         abstract_heads=2, context_turns=1)
    torch.manual_seed(0)
    save_checkpoint(build_speech_llm(config), tmp_path / "run" / "model",
                    recipe_to_dict(Recipe(model=config)))
    out = tmp_path / "r.json"
    priors = lambda: [json.loads(x)["prior_turns"]  # noqa: E731
                      for x in Path(str(out) + ".hyps.jsonl").read_text().splitlines()[1:]]
    evaluate(manifest, tmp_path / "run", out, "--context", "abstract")
    assert priors() == [0, 1, 1, 0, 1, 1]
    evaluate(manifest, tmp_path / "run", out, "--context", "abstract", "--max-context-turns", "2",
             "--overwrite")
    assert priors() == [0, 1, 2, 0, 1, 2]
