"""ConversationSession on tiny random models: the cached prefix gives exactly what a full
recompute gives, a saved and restored session goes on as if never stopped, and the context
footprint per prior turn is what each mode promises."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from susurrus.errors import BadSessionError, IncompatibleOptionError, UsageError
from susurrus.infer.session import ConversationSession, SessionError
from susurrus.models.speech_llm.generation import GenerateOptions
from susurrus.testing.speech_llm import build, load_parts

pytestmark = pytest.mark.usefixtures("one_thread")

SR = 16_000
K = 3


@pytest.fixture(scope="module")
def parts(tiny_whisper_dir: Path, tiny_llm_dir: Path) -> tuple:
    return load_parts(tiny_whisper_dir, tiny_llm_dir)


@pytest.fixture(scope="module")
def plain(parts):
    return build(parts, seed=3)


@pytest.fixture(scope="module")
def abstract(parts):
    return build(parts, seed=4, context="abstract", num_latents=K)


def turns(n: int, seed: int = 0) -> list[np.ndarray]:
    """n turns of 0.6-1.2 s of noisy tones (a different pitch each)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        t = np.arange(int((0.6 + 0.15 * (i % 5)) * SR)) / SR
        out.append((0.3 * np.sin(2 * np.pi * (140 + 35 * i) * t)
                    + 0.05 * rng.standard_normal(t.size)).astype(np.float32))
    return out


def run(model, mode: str, audio: list[np.ndarray], **kwargs) -> list:
    """Each turn's result; greedy only unless `options` say otherwise (a sampled fallback pass
    draws differently with and without the cache)."""
    kwargs.setdefault("options", GenerateOptions(fallback=()))
    session = ConversationSession(model, context=mode, **kwargs)
    return [session.transcribe_turn(a) for a in audio]


@pytest.mark.parametrize("mode, max_turns", [("text", None), ("raw", None), ("abstract", None),
                                             ("abstract", 2), ("none", None)])
def test_the_cached_prefix_gives_the_tokens_of_a_full_recompute(plain, abstract, mode: str,
                                                                 max_turns) -> None:
    model = abstract if mode == "abstract" else plain
    audio = turns(5)
    cached = run(model, mode, audio, max_turns=max_turns)
    fresh = run(model, mode, audio, max_turns=max_turns, use_cache=False)
    for c, f in zip(cached, fresh, strict=True):
        assert c.token_ids == f.token_ids, (c.index, str(c.token_ids), str(f.token_ids))
        assert c.prior_turns == f.prior_turns and c.context_audio_tokens == f.context_audio_tokens
    assert all(len(c.token_ids) > 0 for c in cached)  # a random model writes something


def test_context_changes_what_the_model_writes(abstract) -> None:
    audio = turns(3)
    with_ctx = run(abstract, "abstract", audio)
    without = run(abstract, "none", audio)
    assert with_ctx[0].token_ids == without[0].token_ids  # turn 1 has no prior turn
    assert with_ctx[2].token_ids != without[2].token_ids


def test_context_footprint_per_prior_turn(plain, abstract) -> None:
    audio = turns(4)
    ab, raw, text = (run(abstract, "abstract", audio), run(plain, "raw", audio),
                     run(plain, "text", audio))
    assert [r.prior_turns for r in ab] == [0, 1, 2, 3]
    assert [r.context_audio_tokens for r in ab] == [0, K, 2 * K, 3 * K]
    assert [r.context_audio_tokens for r in text] == [0, 0, 0, 0]
    assert [r.context_audio_tokens for r in raw] == [0] + list(np.cumsum(
        [r.audio_tokens for r in raw[:3]]))
    assert raw[3].context_audio_tokens > 3 * K  # the full audio costs more than K per turn
    window = run(abstract, "abstract", audio, max_turns=2)
    assert [r.prior_turns for r in window] == [0, 1, 2, 2]


