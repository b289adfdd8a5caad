"""Two processes train one model: `torchrun` + gloo on this CPU, the command the README gives for
many GPUs. The ranks draw disjoint batches from lhotse's sampler, end with identical weights,
and log the curve of one process that takes the same global batch; only the first one talks."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from safetensors.torch import load_file

import susurrus
from susurrus.train.loop import train
from susurrus.train.recipe import load_recipe

from .test_task import TOY, logged_losses, toy_corpus

pytestmark = pytest.mark.usefixtures("one_thread")

STEPS = 6
PER_RANK = 4  # 0.5-s clips per batch: 4 x 0.5 s fits data.batch_seconds=2.4, 5 do not


def torchrun() -> list[str]:
    found = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    return [found] if found else [sys.executable, "-m", "torch.distributed.run"]


def launch(recipe: Path, out: Path, cwd: Path) -> subprocess.CompletedProcess:
    """`torchrun --standalone --nproc_per_node 2 -m susurrus.cli.main train RECIPE ...`."""
    src = str(Path(susurrus.__file__).parents[1])
    env = {**os.environ, "ACCELERATE_USE_CPU": "1", "GLOO_SOCKET_IFNAME": "lo",
           "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([src, *filter(None, [os.environ.get("PYTHONPATH")])])}
    cmd = [*torchrun(), "--standalone", "--nproc_per_node", "2", "-m", "susurrus.cli.main",
           "train", str(recipe), f"train.out={out}"]
    return subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


def rank_lines(out: Path, rank: int) -> list[dict]:
    path = out / "ranks" / f"rank-{rank}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_two_processes_train_like_one_with_the_same_global_batch(tmp_path: Path) -> None:
    manifest = toy_corpus(tmp_path, n=16, samples=8000)  # 16 x 0.5 s: 2 steps an epoch
    recipe = tmp_path / "toy.yaml"
    recipe.write_text(yaml.safe_dump({
        "task": TOY, "model": {"n_mels": 40},
        "data": {"train": str(manifest), "valid": str(manifest), "valid_limit": 4,
                 "batch_seconds": 2.4},
        "train": {"steps": STEPS, "lr": 0.05, "warmup_steps": 1, "log_every": 1,
                  "save_every": 3, "valid_every": 0, "debug_ranks": True},
    }))
    t0 = time.perf_counter()
    done = launch(recipe, tmp_path / "two", tmp_path)
    seconds = time.perf_counter() - t0
    assert done.returncode == 0, done.stderr[-4000:]
    two = tmp_path / "two"

    # Two processes really ran, each drawing its own batches: disjoint, an epoch every 2 steps.
    ranks = [rank_lines(two, r) for r in (0, 1)]
    for r, lines in enumerate(ranks):
        assert {(d["rank"], d["world"]) for d in lines} == {(r, 2)}
    steps = [[d for d in lines if "batches" in d] for lines in ranks]
    assert [[d["step"] for d in s] for s in steps] == [list(range(1, STEPS + 1))] * 2
    ids: list[list[str]] = []
    for a, b in zip(*steps, strict=True):
        (mine,), (theirs,) = a["batches"], b["batches"]
        assert len(mine) == len(theirs) == PER_RANK and not set(mine) & set(theirs)
        ids.append(mine + theirs)
    for epoch in range(STEPS // 2):
        assert sorted(ids[2 * epoch] + ids[2 * epoch + 1]) == [f"c{i:02d}" for i in range(16)]
    # ... and ended with the same weights.
    hashes = [d["weights_sha256"] for lines in ranks for d in lines if "weights_sha256" in d]
    assert len(hashes) == 2 and hashes[0] == hashes[1]

    # Only the first process talks: one description, one closing line with the global loss.
    out_lines = done.stdout.splitlines()
    assert sum("train: 16 utterances" in line for line in out_lines) == 1, done.stdout
    closing = [line for line in out_lines if "use it with --model" in line]
    assert len(closing) == 1, done.stdout
    losses_two = logged_losses(two)
    assert re.search(rf"{STEPS} steps, loss {losses_two[STEPS]:.3f}", closing[0]), closing

    # One process with the same global batch (two batches of 4 per step) logs the same curve.
    one = tmp_path / "one"
    train(load_recipe(recipe, [f"train.out={one}", "train.grad_accum=2"]), progress=False,
          log=lambda *_: None)
    losses_one = logged_losses(one)
    assert sorted(losses_one) == sorted(losses_two) == list(range(1, STEPS + 1))
    assert len(set(losses_one.values())) > 1
    for step in losses_one:
        assert losses_two[step] == pytest.approx(losses_one[step], rel=1e-4), (losses_one,
                                                                                losses_two)
    a, b = (load_file(str(folder / "model" / "trained.safetensors")) for folder in (one, two))
    assert all(np.allclose(a[k].numpy(), b[k].numpy(), atol=1e-5) for k in a)
    assert seconds < 60, f"2 processes took {seconds:.0f} s"
