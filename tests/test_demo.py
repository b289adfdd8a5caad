"""What `make demo` runs: the shipped models it picks and the context table it prints."""

from __future__ import annotations

import pytest

from susurrus.cli.demo import context_table, shipped_speech_llm, trained_context
from susurrus.pretrained import EMBEDDED


def test_the_demo_picks_a_single_turn_and_a_context_speech_llm():
    for with_context in (False, True):
        name = shipped_speech_llm(with_context=with_context)
        if not name:
            pytest.skip("no shipped speech LLM is installed")
        assert EMBEDDED[name].kind == "speech-llm"
        assert (trained_context(name) != "none") == with_context
    assert shipped_speech_llm() == "speech-llm-tiny"
    assert shipped_speech_llm(with_context=True) == "speech-llm-tiny-abstract"


def test_context_table_has_one_row_per_result_in_split_order():
    from types import SimpleNamespace

    def result(model, context, ctx_tokens, wall):
        return SimpleNamespace(model=model, context=context, wer=0.25, entity_recall_first=0.5,
                               entity_recall_repeat=0.75, n_utterances=4,
                               context_audio_tokens_per_prior_turn=ctx_tokens,
                               counts={"cost": {"wall_seconds": wall}})

    rows = [("test-ood", result("m", "abstract", 4.0, 8.0)),
            ("test", result("w", "prompt", None, 2.0))]
    lines = context_table(rows).splitlines()
    assert len(lines) == 4
    assert lines[2] == "| test | w | prompt | 0.250 | 0.500 | 0.750 | – | 0.50 |"
    assert lines[3] == "| test-ood | m | abstract | 0.250 | 0.500 | 0.750 | 4.0 | 2.00 |"
