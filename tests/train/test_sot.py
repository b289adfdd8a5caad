"""Paper 003's LLM-SOT teacher (issue 18): SOT targets for 1/2/3 talkers, a tiny speech LLM
trained with `model.sot`, its per-talker states cached (resumable), and the `sot_states`
distillation term, which falls while a tiny multi-talker model trains on it."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
import torch

from susurrus.data.manifest import Talker, Utterance, write_manifest
from susurrus.losses.serialized_ctc import TalkerRef, serialized_targets
from susurrus.losses.talker_distill import RelationalDistillLoss
from susurrus.train.loop import train
from susurrus.train.recipe import RecipeError, load_recipe
from susurrus.train.sot import SPEAKER_CHANGE, sot_target, speaker_change_id, split_sot

pytestmark = pytest.mark.usefixtures("one_thread")

SR = 16_000
SECONDS = 1.6  # every line's length
ROOT = Path(__file__).parents[2]
LAYOUTS = [[(0.0, "one")], [(0.5, "good day"), (0.0, "hello there")],
           [(0.0, "a b"), (0.0, "c d e")], [(0.0, "x"), (0.3, "y z"), (0.6, "w")]]


def tone(seconds: float, hz: float, seed: int) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    noise = np.random.default_rng(seed).standard_normal(t.size)
    return (0.3 * np.sin(2 * np.pi * hz * t) + 0.02 * noise).astype(np.float32)


@pytest.fixture(scope="module")
def mixtures(tmp_path_factory) -> Path:
    """1-, 2- and 3-talker mixtures of tones (offset and simultaneous) and a plain line, all
    1.6 s long: one duration bucket, so a batch of 20 s holds all five every step."""
    root = tmp_path_factory.mktemp("mix")
    utts = []
    for i, talkers in enumerate(LAYOUTS):
        sources = [(int(o * SR), tone(0.6 + 0.2 * k, 200 + 90 * k, i * 10 + k))
                   for k, (o, _) in enumerate(talkers)]
        audio = np.zeros(int(SECONDS * SR), np.float32)
        for o, s in sources:
            audio[o:o + s.size] += s
        sf.write(root / f"m{i}.wav", audio, SR)
        utts.append(Utterance(id=f"m{i}", audio=root / f"m{i}.wav", talkers=tuple(
            Talker(f"s{k}", o, text, (o + s.size / SR) - o)
            for k, ((o, text), (_, s)) in enumerate(zip(talkers, sources, strict=True)))))
    sf.write(root / "plain.wav", tone(SECONDS, 300, 99), SR)
    utts.append(Utterance(id="plain", audio=root / "plain.wav", text="just me"))
    return write_manifest(utts, root / "train.jsonl")


@pytest.fixture(scope="module")
def tokenizer(tiny_llm_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_llm_dir)


def ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


# -- SOT targets ----------------------------------------------------------------------------------

def test_the_speaker_change_is_one_token_that_joins_texts_without_changing_them(tokenizer):
    sc = speaker_change_id(tokenizer)
    assert ids(tokenizer, SPEAKER_CHANGE) == [sc]
    joined = ids(tokenizer, f"hello there{SPEAKER_CHANGE}good day")
    assert joined == ids(tokenizer, "hello there") + [sc] + ids(tokenizer, "good day")
    assert SPEAKER_CHANGE in tokenizer.decode(joined, skip_special_tokens=True)


@pytest.mark.parametrize("talkers, order", [
    ([TalkerRef(0.0, "one")], [0]),
    ([TalkerRef(0.5, "good day"), TalkerRef(0.0, "hello there")], [1, 0]),
    # simultaneous (same 20-ms frame): the longer talker first, whatever the manifest order
    ([TalkerRef(0.0, "a b", 0.6), TalkerRef(0.01, "c d e", 0.9)], [1, 0]),
    ([TalkerRef(0.6, "w", 0.5), TalkerRef(0.0, "x", 0.5), TalkerRef(0.0, "y z", 0.5)],
     [1, 2, 0]),  # a full tie: the manifest order
])
def test_sot_targets_serialize_the_talkers_by_onset_like_the_ctc_branches(tokenizer, talkers,
                                                                           order):
    target = sot_target(talkers, tokenizer)
    sc = speaker_change_id(tokenizer)
    want: list[int] = []
    for n, i in enumerate(order):
        want += ([sc] if n else []) + ids(tokenizer, talkers[i].text)
    assert target.ids == want
    assert target.texts == [talkers[i].text for i in order]
    for (a, b), text in zip(target.spans, target.texts, strict=True):
        assert target.ids[a:b] == ids(tokenizer, text)
    assert [target.ids[a - 1] for a, _ in target.spans[1:]] == [sc] * (len(order) - 1)
    # the same order as the branches' serialized CTC targets (one rule, imported)
    branches = serialized_targets(talkers, 3, lambda t: [len(t), ord(t[0])])
    assert branches[: len(order)] == [[len(t), ord(t[0])] for t in target.texts]
    assert split_sot(tokenizer.decode(target.ids, skip_special_tokens=True)) == target.texts


def test_a_transcript_holding_a_line_break_cannot_fake_a_talker(tokenizer):
    target = sot_target([TalkerRef(0.0, "hello\nthere  you"), TalkerRef(1.0, "bye")], tokenizer)
    assert target.texts == ["hello there you", "bye"]
    assert target.ids.count(speaker_change_id(tokenizer)) == 1
    assert split_sot("a b\n\nc \n") == ["a b", "c"]


def test_the_task_reads_mixtures_with_sot_targets(tokenizer, mixtures):
    from susurrus.data.lhotse_io import load_utterances
    from susurrus.train.tasks.speech_llm import SpeechLLMTask

    task = SpeechLLMTask()
    task.sot = True
    model = SimpleNamespace(tokenizer=tokenizer)
    utts = {u.id: u for u in load_utterances(mixtures)}
    sc = speaker_change_id(tokenizer)
    assert task.target_ids(model, utts["m1"]) == (ids(tokenizer, "hello there") + [sc]
                                                  + ids(tokenizer, "good day"))
    assert task.target_ids(model, utts["m3"]).count(sc) == 2
    assert task.target_ids(model, utts["plain"]) == ids(tokenizer, "just me")
    task.sot = False
    assert task.target_ids(model, utts["plain"]) == ids(tokenizer, "just me")


# -- the teacher: a tiny SOT speech LLM, its cached states -----------------------------------------

@pytest.fixture(scope="module")
def features(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("features")


@pytest.fixture(scope="module")
def teacher(one_thread, tmp_path_factory, mixtures, features, tiny_whisper_dir, tiny_llm_dir):
    """A tiny speech LLM trained 8 steps with model.sot=true on the mixtures: (run, messages)."""
    out = tmp_path_factory.mktemp("runs") / "sot"
    messages: list[str] = []
    recipe = load_recipe(ROOT / "recipes" / "speech_llm" / "sot.yaml", [
        f"model.encoder={tiny_whisper_dir}", f"model.llm={tiny_llm_dir}",
        "model.projector_hidden=32", "model.lora.r=2", "model.lora.dropout=0.0",
        "model.compressor_options.k=2", f"data.train=[{mixtures}]", f"data.valid={mixtures}",
        "data.batch_seconds=20", "data.valid_limit=5", "train.steps=8", "train.log_every=1",
        "train.save_every=8", "train.valid_every=0", "train.warmup_steps=1", "train.lr=1e-2",
        "train.align_steps=0", "train.init=", "train.precision=fp32", f"train.out={out}"])
    result = train(recipe, progress=False, cache_root=features, log=messages.append)
    return out, result, messages


def logged_losses(out: Path) -> list[float]:
    lines = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    return [d["loss"] for d in lines if "loss" in d]


def test_a_tiny_sot_speech_llm_trains_on_mixtures_and_validates_by_cpwer(teacher):
    out, result, messages = teacher
    assert result.steps == 8 and result.valid_wer is not None
    assert any(m.startswith("train: 5 utterances") for m in messages), messages
    assert any(m.startswith("valid: cpWER") and "5 mixtures" in m for m in messages), messages
    loss = logged_losses(out)
    assert len(loss) == 8 and all(map(math.isfinite, loss))
    assert np.mean(loss[-2:]) < 0.7 * np.mean(loss[:2]), loss  # one batch of all 5 each step


def distill_recipe(tiny_whisper_dir, mixtures, out: Path, teacher_run: Path, cache: Path,
                   *extra: str):
    return load_recipe(ROOT / "recipes" / "multitalker" / "distill.yaml", [
        f"model.encoder={tiny_whisper_dir}", "model.separator_options.hidden=16",
        "model.separator_options.branch_hidden=16", "model.count_hidden=8",
        f"model.teacher={teacher_run}", f"model.teacher_cache={cache}",
        f"data.train=[{mixtures}]", f"data.valid={mixtures}", "data.batch_seconds=20",
        "train.log_every=1", "train.valid_every=0", "train.warmup_steps=1", f"train.out={out}",
        *extra])


@pytest.fixture(scope="module")
def states(teacher, tmp_path_factory, tiny_whisper_dir, mixtures, features):
    """The teacher's states cached by `compute_sot_states`: (folder, recipe, log messages)."""
    from susurrus.train.sot_teacher import compute_sot_states

    root = tmp_path_factory.mktemp("states")
    recipe = distill_recipe(tiny_whisper_dir, mixtures, root / "run", teacher[0],
                            root / "cache")
    messages: list[str] = []
    folder = compute_sot_states(recipe, progress=False, log=messages.append, batch_size=2,
                                features_root=features)
    return folder, recipe, messages


