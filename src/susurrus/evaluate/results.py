"""What `susurrus eval` returns and writes: one system on one manifest, as summed counts.

An `EvalResult` holds the counts (`EvalCounts`: frozen dataclasses that add, one per metric) and
reads every rate off them, as meeteval does: nothing is averaged, and results of disjoint data
add (`a.counts + b.counts`) to the counts of the union. It round-trips through JSON:
`EvalResult.from_json(r.to_json()) == r`. The JSON also carries the rates, for readers without
susurrus; `from_json` ignores them and reads the counts.

Results JSON written before issue 15 reads the same: its context names ('prompt',
'oracle-prompt', 'abstract (oracle)') go through `susurrus.context.parse_context`, and its loose
`counts` dict becomes the typed counts. Such files carry no cpWER talker assignment (and count 0
talkers, missed or false), and none for a session's WER when they predate the WER intervals.
Results written before per-mark punctuation (issue 17) read with no per-mark counts: their
per-mark rates are None, never a made-up 1.0 or 0.0.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from susurrus.context import CONTEXT_MODES, ContextMode, context_label, parse_context
from susurrus.errors import UsageError
from susurrus.metrics.scores import (
    CostCounts,
    CountAccuracy,
    CpErrorCounts,
    EntityCounts,
    ErrorCounts,
    F1Counts,
)


class BadResultsError(UsageError):
    """A file read as evaluation results that is not one: broken JSON, a transcript, a bad field."""


@dataclass(frozen=True)
class EvalCounts:
    """Every count behind an `EvalResult`'s rates, summed over the utterances scored."""

    wer: ErrorCounts = ErrorCounts()  # normalized words (Whisper's English normalizer)
    wer_cased: ErrorCounts = ErrorCounts()  # cased words and punctuation marks as tokens
    punct: F1Counts = F1Counts()  # punctuation marks after aligned words
    cap: F1Counts = F1Counts()  # capitalized words
    ner: F1Counts | None = None  # spaCy entities; None: NER was not scored (`--no-ner`)
    entities: EntityCounts = EntityCounts()  # the manifest's entities, first and repeated
    cpwer: CpErrorCounts = CpErrorCounts()  # mixtures: talkers against streams
    talker_count: CountAccuracy = CountAccuracy()  # mixtures: streams == talkers
    cost: CostCounts = CostCounts()  # time, audio, tokens, memory
    # session id -> (word errors, reference words) of `wer`: what the bootstrap resamples
    wer_by_session: dict[str, tuple[int, int]] = field(default_factory=dict)
    # punctuation class ('.', ',', '?', ...) -> its share of `punct` (the classes add up to it);
    # empty in results written before per-mark scoring (issue 17): not scored, not 0
    punct_by_mark: dict[str, F1Counts] = field(default_factory=dict)
    # session id -> mark -> its counts in that session (a mark absent: all 0; `count` leaves
    # such marks out, and JSON writes [tp, fp, fn]): what a bootstrap
    # of punctuation F1 resamples (`susurrus.metrics.bootstrap.bootstrap_f1`)
    punct_by_session: dict[str, dict[str, F1Counts]] = field(default_factory=dict)
    # session id -> (errors, reference tokens) of `wer_cased`: its bootstrap (empty in results
    # written before issue 17's cased intervals)
    cased_by_session: dict[str, tuple[int, int]] = field(default_factory=dict)

    def __add__(self, other: Any) -> EvalCounts:
        """The counts of both; NER only if both scored it, per-mark punctuation only if both
        have it. A session id found in both adds its counts (the bootstrap then resamples the
        two as one unit)."""
        if type(other) is not EvalCounts:
            return NotImplemented
        sessions = _add_sessions(self.wer_by_session, other.wer_by_session)
        cased = _add_sessions(self.cased_by_session, other.cased_by_session)
        ner = None if self.ner is None or other.ner is None else self.ner + other.ner
        both = bool(self.punct_by_mark and other.punct_by_mark)
        marks = _add_marks(self.punct_by_mark, other.punct_by_mark) if both else {}
        punct_sessions = dict(self.punct_by_session) if both else {}
        for k, v in (other.punct_by_session if both else {}).items():
            punct_sessions[k] = _add_marks(punct_sessions.get(k, {}), v)
        summed = {f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)
                  if f.name not in _NOT_SUMMED}
        return EvalCounts(**summed, ner=ner, wer_by_session=sessions, punct_by_mark=marks,
                          punct_by_session=punct_sessions, cased_by_session=cased)

    def punct_session_counts(self, mark: str | None = None) -> dict[str, tuple[int, int, int]]:
        """Session id -> (tp, fp, fn) of one punctuation mark, or of all marks (None): what
        `bootstrap_f1` takes."""
        out = {}
        for session, marks in self.punct_by_session.items():
            c = marks.get(mark, F1Counts()) if mark is not None else sum(marks.values(),
                                                                         F1Counts())
            out[session] = (c.tp, c.fp, c.fn)
        return out

    def __radd__(self, other: Any) -> EvalCounts:
        return self if isinstance(other, int) and other == 0 else NotImplemented

    def to_dict(self) -> dict:
        """Plain JSON types: each count as a dict, a session's counts as [errors, words]."""
        out = {f.name: None if getattr(self, f.name) is None else asdict(getattr(self, f.name))
               for f in fields(self) if f.name not in _NOT_SUMMED[1:]}
        out["wer_by_session"] = {k: list(v) for k, v in self.wer_by_session.items()}
        out["cased_by_session"] = {k: list(v) for k, v in self.cased_by_session.items()}
        out["punct_by_mark"] = {m: asdict(c) for m, c in self.punct_by_mark.items()}
        out["punct_by_session"] = {k: {m: [c.tp, c.fp, c.fn] for m, c in v.items()}
                                   for k, v in self.punct_by_session.items()}
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], ner_scored: bool = True) -> EvalCounts:
        """The inverse of `to_dict`; also reads the loose counts dict of older results (missing
        counts are 0). Raises BadResultsError naming the field at fault."""
        if not isinstance(data, Mapping):
            raise BadResultsError(f"'counts' must be an object, got {type(data).__name__}")
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise BadResultsError(f"counts: unknown field(s) {', '.join(unknown)}")
        parsed: dict[str, Any] = {}
        for name, kind in _COUNT_TYPES.items():
            raw = data.get(name)
            if raw is None:
                continue
            parsed[name] = _counts(kind, raw, f"counts.{name}")
        if not ner_scored:
            parsed.pop("ner", None)
        for name in ("wer_by_session", "cased_by_session"):
            sessions = data.get(name) or {}
            try:
                parsed[name] = {str(k): (int(e), int(n)) for k, (e, n) in sessions.items()}
            except (AttributeError, TypeError, ValueError):
                raise BadResultsError(f"counts.{name}: expected {{session: [errors, words]}}") \
                    from None
        marks = data.get("punct_by_mark") or {}
        if not isinstance(marks, Mapping):
            raise BadResultsError("counts.punct_by_mark: expected {mark: {tp, fp, fn}}")
        parsed["punct_by_mark"] = {str(m): _counts(F1Counts, c, f"counts.punct_by_mark.{m}")
                                   for m, c in marks.items()}
        try:
            parsed["punct_by_session"] = {
                str(k): {str(m): F1Counts(*map(int, c)) for m, c in v.items()}
                for k, v in (data.get("punct_by_session") or {}).items()}
        except (AttributeError, TypeError, ValueError):
            raise BadResultsError("counts.punct_by_session: expected {session: {mark: [tp, fp, "
                                  "fn]}}") from None
        return cls(**parsed)


