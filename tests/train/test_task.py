"""Training by task: a toy task trains through the generic loop with one module and one registry
line; recipes choose the task and are checked whole before anything is written; the loop itself
names no model family."""

from __future__ import annotations

import ast
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

import susurrus.train.align
import susurrus.train.batches
import susurrus.train.loop
import susurrus.train.run
from susurrus.data.manifest import Utterance, write_manifest
from susurrus.testing.toy_task import ToyCTCConfig
from susurrus.train.loop import train
from susurrus.train.recipe import (
    Recipe,
    RecipeError,
    load_recipe,
    recipe_fingerprint,
    save_recipe,
)
from susurrus.train.task import TASKS

pytestmark = pytest.mark.usefixtures("one_thread")

SR = 16_000
WORDS = ["hi", "yes", "no", "go", "stop", "up", "down", "left"]
TOY = "susurrus.testing.toy_task:ToyCTCTask"


def toy_corpus(root: Path, n: int = 16, samples: int = 8000) -> Path:
    """`n` clips of `samples` samples (tones in noise, one per word) and their manifest."""
    rng = np.random.default_rng(0)
    utts = []
    for i in range(n):
        t = np.arange(samples) / SR
        audio = 0.3 * np.sin(2 * np.pi * (200 + 60 * (i % 8)) * t)
        audio += 0.05 * rng.standard_normal(samples)
        sf.write(root / f"c{i}.wav", audio.astype(np.float32), SR)
        utts.append(Utterance(id=f"c{i:02d}", audio=root / f"c{i}.wav", text=WORDS[i % 8]))
    return write_manifest(utts, root / "toy.jsonl")


def toy_overrides(manifest: Path, out: Path) -> list[str]:
    return [f"data.train={manifest}", f"data.valid={manifest}", "data.valid_limit=4",
            "data.batch_seconds=2.4", "train.steps=8", "train.lr=0.05", "train.warmup_steps=1",
            "train.log_every=1", "train.save_every=4", "train.valid_every=0", f"train.out={out}"]


def logged_losses(out: Path) -> dict[int, float]:
    lines = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    return {d["step"]: d["loss"] for d in lines if "loss" in d}


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> Path:
    return toy_corpus(tmp_path_factory.mktemp("toy"))


@pytest.fixture
def toy_registered(monkeypatch) -> None:
    monkeypatch.setitem(TASKS, "toy_ctc", TOY)  # the one registry line of a new family


