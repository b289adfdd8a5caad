"""Training throughput (issue 16, item 3): the speech-LLM training step next to this machine's
matmul rates, in fp32 and in bf16 autocast, in one run.

    .venv/bin/python benchmarks/train_throughput.py [--steps 10] [--warmup 2] [--out DIR]
    .venv/bin/python benchmarks/train_throughput.py --quick --steps 2   # tiny random models
    .venv/bin/python benchmarks/train_throughput.py --render \\
        benchmarks/results/train_throughput.json

Run it on a quiet machine: every number is a wall-clock time.

1. Matmul rates (TFLOP/s): a 2048 x 2048 matmul with operands in each precision, the same with
   float32 operands under bf16 autocast (the casts included), and `precision: auto`'s probe
   (`susurrus.train.precision`): SmolLM2-135M's linear layers at 1024 tokens, forward and
   backward, cast as a training step casts them. The precisions alternate round by round and
   each matmul's fastest time counts. The table says what `precision: auto` chooses here.
2. The training step of the default recipe's model (`recipes/speech_llm/default.yaml`): the
   real embedded whisper-tiny.en encoder's features of a batch of audio, the recipe's compressor
   and projector, SmolLM2-135M with its LoRA adapters, the model's own loss (`SpeechLLM.forward`),
   backward, gradient clipping and an AdamW step; in fp32 and under bf16 autocast as the
   training loop runs it, alternating step by step after `--warmup` untimed steps each.
   The batch is like the recipe's: turns of the synthesized conversations (their transcripts,
   and audio of the length their TTS would give them: noise, since the content changes no
   FLOP), the middle bucket of `data.batch_seconds` padded seconds.
3. FLOPs of one step, counted by `torch.utils.flop_counter.FlopCounterMode` (forward and
   backward apart; CPU flash attention counted with the usual formulas), and checked against
   an analytic count (see `analytic_flops`). A frozen LLM with LoRA is not 6 x params x tokens:
   its forward is 2 N T, its backward carries the gradient through every activation (~2 N T)
   but computes weight gradients only for LoRA and the projector.

`--quick` runs the same code with the tiny random models of `susurrus.testing` (seconds; the
numbers mean nothing) and writes `train_throughput-quick.{json,md}`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch  # noqa: E402
from common import RECIPE, RESULTS, render_main  # noqa: E402
from timing import busy_cpus  # noqa: E402

from susurrus.train import precision as P  # noqa: E402

PRECISIONS = ("fp32", "bf16")
TTS = "espeak-ng"  # the engine whose speaking rate sizes each turn's audio


# --- the machine ---------------------------------------------------------------------------------


def machine_info(device: torch.device) -> dict:
    info = {"cpu": P.cpu_name(), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "python": platform.python_version(), "device": device.type}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def matmul_rows(device: torch.device, size: int, budget_s: float) -> list[dict]:
    """The three matmul rates (see the module docstring), each as fp32 and bf16 TFLOP/s."""
    square = f"{size}×{size} @ {size}×{size}"
    plans = [
        (f"{square}, operands in the precision", [P.ProbeMatmul(size, size, 1, "none")], size),
        (f"{square}, float32 operands under bf16 autocast",
         [P.ProbeMatmul(size, size, 1, "both")], size),
        (f"SmolLM2-135M layer, forward + backward as a step casts them, {P.PROBE_TOKENS} tokens "
         "(`precision: auto`'s probe)", list(P.PROBE), P.PROBE_TOKENS),
    ]
    rows = []
    for name, probe, tokens in plans:
        rates = P.measure_rates(probe, tokens, device, budget_s=budget_s)
        rows.append({"matmul": name, "fp32_tflops": rates.fp32, "bf16_tflops": rates.bf16})
    return rows


# --- the model and a batch -----------------------------------------------------------------------


def load_model(quick: bool, tmp: Path):
    """(model, model config, batch seconds) of the default recipe; `quick`: tiny random parts."""
    from susurrus.models.speech_llm.build import build_speech_llm
    from susurrus.train.recipe import load_recipe

    recipe = load_recipe(RECIPE)
    config = recipe.model
    if quick:
        from susurrus.pretrained import EMBEDDED, resolve
        from susurrus.testing.pretrained import make_tiny_llm, make_tiny_whisper

        whisper = make_tiny_whisper(tmp / "whisper", EMBEDDED["whisper-tiny.en"].source_path())
        llm = make_tiny_llm(tmp / "llm", Path(resolve("smollm2-135m-instruct", "llm")))
        config = dataclasses.replace(config, encoder=str(whisper), llm=str(llm),
                                     projector_hidden=64)
    torch.manual_seed(0)
    return build_speech_llm(config), config, recipe.data.batch_seconds


def synth_turns(seed: int = 0, sessions: int = 40) -> list[tuple[str, float]]:
    """(transcript, seconds) of the synthesized conversations' turns, seconds as the TTS at its
    own pace would speak them."""
    from susurrus.data.synth.conversations import script
    from susurrus.data.synth.estimation import speech_seconds

    return [(line.text, speech_seconds(line.say, TTS, 175))
            for i in range(sessions) for line in script(seed, "train", i)[1]]


def middle_bucket(turns: list[tuple[str, float]], batch_seconds: float
                  ) -> list[tuple[str, float]]:
    """A batch like the sampler's: the turns sorted by length, the middle one and as many
    neighbours (alternating sides) as keep rows x longest <= `batch_seconds`."""
    turns = sorted(turns, key=lambda t: t[1])
    mid = lo = hi = len(turns) // 2

    def fits(a: int, b: int) -> bool:
        return (b - a + 1) * turns[b][1] <= batch_seconds

    while True:
        right = hi + 1 < len(turns) and fits(lo, hi + 1)
        left = lo > 0 and fits(lo - 1, hi)
        if right and (hi - mid <= mid - lo or not left):
            hi += 1
        elif left:
            lo -= 1
        else:
            return turns[lo : hi + 1]


def make_batch(model, turns: list[tuple[str, float]], device: torch.device):
    """(features (B, T', D), lengths (B,), target ids) as the speech-LLM task feeds its model:
    the frozen encoder's output of each turn's audio, the transcript's LLM token ids."""
    from susurrus.audio.io import SAMPLE_RATE
    from susurrus.data.synth.mixing import noise

    clips = [0.05 * noise(int(s * SAMPLE_RATE), seed=i) for i, (_, s) in enumerate(turns)]
    model.to(device)
    feats, lengths = model.encode_audio(clips)
    targets = [model.tokenizer(text, add_special_tokens=False)["input_ids"] for text, _ in turns]
    return feats.float(), lengths, targets


@torch.no_grad()
def batch_shape(model, feats, lengths, targets) -> dict:
    """What the LLM computes on: rows, positions (padded and real), labels, audio tokens."""
    audio, n = model.audio_embeddings(feats, lengths)
    laid = model.assemble(audio, n, targets)
    B, L, _ = laid.embeds.shape
    return {"rows": B, "positions": B * L, "real_positions": int(laid.attention_mask.sum()),
            "labels": int(laid.labels.numel()), "audio_tokens": int(n.sum()),
            "padded_audio_tokens": B * int(n.max())}


# --- FLOPs ---------------------------------------------------------------------------------------


def _attention_flops(q_shape, k_shape, v_shape, *_, **__) -> int:
    """softmax(Q K^T) V: two matmuls over every (query, key) pair (causal masking not
    subtracted, as FlopCounterMode counts attention); keys may have fewer heads (GQA)."""
    b, h, s_q, d = q_shape
    return 2 * b * h * s_q * k_shape[-2] * (d + v_shape[-1])


def _attention_backward_flops(grad_shape, q_shape, k_shape, v_shape, *_, **__) -> int:
    return 2 * _attention_flops(q_shape, k_shape, v_shape)  # dQ, dK, dV and dP: four matmuls


def flop_counter():
    from torch.utils.flop_counter import FlopCounterMode

    aten = torch.ops.aten
    extra = {aten._scaled_dot_product_flash_attention_for_cpu: _attention_flops,
             aten._scaled_dot_product_flash_attention_for_cpu_backward:
                 _attention_backward_flops}
    return FlopCounterMode(display=False, custom_mapping=extra)


def counted_flops(model, feats, lengths, targets) -> dict:
    """FLOPs of one training step's forward and backward, as FlopCounterMode counts them."""
    model.train()
    with flop_counter() as fwd:
        loss = model(feats, lengths, targets)
    with flop_counter() as bwd:
        loss.backward()
    model.zero_grad(set_to_none=True)
    return {"forward": fwd.get_total_flops(), "backward": bwd.get_total_flops()}


def parameter_counts(model) -> dict:
    """Weights by role: the LLM's frozen linear layers, its output layer, LoRA, the rest of
    what trains (compressor, projector)."""
    llm = model.llm
    head = llm.get_output_embeddings().weight
    frozen = sum(m.weight.numel() for m in llm.modules()
                 if isinstance(m, torch.nn.Linear) and not m.weight.requires_grad
                 and m.weight is not head)
    lora = sum(p.numel() for n, p in llm.named_parameters() if p.requires_grad and "lora_" in n)
    trained = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"llm_frozen_linear": frozen, "llm_output": head.numel(), "lora": lora,
            "adapter": trained - lora, "llm_total": sum(p.numel() for p in llm.parameters())}


def analytic_flops(params: dict, shape: dict, llm_config) -> dict:
    """A hand count of the same step: N frozen linear weights and LoRA over T positions, the
    output layer on the K labels only, the trained adapter over the audio tokens, attention.

    forward  = 2 N T + 2 N_lora T + 2 V E K + 2 N_adapter A + attention
    backward = 2 N T (activation gradients only: the weights are frozen)
             + 4 N_lora T + 2 V E K + 4 N_adapter A + 2 x attention
    """
    T, K, A = shape["positions"], shape["labels"], shape["padded_audio_tokens"]
    c = llm_config
    L = T // shape["rows"]
    attention = (4 * shape["rows"] * c.num_attention_heads * L * L
                 * (c.hidden_size // c.num_attention_heads) * c.num_hidden_layers)
    fwd = (2 * params["llm_frozen_linear"] * T + 2 * params["lora"] * T
           + 2 * params["llm_output"] * K + 2 * params["adapter"] * A + attention)
    bwd = (2 * params["llm_frozen_linear"] * T + 4 * params["lora"] * T
           + 2 * params["llm_output"] * K + 4 * params["adapter"] * A + 2 * attention)
    naive = 6 * (params["llm_total"] + params["adapter"]) * T
    return {"forward": fwd, "backward": bwd, "six_n_t": naive}


# --- the step ------------------------------------------------------------------------------------


def time_steps(model, feats, lengths, targets, steps: int, warmup: int, device: torch.device,
               log=print) -> dict[str, list[float]]:
    """Seconds of `steps` training steps in each precision, alternating step by step after
    `warmup` untimed steps each. A step is what the training loop does per batch: the model's
    loss under the precision's autocast, backward, clipping, AdamW."""
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-4)
    model.train()
    seconds: dict[str, list[float]] = {p: [] for p in PRECISIONS}
    for i in range(warmup + steps):
        for precision in PRECISIONS:
            P._sync(device)
            t0 = time.perf_counter()
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
                loss = model(feats, lengths, targets)
                loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            P._sync(device)
            if i >= warmup:
                seconds[precision].append(time.perf_counter() - t0)
                log(f"step {i - warmup + 1}/{steps} {precision}: "
                    f"{seconds[precision][-1]:.2f} s (loss {float(loss.detach()):.3f})")
    return seconds


def step_rows(seconds: dict[str, list[float]], flops: int, shape: dict,
              layer_rates: dict) -> list[dict]:
    rows = []
    for precision, times in seconds.items():
        median = statistics.median(times)
        rows.append({"precision": precision, "seconds": median, "min_seconds": min(times),
                     "steps": len(times), "tflops": flops / median / 1e12,
                     "of_layer_rate": flops / median / 1e12 / layer_rates[precision],
                     "positions_per_second": shape["real_positions"] / median})
    return rows


# --- the table -----------------------------------------------------------------------------------


def render(results: dict) -> str:
    """The Markdown table of a results JSON (nothing else is read)."""
    m, s, f = results["machine"], results["batch"], results["flops"]
    where = m.get("gpu") or f"{m['cpu']}, {m['threads']} threads, {m['cpu_capability']}"
    out = [f"### Training throughput on {where} (torch {m['torch']})", ""]
    if results.get("quick"):
        out += ["*Quick run: tiny random models, the numbers mean nothing.*", ""]
    if results["busy_cpus_at_start"] > 0.25:
        out += [f"*Other work kept {results['busy_cpus_at_start']:.1f} CPUs busy when this run "
                "started: its times are slower than the machine's.*", ""]
    out += ["| matmul | fp32 TFLOP/s | bf16 TFLOP/s | bf16 / fp32 |", "|---|---|---|---|"]
    for r in results["matmuls"]:
        out.append(f"| {r['matmul']} | {r['fp32_tflops']:.3f} | {r['bf16_tflops']:.3f} | "
                   f"{r['bf16_tflops'] / r['fp32_tflops']:.2f}× |")
    auto = results["auto"]
    out += ["", f"`precision: auto` chooses **{auto['precision']}** here (bf16 needs "
                f"≥ {auto['margin']}× at the probe's shapes).", ""]
    out += [f"Training step of {results['model']}: {s['rows']} turns, "
            f"{s['audio_seconds']:.1f} s of audio ({s['padded_audio_seconds']:.1f} s padded), "
            f"{s['positions']:,} LLM positions ({1 - s['real_positions'] / s['positions']:.0%} "
            f"padding), {s['labels']} labels; {f['forward'] / 1e9:,.0f} + "
            f"{f['backward'] / 1e9:,.0f} GFLOP per step (forward + backward).", ""]
    out += ["| precision | s / step (median) | fastest | steps timed | achieved TFLOP/s "
            "| of the layer matmul rate | LLM positions / s |", "|---|---|---|---|---|---|---|"]
    for r in results["steps"]:
        name = "bf16 autocast" if r["precision"] == "bf16" else r["precision"]
        out.append(f"| {name} | {r['seconds']:.3f} | {r['min_seconds']:.3f} | {r['steps']} | "
                   f"{r['tflops']:.3f} | {r['of_layer_rate']:.0%} | "
                   f"{r['positions_per_second']:,.0f} |")
    by = {r["precision"]: r["seconds"] for r in results["steps"]}
    a = results["analytic"]
    out += ["", f"bf16 autocast step: {by['fp32'] / by['bf16']:.2f}× the speed of fp32.", "",
            "FLOPs are counted by `torch.utils.flop_counter.FlopCounterMode` over one step: the "
            "forward runs the whole frozen LLM over every position (the output layer only on "
            "the labels); the backward carries gradients through every activation but computes "
            "weight gradients only for LoRA, the projector and the compressor. Attention is "
            "counted whole (causal masking not subtracted); the optimizer's elementwise work is "
            "not counted. A hand count (2 N T + ... per pass, `analytic_flops`) gives "
            f"{a['forward'] / 1e9:,.0f} + {a['backward'] / 1e9:,.0f} GFLOP; the usual "
            f"6 × parameters × positions would claim {a['six_n_t'] / 1e9:,.0f}. \"Of the layer "
            "matmul rate\" divides the achieved rate by the probe's rate in that precision.",
            "", f"Command: `{results['command']}` ({results['started']}).", ""]
    return "\n".join(out)


# --- main ----------------------------------------------------------------------------------------


def measure(steps: int, warmup: int, quick: bool, command: str, log=print) -> dict:
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    busy = busy_cpus()
    if busy > 0.25:
        log(f"warning: other work keeps {busy:.1f} CPUs busy: these timings will show it")
    started = time.strftime("%Y-%m-%d %H:%M")
    with tempfile.TemporaryDirectory() as tmp:
        model, config, batch_seconds = load_model(quick, Path(tmp))
    log(f"model: {config.encoder} -> {config.compressor} {dict(config.compressor_options)} -> "
        f"{config.llm} + LoRA r={config.lora.r}")
    matmuls = matmul_rows(device, 256 if quick else 2048, 0.2 if quick else 2.0)
    probe = P.Rates(matmuls[-1]["fp32_tflops"], matmuls[-1]["bf16_tflops"])
    turns = middle_bucket(synth_turns(), batch_seconds)
    feats, lengths, targets = make_batch(model, turns, device)
    shape = batch_shape(model, feats, lengths, targets)
    shape.update(audio_seconds=sum(s for _, s in turns),
                 padded_audio_seconds=len(turns) * max(s for _, s in turns))
    flops = counted_flops(model, feats, lengths, targets)
    analytic = analytic_flops(parameter_counts(model), shape, model.llm.config)
    seconds = time_steps(model, feats, lengths, targets, steps, warmup, device, log)
    return {
        "quick": quick, "started": started, "busy_cpus_at_start": round(busy, 2),
        "machine": machine_info(device), "matmuls": matmuls,
        "auto": {"precision": P.decide(probe), "margin": P.MARGIN},
        "model": (f"{config.encoder} features → {config.compressor} "
                  f"{dict(config.compressor_options)} → projector → {config.llm} + LoRA "
                  f"r={config.lora.r} on {', '.join(config.lora.targets)}"),
        "batch": shape, "flops": flops, "analytic": analytic,
        "parameters": parameter_counts(model),
        "steps": step_rows(seconds, flops["forward"] + flops["backward"], shape,
                           {"fp32": probe.fp32, "bf16": probe.bf16}),
        "command": command,
    }


def main(argv: list[str] | None = None) -> dict | None:
    if render_main(render, argv):
        return None
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=10, help="timed steps per precision")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps per precision first")
    p.add_argument("--quick", action="store_true", help="tiny random models (a test)")
    p.add_argument("--out", type=Path, default=RESULTS, help="folder for the JSON and table")
    args = p.parse_args(argv)
    if args.steps < 1 or args.warmup < 0:
        p.error("--steps must be >= 1 and --warmup >= 0")
    argv = sys.argv[1:] if argv is None else argv
    command = " ".join(["python benchmarks/train_throughput.py", *argv])
    results = measure(args.steps, args.warmup, args.quick, command)
    stem = "train_throughput-quick" if args.quick else "train_throughput"
    table = render(results)
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{stem}.json").write_text(json.dumps(results, indent=1))
    (args.out / f"{stem}.md").write_text(table)
    print(f"wrote {args.out / stem}.md and .json")
    return results


if __name__ == "__main__":
    main()
