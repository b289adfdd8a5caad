import math
import sys
from pathlib import Path

import pytest
import sacrebleu
from hypothesis import given, settings
from hypothesis import strategies as st

from susurrus.metrics import BleuCounts, CostCounts, bleu_counts, peak_rss_bytes

REFS = ["The cat sat on the mat.", "It is raining in Paris today.", "Hello there, Siobhan!"]
HYPS = ["The cat sat on a mat.", "It rains in Paris today.", "Hello there Siobhan!"]

sentence = st.lists(st.sampled_from(["a", "b", "c", "d", "the", "."]), min_size=0, max_size=10)


def test_bleu_matches_sacrebleu_on_one_corpus():
    counts = bleu_counts(REFS, HYPS)
    ref = sacrebleu.corpus_bleu(HYPS, [REFS])
    assert counts.score == pytest.approx(ref.score)
    assert list(counts.matches) == ref.counts and list(counts.totals) == ref.totals
    assert (counts.sys_len, counts.ref_len) == (ref.sys_len, ref.ref_len)


def test_bleu_merge_equals_corpus_bleu_of_merged_corpus():
    merged = bleu_counts(REFS[:1], HYPS[:1]) + bleu_counts(REFS[1:], HYPS[1:])
    assert merged == bleu_counts(REFS, HYPS)
    assert merged.score == pytest.approx(sacrebleu.corpus_bleu(HYPS, [REFS]).score)
    # the merged score is not the mean of the parts' scores
    parts = [bleu_counts([r], [h]).score for r, h in zip(REFS, HYPS, strict=True)]
    assert merged.score != pytest.approx(sum(parts) / len(parts))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(sentence, sentence), min_size=1, max_size=6), st.integers(0, 6))
def test_bleu_merge_property(pairs, cut):
    refs, hyps = [" ".join(r) for r, _ in pairs], [" ".join(h) for _, h in pairs]
    cut = min(cut, len(pairs))
    merged = bleu_counts(refs[:cut], hyps[:cut]) + bleu_counts(refs[cut:], hyps[cut:])
    assert merged.score == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs]).score)


def test_bleu_empty_and_mismatches():
    assert bleu_counts([], []) == BleuCounts() and BleuCounts().score == 0.0
    assert bleu_counts(["a b c"], [""]).score == 0.0
    with pytest.raises(ValueError, match="2 references but 1 hypotheses"):
        bleu_counts(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="tokenizer"):
        bleu_counts(["a"], ["a"]) + bleu_counts(["a"], ["a"], tokenize="none")


def test_cost_counts_add_with_peak_as_max():
    a = CostCounts(audio_seconds=10.0, wall_seconds=2.0, llm_audio_tokens=50,
                   prior_context_tokens=100, turns=2, peak_memory_bytes=500)
    b = CostCounts(audio_seconds=5.0, wall_seconds=1.0, llm_audio_tokens=25,
                   prior_context_tokens=20, turns=1, peak_memory_bytes=700)
    c = a + b
    assert c == CostCounts(15.0, 3.0, 75, 120, 3, 700) == sum([a, b])
    assert c.rtf == pytest.approx(0.2)
    assert c.audio_tokens_per_second == pytest.approx(5.0)
    assert c.context_tokens_per_turn == pytest.approx(40.0)
    ctx = CostCounts(prior_context_audio_tokens=12, prior_turns=3) + CostCounts(
        prior_context_audio_tokens=4, prior_turns=1)
    assert ctx.context_audio_tokens_per_prior_turn == pytest.approx(4.0)


def test_cost_counts_empty_and_invalid():
    empty = CostCounts()
    assert (empty.rtf, empty.audio_tokens_per_second, empty.context_tokens_per_turn) \
        == (0.0, 0.0, 0.0)
    assert math.isinf(CostCounts(wall_seconds=1.0).rtf)
    with pytest.raises(ValueError, match="wall_seconds"):
        CostCounts(wall_seconds=-1.0)


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc/self/status")
def test_peak_rss_is_the_kernel_high_water_mark_in_bytes():
    status = Path("/proc/self/status").read_text()
    hwm_kib = int(next(line for line in status.splitlines() if line.startswith("VmHWM")).split()[1])
    peak = peak_rss_bytes()
    assert hwm_kib * 1024 * 0.9 <= peak <= hwm_kib * 1024 * 1.1 + (64 << 20)
