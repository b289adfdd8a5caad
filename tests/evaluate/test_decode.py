"""`decode_manifest`: what context each turn sees, batches without context, refusing what the
recognizer cannot do, and resuming an interrupted run."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest

from susurrus.errors import IncompatibleOptionError
from susurrus.evaluate.decode import DecodeConfig, decode_manifest, manifest_fingerprint
from susurrus.testing.fakes import HYPS, WARM_UP, Interrupted

ORDER = ["a0", "a1", "a2", "b0", "b1"]  # session A's turns, then B's (first appearance)


def _decode(corpus, use_engine, hyp_file=None, fail_on=None, batch=False, **config):
    engine = use_engine(corpus.engine(fail_on), batch=batch)
    hyps = decode_manifest(corpus.utterances, DecodeConfig(**config), hyp_file, progress=False)
    return hyps, engine


def test_no_fallback_loads_the_recognizer_greedy_only(corpus, use_engine):
    _decode(corpus, use_engine, model="m")
    _decode(corpus, use_engine, model="m", no_fallback=True)
    default, greedy = use_engine.options
    assert default is None  # the recognizer's own fallback
    assert [type(o).__name__ for o in greedy] == ["LongFormOptions"]
    assert greedy[0].temperatures == (0.0,)


def test_first_pass_choice_llm_reaches_the_speech_llm_options(corpus, use_engine):
    from susurrus.errors import UsageError

    _decode(corpus, use_engine, model="m", first_pass_choice="llm", no_fallback=True)
    [options] = use_engine.options
    assert [type(o).__name__ for o in options] == ["LongFormOptions", "GenerateOptions"]
    assert options[1].first_pass_choice == "llm"
    with pytest.raises(UsageError, match="first_pass_choice must be 'joint' or 'llm'"):
        DecodeConfig(first_pass_choice="whisper")


def test_first_pass_nbest_reaches_the_speech_llm_options(corpus, use_engine):
    from susurrus.errors import UsageError

    _decode(corpus, use_engine, model="m", first_pass_nbest=4)
    [options] = use_engine.options
    assert [(type(o).__name__, o.first_pass_nbest) for o in options] == [("GenerateOptions", 4)]
    with pytest.raises(UsageError, match="first_pass_nbest must be >= 0, got -1"):
        DecodeConfig(first_pass_nbest=-1)
    with pytest.raises(ValueError, match="first_pass_nbest must be >= 0, got -2"):
        from susurrus.models.speech_llm.generation import GenerateOptions

        GenerateOptions(first_pass_nbest=-2)


def test_no_context_gives_no_prompts_and_the_engines_texts(corpus, use_engine):
    hyps, engine = _decode(corpus, use_engine, context="none", model="m", engine="torch")
    assert use_engine.asked == [("m", "torch")]
    assert engine.calls[0] == (WARM_UP, None)  # one untimed warm-up before the turns
    assert engine.decoded == ORDER  # session by session, turn by turn
    assert all(p is None for p in engine.prompts.values())
    assert [h.id for h in hyps] == ORDER
    assert [h.text for h in hyps] == [HYPS[i] for i in ORDER]  # stripped
    assert all(h.streams == [h.text] and h.context_tokens == 0 for h in hyps)
    by_id = {u.id: u for u in corpus.utterances}
    lengths = {uid: n for n, uid in corpus.by_length.items()}
    for h in hyps:
        assert h.audio_seconds == pytest.approx(lengths[h.id] / 16_000)
        assert by_id[h.id].id == h.id and h.wall_seconds >= 0


@pytest.mark.parametrize("context", ["text", "prompt"])  # 'prompt': the legacy name of text
def test_prompt_is_the_sessions_previous_hypotheses_only(corpus, use_engine, context):
    hyps, engine = _decode(corpus, use_engine, context=context)
    assert engine.prompts == {
        "a0": None,
        "a1": "hi siobhan",
        "a2": "hi siobhan shivaun flew to paris",
        "b0": None,  # a new session starts with no context: nothing from session A
        "b1": "good evening siobhan",
    }
    # no tokenizer on the fake engine: prompt words are counted
    assert [h.context_tokens for h in hyps] == [0, 2, 6, 0, 3]
    assert [h.prior_turns for h in hyps] == [0, 1, 2, 0, 1]
    assert [h.turn_index for h in hyps] == [0, 1, 2, 0, 1]


@pytest.mark.parametrize("config", [dict(context="oracle-prompt"),
                                    dict(context="text", oracle=True),
                                    dict(context="prompt", oracle=True)])
def test_oracle_prompt_is_the_sessions_previous_references(corpus, use_engine, config):
    _, engine = _decode(corpus, use_engine, **config)
    assert engine.prompts == {
        "a0": None,
        "a1": "Hi Siobhan.",
        "a2": "Hi Siobhan. Siobhan flew to Paris.",
        "b0": None,
        "b1": "Good evening, Siobhan.",
    }


@pytest.mark.parametrize(("turns", "a2_prompt"), [(1, "shivaun flew to paris"), (0, None),
                                                  (5, "hi siobhan shivaun flew to paris")])
def test_max_context_turns_keeps_the_latest_turns(corpus, use_engine, turns, a2_prompt):
    _, engine = _decode(corpus, use_engine, context="prompt", max_context_turns=turns)
    assert engine.prompts["a2"] == a2_prompt
    assert engine.prompts["b1"] == (None if turns == 0 else "good evening siobhan")


def test_limit_sessions_decodes_the_first_sessions_only(corpus, use_engine):
    hyps, engine = _decode(corpus, use_engine, limit_sessions=1)
    assert [h.id for h in hyps] == engine.decoded == ["a0", "a1", "a2"]


def test_context_tokens_are_what_the_recognizer_counts(corpus, use_engine):
    engine = use_engine(corpus.engine(), count=len)  # one token per character
    hyps = decode_manifest(corpus.utterances, DecodeConfig(context="text"), progress=False)
    by_id = {h.id: h for h in hyps}
    assert by_id["b1"].context_tokens == len("good evening siobhan")
    assert by_id["a2"].context_tokens == len("hi siobhan shivaun flew to paris")
    assert engine.prompts["b1"] == "good evening siobhan"


def test_legacy_context_names_normalize_to_one_mode_and_the_oracle_flag():
    assert DecodeConfig(context="prompt") == DecodeConfig(context="text")
    assert DecodeConfig(context="oracle-prompt") == DecodeConfig(context="text", oracle=True)
    assert DecodeConfig(context="abstract", oracle=True) == \
        DecodeConfig(context="abstract", oracle=True)
    assert DecodeConfig(context="raw (oracle)") == DecodeConfig(context="raw", oracle=True)
    assert asdict(DecodeConfig(context="oracle-prompt"))["context"] == "text"
    with pytest.raises(IncompatibleOptionError, match="oracle"):
        DecodeConfig(context="none", oracle=True)


@pytest.mark.parametrize("context", ["raw", "abstract"])
def test_a_context_the_recognizer_cannot_read_is_refused_before_decoding(corpus, use_engine,
                                                                        tmp_path, context):
    engine = use_engine(corpus.engine())
    with pytest.raises(IncompatibleOptionError, match=rf"context '{context}'.*none \| text"):
        decode_manifest(corpus.utterances, DecodeConfig(context=context),
                        tmp_path / "hyps.jsonl", progress=False)
    assert engine.calls == [] and not (tmp_path / "hyps.jsonl").exists()


def test_without_context_a_batching_recognizer_gets_batches_with_the_same_results(
        corpus, use_engine):
    alone, _ = _decode(corpus, use_engine)
    batched, engine = _decode(corpus, use_engine, batch=True, batch_size=2)
    lengths = {uid: n for n, uid in corpus.by_length.items()}
    # warm-up, then two utterances per call in session/turn order
    assert use_engine.recognizer.batches == [[16_000]] + [[lengths[i] for i in ids] for ids in
                                                          (["a0", "a1"], ["a2", "b0"], ["b1"])]
    assert engine.decoded == ORDER

    def same(hyps):
        return [(h.id, h.text, h.streams, h.audio_seconds, h.turn_index) for h in hyps]

    assert same(batched) == same(alone)
    # a batch's wall time is shared by audio length: the sum is the batches' time
    assert all(h.wall_seconds >= 0 for h in batched)


def test_a_batch_cut_by_an_interruption_is_decoded_again(corpus, use_engine, tmp_path):
    hyp_file = tmp_path / "hyps.jsonl"
    with pytest.raises(Interrupted):  # in the second batch (a2, b0)
        _decode(corpus, use_engine, hyp_file, fail_on="b0", batch=True, batch_size=2)
    assert [json.loads(x)["id"] for x in hyp_file.read_text().splitlines()[1:]] == ["a0", "a1"]
    hyps, engine = _decode(corpus, use_engine, hyp_file, batch=True, batch_size=2)
    assert engine.decoded == ["a2", "b0", "b1"] and [h.id for h in hyps] == ORDER


def test_interrupted_run_resumes_and_gives_the_same_results(corpus, use_engine, tmp_path):
    full, _ = _decode(corpus, use_engine, context="prompt")

    hyp_file = tmp_path / "run" / "hyps.jsonl"
    with pytest.raises(Interrupted):  # interrupted after a0, a1: mid-session
        _decode(corpus, use_engine, hyp_file, fail_on="a2", context="prompt")
    lines = hyp_file.read_text().splitlines()
    assert json.loads(lines[0]) == {"config": asdict(DecodeConfig(context="prompt")),
                                    "manifest": manifest_fingerprint(corpus.utterances),
                                    "context_turns": None}  # the window read: all turns
    assert [json.loads(line)["id"] for line in lines[1:]] == ["a0", "a1"]

    resumed, engine = _decode(corpus, use_engine, hyp_file, context="prompt")
    assert engine.decoded == ["a2", "b0", "b1"]  # only what was missing
    # the restored hypotheses are the context of the turns decoded now
    assert engine.prompts["a2"] == "hi siobhan shivaun flew to paris"

    def same(hyps):
        return [(h.id, h.text, h.streams, h.audio_seconds, h.context_tokens) for h in hyps]

    assert same(resumed) == same(full)
    # the file now holds every hypothesis: a third run decodes nothing
    _, again = _decode(corpus, use_engine, hyp_file, context="prompt")
    assert again.decoded == []


def test_the_same_audio_named_relative_or_absolute_has_one_fingerprint(tmp_path, monkeypatch):
    """A manifest given as out/x.jsonl or /abs/out/x.jsonl (or read from another directory)
    names the same audio: its hypotheses resume rather than being decoded again."""
    from susurrus.data.manifest import Utterance

    monkeypatch.chdir(tmp_path)
    rel = [Utterance("u", Path("audio/a.flac"), "hi", start=1.0, duration=2.0)]
    absolute = [Utterance("u", tmp_path / "audio" / "a.flac", "hi", start=1.0, duration=2.0)]
    assert manifest_fingerprint(rel) == manifest_fingerprint(absolute)
    other = [Utterance("u", tmp_path / "audio" / "b.flac", "hi", start=1.0, duration=2.0)]
    assert manifest_fingerprint(other) != manifest_fingerprint(absolute)


def test_a_line_cut_by_the_interruption_is_decoded_again(corpus, use_engine, tmp_path):
    hyp_file = tmp_path / "hyps.jsonl"
    with pytest.raises(Interrupted):
        _decode(corpus, use_engine, hyp_file, fail_on="b0")
    with open(hyp_file, "a") as f:
        f.write('{"id": "b0", "text": "half a li')
    _, engine = _decode(corpus, use_engine, hyp_file)
    assert engine.decoded == ["b0", "b1"]


def test_hypotheses_of_another_config_are_not_reused(corpus, use_engine, tmp_path):
    hyp_file = tmp_path / "hyps.jsonl"
    _decode(corpus, use_engine, hyp_file, context="none")
    hyps, engine = _decode(corpus, use_engine, hyp_file, context="prompt")
    assert engine.decoded == ORDER  # everything again
    assert engine.prompts["a1"] == "hi siobhan"
    header = json.loads(hyp_file.read_text().splitlines()[0])
    assert header["config"]["context"] == "text"  # the legacy "prompt", normalized
    _, other_model = _decode(corpus, use_engine, hyp_file, context="prompt", model="other")
    assert other_model.decoded == ORDER


@pytest.mark.parametrize(("field", "value"), [("context", "oracle"), ("max_context_turns", -1),
                                              ("limit_sessions", 0)])
def test_config_refuses_bad_values_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        DecodeConfig(**{field: value})


def test_hypotheses_of_another_manifest_are_not_reused(corpus, use_engine, tmp_path):
    """Same ids, same config, but a reference (or audio span) changed: decode again."""
    import dataclasses

    hyp_file = tmp_path / "hyps.jsonl"
    _decode(corpus, use_engine, hyp_file, context="none")
    corpus.utterances[0] = dataclasses.replace(corpus.utterances[0], text="something else")
    _, engine = _decode(corpus, use_engine, hyp_file, context="none")
    assert engine.decoded == ORDER
