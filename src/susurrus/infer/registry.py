"""Recognizers by model family: what a checkpoint says about itself picks the one that runs it.

`susurrus.models.family.model_family` reads the family (an embedded name's kind, a checkpoint's
declared `family`, the compatibility rule for older folders; anything else is a Whisper); this
registry maps it to a builder. A new family is a recognizer module and one line in RECOGNIZERS.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Literal

from susurrus.errors import IncompatibleOptionError, UnknownModelError
from susurrus.infer.recognizer import Recognizer
from susurrus.infer.speech_llm import SpeechLLMRecognizer
from susurrus.infer.whisper import FasterWhisperRecognizer, TorchWhisperRecognizer
from susurrus.infer.whisper_longform import LongFormOptions
from susurrus.models.family import model_family
from susurrus.pretrained.registry import DEFAULT_MODEL

EngineName = Literal["torch", "faster-whisper"]
ENGINES: tuple[EngineName, ...] = ("torch", "faster-whisper")


def _own(options: object, kind: type):
    """The options of `kind` among `options`: one object, or a tuple of several families'."""
    return next((o for o in (options if isinstance(options, tuple) else (options,))
                 if isinstance(o, kind)), None)


def _whisper(model: str, engine: str, device: str, options) -> Recognizer:
    own = _own(options, LongFormOptions)
    if engine == "faster-whisper":
        return FasterWhisperRecognizer(model, device=device, options=own)
    return TorchWhisperRecognizer(model, device=device, options=own)


def _speech_llm(model: str, engine: str, device: str, options) -> Recognizer:
    from susurrus.models.speech_llm.generation import GenerateOptions

    # its own options whole; of Whisper's long-form options (what the CLI passes) only the
    # fallback ladder applies
    own, long_form = _own(options, GenerateOptions), _own(options, LongFormOptions)
    fallback = tuple(t for t in long_form.temperatures if t > 0) if long_form else None
    return SpeechLLMRecognizer(model, device=device, options=own, engine=engine,
                               fallback=fallback)


def _multitalker(model: str, engine: str, device: str, options) -> Recognizer:
    from susurrus.infer.multitalker import MultiTalkerOptions, MultiTalkerRecognizer

    if engine != "torch":
        raise IncompatibleOptionError(f"engine {engine!r}: {model} is a multi-talker CTC "
                                      "model, which runs on the torch engine only")
    own = _own(options, MultiTalkerOptions)
    return MultiTalkerRecognizer(model, device=device, options=own)


# family -> builder(model, engine, device, options); the family names are those checkpoints
# declare (susurrus.models.family)
RECOGNIZERS: dict[str, Callable[[str, str, str, object], Recognizer]] = {
    "whisper": _whisper,
    "speech_llm": _speech_llm,
    "multitalker_ctc": _multitalker,
}


@lru_cache(maxsize=4)
def load_recognizer(model: str = DEFAULT_MODEL, engine: EngineName = "torch",
                    device: str = "cpu", options: object = None) -> Recognizer:
    """The recognizer for `model` (embedded name, checkpoint or run folder, hub id), loaded.

    Kept for reuse (loading costs more than a short transcription). `options` are the family's
    own (LongFormOptions for Whisper, GenerateOptions for a speech LLM), or a tuple of several
    families' of which each takes its own; another family's are ignored. An engine the family
    cannot run is an IncompatibleOptionError, raised before any weights load; a model that is
    no recognizer (an LLM) is an UnknownModelError.
    """
    if engine not in ENGINES:
        raise IncompatibleOptionError(f"engine {engine!r}: choose one of {', '.join(ENGINES)}")
    family = model_family(model)
    if family not in RECOGNIZERS:
        raise UnknownModelError(
            f"model {model!r} is a {family} model, not a speech recognizer; choose one of the "
            f"families {', '.join(RECOGNIZERS)} (see `susurrus models`)")
    return RECOGNIZERS[family](model, engine, device, options)
