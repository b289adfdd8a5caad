"""`precision: auto`: bf16 only where measured clearly faster, the rates cached per machine, and
the loop training in what was chosen (issue 16, item 3)."""

from __future__ import annotations

import json
import math
import threading
import time
from pathlib import Path

import pytest
import torch

from susurrus.testing.toy_task import ToyCTCTask
from susurrus.train import precision as P
from susurrus.train.loop import train
from susurrus.train.precision import MARGIN, ProbeMatmul, Rates, choose_precision, decide
from susurrus.train.recipe import load_recipe
from susurrus.train.task import TASKS
from tests.train.test_task import toy_corpus, toy_overrides

FAST_BF16 = Rates(fp32=0.18, bf16=0.41)  # the AMD EPYC of DESIGN.md: bf16 2.3x
SLOW_BF16 = Rates(fp32=0.20, bf16=0.22)  # 1.1x: not worth it


class Counter:
    """A fake probe: returns `rates`, counts its calls, optionally takes its time."""

    def __init__(self, rates: Rates, seconds: float = 0.0) -> None:
        self.rates, self.seconds, self.calls = rates, seconds, 0

    def __call__(self) -> Rates:
        self.calls += 1
        time.sleep(self.seconds)
        return self.rates


def _never() -> Rates:
    raise AssertionError("must not measure")


# --- the decision -------------------------------------------------------------------------------


@pytest.mark.parametrize(("rates", "chosen"), [
    (FAST_BF16, "bf16"),
    (Rates(0.22, 1.6), "bf16"),  # AMX
    (SLOW_BF16, "fp32"),
    (Rates(0.30, 0.15), "fp32"),  # no bf16 units: emulated, slower
    (Rates(0.10, 0.10 * MARGIN), "bf16"),  # exactly the margin
    (Rates(0.10, 0.10 * MARGIN * 0.99), "fp32"),
    (Rates(0.0, 0.3), "fp32"), (Rates(float("nan"), 0.3), "fp32"), (Rates(0.2, math.inf), "fp32"),
])
def test_bf16_only_when_clearly_faster(rates, chosen):
    assert decide(rates) == chosen


def test_the_margin_is_a_parameter():
    assert decide(SLOW_BF16, margin=1.05) == "bf16" and decide(FAST_BF16, margin=3.0) == "fp32"


# --- choosing on a machine ----------------------------------------------------------------------


@pytest.mark.parametrize(("rates", "chosen"), [(FAST_BF16, "bf16"), (SLOW_BF16, "fp32")])
def test_auto_on_a_cpu_measures_once_then_reads_the_cache(tmp_path, rates, chosen):
    probe = Counter(rates)
    first = choose_precision("auto", tmp_path, probe, device_type="cpu")
    assert (first.precision, first.why, probe.calls) == (chosen, "measured", 1)
    assert first.mixed_precision == ("bf16" if chosen == "bf16" else "no")
    assert first.rates == rates and first.cache is not None and first.cache.parent == tmp_path
    record = json.loads((first.cache / P.RATES_FILE).read_text())
    assert record["key"] == P.machine_key() and record["precision"] == chosen
    again = choose_precision("auto", tmp_path, _never, device_type="cpu")
    assert (again.precision, again.why, again.rates, again.cache) == (
        chosen, "cached", rates, first.cache)
    line = again.describe()
    assert f"precision auto: {chosen}" in line and f"{rates.bf16:.3f}" in line
    assert str(first.cache) in line and "delete it to measure again" in line


def test_the_cache_is_per_cpu_model_and_torch_version(tmp_path, monkeypatch):
    choose_precision("auto", tmp_path, Counter(FAST_BF16), device_type="cpu")
    monkeypatch.setattr(P, "cpu_name", lambda: "Some Other CPU 9000")
    other = Counter(SLOW_BF16)
    assert choose_precision("auto", tmp_path, other, device_type="cpu").precision == "fp32"
    monkeypatch.setattr(torch, "__version__", "9.9.9")
    newer = Counter(FAST_BF16)
    assert choose_precision("auto", tmp_path, newer, device_type="cpu").why == "measured"
    assert (other.calls, newer.calls) == (1, 1)
    folders = sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("."))
    assert len(folders) == 3
    assert any(f.startswith("Some-Other-CPU-9000-torch9.9.9-") for f in folders)


