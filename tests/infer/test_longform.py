"""Long inputs are cut into windows, segmented by timestamps and never truncated."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from susurrus.infer.whisper_decoding import DecodingResult
from susurrus.infer.whisper_longform import LongFormOptions, _split_segments
from tests.conftest import LONGFORM_TEXT

TB = 50363


class FakeTokenizer:
    def decode(self, ids):
        return " ".join(str(i) for i in ids)


DECODER = SimpleNamespace(tk=SimpleNamespace(timestamp_begin=TB), tokenizer=FakeTokenizer())


def _result(tokens):
    return DecodingResult(tokens, -1.0, 0.1, 0.0)


def test_pairs_cut_segments_and_single_ending_consumes_the_window():
    toks = [TB, 1, 2, TB + 100, TB + 100, 3, TB + 250]
    segs, consumed = _split_segments(_result(toks), DECODER, offset=30.0, window_seconds=30.0)
    assert [(s.start, s.end, s.tokens) for s in segs] == [
        (30.0, 32.0, [1, 2]), (32.0, 35.0, [3])]
    assert consumed is None  # ended with a single timestamp: the whole window is done


def test_unfinished_last_segment_is_decoded_again_from_its_start():
    toks = [TB, 1, TB + 100, TB + 100, 2, 3]  # the window ends mid-sentence
    segs, consumed = _split_segments(_result(toks), DECODER, offset=0.0, window_seconds=30.0)
    assert [s.tokens for s in segs] == [[1]]
    assert consumed == pytest.approx(2.0)  # seek to 2.0 s and decode [2, 3] with the next window


def test_no_timestamp_pair_gives_one_segment_to_the_last_timestamp():
    segs, consumed = _split_segments(_result([TB + 10, 5, 6, TB + 400]), DECODER, 60.0, 30.0)
    assert [(s.start, s.end) for s in segs] == [(60.2, 68.0)]
    assert consumed is None


def test_only_timestamps_gives_nothing():
    assert _split_segments(_result([TB, TB + 5]), DECODER, 0.0, 30.0)[0] == []


def test_options_validate():
    with pytest.raises(ValueError, match="temperatures"):
        LongFormOptions(temperatures=())


@pytest.mark.integration
def test_three_minutes_come_back_whole(whisper_tiny, three_minute_file):
    """The Python API on a ~3-minute file: all of the text, segment times increasing."""
    import jiwer

    import susurrus
    from susurrus.audio import load_audio

    path, reference = three_minute_file
    duration = load_audio(path).shape[0] / 16000
    assert duration > 170
    result = susurrus.transcribe(path, model="whisper-tiny.en")
    assert result.duration == pytest.approx(duration)
    starts = [s.start for s in result.segments]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    assert all(s.end >= s.start for s in result.segments)
    assert result.segments[-1].end > duration - 10  # reaches the end of the audio
    norm = jiwer.Compose([jiwer.ToLowerCase(), jiwer.RemovePunctuation(),
                          jiwer.RemoveMultipleSpaces(), jiwer.Strip()])
    assert jiwer.wer(norm(reference), norm(result.text)) < 0.3  # measured 0.12 with tiny.en
    # the last sentence is there, not cut at 30 s or at any window
    assert "thank you for listening" in norm(result.text)
    assert len(result.text.split()) > 0.8 * len(reference.split())


def test_token_budget_grows_with_the_window_and_caps_at_whispers_224():
    from susurrus.infer.whisper_longform import token_budget

    assert token_budget(0.2) == 26 and token_budget(3.0) == 48
    assert token_budget(30.0) == 224
    budgets = [token_budget(s / 2) for s in range(61)]
    assert budgets == sorted(budgets)


def sentence_coverage(sentences: list[str], hypothesis: str) -> list[float]:
    """Per reference sentence, the share of its words the hypothesis has something for: matched
    or substituted, not deleted (a jiwer alignment of the whole text; normalized words). A window
    dropped or cut short shows as a sentence with low coverage; misheard words do not."""
    import jiwer

    norm = jiwer.Compose([jiwer.ToLowerCase(), jiwer.RemovePunctuation(),
                          jiwer.RemoveMultipleSpaces(), jiwer.Strip()])
    words = [norm(s).split() for s in sentences]
    owner = [k for k, w in enumerate(words) for _ in w]
    covered = [False] * len(owner)
    out = jiwer.process_words(" ".join(" ".join(w) for w in words), norm(hypothesis) or "-")
    for chunk in out.alignments[0]:
        if chunk.type in ("equal", "substitute"):
            for i in range(chunk.ref_start_idx, chunk.ref_end_idx):
                covered[i] = True
    return [sum(c for c, o in zip(covered, owner, strict=True) if o == k) / len(w)
            for k, w in enumerate(words)]


def test_sentence_coverage_counts_each_sentences_words_not_deleted():
    cover = sentence_coverage(["The cat sat.", "A dog ran home.", "Birds sing."],
                              "the cat sat a frog ran home")
    assert cover == [1.0, 1.0, 0.0]
    assert sentence_coverage(["The cat sat.", "A dog ran home."], "the cat") == [2 / 3, 0.0]


@pytest.mark.integration
@pytest.mark.parametrize(("model", "engine"), [
    ("whisper-tiny.en", "torch"),
    ("whisper-tiny.en-distilled", "torch"),  # paper 002's shipped student, on both engines
    ("whisper-tiny.en-distilled", "faster-whisper"),
])
def test_every_sentence_of_ten_minutes_comes_back(model, engine, ten_minute_file):
    """Each Whisper on ~10 minutes of real news read whole (20 windows of the seek loop and
    more): every sentence is in the transcript, the words are mostly right, the segments run
    in order to the end of the audio, and no window was reported as suspect."""
    import jiwer

    import susurrus
    from susurrus.audio import load_audio

    path, sentences = ten_minute_file
    duration = load_audio(path).shape[0] / 16000
    assert duration > 540
    result = susurrus.transcribe(path, model=model, engine=engine)
    cover = sentence_coverage(sentences, result.text)
    missing = [(round(c, 2), s) for c, s in zip(cover, sentences, strict=True) if c < 0.5]
    assert not missing, f"{model}: sentences missing ({len(missing)}/{len(sentences)}): {missing}"
    norm = jiwer.Compose([jiwer.ToLowerCase(), jiwer.RemovePunctuation(),
                          jiwer.RemoveMultipleSpaces(), jiwer.Strip()])
    assert jiwer.wer(norm(" ".join(sentences)), norm(result.text)) < 0.3
    starts = [s.start for s in result.segments]
    assert starts == sorted(starts)
    assert result.segments[-1].end > duration - 15
    assert result.issues == []


@pytest.mark.integration
@pytest.mark.parametrize(("model", "max_wer"), [
    ("whisper-tiny.en", 0.3),  # measured 0.12, every sentence there
    # Known to fail (docs/generalization.md): on this file it writes fluent invented news (WER
    # 0.80 measured with 20-s windows, every sentence there). Strict: once it passes, this must go.
    pytest.param("speech-llm-tiny-v2", 0.5, marks=pytest.mark.xfail(
        strict=True, reason="the speech LLM still writes its language model on long read "
                            "speech (issue 16)")),
    # The shipped first-pass speech LLM: every sentence there and WER 0.30 (measured). Greedy, one
    # 17-s window ran to the length limit (WER 0.40); the temperature fallback decodes it again
    # (at 0.4), so no window is left suspect.
    ("speech-llm-tiny-fp", 0.4),
])
def test_every_sentence_of_three_minutes_comes_back(model, max_wer, three_minute_file):
    """Each embedded model on a ~3-minute read file: every sentence is in the transcript (most of
    its words not deleted), the words are mostly right, segments cover the audio in order, and
    no window was reported as suspect."""
    import jiwer

    import susurrus
    from susurrus.audio import load_audio

    path, reference = three_minute_file
    sentences = [s for s in LONGFORM_TEXT.read_text().splitlines() if s.strip()]
    assert " ".join(" ".join(sentences).split()) == reference
    result = susurrus.transcribe(path, model=model)
    cover = sentence_coverage(sentences, result.text)
    missing = [(round(c, 2), s) for c, s in zip(cover, sentences, strict=True) if c < 0.5]
    assert not missing, f"{model}: sentences missing ({len(missing)}/{len(sentences)}): {missing}"
    norm = jiwer.Compose([jiwer.ToLowerCase(), jiwer.RemovePunctuation(),
                          jiwer.RemoveMultipleSpaces(), jiwer.Strip()])
    assert jiwer.wer(norm(reference), norm(result.text)) < max_wer
    starts = [s.start for s in result.segments]
    assert starts == sorted(starts)
    assert result.segments[-1].end > load_audio(path).shape[0] / 16000 - 15
    assert result.issues == []