def test_a_toy_task_trains_through_the_loop_with_one_registry_line(
        toy_registered, manifest: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    recipe = load_recipe(None, ["task=toy_ctc", "model.n_mels=40", *toy_overrides(manifest, out),
                                "train.save_every=1", "train.keep_every=3"])
    assert isinstance(recipe.model, ToyCTCConfig)
    messages: list[str] = []
    result = train(recipe, progress=False, log=messages.append)
    assert "train: 16 utterances; valid: 4" in messages
    losses = logged_losses(out)
    assert sorted(losses) == list(range(1, 9))
    assert np.mean([losses[s] for s in (6, 7, 8)]) < 0.8 * np.mean([losses[s] for s in (1, 2, 3)])
    assert result.steps == 8 and result.final_loss == pytest.approx(losses[8], abs=1e-5)
    assert result.valid_wer is not None and result.primary
    assert sorted(p.name for p in (out / "model").iterdir()) == ["recipe.yaml",
                                                                 "trained.safetensors"]
    assert load_recipe(out / "model" / "recipe.yaml").task == "toy_ctc"
    # the last two checkpoints, and those of the multiples of train.keep_every
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == [
        "step-0000003", "step-0000006", "step-0000007", "step-0000008"]


def test_a_toy_run_named_by_module_resumes_exactly(manifest: Path, tmp_path: Path) -> None:
    def run(out: Path, *extra: str):
        # (warmup over all 8 steps: the schedule of steps 1-8 must not depend on train.steps)
        recipe = load_recipe(None, [f"task={TOY}", *toy_overrides(manifest, out),
                                    "train.warmup_steps=8", *extra])
        return train(recipe, progress=False, log=lambda *_: None)

    run(tmp_path / "whole")
    run(tmp_path / "parts", "train.steps=4")
    resumed = run(tmp_path / "parts")
    assert resumed.steps == 8
    a, b = logged_losses(tmp_path / "whole"), logged_losses(tmp_path / "parts")
    assert sorted(b) == list(range(1, 9)) and len(set(a.values())) > 1
    for step in a:
        assert b[step] == pytest.approx(a[step], abs=1e-6), (step, a, b)


def test_the_model_section_is_the_tasks_own_config(tmp_path: Path) -> None:
    path = tmp_path / "toy.yaml"
    path.write_text(f"task: {TOY}\nmodel:\n  n_mels: 20\n  compressor: stack\n")
    with pytest.raises(RecipeError) as e:
        load_recipe(path, ["model.n_mels=-1"])
    assert "model.compressor: unknown key 'compressor'; valid keys in model: n_mels, " \
           "alphabet" in str(e.value)
    assert "model.n_mels: must be > 0" in str(e.value)
    path.write_text(f"task: {TOY}\nmodel:\n  n_mels: 20\n")
    toy = load_recipe(path)
    assert toy.model == ToyCTCConfig(n_mels=20)
    assert load_recipe(save_recipe(toy, tmp_path / "saved.yaml")) == toy
    default = load_recipe(None)  # no task: the speech LLM, as every recipe before tasks
    assert default.task == "speech_llm" and default == Recipe()
    assert recipe_fingerprint(dataclasses.replace(default, task=TOY, model=ToyCTCConfig())) \
        != recipe_fingerprint(default)
    with pytest.raises(RecipeError, match=r"task: unknown task 'nope'; valid: speech_llm"):
        load_recipe(None, ["task=nope", "model.lora.r=2"])
    with pytest.raises(RecipeError, match=r"task: os:path is not a training task"):
        load_recipe(None, ["task=os:path"])


def test_train_refuses_a_bad_recipe_before_writing_anything(tmp_path: Path) -> None:
    from susurrus.models.speech_llm.config import ModelConfig

    out = tmp_path / "run"
    recipe = dataclasses.replace(
        Recipe(), model=dataclasses.replace(ModelConfig(), compressor="zip"),
        data=dataclasses.replace(Recipe().data, train=(str(tmp_path / "missing.jsonl"),)),
        train=dataclasses.replace(Recipe().train, out=str(out), init=str(tmp_path / "nope")))
    with pytest.raises(RecipeError) as e:
        train(recipe, progress=False)
    assert "model.compressor: unknown compressor 'zip'" in str(e.value)
    assert "data.train:" in str(e.value) and "missing.jsonl does not exist" in str(e.value)
    assert f"train.init: {tmp_path / 'nope'} does not exist" in str(e.value)
    wrong = dataclasses.replace(Recipe(), task=TOY)  # a speech-LLM model section for the toy
    with pytest.raises(RecipeError, match="takes a ToyCTCConfig, got a ModelConfig"):
        train(wrong, progress=False)
    assert not out.exists()


def test_train_init_takes_an_embedded_models_name(tmp_path: Path) -> None:
    """`train.init=speech-llm-tiny-v2` starts from the shipped adapters (the LLM-SOT teacher's
    recipe does); a name that is neither embedded nor a path is refused by name."""
    from susurrus.models.speech_llm.checkpoint import find_checkpoint
    from susurrus.pretrained.registry import EMBEDDED
    from susurrus.train.recipe import init_source, recipe_problems

    folder = init_source("speech-llm-tiny-v2")
    assert folder == EMBEDDED["speech-llm-tiny-v2"].source_path()
    assert find_checkpoint(folder) == folder
    assert init_source(str(tmp_path)) == tmp_path
    assert init_source("whisper-tiny.en") == Path("whisper-tiny.en")  # not ours: a path
    ok = dataclasses.replace(Recipe(), train=dataclasses.replace(Recipe().train,
                                                                 init="speech-llm-tiny-v2"))
    assert not [p for p in recipe_problems(ok, data_paths=True) if p.startswith("train.init")]
    bad = dataclasses.replace(ok, train=dataclasses.replace(ok.train, init="speech-llm-tiny-v9"))
    assert any(p.startswith("train.init: speech-llm-tiny-v9 does not exist; give a checkpoint "
                            "or run folder, an embedded model's name")
               for p in recipe_problems(bad, data_paths=True))


# --- the loop names no model family -------------------------------------------------------------

GENERIC = [susurrus.train.loop, susurrus.train.run, susurrus.train.batches]


def _imports(module) -> set[str]:
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            out.add(node.module or "")
    return out


@pytest.mark.parametrize("module", GENERIC, ids=lambda m: m.__name__)
def test_the_generic_loop_names_no_model_family(module) -> None:
    source = Path(module.__file__).read_text(encoding="utf-8").lower()
    families = {name.lower() for name in TASKS}
    families |= {spec.rpartition(":")[2].lower() for spec in TASKS.values()}
    words = families | {"speech", "llm", "align", "whisper", "lora", "ctc", "encoder",
                        "tokenizer", "compressor", "feature", "prior turn"}
    assert not [w for w in sorted(words) if w in source]
    imported = _imports(module)
    assert not [m for m in imported if m.startswith(("susurrus.models", "susurrus.train.tasks",
                                                     "susurrus.train.align", "susurrus.losses",
                                                     "susurrus.encoders", "susurrus.testing"))]


def test_the_warm_up_and_the_loop_do_not_import_each_other() -> None:
    assert "susurrus.train.align" not in _imports(susurrus.train.loop)
    assert "susurrus.train.loop" not in _imports(susurrus.train.align)


def test_the_toy_model_is_a_plain_module() -> None:
    from susurrus.testing.toy_task import ToyCTCModel

    model = ToyCTCModel(ToyCTCConfig(n_mels=8, alphabet="ab"))
    logp = model(torch.randn(2, 5, 8))
    assert logp.shape == (2, 5, 3)
    assert torch.allclose(logp.exp().sum(-1), torch.ones(2, 5))
    assert model.ids("A b!") == [1, 2]
    with pytest.raises(ValueError, match="alphabet: must not repeat"):
        ToyCTCConfig(alphabet="aa")


def test_data_train_reads_several_manifests_as_one_set(tmp_path: Path) -> None:
    from susurrus.errors import BadManifestError
    from susurrus.train.data import load_split

    (tmp_path / "a").mkdir()
    first = toy_corpus(tmp_path / "a", n=3)
    second = tmp_path / "b" / "train.jsonl"
    utts = load_split(load_recipe(None, [f"data.train={first}"]).data, "train", log=print)
    renamed = [dataclasses.replace(u, id=f"other-{u.id}") for u in utts[:2]]
    write_manifest(renamed, second)
    recipe = load_recipe(None, [f"data.train=[{first}, {second}]"])
    assert recipe.data.train == (str(first), str(second))
    both = load_split(recipe.data, "train", log=print)
    assert [u.id for u in both] == [u.id for u in utts] + [u.id for u in renamed]
    write_manifest(utts[:1], second)  # the same id in both: refused, naming both files
    with pytest.raises(BadManifestError, match=rf"{utts[0].id}.*in both .*a.*and .*b"):
        load_split(recipe.data, "train", log=print)


def test_a_turns_batch_cost_counts_the_context_positions_it_brings() -> None:
    from susurrus.train.tasks.speech_llm import batch_cost

    seconds, priors, tokens = [2.0, 1.0, 3.0], [[], [0], [0, 1]], [20, 10, 30]
    # 10 audio tokens a second: a prior turn costs (its transcript + K=4) / 10 s
    assert batch_cost(seconds, priors, tokens, 10.0, "abstract", 4) == pytest.approx(
        [2.0, 1.0 + 2.4, 3.0 + 2.4 + 1.4])
    assert batch_cost(seconds, priors, tokens, 10.0, "text", 4) == pytest.approx(
        [2.0, 3.0, 6.0])
    # raw: every audio token of the prior turn
    assert batch_cost(seconds, priors, tokens, 10.0, "raw", 4) == pytest.approx(
        [2.0, 1.0 + 4.0, 3.0 + 4.0 + 2.0])
    assert batch_cost(seconds, [[], [], []], tokens, 10.0, "none", 4) == seconds