def test_processes_starting_together_measure_once_and_agree(tmp_path):
    probe, seen = Counter(FAST_BF16, seconds=0.3), []
    threads = [threading.Thread(target=lambda: seen.append(
        choose_precision("auto", tmp_path, probe, device_type="cpu"))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert probe.calls == 1
    assert {c.precision for c in seen} == {"bf16"} and sorted(c.why for c in seen) == [
        "cached", "cached", "measured"]


def test_an_unwritable_cache_still_decides(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    probe = Counter(FAST_BF16)
    choice = choose_precision("auto", blocked / "precision", probe, device_type="cpu")
    assert (choice.precision, choice.cache, probe.calls) == ("bf16", None, 1)
    assert "not cached" in choice.describe()


@pytest.mark.parametrize("asked", ["fp32", "bf16"])
def test_an_explicit_precision_is_kept_without_measuring(tmp_path, asked):
    choice = choose_precision(asked, tmp_path, _never, device_type="cpu")
    assert (choice.precision, choice.why, choice.rates) == (asked, "asked", None)
    assert list(tmp_path.iterdir()) == []


def test_cuda_keeps_bf16_where_supported_without_measuring(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *_: "Fake GPU")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *_, **__: True)
    choice = choose_precision("auto", tmp_path, _never, device_type="cuda")
    assert (choice.precision, choice.why) == ("bf16", "cuda") and "Fake GPU" in choice.machine
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *_, **__: False)
    assert choose_precision("auto", tmp_path, _never, device_type="cuda").precision == "fp32"


def test_another_accelerator_stays_fp32(tmp_path):
    choice = choose_precision("auto", tmp_path, _never, device_type="mps")
    assert choice.precision == "fp32" and "mps" in choice.why


# --- the probe itself ---------------------------------------------------------------------------


def test_the_probe_times_both_precisions_within_its_budget():
    probe = [ProbeMatmul(64, 32, 2, "both"), ProbeMatmul(32, 64, 1, "weight"),
             ProbeMatmul(64, 64, 1, "none")]
    t0 = time.perf_counter()
    rates = P.measure_rates(probe, tokens=64, budget_s=0.05, min_rounds=2)
    assert time.perf_counter() - t0 < 5
    assert all(math.isfinite(r) and r > 0 for r in (rates.fp32, rates.bf16))


def test_the_probe_is_the_llms_layer_forward_and_backward():
    # SmolLM2-135M per decoder layer: 7 frozen linear layers, 3.5 M weights; the backward to the
    # activations runs every one once more, transposed
    weights = sum(m.in_dim * m.out_dim * m.count for m in P.PROBE)
    assert weights == 2 * (2 * 576 * 576 + 2 * 576 * 192 + 3 * 576 * 1536)
    forward = [m for m in P.PROBE if m.casts != "none"]
    assert sum(m.count for m in forward) == 7
    assert {m.casts for m in forward if m.count == 1 and m.in_dim == 1536} == {"weight"}


# --- the loop trains in what was chosen ---------------------------------------------------------


class AutocastRecordingTask(ToyCTCTask):
    """The toy CTC task, noting whether each loss ran under autocast and in which dtype."""

    seen: list[tuple[bool, torch.dtype]] = []

    def loss(self, model, batch, device):
        AutocastRecordingTask.seen.append((torch.is_autocast_enabled("cpu"),
                                           torch.get_autocast_dtype("cpu")))
        return super().loss(model, batch, device)


@pytest.fixture
def fresh_accelerate():
    """Accelerate keeps one mixed precision per process: start from none, leave none behind
    (the other tests train in fp32 in this process)."""
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state()
    yield
    AcceleratorState._reset_state()


@pytest.mark.usefixtures("fresh_accelerate")
@pytest.mark.parametrize(("rates", "autocast"), [(FAST_BF16, True), (SLOW_BF16, False)])
def test_train_with_auto_runs_the_chosen_precision_and_says_so(
        tmp_path, monkeypatch, rates, autocast):
    monkeypatch.setitem(TASKS, "recording", f"{__name__}:AutocastRecordingTask")
    monkeypatch.setattr("susurrus.train.loop.choose_precision", lambda asked: choose_precision(
        asked, tmp_path / "cache", Counter(rates), device_type="cpu"))
    AutocastRecordingTask.seen = []
    messages: list[str] = []
    out = tmp_path / "run"
    recipe = load_recipe(None, ["task=recording", "train.precision=auto",
                                *toy_overrides(toy_corpus(_mkdir(tmp_path / "toy")), out),
                                "train.steps=2"])
    result = train(recipe, progress=False, log=messages.append)
    assert result.steps == 2 and math.isfinite(result.final_loss)
    chosen = "bf16" if autocast else "fp32"
    assert any(m.startswith(f"precision auto: {chosen} (") for m in messages), messages
    assert AutocastRecordingTask.seen and all(
        on == autocast and (dtype == torch.bfloat16 or not on)
        for on, dtype in AutocastRecordingTask.seen)


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


# --- what stays float32 under bf16 autocast -----------------------------------------------------


def test_under_bf16_autocast_the_loss_norms_and_gradients_stay_float32(
        tiny_whisper_dir, tiny_llm_dir):
    from susurrus.testing.speech_llm import build, load_parts

    model = build(load_parts(tiny_whisper_dir, tiny_llm_dir)).train()
    norms: list[tuple[torch.dtype, torch.dtype]] = []  # (RMSNorm input as computed, weight)
    for name, module in model.llm.named_modules():
        if name.endswith("norm"):
            module.register_forward_hook(lambda m, i, o: norms.append((o.dtype, m.weight.dtype)))
    feats, lengths = torch.randn(2, 20, 64), torch.tensor([20, 14])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = model(feats, lengths, [[11, 12, 13], [14, 15]])
        loss.backward()
    assert loss.dtype == torch.float32  # logits upcast: log-softmax, cross-entropy in float32
    # the LLM's RMSNorm computes in float32 and hands the float32 residual stream on
    assert norms and all(out == torch.float32 and w == torch.float32 for out, w in norms)
    trained = [p for p in model.parameters() if p.requires_grad]
    assert trained and all(p.dtype == p.grad.dtype == torch.float32 for p in trained)
