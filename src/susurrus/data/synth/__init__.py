"""Synthetic corpora (`susurrus synth`): text scripts -> local TTS -> manifests.

    from susurrus.data.synth import estimate, synthesize
    print(estimate("conversations", hours=2).summary())
    manifests = synthesize("conversations", "data/conv", hours=2, seed=0)  # split -> JSONL

Kinds: `conversations` (two-party, entity-rich, 6-12 turns), `longform` (news bulletins read
aloud), `mixtures` (2-3 overlapped talkers). Splits train/dev/test/test-ood; test-ood has
domains, entities and voices that train never sees. Deterministic for a seed, resumable,
parallel over processes.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_LAZY = {  # public name -> its module; loaded on first use, so the CLI's parser stays light
    "Estimate": "estimation", "KINDS": "jobs", "SPLITS": "jobs", "Job": "jobs", "Part": "jobs",
    "SynthOptions": "runner", "estimate": "runner", "plan": "runner", "synthesize": "runner",
    "VoiceSpec": "voices", "catalogue": "voices",
}

if TYPE_CHECKING:
    from susurrus.data.synth.estimation import Estimate
    from susurrus.data.synth.jobs import KINDS, SPLITS, Job, Part
    from susurrus.data.synth.runner import SynthOptions, estimate, plan, synthesize
    from susurrus.data.synth.voices import VoiceSpec, catalogue


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["KINDS", "SPLITS", "Estimate", "Job", "Part", "SynthOptions", "VoiceSpec",
           "catalogue", "estimate", "plan", "synthesize"]
