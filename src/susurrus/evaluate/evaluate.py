"""`susurrus eval`: decode a manifest with a system and context mode, score it, one result.

Same audio, same normalizer, same table for every system: the scores come from
`susurrus.metrics.scores`, whose counts are summed over the corpus before any rate is read.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from susurrus.context import context_label
from susurrus.data.manifest import Utterance, group_sessions
from susurrus.evaluate.decode import DecodeConfig, Hypothesis, decode_manifest
from susurrus.metrics.bootstrap import bootstrap_wer, interval
from susurrus.metrics.scores import (
    CostCounts,
    CountAccuracy,
    EntityCounts,
    ErrorCounts,
    F1Counts,
    capitalization_f1,
    cased_word_errors,
    cp_word_errors,
    entity_recall,
    ner_f1,
    peak_rss_bytes,
    punctuation_f1,
    talker_count_accuracy,
    word_errors,
)


@dataclass
class EvalResult:
    """One system on one manifest. Rates are read off summed counts (kept in `counts`)."""

    model: str
    context: str
    engine: str
    manifest: str
    n_utterances: int
    n_words: int  # normalized reference words (the WER denominator)
    wer: float
    wer_cased: float
    entity_recall: float | None  # None when the manifest lists no entities
    entity_recall_first: float | None
    entity_recall_repeat: float | None
    ner_f1: float | None
    punct_f1: float
    cap_f1: float
    rtf: float
    context_tokens_per_turn: float  # prior-context prompt tokens per turn
    llm_audio_tokens_per_second: float | None  # None: the system feeds no audio tokens to an LLM
    peak_memory_mb: float
    context_audio_tokens_per_prior_turn: float | None = None  # None: no audio context read
    latency_by_turn: dict = field(default_factory=dict)  # turn index (1-based) -> mean seconds
    cpwer: float | None = None  # mixtures only
    talker_count_acc: float | None = None  # mixtures only
    counts: dict = field(default_factory=dict)  # the summed counts behind every rate
    wer_ci95: list[float] | None = None  # 95% interval of `wer`, bootstrapping whole sessions

    def to_json(self) -> str:
        """JSON; a non-finite rate (insertions against an empty reference) is written as null."""
        def finite(v):
            if isinstance(v, float) and not math.isfinite(v):
                return None
            if isinstance(v, dict):
                return {k: finite(x) for k, x in v.items()}
            return v

        return json.dumps(finite(asdict(self)), indent=2, ensure_ascii=False)


def score(
    utterances: list[Utterance], hyps: list[Hypothesis], config: DecodeConfig, manifest: str,
    with_ner: bool = True,
) -> EvalResult:
    """Score hypotheses against the manifest's references; counts summed, then rates."""
    by_id = {h.id: h for h in hyps}
    utts = [u for u in utterances if u.id in by_id]
    wer_c, cased_c, punct_c, cap_c, ner_c = (ErrorCounts(), ErrorCounts(), F1Counts(),
                                              F1Counts(), F1Counts())
    ent_c, cp_c, count_c = EntityCounts(), ErrorCounts(), CountAccuracy()
    cost = CostCounts()
    word_errs: dict[str, ErrorCounts] = {}
    for u in utts:
        h = by_id[u.id]
        ref = u.reference
        word_errs[u.id] = word_errors(ref, h.text)
        wer_c += word_errs[u.id]
        cased_c += cased_word_errors(ref, h.text)
        punct_c += punctuation_f1(ref, h.text)
        cap_c += capitalization_f1(ref, h.text)
        if with_ner:
            ner_c += ner_f1(ref, h.text)
        if u.is_mixture:
            cp_c += cp_word_errors([t.text for t in u.talkers], h.streams)
            count_c += talker_count_accuracy(len(u.talkers), len(h.streams))
        cost += CostCounts(audio_seconds=h.audio_seconds, wall_seconds=h.wall_seconds,
                           prior_context_tokens=h.context_tokens, turns=1,
                           llm_audio_tokens=h.llm_audio_tokens,
                           prior_context_audio_tokens=h.context_audio_tokens,
                           prior_turns=h.prior_turns)
    by_session: dict[str, ErrorCounts] = {}
    for session, turns in group_sessions(utts).items():
        ent_c += entity_recall((u.reference, u.entities, by_id[u.id].text) for u in turns)
        by_session[session] = sum((word_errs[u.id] for u in turns), ErrorCounts())
    cost += CostCounts(peak_memory_bytes=peak_rss_bytes())
    has_entities = ent_c.first_total + ent_c.repeat_total > 0
    mixtures = count_c.total > 0
    counts = dict(wer=asdict(wer_c), wer_cased=asdict(cased_c), punct=asdict(punct_c),
                  cap=asdict(cap_c), ner=asdict(ner_c), entities=asdict(ent_c),
                  cpwer=asdict(cp_c), talker_count=asdict(count_c), cost=asdict(cost),
                  wer_by_session={k: [c.errors, c.ref_words] for k, c in by_session.items()})
    wer_ci95 = None
    if wer_c.ref_words:
        samples = bootstrap_wer({"": {k: (c.errors, c.ref_words) for k, c in by_session.items()}})
        wer_ci95 = [round(x, 6) for x in interval(samples[""])]
    latency: dict[int, list[float]] = {}
    for u in utts:
        latency.setdefault(by_id[u.id].turn_index + 1, []).append(by_id[u.id].wall_seconds)
    context = context_label(config.context, config.oracle)
    return EvalResult(
        model=config.model, context=context, engine=config.engine, manifest=manifest,
        n_utterances=len(utts), n_words=wer_c.ref_words, wer=wer_c.rate,
        wer_cased=cased_c.rate,
        entity_recall=ent_c.recall if has_entities else None,
        entity_recall_first=ent_c.recall_first if has_entities else None,
        entity_recall_repeat=ent_c.recall_repeat if has_entities else None,
        ner_f1=ner_c.f1 if with_ner else None, punct_f1=punct_c.f1, cap_f1=cap_c.f1,
        rtf=cost.rtf, context_tokens_per_turn=cost.context_tokens_per_turn,
        llm_audio_tokens_per_second=cost.audio_tokens_per_second if cost.llm_audio_tokens
        else None, peak_memory_mb=cost.peak_memory_bytes / 2**20,
        context_audio_tokens_per_prior_turn=cost.context_audio_tokens_per_prior_turn
        if cost.prior_context_audio_tokens else None,
        latency_by_turn={k: sum(v) / len(v) for k, v in sorted(latency.items())},
        cpwer=cp_c.rate if mixtures else None,
        talker_count_acc=count_c.accuracy if mixtures else None, counts=counts,
        wer_ci95=wer_ci95,
    )


def evaluate(
    manifest: str | Path, config: DecodeConfig, out: str | Path | None = None,
    progress: bool = True, with_ner: bool = True,
) -> EvalResult:
    """Decode and score `manifest` (interchange JSONL or lhotse); write `out` JSON if given.

    Hypotheses go to `<out>.hyps.jsonl` as they come: rerunning the same command after an
    interruption decodes only what is missing.
    """
    from susurrus.data.lhotse_io import load_utterances

    utterances = load_utterances(manifest)
    hyp_file = Path(str(out) + ".hyps.jsonl") if out is not None else None
    hyps = decode_manifest(utterances, config, hyp_file, progress)
    result = score(utterances, hyps, config, str(manifest), with_ner)
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(result.to_json() + "\n", encoding="utf-8")
    return result


def format_table(results: list[EvalResult]) -> str:
    """A plain-text table for the terminal (the Markdown one is in `report`)."""
    from susurrus.evaluate.report import markdown_table

    return markdown_table([asdict(r) for r in results])