def test_the_cache_holds_each_talkers_pooled_states_in_onset_order(teacher, states, features):
    from susurrus.data.lhotse_io import load_utterances
    from susurrus.data.talker_states import TalkerStatesCache
    from susurrus.models.speech_llm.checkpoint import load_speech_llm
    from susurrus.train.data import FeatureCache
    from susurrus.train.mixtures import talkers_of

    folder, recipe, _ = states
    cache = TalkerStatesCache.open(folder)
    utts = load_utterances(recipe.data.train[0])
    assert len(cache) == len(utts) == 5
    model = load_speech_llm(teacher[0])
    feats = FeatureCache(features, str(recipe.model.encoder), model.encoder)
    for u in utts:
        target = sot_target(talkers_of(u), model.tokenizer)
        item = cache[u.id]
        assert item.states.shape == (len(talkers_of(u)), 64)
        assert item.tokens.tolist() == [b - a for a, b in target.spans]
        f = feats.get(u)
        [h] = model.target_states(f[None], torch.tensor([f.shape[0]]), [target.ids])
        want = np.stack([h[a:b].mean(0).numpy() for a, b in target.spans])
        np.testing.assert_allclose(item.states, want, atol=2e-2, rtol=2e-2)  # float16 on disk
    m1 = cache["m1"].states  # its two talkers said different things: different states
    assert not np.allclose(m1[0], m1[1], atol=1e-2)