# The counts `__add__` does not add field by field (`ner` may be None; the dicts add by key),
# and, but for the first, `to_dict` writes in a form of their own.
_NOT_SUMMED = ("ner", "wer_by_session", "punct_by_mark", "punct_by_session", "cased_by_session")


def _add_sessions(a: Mapping[str, tuple[int, int]], b: Mapping[str, tuple[int, int]]
                  ) -> dict[str, tuple[int, int]]:
    """(errors, words) by session of both; a session in both adds its counts."""
    out = dict(a)
    for k, (e, n) in b.items():
        e0, n0 = out.get(k, (0, 0))
        out[k] = (e0 + e, n0 + n)
    return out


def _add_marks(a: Mapping[str, F1Counts], b: Mapping[str, F1Counts]) -> dict[str, F1Counts]:
    """Counts by mark of both (a mark in one only keeps its counts)."""
    return {m: a.get(m, F1Counts()) + b.get(m, F1Counts()) for m in {**a, **b}}


_COUNT_TYPES = {"wer": ErrorCounts, "wer_cased": ErrorCounts, "punct": F1Counts,
                "cap": F1Counts, "ner": F1Counts, "entities": EntityCounts,
                "cpwer": CpErrorCounts, "talker_count": CountAccuracy, "cost": CostCounts}


