#!/usr/bin/env bash
# What trained the multi-talker CTC models of issue 18 on a lent GPU (one H200, 15 minutes of
# device time for a whole session): recipes/multitalker/dynamic.yaml with the top 2 (l2) and
# all 4 (l4) encoder layers training, side by side on the one GPU, each stopped by SIGINT at
# BUDGET seconds if not done (the run keeps its last checkpoint, every 250 steps).
#
# The device machine reaches no network and takes 64 MiB of files per call, so what it reads is
# carried in .devcarry/ (git-ignored; made by benchmarks/device/make_carry.py):
#   whisper-tiny.en-encoder/  the embedded Whisper tiny.en's encoder tensors (float16, as
#                             shipped: lossless) in a Hugging Face folder: a local model path
#   sources/                  the train and dev conversation turns (<= 12 s) re-encoded as
#                             Ogg Opus at 20 kbit/s (the sources' only difference from the FLAC
#                             a CPU run of the recipe reads)
# and Python packages the device image lacks as wheels in .whl/. Each run comes back as
# $OUT/<run>.tar (float16 weights, recipe, logs), split into 15-MB parts.
set -u
# SKIP_WHEELS=1: a rehearsal on a machine whose python3 already has the packages (the run was
# rehearsed on 2 CPU cores with BUDGET=150 STEPS_L2=3 STEPS_L4=3 before the device call)
[ -n "${SKIP_WHEELS:-}" ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:src PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
C=.devcarry
BUDGET=${BUDGET:-480}
common=(model.encoder=$C/whisper-tiny.en-encoder "data.mixing.sources=[$C/sources/train.jsonl]"
        data.mixing.valid_sources=$C/sources/dev.jsonl train.save_every=250)
run() {  # name, overrides...
    local name=$1; shift
    timeout -s INT "$BUDGET" python3 -m susurrus.cli.main train recipes/multitalker/dynamic.yaml \
        "${common[@]}" train.out=/tmp/runs/$name "$@" > /tmp/runs/$name.log 2>&1
    echo "$name exit $?" >> /tmp/runs/$name.log
}
mkdir -p /tmp/runs
run l2 train.steps=${STEPS_L2:-2000} &
run l4 model.train_layers=4 train.steps=${STEPS_L4:-2000} &
wait
for name in l2 l4; do
    python3 - "$name" <<'PY'
import sys, shutil, torch
from pathlib import Path
from safetensors.torch import load_file, save_file
name = sys.argv[1]; run = Path("/tmp/runs") / name; pack = Path("/tmp/pack") / name
pack.mkdir(parents=True, exist_ok=True)
done = run / "model"
src = done if (done / "multitalker.safetensors").exists() else max(
    (run / "checkpoints").glob("step-*"), default=None)
if src is not None:
    state = {k: v.half() if v.is_floating_point() else v
             for k, v in load_file(str(src / "multitalker.safetensors")).items()}
    save_file(state, str(pack / "multitalker.safetensors"))
    shutil.copy(src / "recipe.yaml", pack / "recipe.yaml")
    (pack / "FROM").write_text(str(src) + "\n")
for f in ("log.jsonl", "recipe.yaml"):
    if (run / f).exists():
        shutil.copy(run / f, pack / f"run-{f}")
shutil.copy(Path("/tmp/runs") / f"{name}.log", pack / "stdout.log")
PY
    tail -c 3000 /tmp/runs/$name.log | tr '\r' '\n' | grep -av "step/s\]$" | tail -25
    tar -C /tmp/pack -cf /tmp/pack/$name.tar $name && split -b 15M -d /tmp/pack/$name.tar "$OUT/$name.tar.part"
done
ls -la "$OUT"
