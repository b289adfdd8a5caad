"""Synthetic corpora (`susurrus synth`): text scripts -> local TTS -> manifests.

    from susurrus.data.synth import estimate, synthesize
    print(estimate("conversations", hours=2).summary())
    manifests = synthesize("conversations", "data/conv", hours=2, seed=0)  # split -> JSONL

Kinds: `conversations` (two-party, entity-rich, 6-12 turns), `longform` (news bulletins read
aloud), `mixtures` (2-3 overlapped talkers). Splits train/dev/test/test-ood; test-ood has
domains, entities and voices that train never sees. Deterministic for a seed, resumable,
parallel over processes.
"""

from susurrus.data.synth.estimate import Estimate
from susurrus.data.synth.jobs import KINDS, SPLITS, Job, Part
from susurrus.data.synth.runner import SynthOptions, estimate, plan, synthesize
from susurrus.data.synth.voices import VoiceSpec, catalogue

__all__ = ["KINDS", "SPLITS", "Estimate", "Job", "Part", "SynthOptions", "VoiceSpec",
           "catalogue", "estimate", "plan", "synthesize"]