def _counts(kind: type, raw: Any, where: str) -> Any:
    """One count dataclass from its JSON object; tuples come back from JSON lists."""
    if not isinstance(raw, Mapping):
        raise BadResultsError(f"{where}: expected an object of counts, got {raw!r}")
    values = dict(raw)
    if kind is CpErrorCounts and "assignments" in values:
        try:
            values["assignments"] = tuple(tuple((r, s) for r, s in mix)
                                          for mix in values["assignments"])
        except (TypeError, ValueError):
            raise BadResultsError(f"{where}.assignments: expected, per mixture, a list of "
                                  "[talker, stream] pairs") from None
    try:
        return kind(**values)
    except TypeError as err:  # an unknown or misspelled field
        known = ", ".join(f.name for f in fields(kind))
        raise BadResultsError(f"{where}: {err}; its fields are {known}") from None
    except ValueError as err:  # counts that contradict each other
        raise BadResultsError(f"{where}: {err}") from None


def _finite(value: Any) -> Any:
    """JSON has no inf/nan: a non-finite rate (insertions against no reference) is null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value


ENTITIES_FROM = ("manifest", "ner")  # what entity recall counted (EvalResult.entities_from)

# The rates written to JSON beside the counts, in this order (read back: ignored, recomputed).
RATES = ("n_utterances", "n_words", "wer", "wer_cased", "entity_recall", "entity_recall_first",
         "entity_recall_repeat", "ner_f1", "punct_f1", "punct_f1_period", "punct_f1_comma",
         "punct_f1_question", "cap_f1", "rtf",
         "context_tokens_per_turn", "llm_audio_tokens_per_second", "peak_memory_mb",
         "context_audio_tokens_per_prior_turn", "cpwer", "talker_count_acc")


@dataclass(frozen=True)
class EvalResult:
    """One system on one manifest: its summed counts, and every rate read off them.

    A rate that does not apply is None: entity recall when the manifest lists no entities, NER
    F1 when it was not scored, cpWER and talker-count accuracy on a manifest with no mixtures,
    LLM audio tokens when the system feeds none to an LLM.
    """

    model: str  # as given to eval: embedded name, folder or hub id
    engine: str  # torch | faster-whisper
    manifest: str  # the manifest scored, as given
    counts: EvalCounts
    context: ContextMode = "none"  # what each turn read of the earlier ones (susurrus.context)
    oracle: bool = False  # the earlier transcripts read were the references
    oracle_count: bool = False  # mixtures were decoded with their true talker count
    latency_by_turn: dict[int, float] = field(default_factory=dict)  # turn (1-based) -> mean s
    wer_ci95: tuple[float, float] | None = None  # 95% interval of `wer`, bootstrapping sessions
    # where the entities of entity recall came from: the manifest's annotations, or spaCy's
    # named entities of each reference when the manifest lists none (`ENTITIES_FROM`)
    entities_from: str = "manifest"

    def __post_init__(self) -> None:
        if self.entities_from not in ENTITIES_FROM:
            raise ValueError(f"entities_from must be one of {ENTITIES_FROM}, got "
                             f"{self.entities_from!r}")
        if self.context not in CONTEXT_MODES:
            raise ValueError(f"context must be one of {CONTEXT_MODES}, got {self.context!r}")
        if self.oracle and self.context == "none":
            raise ValueError("oracle needs a context that reads earlier transcripts, not 'none'")
        if self.oracle_count and self.context != "none":
            raise ValueError("oracle_count decodes mixtures one by one: context must be 'none'")

    @property
    def context_label(self) -> str:
        """How tables name the context: 'none', 'text', 'abstract (oracle)'."""
        return context_label(self.context, self.oracle)

    @property
    def n_utterances(self) -> int:
        return self.counts.cost.turns

    @property
    def n_words(self) -> int:
        """Normalized reference words: the WER denominator."""
        return self.counts.wer.ref_words

    @property
    def wer(self) -> float:
        return self.counts.wer.rate

    @property
    def wer_cased(self) -> float:
        return self.counts.wer_cased.rate

    @property
    def _has_entities(self) -> bool:
        e = self.counts.entities
        return e.first_total + e.repeat_total > 0

    @property
    def entity_recall(self) -> float | None:
        return self.counts.entities.recall if self._has_entities else None

    @property
    def entity_recall_first(self) -> float | None:
        return self.counts.entities.recall_first if self._has_entities else None

    @property
    def entity_recall_repeat(self) -> float | None:
        return self.counts.entities.recall_repeat if self._has_entities else None

    @property
    def ner_f1(self) -> float | None:
        return None if self.counts.ner is None else self.counts.ner.f1

    @property
    def punct_f1(self) -> float:
        return self.counts.punct.f1

    def punct_counts(self, mark: str) -> F1Counts | None:
        """The punctuation counts of one class ('.', ',', '?', '!', ':', ';'); None in results
        written before per-mark scoring."""
        if not self.counts.punct_by_mark:
            return None
        return self.counts.punct_by_mark.get(mark, F1Counts())

    def _mark_f1(self, mark: str) -> float | None:
        c = self.punct_counts(mark)
        return None if c is None else c.f1

    @property
    def punct_f1_period(self) -> float | None:
        """F1 of full stops ('.', '…') alone; the paper reports period, comma and question."""
        return self._mark_f1(".")

    @property
    def punct_f1_comma(self) -> float | None:
        return self._mark_f1(",")

    @property
    def punct_f1_question(self) -> float | None:
        return self._mark_f1("?")

    @property
    def cap_f1(self) -> float:
        return self.counts.cap.f1

    @property
    def cpwer(self) -> float | None:
        return self.counts.cpwer.rate if self.counts.talker_count.total else None

    @property
    def talker_count_acc(self) -> float | None:
        return self.counts.talker_count.accuracy if self.counts.talker_count.total else None

    @property
    def rtf(self) -> float:
        return self.counts.cost.rtf

    @property
    def context_tokens_per_turn(self) -> float:
        """Prompt tokens of earlier turns per turn."""
        return self.counts.cost.context_tokens_per_turn

    @property
    def llm_audio_tokens_per_second(self) -> float | None:
        cost = self.counts.cost
        return cost.audio_tokens_per_second if cost.llm_audio_tokens else None

    @property
    def context_audio_tokens_per_prior_turn(self) -> float | None:
        cost = self.counts.cost
        return cost.context_audio_tokens_per_prior_turn if cost.prior_context_audio_tokens \
            else None

    @property
    def peak_memory_mb(self) -> float:
        return self.counts.cost.peak_memory_bytes / 2**20

    @property
    def suspect_windows(self) -> int:
        """Windows the recognizer reported as suspect (no text, a loop, ...): scored as they
        came, and counted here so that a table can say so."""
        return self.counts.cost.suspect_windows

    @property
    def fallback_windows(self) -> int:
        """Windows decoded again hotter (temperature fallback) before they were fine or
        reported; a Whisper engine's own fallback is counted where its segments say so."""
        return self.counts.cost.fallback_windows

    @property
    def first_pass_windows(self) -> int:
        """Windows where a speech LLM with a first pass kept the first pass's own text (its
        `joint_choice`)."""
        return self.counts.cost.first_pass_windows

    @property
    def context_windows(self) -> int:
        """Windows whose text is a candidate respelled from the conversation's earlier turns,
        chosen by `joint_choice` (`susurrus.infer.context_candidates`)."""
        return self.counts.cost.context_windows

    @property
    def seconds_per_turn(self) -> float:
        """Wall seconds spent transcribing, per turn (0.0 for none)."""
        return self.counts.cost.wall_seconds / max(1, self.n_utterances)

    def to_dict(self) -> dict:
        """Plain JSON types: the identity, every rate, the latency, the interval, the counts."""
        head = {"model": self.model, "context": self.context, "oracle": self.oracle,
                "oracle_count": self.oracle_count, "engine": self.engine,
                "manifest": self.manifest}
        return head | {k: getattr(self, k) for k in RATES} | {
            "latency_by_turn": dict(self.latency_by_turn),
            "wer_ci95": None if self.wer_ci95 is None else list(self.wer_ci95),
            "entities_from": self.entities_from, "counts": self.counts.to_dict()}

    def to_json(self) -> str:
        """JSON; a non-finite rate (insertions against an empty reference) is written as null."""
        return json.dumps(_finite(self.to_dict()), indent=2, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> EvalResult:
        """The result `to_json` wrote (or older results JSON); BadResultsError if it is not."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise BadResultsError(f"not JSON ({err})") from None
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: Any) -> EvalResult:
        """One result from its JSON object; BadResultsError naming what is missing or wrong."""
        if not isinstance(data, Mapping):
            raise BadResultsError(f"expected a results object, got a JSON {type(data).__name__}")
        if "segments" in data and "counts" not in data:
            raise BadResultsError("this is a transcript (what `susurrus transcribe --format "
                                  "json` writes), not evaluation results")
        missing = [k for k in ("model", "context", "engine", "manifest", "counts")
                   if k not in data]
        if missing:
            raise BadResultsError(f"missing field(s) {', '.join(missing)}")
        for flag in ("oracle", "oracle_count"):
            if not isinstance(data.get(flag, False), bool):
                raise BadResultsError(f"field {flag!r}: true or false, got {data[flag]!r}")
        try:
            context, oracle = parse_context(str(data["context"]), data.get("oracle", False))
        except UsageError as err:
            raise BadResultsError(f"field 'context': {err}") from None
        # NER not scored: its counts are null here; older results wrote zero counts and a null
        # rate
        counts = EvalCounts.from_dict(data["counts"], ner_scored=data.get("ner_f1", 0) is not None)
        try:
            latency = {int(k): float(v) for k, v in (data.get("latency_by_turn") or {}).items()}
            ci = data.get("wer_ci95")
            ci = None if ci is None else (float(ci[0]), float(ci[1]))
        except (AttributeError, TypeError, ValueError, IndexError, KeyError):
            raise BadResultsError("fields 'latency_by_turn' ({turn: seconds}) or 'wer_ci95' "
                                  "([low, high]) are malformed") from None
        source = data.get("entities_from", "manifest")  # older results: the manifest's
        if source not in ENTITIES_FROM:
            raise BadResultsError(f"field 'entities_from': one of {', '.join(ENTITIES_FROM)}, "
                                  f"got {source!r}")
        return cls(model=str(data["model"]), engine=str(data["engine"]),
                   manifest=str(data["manifest"]), counts=counts, context=context,
                   oracle=oracle, oracle_count=data.get("oracle_count", False),
                   latency_by_turn=latency, wer_ci95=ci, entities_from=source)
