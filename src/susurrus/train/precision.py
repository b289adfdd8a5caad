"""`precision: auto`: bf16 autocast where it is clearly faster on the machine at hand, else fp32.

Machines differ (issue 16, item 3): one CPU with AMX ran bf16 matmuls 7x faster than fp32,
another (AMD EPYC, avx512_bf16) 2.3x faster with a LoRA step only 1.3x faster, and a CPU
without bf16 units runs bf16 slower than fp32. So on a CPU `auto` measures:

    choice = choose_precision("auto")   # ~1 s the first time on a machine, then from the cache
    choice.precision                    # "bf16" or "fp32"
    choice.mixed_precision              # what Accelerate's `mixed_precision` takes: "bf16" | "no"
    print(choice.describe())            # which, the measured rates, where they are cached

The probe (`PROBE`, about a second) times the LLM's own matmuls: SmolLM2-135M's frozen linear
layers at ~1k tokens, each forward shape and the transposed one its backward runs to reach the
activations, in fp32 and in bf16 autocast with the casts a real step makes (autocast casts a
frozen weight at every call, and q/k/v/gate/up read the float32 residual stream). Precisions
alternate round by round so that a busy spell of the machine falls on both, and each matmul's
fastest time counts. bf16 is chosen only when it is at least `MARGIN` (1.3x) faster: only
about half of a step is these matmuls (on this project's 2-core AMD EPYC with avx512_bf16 the
probe gave 1.95-2.0x and the default recipe's step was 1.3-1.43x faster in bf16,
`benchmarks/train_throughput.py`), so a 1.3x probe is ~1.1x on the step, the least worth bf16's
coarser rounding and above the probe's noise on a quiet machine. (A busy machine measures
less: the rates are logged, and cached with the load average of the moment.)

The rates are cached per machine (CPU model, torch version, probe version) in
`<susurrus cache>/precision/`, and the decision is made from them; delete the folder to
measure again. On CUDA `auto` keeps bf16 where the device supports it, without measuring; on
other accelerators (e.g. MPS) it stays fp32.

Numerics that need float32 keep it under autocast (tests/train/test_precision.py checks): the
LLM's RMSNorm upcasts to float32 itself and the residual stream stays float32, the speech LLM
upcasts its logits before the log-softmax and cross-entropy, LayerNorm kernels accumulate in
float32, and the trained weights, their gradients, the gradient norm and AdamW's state stay
float32 (autocast only lowers the matmuls' operands).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F

Chosen = Literal["fp32", "bf16"]
Casts = Literal["both", "weight", "none"]  # what autocast casts to bf16 in a bf16 step

MARGIN = 1.3  # bf16 must be at least this many times faster than fp32 (see the module docstring)
PROBE_VERSION = 1  # bump when the probe changes what it measures: cached rates are then stale
PROBE_TOKENS = 1024  # rows of each probe matmul: a default batch holds ~12 x 110 LLM positions


@dataclass(frozen=True)
class ProbeMatmul:
    """One matmul of a training step: `(tokens, in_dim) @ (in_dim, out_dim)`, `count` times."""

    in_dim: int
    out_dim: int
    count: int  # how many of it a decoder layer runs
    # in a bf16 step, the operands autocast casts: both (fp32 input and weight), the weight
    # only (a bf16 activation, a frozen fp32 weight: frozen weights are cast at every call),
    # or none (a backward matmul: bf16 gradient, the bf16 weight saved by the forward)
    casts: Casts


def _smollm2_layer(width: int = 576, kv: int = 192, mlp: int = 1536) -> tuple[ProbeMatmul, ...]:
    """SmolLM2-135M's frozen linear layers, forward and backward-to-the-activations (frozen
    weights get no weight-gradient matmul), with the casts of a bf16 autocast step: q/k/v and
    gate/up read the float32 residual stream, o/down read bf16 activations."""
    return (ProbeMatmul(width, width, 1, "both"),  # q_proj
            ProbeMatmul(width, kv, 2, "both"),  # k_proj, v_proj
            ProbeMatmul(width, width, 1, "weight"),  # o_proj
            ProbeMatmul(width, mlp, 2, "both"),  # gate_proj, up_proj
            ProbeMatmul(mlp, width, 1, "weight"),  # down_proj
            ProbeMatmul(width, width, 2, "none"),  # backward of q_proj, o_proj
            ProbeMatmul(kv, width, 2, "none"),  # of k_proj, v_proj
            ProbeMatmul(mlp, width, 2, "none"),  # of gate_proj, up_proj
            ProbeMatmul(width, mlp, 1, "none"))  # of down_proj


PROBE: tuple[ProbeMatmul, ...] = _smollm2_layer()


@dataclass(frozen=True)
class Rates:
    """Matmul rates at the probe's shapes, in TFLOP/s."""

    fp32: float  # fp32 operands
    bf16: float  # bf16 autocast from fp32 operands (casts included)

    @property
    def speedup(self) -> float:
        return self.bf16 / self.fp32 if self.fp32 > 0 else float("nan")


