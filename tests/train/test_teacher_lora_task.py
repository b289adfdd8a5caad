"""The `teacher_lora` task on a tiny random LLM: the paper-002 teacher adapted (LoRA) to write a
window's text from its context, scored the way the teacher cache scores it, its adapter read
back by the cache and by a resumed run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from susurrus.fields import FieldError
from susurrus.train.distill_teacher import adapter_folder, teach, teacher_inputs
from susurrus.train.recipe import RecipeError, load_recipe
from susurrus.train.task import task_class
from susurrus.train.tasks.teacher_lora import (
    IGNORE,
    TeacherLoraConfig,
    TeacherLoraTask,
    collate_rows,
)
from susurrus.train.tasks.whisper_distill import compute_teacher, recipe_windows
from tests.train.test_whisper_distill_task import reading

pytestmark = pytest.mark.usefixtures("one_thread")

ROOT = Path(__file__).parents[2]
RECIPE = ROOT / "recipes" / "whisper_distill" / "teacher.yaml"
STUDENT = ROOT / "recipes" / "whisper_distill" / "tiny.yaml"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return reading(tmp_path_factory.mktemp("long"))


def overrides(corpus: Path, llm: Path, out: Path, *more: str) -> list[str]:
    return [f"model.teacher={llm}", "model.window_seconds=12", "model.context_words=8",
            "model.lora_r=4", "model.lora_alpha=8", "model.lora_dropout=0",
            f"data.train=[{corpus}]", f"data.valid={corpus}", "data.batch_seconds=24",
            "train.steps=40", "train.lr=1e-2", "train.warmup_steps=1", "train.log_every=1",
            "train.valid_every=0", "train.save_every=10", f"train.out={out}", *more]


def test_the_task_is_registered_and_its_recipe_loads():
    assert task_class("teacher_lora") is TeacherLoraTask
    recipe = load_recipe(RECIPE)
    assert isinstance(recipe.model, TeacherLoraConfig)
    assert recipe.model.context_words == load_recipe(STUDENT).model.context_words


def test_bad_values_are_reported_together_with_their_keys():
    with pytest.raises(FieldError) as e:
        TeacherLoraConfig(lora_r=0, lora_dropout=1.0, teacher="")
    assert {name for name, _ in e.value.problems} == {"lora_r", "lora_dropout", "teacher"}
    with pytest.raises(RecipeError, match="model.lora_r"):
        load_recipe(RECIPE, ["model.lora_r=-1"])


def test_only_the_text_tokens_are_labelled_at_the_positions_that_predict_them():
    ids, mask, labels = collate_rows([([1, 2, 3], [7, 8]), ([4], [9, 10, 11, 12])], pad=0)
    assert ids.tolist() == [[1, 2, 3, 7, 8], [4, 9, 10, 11, 12]]
    assert mask.tolist() == [[1, 1, 1, 1, 1], [1, 1, 1, 1, 1]]
    assert labels.tolist() == [[IGNORE, IGNORE, 7, 8, IGNORE], [9, 10, 11, 12, IGNORE]]
    ids, mask, labels = collate_rows([([1, 2], [7]), ([4, 5, 6], [8, 9])], pad=0)
    assert mask.tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]
    assert labels.tolist() == [[IGNORE, 7, IGNORE, IGNORE, IGNORE],
                               [IGNORE, IGNORE, 8, 9, IGNORE]]


def run_for(recipe, out: Path):
    from contextlib import nullcontext

    from susurrus.train.task import Run

    return Run(recipe, out, torch.device("cpu"), 0, 1, False, lambda _: None, None, nullcontext)


def test_validation_scores_the_tokens_the_teacher_cache_scores(corpus, tiny_llm_dir, tmp_path):
    """The task's top-1 error on a window is 1 − the share of the cached chunk's tokens whose
    top-1 is the reference's: the same tokens, the same positions."""
    recipe = load_recipe(RECIPE, overrides(corpus, tiny_llm_dir, tmp_path / "run",
                                           "model.lora_r=2"))
    task = TeacherLoraTask()
    torch.manual_seed(0)
    model = task.build(recipe.model, run_for(recipe, tmp_path / "run"))
    task.prepare(model, run_for(recipe, tmp_path / "run"))
    error = task.validate(model, run_for(recipe, tmp_path / "run"))
    windows = [w for w in recipe_windows(recipe, "valid", lambda _: None) if w.text]
    inputs = teacher_inputs(windows, recipe.model.context_words)
    model.eval()
    chunks = teach(model.llm, model.tokenizer, inputs, top_k=1)
    from susurrus.data.token_spans import token_spans

    hits = total = 0
    for item, chunk in zip(inputs, chunks, strict=True):
        ids, _ = token_spans(model.tokenizer, item.text)
        hits += int((chunk.ids[:, 0] == ids).sum())
        total += len(ids)
    assert total > 20
    assert error == pytest.approx(1 - hits / total)