def test_the_cache_resumes_and_skips_what_is_done(states, features):
    from susurrus.data.talker_states import TalkerStatesCache
    from susurrus.train.sot_teacher import compute_sot_states

    folder, recipe, _ = states
    shards = sorted(folder.glob("*.safetensors"))
    messages: list[str] = []
    compute_sot_states(recipe, progress=False, log=messages.append, features_root=features)
    assert sorted(folder.glob("*.safetensors")) == shards  # nothing recomputed
    assert any("5 mixtures already done, 0 to go" in m for m in messages), messages
    assert len(TalkerStatesCache.open(folder)) == 5


def test_a_stopped_cache_run_redoes_only_its_missing_shards(teacher, states, tmp_path,
                                                             features):
    from susurrus.data.lhotse_io import load_utterances
    from susurrus.data.talker_states import TalkerStatesCache
    from susurrus.models.speech_llm.checkpoint import load_speech_llm
    from susurrus.train.data import FeatureCache
    from susurrus.train.sot_teacher import compute_talker_states

    folder, recipe, _ = states
    model = load_speech_llm(teacher[0])
    feats = FeatureCache(features, str(recipe.model.encoder), model.encoder)
    utts = load_utterances(recipe.data.train[0])
    out = tmp_path / "states"
    compute_talker_states(model, "t", utts, feats.get, out, shard_size=2, progress=False)
    shards = sorted(out.glob("*.safetensors"))
    assert len(shards) == 3  # 2 + 2 + 1 mixtures
    shards[1].unlink()  # as if stopped while writing the second shard
    messages: list[str] = []
    compute_talker_states(model, "t", utts, feats.get, out, shard_size=2, progress=False,
                          log=messages.append)
    assert messages == [f"teacher states {out}: 3 mixtures already done, 2 to go"]
    cache, full = TalkerStatesCache.open(out), TalkerStatesCache.open(folder)
    assert len(cache) == 5
    for u in utts:
        np.testing.assert_allclose(cache[u.id].states, full[u.id].states, atol=1e-3)