@dataclass(frozen=True)
class PrecisionChoice:
    """What a recipe's `precision` became on this machine, and why."""

    asked: str  # the recipe's value: fp32, bf16 or auto
    precision: Chosen  # what training runs in
    why: str  # "asked", "measured", "cached", "cuda", "cuda without bf16", or the device type
    machine: str  # CPU model or device name, and torch version
    rates: Rates | None = None  # the probe's rates (auto on a CPU)
    cache: Path | None = None  # where the rates are kept (None: not cached)

    @property
    def mixed_precision(self) -> str:
        """Accelerate's `mixed_precision` for it."""
        return "bf16" if self.precision == "bf16" else "no"

    def describe(self) -> str:
        """One line for the training log."""
        head = f"precision {self.asked}: {self.precision}"
        if self.rates is None:
            return f"{head} ({self.why}; {self.machine})"
        r = self.rates
        verdict = "at least" if self.precision == "bf16" else "less than"
        where = (f"measured now, cached in {self.cache}" if self.why == "measured" and self.cache
                 else f"cached in {self.cache}; delete it to measure again" if self.cache
                 else "measured now, not cached")
        return (f"{head} (LLM-shaped matmuls: bf16 autocast {r.bf16:.3f} TFLOP/s, fp32 "
                f"{r.fp32:.3f}, {r.speedup:.2f}x, {verdict} the {MARGIN}x bf16 needs; "
                f"{self.machine}; {where})")


def decide(rates: Rates, margin: float = MARGIN) -> Chosen:
    """bf16 when its rate is at least `margin` times fp32's; fp32 otherwise (or unmeasured)."""
    ok = all(math.isfinite(x) and x > 0 for x in (rates.fp32, rates.bf16))
    return "bf16" if ok and rates.bf16 >= margin * rates.fp32 else "fp32"


# --- measuring -----------------------------------------------------------------------------------


def cpu_name() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _operands(m: ProbeMatmul, tokens: int, device: torch.device, gen: torch.Generator
              ) -> dict[Chosen, tuple[torch.Tensor, torch.Tensor]]:
    """x (tokens, in), w (out, in) as each precision's step holds them."""
    x = torch.randn(tokens, m.in_dim, generator=gen).to(device)
    w = torch.randn(m.out_dim, m.in_dim, generator=gen).to(device)
    bf16 = (x if m.casts == "both" else x.to(torch.bfloat16),
            w if m.casts != "none" else w.to(torch.bfloat16))
    return {"fp32": (x, w), "bf16": bf16}


def matmul_seconds(x: torch.Tensor, w: torch.Tensor, precision: Chosen) -> float:
    """Wall seconds of one `x @ w.T` (x (M, K), w (N, K)), under bf16 autocast for bf16."""
    _sync(x.device)
    t0 = time.perf_counter()
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
        F.linear(x, w)
    _sync(x.device)
    return time.perf_counter() - t0


def measure_rates(probe: Sequence[ProbeMatmul] = PROBE, tokens: int = PROBE_TOKENS,
                  device: torch.device | str = "cpu", budget_s: float = 1.0,
                  min_rounds: int = 2, max_rounds: int = 10) -> Rates:
    """TFLOP/s of the probe's matmuls (weighted by count) in fp32 and in bf16 autocast.

    Rounds alternate the precisions (every matmul once per precision per round) until
    `budget_s` seconds have passed (at least `min_rounds`, at most `max_rounds`), so that a
    busy spell of the machine falls on both; each matmul's fastest time counts. A first
    warm-up round is not counted.
    """
    device = torch.device(device)
    gen = torch.Generator().manual_seed(0)
    operands = [_operands(m, tokens, device, gen) for m in probe]
    flops = sum(2 * tokens * m.in_dim * m.out_dim * m.count for m in probe)
    best: dict[Chosen, list[float]] = {p: [math.inf] * len(probe) for p in ("fp32", "bf16")}
    t_start, rounds = time.perf_counter(), -1  # round -1: warm-up
    while rounds < min_rounds or (rounds < max_rounds
                                  and time.perf_counter() - t_start < budget_s):
        for precision in best:
            for j, ops in enumerate(operands):
                t = matmul_seconds(*ops[precision], precision)
                if rounds >= 0:
                    best[precision][j] = min(best[precision][j], t)
        if rounds < 0:
            t_start = time.perf_counter()
        rounds += 1
    rate = {p: flops / sum(m.count * t for m, t in zip(probe, best[p], strict=True)) / 1e12
            for p in best}
    return Rates(fp32=rate["fp32"], bf16=rate["bf16"])


