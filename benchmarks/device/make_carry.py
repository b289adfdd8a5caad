"""Make .devcarry/ for benchmarks/device/multitalker_gpu.sh: what a device machine with no
network needs to run recipes/multitalker/dynamic.yaml, in under 64 MiB.

    python benchmarks/device/make_carry.py      # ~5 min on 2 cores (ffmpeg's Opus encoder)

- whisper-tiny.en-encoder/: the embedded Whisper tiny.en as a Hugging Face folder holding only
  the encoder's tensors, in float16 (the embedded weights are float16: nothing is lost); the
  decoder's are left out, so loading it warns that they are newly initialized: the multi-talker
  model reads the encoder alone.
- sources/{train,dev}.jsonl: the conversation turns of out/gen/conv (<= 12 s; 16 dev
  conversations) with their audio re-encoded as Ogg Opus at 20 kbit/s.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

CONV = Path("out/gen/conv")
CARRY = Path(".devcarry")


def encoder_folder() -> None:
    import torch
    from safetensors.torch import load_file, save_file

    from susurrus.pretrained.registry import resolve

    src, dst = Path(resolve("whisper-tiny.en", "whisper")), CARRY / "whisper-tiny.en-encoder"
    dst.mkdir(parents=True, exist_ok=True)
    state = load_file(str(src / "model.safetensors"))
    encoder = {k: v.to(torch.float16).contiguous() for k, v in state.items()
               if k.startswith("model.encoder.")}
    assert all(torch.equal(encoder[k].float(), state[k].float()) for k in encoder), "lossy"
    save_file(encoder, str(dst / "model.safetensors"), metadata={"format": "pt"})
    for name in ("config.json", "generation_config.json", "preprocessor_config.json",
                 "tokenizer.json", "tokenizer_config.json"):
        shutil.copy(src / name, dst / name)


def sources(split: str, files: int | None = None, max_seconds: float = 12.0) -> None:
    lines = [json.loads(line) for line in open(CONV / f"{split}.jsonl", encoding="utf-8")]
    keep = sorted({line["audio"] for line in lines})[:files]
    out = CARRY / "sources"

    def encode(audio: str) -> None:
        target = out / Path(audio).with_suffix(".ogg")
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(CONV / audio), "-c:a",
                            "libopus", "-b:a", "20k", "-application", "voip", str(target)],
                           check=True)

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(encode, keep))
    with open(out / f"{split}.jsonl", "w", encoding="utf-8") as f:
        for line in lines:
            if line["audio"] in keep and line["duration"] <= max_seconds:
                f.write(json.dumps(line | {"audio": str(Path(line["audio"]).with_suffix(".ogg"))})
                        + "\n")


if __name__ == "__main__":
    encoder_folder()
    sources("dev", files=16)
    sources("train")
