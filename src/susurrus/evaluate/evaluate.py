"""`susurrus eval`: decode a manifest with a system and context mode, score it, one result.

Same audio, same normalizer, same table for every system: the scores come from
`susurrus.metrics.scores`, whose counts are summed over the corpus before any rate is read.
"""

from __future__ import annotations

from pathlib import Path

from susurrus.data.manifest import Utterance, group_sessions
from susurrus.evaluate.decode import DecodeConfig, Hypothesis, decode_manifest
from susurrus.evaluate.results import BadResultsError, EvalCounts, EvalResult
from susurrus.metrics.bootstrap import bootstrap_wer, interval
from susurrus.metrics.scores import (
    PUNCTUATION_MARKS,
    CostCounts,
    CountAccuracy,
    CpErrorCounts,
    EntityCounts,
    ErrorCounts,
    F1Counts,
    capitalization_f1,
    cased_word_errors,
    cp_word_errors,
    entity_recall,
    ner_f1,
    peak_rss_bytes,
    punctuation_f1_by_mark,
    talker_count_accuracy,
    word_errors,
)

__all__ = ["BadResultsError", "EvalCounts", "EvalResult", "count", "evaluate", "format_table",
           "score"]


def count(utterances: list[Utterance], hyps: dict[str, Hypothesis],
          with_ner: bool = True) -> EvalCounts:
    """Every count of `utterances` against their hypotheses (by id), summed; `ner` is None
    when `with_ner` is off."""
    wer_c, cased_c, cap_c, ner_c = ErrorCounts(), ErrorCounts(), F1Counts(), F1Counts()
    by_mark = {m: F1Counts() for m in PUNCTUATION_MARKS}
    ent_c, cp_c, count_c = EntityCounts(), CpErrorCounts(), CountAccuracy()
    cost = CostCounts()
    word_errs: dict[str, ErrorCounts] = {}
    cased_errs: dict[str, ErrorCounts] = {}
    marks_of: dict[str, dict[str, F1Counts]] = {}
    for u in utterances:
        h = hyps[u.id]
        ref = u.reference
        word_errs[u.id] = word_errors(ref, h.text)
        wer_c += word_errs[u.id]
        cased_errs[u.id] = cased_word_errors(ref, h.text)
        cased_c += cased_errs[u.id]
        marks_of[u.id] = punctuation_f1_by_mark(ref, h.text)
        for m, c in marks_of[u.id].items():
            by_mark[m] += c
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
                           prior_turns=h.prior_turns, suspect_windows=len(h.issues),
                           fallback_windows=h.fallback_windows,
                           first_pass_windows=h.first_pass_windows,
                           context_windows=h.context_windows)
    by_session: dict[str, tuple[int, int]] = {}
    cased_by_session: dict[str, tuple[int, int]] = {}
    punct_by_session: dict[str, dict[str, F1Counts]] = {}
    for session, turns in group_sessions(utterances).items():
        ent_c += entity_recall((u.reference, u.entities, hyps[u.id].text) for u in turns)
        c = sum((word_errs[u.id] for u in turns), ErrorCounts())
        by_session[session] = (c.errors, c.ref_words)
        c = sum((cased_errs[u.id] for u in turns), ErrorCounts())
        cased_by_session[session] = (c.errors, c.ref_words)
        marks = {m: sum((marks_of[u.id][m] for u in turns), F1Counts()) for m in PUNCTUATION_MARKS}
        punct_by_session[session] = {m: c for m, c in marks.items() if c != F1Counts()}
    cost += CostCounts(peak_memory_bytes=peak_rss_bytes())
    return EvalCounts(wer=wer_c, wer_cased=cased_c, punct=sum(by_mark.values(), F1Counts()),
                      punct_by_mark=by_mark, punct_by_session=punct_by_session, cap=cap_c,
                      ner=ner_c if with_ner else None, entities=ent_c, cpwer=cp_c,
                      talker_count=count_c, cost=cost, wer_by_session=by_session,
                      cased_by_session=cased_by_session)


def score(
    utterances: list[Utterance], hyps: list[Hypothesis], config: DecodeConfig, manifest: str,
    with_ner: bool = True,
) -> EvalResult:
    """Score hypotheses against the manifest's references; counts summed, then rates."""
    by_id = {h.id: h for h in hyps}
    utts = [u for u in utterances if u.id in by_id]
    entities_from = "manifest"
    if with_ner and utts and not any(u.entities for u in utts):
        utts, entities_from = with_reference_entities(utts), "ner"
    counts = count(utts, by_id, with_ner)
    wer_ci95 = None
    if counts.wer.ref_words:
        lo, hi = interval(bootstrap_wer({"": counts.wer_by_session})[""])
        wer_ci95 = (round(lo, 6), round(hi, 6))
    latency: dict[int, list[float]] = {}
    for u in utts:
        latency.setdefault(by_id[u.id].turn_index + 1, []).append(by_id[u.id].wall_seconds)
    return EvalResult(
        model=config.model, engine=config.engine, manifest=manifest, counts=counts,
        context=config.context, oracle=config.oracle,
        oracle_count=getattr(config, "oracle_count", False),  # a config of before it: off
        latency_by_turn={k: sum(v) / len(v) for k, v in sorted(latency.items())},
        wer_ci95=wer_ci95, entities_from=entities_from,
    )


# spaCy labels of names (what entity recall asks a transcript to get right); numbers, dates,
# amounts and ordinals are left to WER
NAME_LABELS = frozenset({"PERSON", "NORP", "FAC", "ORG", "GPE", "LOC", "PRODUCT", "EVENT",
                         "WORK_OF_ART", "LAW", "LANGUAGE"})


def with_reference_entities(utterances: list[Utterance]) -> list[Utterance]:
    """The utterances, each listing the named entities spaCy finds in its reference (labels
    `NAME_LABELS`, cased text as written): entity recall for a manifest that lists none (real
    corpora, long-form readings). The same model scores NER F1."""
    from dataclasses import replace

    from susurrus.metrics.scores import reference_entities

    return [replace(u, entities=reference_entities(u.reference, NAME_LABELS))
            for u in utterances]


def evaluate(
    manifest: str | Path, config: DecodeConfig, out: str | Path | None = None,
    progress: bool = True, with_ner: bool = True,
) -> EvalResult:
    """Decode and score `manifest` (interchange JSONL or lhotse); write `out` JSON if given.

    Hypotheses go to `<out>.hyps.jsonl` as they come: rerunning the same command after an
    interruption decodes only what is missing.
    """
    from susurrus.data.lhotse_io import load_utterances
    from susurrus.errors import BadManifestError
    from susurrus.files import write_text_atomic
    from susurrus.preflight import check_output_file

    if out is not None:  # before any decoding: a folder here would be found only at the end
        check_output_file(Path(out), "out")
    utterances = load_utterances(manifest)
    if not utterances:
        raise BadManifestError(f"{manifest}: holds no utterance to evaluate")
    hyp_file = Path(str(out) + ".hyps.jsonl") if out is not None else None
    hyps = decode_manifest(utterances, config, hyp_file, progress)
    result = score(utterances, hyps, config, str(manifest), with_ner)
    if out is not None:
        write_text_atomic(result.to_json() + "\n", Path(out))
    return result


def format_table(results: list[EvalResult]) -> str:
    """A plain-text table for the terminal (the Markdown one is in `report`)."""
    from susurrus.evaluate.report import markdown_table

    return markdown_table(results)
