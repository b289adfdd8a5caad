"""A speech LLM with a first pass (issue 16, lever 4): it reads a Whisper transcript of the turn
after the audio tokens. The layout, padding, that the hypothesis matters, and that the cached
conversation path reads it exactly as the uncached one.

Shapes: B batch, T encoder frames, D encoder width, E LLM width.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from susurrus.models.speech_llm.conversation import ConversationContext
from susurrus.models.speech_llm.generation import GenerateOptions
from susurrus.models.speech_llm.model import FIRST_PASS_LABEL, EncodedTurn, SpeechLLM
from susurrus.testing.speech_llm import D, build

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def model(one_thread, parts) -> SpeechLLM:
    return build(parts, first_pass="whisper-tiny.en")


def feats(lengths: list[int], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(len(lengths), max(lengths), D, generator=g) * 1e3  # garbage in the padding
    for b, n in enumerate(lengths):
        x[b, :n] = torch.randn(n, D, generator=g)
    return x, torch.tensor(lengths)


def ids(model: SpeechLLM, text: str) -> list[int]:
    return model.tokenizer(text, add_special_tokens=False)["input_ids"]


def test_the_hypothesis_sits_between_the_audio_and_the_assistant_cue(model: SpeechLLM) -> None:
    x, n = feats([8])
    hyp = ids(model, "the first pass heard this")
    audio, n_audio = model.audio_embeddings(x, n)
    batch = model.assemble(audio, n_audio, None, None, [hyp])
    expected = model.tokenizer.decode(model.first_pass_ids + hyp + model.pieces.tail)
    assert expected.startswith(FIRST_PASS_LABEL)
    assert expected.endswith("<|im_end|>\n<|im_start|>assistant\n")
    head = model.embed_ids(model.pieces.head)
    text = model.embed_ids(model.first_pass_ids + hyp + model.pieces.tail)
    want = torch.cat([head, audio[0, : int(n_audio[0])], text])
    assert torch.allclose(batch.embeds[0], want)


def test_a_first_pass_model_needs_one_hypothesis_per_row_and_others_take_none(
        model: SpeechLLM, parts) -> None:
    x, n = feats([6, 8])
    with pytest.raises(ValueError, match="first-pass .* each of its 2 rows; got none"):
        model.generate(x, n, GenerateOptions(extra_tokens=2))
    with pytest.raises(ValueError, match="got 1"):
        model(x, n, [[1], [2]], hypotheses=[[5]])
    with pytest.raises(ValueError, match="give it"):
        model.encode_turn(torch.zeros(1600).numpy())
    plain = build(parts)
    with pytest.raises(ValueError, match="no first pass"):
        plain(x, n, [[1], [2]], hypotheses=[[5], [6]])


def test_the_loss_reads_the_hypothesis_and_ignores_other_rows_padding(model: SpeechLLM) -> None:
    x, n = feats([6, 9])
    target = [ids(model, "hello there"), ids(model, "good morning to you")]
    hyps = [ids(model, "hello"), ids(model, "good morning to you all of you")]
    with torch.no_grad():
        both = model(x, n, target, hypotheses=hyps)
        other = model(x, n, target, hypotheses=[ids(model, "no"), hyps[1]])
        assert not torch.isclose(both, other)  # what the first pass said changes the loss
        # per-row losses, each row alone, weighted by its labels, give the batch loss
        alone = [model(x[b : b + 1, : int(n[b])], n[b : b + 1], [target[b]],
                       hypotheses=[hyps[b]]) for b in range(2)]
    weights = torch.tensor([len(t) + 1 for t in target], dtype=torch.float32)
    assert torch.isclose(both, (torch.stack(alone) * weights).sum() / weights.sum(), atol=1e-5)


def test_generation_with_a_hypothesis_is_batch_invariant(model: SpeechLLM) -> None:
    x, n = feats([5, 9], seed=1)
    hyps = [ids(model, "short"), ids(model, "a longer first pass of this turn")]
    opts = GenerateOptions(tokens_per_second=1.0, extra_tokens=6)
    batch = model.generate(x, n, opts, hypotheses=hyps)
    alone = [model.generate(x[b : b + 1, : int(n[b])], n[b : b + 1], opts,
                            hypotheses=[hyps[b]])[0] for b in range(2)]
    assert batch == alone and all(alone)


def test_the_cached_conversation_reads_the_turns_hypothesis(model: SpeechLLM) -> None:
    x, n = feats([7], seed=2)
    with torch.no_grad():
        audio, n_audio = model.audio_embeddings(x, n)
    turn = EncodedTurn(x, n, audio[0, : int(n_audio[0])], 7 / model.frames_per_second,
                       ids(model, "what whisper wrote"))
    opts = GenerateOptions(tokens_per_second=1.0, extra_tokens=6)
    context = ConversationContext(model)
    assert context.generate(turn, opts) == model.generate_turn(turn, [], opts)


def test_score_texts_is_the_per_row_sum_the_loss_averages(model: SpeechLLM) -> None:
    """Teacher-forced log-probability of each row's text then EOS: minus the loss of that row
    alone times its labels, and a batch scores each row as it scores it alone."""
    x, n = feats([6, 9], seed=3)
    texts = ["hello there", "good morning to you"]
    hyps = [ids(model, "hello"), ids(model, "good morning")]
    with torch.no_grad():
        batch = model.score_texts(x, n, texts, hypotheses=hyps)
        for b, text in enumerate(texts):
            target = ids(model, text)
            loss = model(x[b : b + 1, : int(n[b])], n[b : b + 1], [target],
                         hypotheses=[hyps[b]])
            assert batch[b] == pytest.approx(-float(loss) * (len(target) + 1), abs=1e-3)
        assert model.score_texts(x, n, texts[::-1], hypotheses=hyps) != batch


def test_joint_choice_keeps_the_text_both_models_score_higher(model: SpeechLLM,
                                                              monkeypatch) -> None:
    """Per window: log p_Whisper + log p_LLM of the first pass's text against the LLM's; the
    first pass's text wins only when its sum is higher, a window where both agree is not
    scored. (Whisper's scores are faked here; `WindowDecoder.score` is tested on its own.)"""
    import susurrus.infer.first_pass as fp
    from susurrus.models.speech_llm.generation import GeneratedRow

    x, n = feats([6, 7, 8], seed=4)
    # the LLM reads the greedy text; Whisper's answer (after its own checks) competes
    reads = ["the first pass", "what whisper heard", "same words"]
    firsts = [fp.FirstPass("a loop a loop", reads[0]), *(fp.FirstPass(t, t) for t in reads[1:])]
    rows = [GeneratedRow(ids(model, t)) for t in ["the llm's own", "an llm reading",
                                                   "same words"]]
    with torch.no_grad():
        llm = [[model.score_texts(x[b : b + 1], n[b : b + 1], [t],
                                  hypotheses=[model.hypothesis_ids(firsts[b].read)])[0]
                for t in (reads[b], model.decode_text(rows[b].ids))] for b in range(2)]
    # window 0: Whisper prefers the first pass by more than the LLM prefers its own (or less
    # than it disprefers it); window 1: by 1 nat less than that, so the LLM's text stays
    margin = [llm[b][1] - llm[b][0] for b in range(2)]
    calls = []

    def fake(name, clips, candidates):
        calls.append([list(c) for c in candidates])
        return [[margin[0] + 1.0, 0.0], [margin[1] - 1.0, 0.0]][: len(candidates)]

    monkeypatch.setattr(fp, "first_pass_logprobs", fake)
    with torch.no_grad():
        out = fp.joint_choice(model, x, n, [None] * 3, firsts, rows)
    assert calls == [[[reads[0], "the llm's own"], [reads[1], "an llm reading"]]]
    assert out[0].from_first_pass and model.decode_text(out[0].ids) == reads[0]
    assert out[1] is rows[1] and out[2] is rows[2]


def test_a_session_turn_makes_the_same_joint_choice(model: SpeechLLM, monkeypatch) -> None:
    """A conversation session keeps the first pass's text of a turn when both models score it
    higher (here Whisper's fake scores make it so), and its own with first_pass_choice llm."""
    import numpy as np

    import susurrus.infer.first_pass as fp
    import susurrus.infer.session as session
    from susurrus.infer.session import ConversationSession

    heard = "what whisper heard"
    monkeypatch.setattr(session, "first_passes", lambda name, engine, clips, answers, nbest=0: [
        fp.FirstPass(heard, heard)] * len(clips))
    monkeypatch.setattr(fp, "first_pass_logprobs",
                        lambda name, clips, cands: [[0.0, -1e4] for _ in cands])
    clip = np.random.default_rng(0).standard_normal(16_000).astype(np.float32) * 0.1
    opts = GenerateOptions(tokens_per_second=2.0, extra_tokens=4, fallback=())
    joint = ConversationSession(model, options=opts).transcribe_turn(clip)
    own = ConversationSession(model, options=GenerateOptions(
        tokens_per_second=2.0, extra_tokens=4, fallback=(), first_pass_choice="llm")
                              ).transcribe_turn(clip)
    assert own.text != heard and not own.first_pass
    assert joint.text == heard and joint.first_pass


def test_a_session_turn_lets_a_respelled_candidate_win_with_the_earlier_turns_as_prompt(
        parts, monkeypatch) -> None:
    """The second turn's texts (Whisper's answer, the LLM's) both mishear a name the first turn
    holds; with context candidates on, the respelled text competes and wins when both models'
    scores favour it (Whisper's are faked here to favour it). Whisper scores without the
    earlier turns (the check on the audio alone). With them off, the answer wins as before."""
    import numpy as np

    import susurrus.infer.first_pass as fp
    import susurrus.infer.session as session
    from susurrus.infer.session import ConversationSession

    model = build(parts, first_pass="whisper-tiny.en", context="abstract")
    heard = "So we met Dr. Dase Compes today."
    monkeypatch.setattr(session, "first_passes", lambda name, engine, clips, answers, nbest=0: [
        fp.FirstPass(heard, heard)] * len(clips))
    asked = []

    def whisper(name, clips, cands):
        asked.append(list(map(list, cands)))
        return [[0.0 if "Descamps" in t else -1e3 if t == heard else -1e4 for t in c]
                for c in cands]

    monkeypatch.setattr(fp, "first_pass_logprobs", whisper)
    clip = np.random.default_rng(0).standard_normal(16_000).astype(np.float32) * 0.1
    results = {}
    for n in (6, 0):
        s = ConversationSession(model, options=GenerateOptions(
            tokens_per_second=2.0, extra_tokens=4, fallback=(), context_candidates=n))
        s.add_turn(clip, "Dr. Descamps called about the claim.")
        results[n] = s.transcribe_turn(clip)
    assert results[6].text == "So we met Dr. Descamps today." and results[6].from_context
    assert not results[6].first_pass
    assert results[0].text == heard and results[0].first_pass and not results[0].from_context
    with_cands, without = asked
    assert "So we met Dr. Descamps today." in with_cands[0] and len(without[0]) == 2


def test_whispers_answer_is_its_fallback_only_where_greedy_fails_its_own_checks(monkeypatch):
    """`first_passes`: the LLM reads the greedy text; Whisper's answer is decoded again with
    its temperature fallback only where the greedy text loops (compression ratio > 2.4) or is
    too unlikely (mean log-probability < -1), as openai/whisper retries."""
    import susurrus.infer.first_pass as fp
    from susurrus.infer.recognizer import Recognition, TalkerStream
    from susurrus.infer.transcript import Segment

    greedy = {"a": ("fine words here", -0.3), "b": ("my own, " * 30, -0.1),
              "c": ("unlikely words", -1.5)}
    asked = []

    class Fake:
        def __init__(self, fallback: bool) -> None:
            self.fallback = fallback

        def recognize(self, clips):
            asked.append((self.fallback, list(clips)))
            def seg(c: str) -> Segment:
                if self.fallback:
                    return Segment(0, 1, f"{c} retried", avg_logprob=-0.2)
                return Segment(0, 1, greedy[c][0], avg_logprob=greedy[c][1])

            return [Recognition([TalkerStream([seg(c)])]) for c in clips]

    monkeypatch.setattr(fp, "first_pass_recognizer",
                        lambda name, engine, fallback=False: Fake(fallback))
    got = fp.first_passes("w", "torch", ["a", "b", "c"])
    assert [f.read for f in got] == [greedy[c][0].strip() for c in "abc"]
    assert [f.answer for f in got] == ["fine words here", "b retried", "c retried"]
    assert asked == [(False, ["a", "b", "c"]), (True, ["b", "c"])]
    asked.clear()
    assert [f.answer for f in fp.first_passes("w", "torch", ["b"], answers=False)] == \
        [greedy["b"][0].strip()]
    assert asked == [(False, ["b"])]


def test_whispers_nbest_texts_are_alternatives_only_with_answers_and_a_beam(monkeypatch):
    """`first_passes(nbest=n)`: Whisper's beam texts of each window, without the greedy text,
    the answer and repeats, are its alternatives; no beam is decoded for n <= 1 or without
    answers (first_pass_choice llm)."""
    import susurrus.infer.first_pass as fp
    from susurrus.infer.recognizer import Recognition, TalkerStream
    from susurrus.infer.transcript import Segment

    class Fake:
        def recognize(self, clips):
            return [Recognition([TalkerStream([Segment(0, 1, f" {c} heard",
                                                       avg_logprob=-0.1)])]) for c in clips]

    beams = []

    def beam(name, clips, n):
        beams.append((list(clips), n))
        return [[f"{c} heard", f"{c} herd", "", f"{c} herd", f"{c} hurt"][:n] for c in clips]

    monkeypatch.setattr(fp, "first_pass_recognizer", lambda name, engine, fallback=False: Fake())
    monkeypatch.setattr(fp, "beam_texts", beam)
    got = fp.first_passes("w", "torch", ["a", "b"], nbest=5)
    assert [f.alternatives for f in got] == [("a herd", "a hurt"), ("b herd", "b hurt")]
    assert [f.read for f in got] == [f.answer for f in got] == ["a heard", "b heard"]
    assert beams == [(["a", "b"], 5)]
    for kw in ({"nbest": 1}, {"nbest": 0}, {"nbest": 5, "answers": False}):
        assert all(not f.alternatives for f in fp.first_passes("w", "torch", ["a"], **kw))
    assert len(beams) == 1


def test_an_nbest_text_competes_and_wins_as_the_first_pass(model: SpeechLLM, monkeypatch):
    """Whisper's n-best texts join the answer and the LLM's text in the joint choice, each
    scored once; the one both models favour (Whisper's fake scores make it so) is kept and
    counted as the first pass's, not as context."""
    import susurrus.infer.first_pass as fp
    from susurrus.models.speech_llm.generation import GeneratedRow

    x, n = feats([6, 7], seed=5)
    firsts = [fp.FirstPass("what he said", "what he said", ("what we said", "what he sad")),
              fp.FirstPass("same words", "same words", ("some words",))]
    rows = [GeneratedRow(ids(model, t)) for t in ["what she said", "same words"]]
    asked = []

    def whisper(name, clips, cands):
        asked.append([list(c) for c in cands])
        return [[0.0 if t in ("what we said", "same words") else -1e4 for t in c]
                for c in cands]

    monkeypatch.setattr(fp, "first_pass_logprobs", whisper)
    with torch.no_grad():
        out = fp.joint_choice(model, x, n, [np.zeros(16000, np.float32)] * 2, firsts, rows)
    assert asked == [[["what he said", "what she said", "what we said", "what he sad"],
                      ["same words", "some words"]]]
    assert model.decode_text(out[0].ids) == "what we said"
    assert out[0].from_first_pass and not out[0].from_context
    assert out[1] is rows[1]  # the LLM's text, which is also Whisper's answer, stays


def test_an_nbest_text_too_short_for_the_speech_does_not_compete(model: SpeechLLM,
                                                                 monkeypatch) -> None:
    """Beam search also ends texts early ("Welcome back." for a 7-s turn), and a shorter text
    scores higher under both models: an n-best text with fewer tokens than the window's seconds
    of speech (the suspect check's "little text") is not scored, however Whisper likes it; a
    long enough one, and the answer however short, still are."""
    import susurrus.infer.first_pass as fp
    from susurrus.models.speech_llm.generation import GeneratedRow

    rng = np.random.default_rng(0)
    talk = (0.1 * rng.standard_normal(16000 * 6)).astype(np.float32)  # 6 s of "speech"
    long_enough = "so then we all went down to the old harbour and met your brother there"
    x, n = feats([6], seed=6)
    firsts = [fp.FirstPass("Great.", "Great.", ("Welcome back.", long_enough))]
    rows = [GeneratedRow(ids(model, "great thank you"))]
    asked = []

    def whisper(name, clips, cands):
        asked.append([list(c) for c in cands])
        return [[0.0 if t == "Welcome back." else -1e4 for t in c] for c in cands]

    monkeypatch.setattr(fp, "first_pass_logprobs", whisper)
    with torch.no_grad():
        fp.joint_choice(model, x, n, [talk], firsts, rows)
        assert asked.pop() == [["Great.", "great thank you", long_enough]]
        fp.joint_choice(model, x, n, [np.zeros_like(talk)], firsts, rows)  # silence: no check
        assert asked.pop() == [["Great.", "great thank you", "Welcome back.", long_enough]]
