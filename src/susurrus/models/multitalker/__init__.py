"""Paper 003's encoder-only multi-talker recognizer (issue 18): `MultiTalkerCTC`, its config,
its separators and its checkpoints."""

from susurrus.models.multitalker.config import ALPHABET, MultiTalkerConfig
from susurrus.models.multitalker.model import (
    BranchText,
    CharVocab,
    MultiTalkerCTC,
    MultiTalkerOutput,
)
from susurrus.models.multitalker.separator import SEPARATORS, build_separator

__all__ = ["ALPHABET", "SEPARATORS", "BranchText", "CharVocab", "MultiTalkerCTC",
           "MultiTalkerConfig", "MultiTalkerOutput", "build_separator"]