@pytest.fixture(scope="module")
def trained(corpus, tiny_llm_dir, tmp_path_factory, one_thread):
    from susurrus.train.loop import train

    out = tmp_path_factory.mktemp("teacher") / "run"
    recipe = load_recipe(RECIPE, overrides(corpus, tiny_llm_dir, out, "train.keep_every=10"))
    return recipe, out, train(recipe, progress=False, log=lambda _: None)


def test_the_adapted_teacher_learns_the_windows_text(trained):
    """40 steps on the training windows: the loss falls, and with the saved adapter the
    cross-entropy of those windows' text is less than half the base LLM's and fewer of their
    tokens are wrong at top 1 (a random 2-layer LLM starts from nearly all)."""
    import json

    recipe, out, _ = trained
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in log if "loss" in r]
    assert sum(losses[-5:]) / 5 < 0.5 * sum(losses[:5]) / 5
    task = TeacherLoraTask()
    torch.manual_seed(0)
    model = task.build(recipe.model, run_for(recipe, out))
    task.prepare(model, run_for(recipe, out))
    model.eval()
    everything = list(range(len(task.rows)))

    def scores() -> tuple[float, float]:
        with torch.no_grad():
            loss = float(task.loss(model, everything, torch.device("cpu")))
        return loss, task.validate(model, run_for(recipe, out))

    before = scores()
    task.load(model, adapter_folder(out))
    after = scores()
    assert after[0] < 0.5 * before[0]
    assert after[1] < before[1]


def test_its_adapter_is_what_the_teacher_cache_reads(trained, corpus, tiny_whisper_dir,
                                                     tiny_llm_dir, tmp_path):
    """model.teacher_adapter takes the run folder: the cache records the adapter, its top-1 is
    the reference's more often than the base LLM's, and its probabilities are those of the
    trained LoRA."""
    from susurrus.data.teacher_cache import TeacherCache

    _, out, _ = trained
    base = [f"model.student={tiny_whisper_dir}", f"model.teacher={tiny_llm_dir}",
            "model.window_seconds=12", "model.top_k=4", "model.context_words=8",
            f"data.train=[{corpus}]", f"train.out={tmp_path / 'student'}"]
    plain = load_recipe(STUDENT, [*base, f"model.teacher_cache={tmp_path / 'plain'}"])
    adapted = load_recipe(STUDENT, [*base, f"model.teacher_adapter={out}",
                                    f"model.teacher_cache={tmp_path / 'adapted'}"])
    compute_teacher(plain, progress=False, log=lambda _: None)
    compute_teacher(adapted, progress=False, log=lambda _: None)
    a, b = TeacherCache.open(tmp_path / "plain"), TeacherCache.open(tmp_path / "adapted")
    assert b.teacher.startswith(f"{tiny_llm_dir}+lora-")
    from transformers import AutoTokenizer

    from susurrus.data.token_spans import token_spans

    tok = AutoTokenizer.from_pretrained(tiny_llm_dir)
    hit = {}
    for name, cache in (("plain", a), ("adapted", b)):
        right = total = 0
        for cid in cache.ids:
            chunk = cache[cid]
            ids, _ = token_spans(tok, chunk.text)
            right += int((chunk.ids[:, 0] == ids).sum())
            total += len(ids)
        hit[name] = right / total
    assert hit["adapted"] > hit["plain"]
    # and they are the trained LoRA's own probabilities (merged, as the cache reads it)
    recipe, _, _ = trained
    task = TeacherLoraTask()
    model = task.build(recipe.model, run_for(recipe, out))
    task.load(model, adapter_folder(out))
    model.eval()
    windows = [w for w in recipe_windows(adapted, "train", lambda _: None) if w.text]
    inputs = teacher_inputs(windows, adapted.model.context_words)
    for item, chunk in zip(inputs, teach(model.llm, tok, inputs, 4), strict=True):
        assert (b[item.id].ids == chunk.ids).all()
        assert abs(b[item.id].probs - chunk.probs).max() < 2e-3  # float16 in the shard


def test_a_resumed_run_ends_where_an_uninterrupted_one_does(corpus, tiny_llm_dir, trained,
                                                            tmp_path):
    """The 40-step run as if stopped after its step-10 checkpoint, resumed: the same adapter
    weights at step 40."""
    import shutil

    from safetensors.torch import load_file

    from susurrus.train.loop import train

    _, out, _ = trained
    half = tmp_path / "run"
    shutil.copytree(out, half)
    shutil.rmtree(half / "model")
    kept = sorted((half / "checkpoints").iterdir())
    assert "step-0000010" in [k.name for k in kept]
    for k in kept:
        if k.name != "step-0000010":
            shutil.rmtree(k)
    messages: list[str] = []
    done = train(load_recipe(RECIPE, overrides(corpus, tiny_llm_dir, half, "train.keep_every=10")),
                 progress=False, log=messages.append)
    assert done.steps == 40
    assert any("resuming" in m and "step 10" in m for m in messages), messages
    a = load_file(str(adapter_folder(out) / "adapter_model.safetensors"))
    b = load_file(str(adapter_folder(half) / "adapter_model.safetensors"))
    assert a.keys() == b.keys() and len(a) > 0
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6)