def test_a_saved_and_restored_session_goes_on_as_if_uninterrupted(abstract, tmp_path) -> None:
    audio = turns(4)
    whole = run(abstract, "abstract", audio)
    first = ConversationSession(abstract)
    for a in audio[:2]:
        first.transcribe_turn(a)
    path = first.save(tmp_path / "call.session")
    del first
    again = ConversationSession.restore(path, abstract)
    assert [t.text for t in again.turns] == [r.text for r in whole[:2]]
    rest = [again.transcribe_turn(a) for a in audio[2:]]
    assert [r.token_ids for r in rest] == [r.token_ids for r in whole[2:]]
    assert [r.index for r in rest] == [2, 3]


def test_remember_as_keeps_the_given_transcript_as_context(plain) -> None:
    audio = turns(2)
    session = ConversationSession(plain, context="text")
    session.transcribe_turn(audio[0], remember_as="  the reference words ")
    assert session.turns[0].text == "the reference words"
    result = session.transcribe_turn(audio[1])
    ids = plain.tokenizer("the reference words", add_special_tokens=False)["input_ids"]
    assert result.context_text_tokens == len(ids)


def test_restoring_into_another_model_or_from_a_bad_file_is_refused(plain, abstract,
                                                                    parts, tmp_path) -> None:
    session = ConversationSession(abstract)
    session.transcribe_turn(turns(1)[0])
    path = session.save(tmp_path / "s.session")
    other = build(parts, seed=9, context="abstract", num_latents=K)
    with pytest.raises(SessionError, match="another model"):
        ConversationSession.restore(path, other)
    bad = tmp_path / "bad.session"
    bad.write_bytes(b"not a session")
    with pytest.raises(SessionError, match=r"bad\.session: not a susurrus session"):
        ConversationSession.restore(bad, abstract)
    with pytest.raises(SessionError, match="no such session file"):
        ConversationSession.restore(tmp_path / "missing.session", abstract)


def test_restoring_into_a_model_that_cannot_read_the_saved_context_is_a_session_error(
        plain, abstract, tmp_path) -> None:
    session = ConversationSession(abstract)
    session.transcribe_turn(turns(1)[0])
    path = session.save(tmp_path / "s.session")
    with pytest.raises(BadSessionError, match=r"s\.session: saved with context 'abstract', "
                                              r"which this model cannot read \(it reads none, "
                                              r"text, raw\)"):
        ConversationSession.restore(path, plain)


def test_a_session_of_a_model_that_is_no_speech_llm_is_refused() -> None:
    with pytest.raises(IncompatibleOptionError, match="'whisper-tiny.en' is a whisper model, "
                                                      "not a speech LLM"):
        ConversationSession("whisper-tiny.en")


