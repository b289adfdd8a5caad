"""Wrote legacy_results.json with susurrus at commit c068268, the results format before issue 15.

    git worktree add /tmp/base c068268
    PYTHONPATH=/tmp/base/src python tests/evaluate/data/make_legacy_results.py \
        tests/evaluate/data/legacy_results.json

Four results: Whisper with the context names 'prompt' and 'oracle-prompt' (the second with NER),
a speech LLM's 'abstract (oracle)', and a mixture manifest (cpWER as plain S/D/I counts). It runs
against that commit only: today's `score` writes the new format.
"""

import json
import sys
from pathlib import Path

from susurrus.data.manifest import Talker, Utterance
from susurrus.evaluate.decode import DecodeConfig, Hypothesis
from susurrus.evaluate.evaluate import score
from susurrus.testing.fakes import HYPS, TURNS

WAV = Path("unused.wav")
TALK = "data/talk.jsonl"
utts = [Utterance(uid, WAV, ref, session=s, turn=t, entities=tuple(e))
        for uid, s, t, ref, _, e in TURNS]
order = ["a0", "a1", "a2", "b0", "b1"]
turn_index = {"a0": 0, "a1": 1, "a2": 2, "b0": 0, "b1": 1}


def hyps(llm: bool = False) -> list[Hypothesis]:
    return [Hypothesis(u, HYPS[u], [HYPS[u]], 1.0 + 0.5 * k, 0.1 * (k + 1), 3 * turn_index[u],
                       llm_audio_tokens=25 * (k + 1) if llm else 0, turn_index=turn_index[u],
                       prior_turns=turn_index[u] if llm else 0,
                       context_audio_tokens=4 * turn_index[u] if llm else 0)
            for k, u in enumerate(order)]


results = [
    score(utts, hyps(), DecodeConfig(context="prompt"), TALK, with_ner=False),
    score(utts, hyps(), DecodeConfig(context="oracle-prompt"), TALK, with_ner=True),
    score(utts, hyps(llm=True),
          DecodeConfig(model="runs/llm", context="abstract", oracle_context=True), TALK,
          with_ner=False),
]
mix = [Utterance("mix0", WAV, talkers=(Talker("joe", 0.0, "Good morning."),
                                       Talker("ann", 0.4, "Hello there."))),
       Utterance("mix1", WAV, talkers=(Talker("a", 0.0, "Red green blue."),
                                       Talker("b", 0.2, "Cats chase mice.")))]
mix_hyps = [Hypothesis("mix0", "hello their good morning", ["hello their", "good morning"],
                       2.0, 1.0, 0),
            Hypothesis("mix1", "red green blue cats chase mice",
                       ["red green blue cats chase mice"], 3.0, 0.5, 0)]
results.append(score(mix, mix_hyps, DecodeConfig(), "data/mix.jsonl", with_ner=False))
out = [json.loads(r.to_json()) for r in results]
Path(sys.argv[1]).write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n")