# --- choosing and caching ------------------------------------------------------------------------


def machine_key() -> dict[str, str | int]:
    """What the CPU rates depend on: the CPU model, the torch build, the probe."""
    return {"cpu": cpu_name(), "torch": torch.__version__, "probe": PROBE_VERSION}


def cache_folder(root: Path, key: Mapping[str, str | int]) -> Path:
    """`root/<cpu>-torch<version>-<hash>`: readable, and one folder per distinct key."""
    digest = hashlib.sha256(json.dumps(dict(key), sort_keys=True).encode()).hexdigest()[:10]
    slug = re.sub(r"[^A-Za-z0-9.+_-]+", "-", f"{key['cpu']}-torch{key['torch']}").strip("-")
    return root / f"{slug[:80]}-{digest}"


RATES_FILE = "rates.json"


def cached_rates(root: Path, measure: Callable[[], Rates] = measure_rates,
                 key: Mapping[str, str | int] | None = None) -> tuple[Rates, Path, bool]:
    """(rates, their folder, whether they were measured now): read from `root`, or measured once
    and written there (one process measures, any other waits for it and reads: every process
    of a multi-process run takes the same decision)."""
    from susurrus.pretrained.cache import build_once

    key = machine_key() if key is None else key
    folder = cache_folder(root, key)
    measured = []

    def build(tmp: Path) -> None:
        rates = measure()
        measured.append(rates)
        record = {"key": dict(key), "fp32_tflops": rates.fp32, "bf16_autocast_tflops": rates.bf16,
                  "speedup": round(rates.speedup, 3), "margin": MARGIN,
                  "precision": decide(rates), "threads": torch.get_num_threads(),
                  "load_average": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg")
                  else None,
                  "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        (tmp / RATES_FILE).write_text(json.dumps(record, indent=1))

    build_once(folder, build)
    record = json.loads((folder / RATES_FILE).read_text())
    return Rates(record["fp32_tflops"], record["bf16_autocast_tflops"]), folder, bool(measured)


def _device_type() -> str:
    """The device Accelerate will train on: cuda, cpu, or another accelerator's type."""
    if torch.cuda.is_available():
        return "cuda"
    current = getattr(torch, "accelerator", None)
    acc = current.current_accelerator() if current is not None else None
    return acc.type if acc is not None else "cpu"


def choose_precision(asked: str, cache: Path | None = None,
                     measure: Callable[[], Rates] = measure_rates,
                     device_type: str | None = None) -> PrecisionChoice:
    """The precision a recipe's `fp32 | bf16 | auto` trains in on this machine.

    `cache`: the folder of cached rates (default `<susurrus cache>/precision`); a cache that
    cannot be written is skipped (measured again next time). `measure` and `device_type` are
    for tests.
    """
    device_type = device_type or _device_type()
    if device_type == "cuda" and torch.cuda.is_available():
        machine = f"{torch.cuda.get_device_name()}, torch {torch.__version__}"
    else:
        machine = f"{cpu_name()}, torch {torch.__version__}"
    if asked in ("fp32", "bf16"):
        return PrecisionChoice(asked, asked, "asked", machine)  # type: ignore[arg-type]
    if asked != "auto":
        raise ValueError(f"precision must be fp32, bf16 or auto, got {asked!r}")
    if device_type == "cuda":
        ok = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
        return PrecisionChoice(asked, "bf16" if ok else "fp32",
                               "cuda" if ok else "cuda without bf16", machine)
    if device_type != "cpu":
        return PrecisionChoice(asked, "fp32", f"{device_type}: auto measures CPUs only", machine)
    if cache is None:
        from susurrus.pretrained.cache import cache_root

        cache = cache_root() / "precision"
    try:
        rates, folder, fresh = cached_rates(cache, measure)
    except OSError:  # a read-only or full cache: measure, keep nothing
        rates, folder, fresh = measure(), None, True
    return PrecisionChoice(asked, decide(rates), "measured" if fresh else "cached", machine,
                           rates, folder)
