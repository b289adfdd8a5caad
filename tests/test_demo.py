"""What `make demo` runs: the shipped models it picks and the context table it prints."""

from __future__ import annotations

import pytest

from susurrus.cli.demo import context_table, demo_tables, shipped_speech_llm, trained_context
from susurrus.pretrained import EMBEDDED


def test_the_demo_picks_a_single_turn_and_a_context_speech_llm():
    for with_context in (False, True):
        name = shipped_speech_llm(with_context=with_context)
        if not name:
            pytest.skip("no shipped speech LLM is installed")
        assert EMBEDDED[name].kind == "speech-llm"
        assert (trained_context(name) != "none") == with_context
    assert shipped_speech_llm() == "speech-llm-tiny-fp"  # the default model
    assert shipped_speech_llm(with_context=True) == "speech-llm-tiny-fp-abstract"  # sessions


def _result(model: str, mode: str, ctx_audio_tokens: int, wall: float, oracle: bool = False):
    """4 turns of 8 words, 2 errors (WER 0.25); entities found 1 of 2 first, 3 of 4 repeated;
    `ctx_audio_tokens` over 2 prior turns; `wall` seconds in all."""
    from susurrus.evaluate.results import EvalCounts, EvalResult
    from susurrus.metrics.scores import CostCounts, EntityCounts, ErrorCounts

    counts = EvalCounts(wer=ErrorCounts(substitutions=2, ref_words=8),
                        entities=EntityCounts(1, 2, 3, 4),
                        cost=CostCounts(audio_seconds=8.0, wall_seconds=wall, turns=4,
                                        prior_context_audio_tokens=ctx_audio_tokens,
                                        prior_turns=2))
    return EvalResult(model=model, engine="torch", manifest="m.jsonl", counts=counts,
                      context=mode, oracle=oracle)


def test_context_table_has_one_row_per_result_in_split_order():
    rows = [("test-ood", _result("m", "abstract", 8, 8.0)),
            ("test", _result("w", "text", 0, 2.0))]
    lines = context_table(rows).splitlines()
    assert len(lines) == 4
    assert lines[2] == "| test | w | text | 0.250 | 0.500 | 0.750 | – | 0.50 |"
    assert lines[3] == "| test-ood | m | abstract | 0.250 | 0.500 | 0.750 | 4.0 | 2.00 |"


def test_the_demo_tables_split_whisper_contexts_from_the_speech_llms():
    whisper = "whisper-tiny.en"
    results = [(split, r) for split in ("test", "test-ood") for r in (
        _result(whisper, "none", 0, 1.0), _result(whisper, "text", 0, 1.0),
        _result(whisper, "text", 0, 1.0, oracle=True),
        _result("speech-llm-tiny", "none", 0, 2.0),
        _result("speech-llm-tiny-abstract", "abstract", 8, 3.0))]
    main, context = demo_tables(results, whisper).split("Conversational context")
    main_rows = [line.split(" | ")[1:3] for line in main.splitlines() if line.startswith("| test")]
    assert main_rows == 2 * [[whisper, "none"], [whisper, "text"], [whisper, "text (oracle)"],
                             ["speech-llm-tiny", "none"]]
    ctx_rows = [line.split(" | ")[1:3] for line in context.splitlines()
                if line.startswith("| test")]
    # Whisper with its own hypotheses as prompt beside the speech LLMs; not the oracle
    assert ctx_rows == 2 * [[whisper, "text"], ["speech-llm-tiny", "none"],
                            ["speech-llm-tiny-abstract", "abstract"]]
    # no speech LLM read context: no context table
    assert "Conversational context" not in demo_tables(results[:4], whisper)


def test_the_demo_runs_whisper_in_three_contexts_and_each_speech_llm_in_its_own():
    from susurrus.cli.demo import WHISPER_CONTEXTS, systems_to_run

    single, multi = shipped_speech_llm(), shipped_speech_llm(with_context=True)
    if not (single and multi):
        pytest.skip("the shipped speech LLMs are not installed")
    assert WHISPER_CONTEXTS == (("none", False), ("text", False), ("text", True))
    assert systems_to_run("whisper-tiny.en", single, multi) == [
        ("whisper-tiny.en", WHISPER_CONTEXTS), (single, (("none", False),)),
        (multi, (("none", False), (trained_context(multi), False)))]
    assert systems_to_run("whisper-tiny.en", "", "") == [("whisper-tiny.en", WHISPER_CONTEXTS)]
    with pytest.raises(SystemExit, match="trained without context"):
        systems_to_run("whisper-tiny.en", "", single)