def test_the_distill_teacher_command_caches_a_multitalker_recipes_teacher(
        teacher, tmp_path, tiny_whisper_dir, mixtures, isolated_cache):
    from susurrus.cli.main import main
    from susurrus.data.talker_states import TalkerStatesCache

    folder = tmp_path / "cache"
    args = [f"model.encoder={tiny_whisper_dir}", f"model.teacher={teacher[0]}",
            f"model.teacher_cache={folder}", f"data.train=[{mixtures}]"]
    recipe = ROOT / "recipes" / "multitalker" / "distill.yaml"
    assert main(["distill-teacher", str(recipe), *args, "--quiet", "--batch-size", "3"]) == 0
    assert len(TalkerStatesCache.open(folder)) == 5
    # a multitalker recipe without a distillation term has no teacher to cache
    assert main(["distill-teacher", str(recipe), *args, "model.distill=", "--quiet"]) == 2


def test_training_without_the_cache_names_the_command(teacher, tmp_path, tiny_whisper_dir,
                                                       mixtures, features):
    from susurrus.train.sot_teacher import MissingTalkerStatesError

    recipe = distill_recipe(tiny_whisper_dir, mixtures, tmp_path / "run", teacher[0],
                            tmp_path / "nothing", "train.steps=2")
    with pytest.raises(MissingTalkerStatesError, match="susurrus distill-teacher"):
        train(recipe, progress=False, cache_root=features, log=lambda m: None)


def test_a_distillation_without_a_teacher_is_refused(tiny_whisper_dir, mixtures, tmp_path):
    with pytest.raises(RecipeError, match="model.teacher"):
        distill_recipe(tiny_whisper_dir, mixtures, tmp_path / "run", Path(""), tmp_path / "c",
                       "model.teacher=")


def test_the_distillation_term_falls_while_a_tiny_multitalker_model_trains(
        teacher, states, tmp_path, tiny_whisper_dir, mixtures, features):
    folder, _, _ = states
    out = tmp_path / "run"
    messages: list[str] = []
    # only the term counts, so the logged loss is the term; one batch of all 5 mixtures a step
    recipe = distill_recipe(tiny_whisper_dir, mixtures, out, teacher[0], folder,
                            "train.steps=10", "train.lr=1e-2", "model.ctc_weight=0",
                            "model.idle_weight=0", "model.count_weight=0",
                            "model.distill_weight=1.0")
    result = train(recipe, progress=False, cache_root=features, log=messages.append)
    assert result.steps == 10
    assert any(m.startswith("distillation: sot_states from 5 mixtures") for m in messages)
    [parts] = [m for m in messages if m.startswith("train loss parts")]
    assert "distill" in parts and "ctc" in parts
    loss = logged_losses(out)
    assert loss[0] > 0.05 and np.mean(loss[-2:]) < 0.8 * np.mean(loss[:2]), loss
    assert loss[-1] < min(loss[:3]), loss


def test_the_term_trains_alongside_the_ctc_losses(teacher, states, tmp_path, tiny_whisper_dir,
                                                  mixtures, features):
    folder, _, _ = states
    out = tmp_path / "run"
    messages: list[str] = []
    recipe = distill_recipe(tiny_whisper_dir, mixtures, out, teacher[0], folder,
                            "train.steps=3")  # the recipe's weights: CTC, idle, count, 0.5 term
    result = train(recipe, progress=False, cache_root=features, log=messages.append)
    assert result.steps == 3 and math.isfinite(result.final_loss)
    [parts] = [m for m in messages if m.startswith("train loss parts")]
    values = dict(p.rsplit(" ", 1) for p in parts.split(": ", 1)[1].split(", "))
    assert set(values) == {"ctc", "idle", "count", "distill"}
    assert float(values["distill"]) > 0


# -- the relational loss against a slow reference -------------------------------------------------

def test_the_relational_loss_matches_a_naive_reference():
    torch.manual_seed(0)
    s, t = torch.randn(5, 7), torch.randn(5, 11)

    def cos(a, b) -> float:
        return float(a @ b / (a.norm() * b.norm()))

    sc, tc = s - s.mean(0), t - t.mean(0)  # angles about the batch's centre

    pairs = [(i, j) for i in range(5) for j in range(5) if i != j]
    want = sum((cos(sc[i], sc[j]) - cos(tc[i], tc[j])) ** 2 for i, j in pairs) / len(pairs)
    assert float(RelationalDistillLoss()(s, t)) == pytest.approx(want, rel=1e-5)
    # scale and a shared offset do not count
    assert float(RelationalDistillLoss()(t[:, :7] * 3 + 5, t[:, :7])) == pytest.approx(0, abs=1e-5)
    one = torch.randn(1, 7, requires_grad=True)
    zero = RelationalDistillLoss()(one, torch.randn(1, 11))
    zero.backward()
    assert zero.item() == 0 and one.grad is not None