def test_a_turn_uses_the_cache_api_transformers_names(abstract) -> None:
    """transformers 5.x warns that `past_key_values` goes in 5.40: the session passes `cache`."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        session = ConversationSession(abstract)
        for audio in turns(2):
            session.transcribe_turn(audio)


def test_bad_requests_get_clear_errors(plain) -> None:
    with pytest.raises(IncompatibleOptionError, match="needs a model trained with it"):
        ConversationSession(plain, context="abstract")
    with pytest.raises(UsageError, match="max_turns 0 reads no earlier turn: use context 'none'"):
        ConversationSession(plain, context="text", max_turns=0)
    with pytest.raises(UsageError, match=r"None \(all\) or 'trained'.*got 'all'"):
        ConversationSession(plain, context="text", max_turns="all")
    with pytest.raises(IncompatibleOptionError, match="num_beams=1"):
        ConversationSession(plain, context="text", options=GenerateOptions(num_beams=2))
    session = ConversationSession(plain, context="text")
    with pytest.raises(ValueError, match=r"lasts 31\.0 s.*at most 30 s"):
        session.transcribe_turn(np.zeros(31 * SR, dtype=np.float32))
    assert session.turns == []  # a refused turn leaves the session as it was
    assert torch.is_tensor(plain.embed_ids([1]))


def test_a_turn_added_with_its_transcript_is_context_like_a_transcribed_one(abstract) -> None:
    audio = turns(3)
    a = ConversationSession(abstract)
    first = a.transcribe_turn(audio[0])
    b = ConversationSession(abstract)
    b.add_turn(audio[0], first.text)
    assert [r.token_ids for r in (a.transcribe_turn(audio[1]), a.transcribe_turn(audio[2]))] == \
        [r.token_ids for r in (b.transcribe_turn(audio[1]), b.transcribe_turn(audio[2]))]


def test_the_default_window_is_the_one_the_model_was_trained_with(abstract) -> None:
    """A model trained on N earlier turns is read with N by default, not the whole session;
    `max_turns=None` asks for every earlier turn."""
    audio = turns(4, seed=5)
    trained = abstract.context_turns
    try:
        abstract.context_turns = 2
        assert [r.prior_turns for r in run(abstract, "abstract", audio)] == [0, 1, 2, 2]
        assert [r.context_audio_tokens for r in run(abstract, "abstract", audio)] == \
            [0, K, 2 * K, 2 * K]
        everything = run(abstract, "abstract", audio, max_turns=None)
        assert [r.prior_turns for r in everything] == [0, 1, 2, 3]
    finally:
        abstract.context_turns = trained


# -- a turn gone wrong ----------------------------------------------------------------------------
def test_a_sampled_pass_is_seeded_and_leaves_the_cache_as_it_was(plain) -> None:
    from susurrus.models.speech_llm.conversation import ConversationContext

    turn = plain.encode_turn(turns(1)[0])
    ctx = ConversationContext(plain)
    ctx.reset()
    length = ctx.cache.get_seq_length()
    greedy = ctx.generate_row(turn, GenerateOptions())
    assert greedy.ids == ctx.generate(turn, GenerateOptions()) and greedy.temperature == 0.0
    hot = GenerateOptions(temperature=1.0, best_of=3, seed=5)
    sampled = ctx.generate_row(turn, hot)
    assert ctx.cache.get_seq_length() == length
    assert sampled.ids == ctx.generate_row(turn, hot).ids  # seeded
    assert sampled.temperature == 1.0 and -50 < sampled.avg_logprob < 0
    draws = {tuple(ctx.generate_row(turn, GenerateOptions(temperature=1.0, best_of=1,
                                                          seed=s)).ids) for s in range(4)}
    assert len(draws) > 1


@pytest.mark.parametrize("use_cache", [True, False])
def test_a_looping_turn_is_decoded_again_hotter_and_reported_only_if_it_stays_wrong(
        plain, monkeypatch, use_cache) -> None:
    from susurrus.models.speech_llm.generation import GeneratedRow

    words = plain.tokenizer(" yes and no", add_special_tokens=False)["input_ids"]
    seen = []

    def fake(fixed_at: float):
        def generate_row(*args):
            options = args[-1]
            seen.append(options.temperature)
            return GeneratedRow(words * 3, looped=options.temperature < fixed_at,
                                temperature=options.temperature)
        return generate_row

    session = ConversationSession(plain, context="text", use_cache=use_cache)
    target = (session._context, "generate_row") if use_cache else (plain, "generate_turn_row")
    monkeypatch.setattr(*target, fake(0.4))
    r = session.transcribe_turn(turns(1)[0])
    assert seen == [0.0, 0.2, 0.4] and r.temperature == 0.4 and r.issues == ()
    assert r.text == plain.decode_text(words * 3) and session.texts == [r.text]
    seen.clear()
    monkeypatch.setattr(*target, fake(2.0))  # never fine: the greedy text, reported
    r = session.transcribe_turn(turns(2)[1])
    assert seen == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert r.temperature == 0.0 and [i.kind for i in r.issues] == ["loop"]
    assert r.issues[0].start == 0.0 and r.issues[0].end == pytest.approx(r.audio_seconds)
