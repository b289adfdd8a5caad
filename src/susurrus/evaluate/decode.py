"""Run a recognizer over a manifest, session by session, with the chosen context.

Every system is a `Recognizer` (susurrus.infer), and this module only calls that interface:

- context `none`: each utterance alone; `batch_size` of them are decoded together where the
  recognizer decodes batches (Whisper on torch, a speech LLM), one by one otherwise;
- any other context (`susurrus.context`): one recognizer session per conversation, turn by turn.
- `oracle_count` (context none): each mixture is decoded with its true talker count (a plain
  utterance: 1), through a recognizer that can be told (`recognize_with_counts`, the multi-talker
  CTC one); any other is refused before decoding. The comparison row of paper 003's count head.
  A Whisper reads `text` as its prompt (the session's previous hypotheses: what a deployed
  system would have); a speech LLM reads `text`, `raw` or `abstract` (paper 000). With `oracle`
  the earlier transcripts are the references instead (the ceiling of that context; the gap to it
  is exposure bias).

Results written before this module spelled Whisper's text context `prompt` and its oracle form
`oracle-prompt`; `DecodeConfig` still reads them (as `text`, and `text` with `oracle`).

Hypotheses are appended to a JSONL file as they come, so an interrupted evaluation resumes where
it stopped.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from susurrus.audio.io import SAMPLE_RATE, load_audio
from susurrus.context import CONTEXT_MODES, ContextMode, parse_context
from susurrus.data.manifest import Utterance, group_sessions
from susurrus.errors import IncompatibleOptionError, UsageError
from susurrus.evaluate.multitalker import check_oracle_count, talker_count
from susurrus.pretrained.registry import DEFAULT_MODEL

# The context spellings of the CLI before recognizers; the CLI should offer CONTEXT_MODES and an
# oracle flag instead, and let the recognizer refuse what it cannot read.


@dataclass(frozen=True)
class DecodeConfig:
    """What system runs, and what context it sees."""

    model: str = DEFAULT_MODEL  # embedded name, local folder or hub id
    engine: Literal["torch", "faster-whisper"] = "torch"
    # none | text | raw | abstract (susurrus.context); the legacy 'prompt' and 'oracle-prompt'
    # are read as text (oracle-prompt: with oracle) and stored normalized
    context: ContextMode = "none"
    # prior turns in the context; None = Whisper: all that fit its prompt, a speech LLM: the N
    # it was trained with (its recipe's model.context_turns)
    max_context_turns: int | None = None
    limit_sessions: int | None = None  # evaluate the first N sessions only (quick looks)
    oracle: bool = False  # earlier transcripts in the context are the references
    batch_size: int = 8  # context none: utterances decoded together (recognizers that batch)
    # mixtures decoded with their true talker count, not the one the model picks (paper 003)
    oracle_count: bool = False
    no_fallback: bool = False  # greedy only: no temperature fallback (Whisper, a speech LLM)
    # a speech LLM with a first pass: "joint" lets the first pass's transcript of a window
    # compete with the LLM's (`susurrus.infer.first_pass.joint_choice`), "llm" keeps the LLM's
    first_pass_choice: Literal["joint", "llm"] = "joint"
    # ... and with context, up to this many texts respelled from earlier turns compete too
    # (`GenerateOptions.context_candidates`; 0 = none)
    context_candidates: int = 6
    # ... and Whisper's n-best texts of a beam this wide (`GenerateOptions.first_pass_nbest`)
    first_pass_nbest: int = 0

    def __post_init__(self) -> None:
        oracle = self.oracle
        if self.oracle_count and self.context != "none":
            raise IncompatibleOptionError(
                f"oracle_count: mixtures are decoded one by one, not as a conversation; drop "
                f"context {self.context!r} or oracle_count")
        if oracle and self.context == "none":
            raise IncompatibleOptionError(
                "oracle: the references are read through a context; choose context "
                f"{' | '.join(CONTEXT_MODES[1:])} with it, or drop oracle")
        mode, oracle = parse_context(self.context, oracle)
        object.__setattr__(self, "context", mode)
        object.__setattr__(self, "oracle", oracle)
        if self.max_context_turns is not None and self.max_context_turns < 0:
            raise UsageError(f"max_context_turns must be >= 0, got {self.max_context_turns}")
        if self.limit_sessions is not None and self.limit_sessions < 1:
            raise UsageError(f"limit_sessions must be >= 1, got {self.limit_sessions}")
        if self.batch_size < 1:
            raise UsageError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.context_candidates < 0:
            raise UsageError(f"context_candidates must be >= 0, got {self.context_candidates}")
        if self.first_pass_nbest < 0:
            raise UsageError(f"first_pass_nbest must be >= 0, got {self.first_pass_nbest}")
        if self.first_pass_choice not in ("joint", "llm"):
            raise UsageError("first_pass_choice must be 'joint' or 'llm', got "
                             f"{self.first_pass_choice!r}")


@dataclass
class Hypothesis:
    """A system's output for one utterance and what it cost."""

    id: str
    text: str  # the whole hypothesis (for a mixture: all streams joined)
    streams: list[str]  # per-talker streams (one for single-stream systems)
    audio_seconds: float
    wall_seconds: float
    context_tokens: int  # prompt tokens of prior context given to the decoder
    llm_audio_tokens: int = 0  # audio embeddings an LLM read (0: not an LLM system)
    turn_index: int = 0  # 0-based position in its session
    prior_turns: int = 0  # earlier turns read as context
    context_audio_tokens: int = 0  # audio tokens of those earlier turns
    issues: list[str] = field(default_factory=list)  # suspect windows ('12.0-24.0 s: ...')
    fallback_windows: int = 0  # windows decoded again hotter (temperature fallback)
    first_pass_windows: int = 0  # windows where a speech LLM kept its first pass's text
    context_windows: int = 0  # windows whose text respells a phrase of earlier turns


def manifest_fingerprint(utterances: list[Utterance]) -> str:
    """What the hypotheses depend on besides the config: audio spans and references. The audio
    is named by its absolute path, so the same manifest given as a relative or an absolute
    path, or from another working directory, resumes the same hypotheses."""
    import hashlib

    h = hashlib.sha256()
    for u in utterances:
        audio = str(Path(u.audio).absolute())
        h.update(json.dumps([u.id, audio, u.start, u.duration, u.reference]).encode())
    return h.hexdigest()[:16]


def _load_done(path: Path | None, header: dict) -> dict[str, Hypothesis]:
    """Hypotheses of an earlier, interrupted run of the same config on the same manifest."""
    if path is None or not path.exists():
        return {}
    lines = path.read_text(encoding="utf-8").splitlines()
    try:
        same = bool(lines) and json.loads(lines[0]) == header
    except json.JSONDecodeError:
        same = False
    if not same:
        return {}
    done = {}
    for line in lines[1:]:
        try:
            h = Hypothesis(**json.loads(line))
        except (json.JSONDecodeError, TypeError):
            break  # a line cut by the interruption: decode it again
        done[h.id] = h
    return done


def warm_up(recognizer) -> None:
    """One untimed decode of 1 s of faint noise: lazy initialisation must not be billed to the
    first utterance timed."""
    warm = np.random.default_rng(0).standard_normal(SAMPLE_RATE).astype(np.float32) * 0.01
    recognizer.recognize([warm])


def _session(recognizer, config: DecodeConfig):
    """A recognizer session for one conversation, read as `config` asks."""
    window = "trained" if config.max_context_turns is None else config.max_context_turns
    return recognizer.session(config.context, window)


def _options(config: DecodeConfig) -> tuple | None:
    """The recognizer options the config asks for (each family takes its own), or None."""
    from susurrus import infer
    from susurrus.models.speech_llm.generation import GenerateOptions

    options = []
    if config.no_fallback:
        options.append(infer.LongFormOptions(temperatures=(0.0,)))
    asked = GenerateOptions(first_pass_choice=config.first_pass_choice,
                            context_candidates=config.context_candidates,
                            first_pass_nbest=config.first_pass_nbest)
    if asked != GenerateOptions():
        options.append(asked)
    return tuple(options) or None


def decode_manifest(
    utterances: list[Utterance],
    config: DecodeConfig,
    hyp_file: Path | None = None,
    progress: bool = True,
) -> list[Hypothesis]:
    """Decode every utterance (in session/turn order); resumes from `hyp_file` if it matches.

    What the recognizer cannot do (a context mode it cannot read, another engine) is refused
    with IncompatibleOptionError before anything is decoded.
    """
    from tqdm import tqdm

    from susurrus import infer  # looked up at call time: tests install a fake recognizer

    recognizer = infer.load_recognizer(config.model, config.engine, options=_options(config))
    if config.oracle_count:
        check_oracle_count(recognizer)
    header = {"config": asdict(config), "manifest": manifest_fingerprint(utterances)}
    if config.context != "none":  # refused here if unreadable; the window actually read
        header["context_turns"] = _session(recognizer, config).max_turns
    warm_up(recognizer)
    done = _load_done(hyp_file, header)
    sessions = list(group_sessions(utterances).values())[: config.limit_sessions]
    total = sum(len(s) for s in sessions)
    out: list[Hypothesis] = []
    sink = None
    if hyp_file is not None:
        hyp_file.parent.mkdir(parents=True, exist_ok=True)
        sink = open(hyp_file, "w", encoding="utf-8")
        sink.write(json.dumps(header) + "\n")
    if config.context == "none":
        batch = config.batch_size if recognizer.capabilities.batch else 1
        hyps = _decode_alone(sessions, recognizer, batch, done, config.oracle_count)
    else:
        hyps = _decode_conversations(sessions, recognizer, config, done)
    try:
        label = config.context + (" (oracle)" if config.oracle else "") + (
            " (oracle count)" if config.oracle_count else "")
        with tqdm(total=total, desc=f"{config.model} [{label}]", unit="utt",
                  disable=not progress, leave=False) as bar:
            for hyp in hyps:
                out.append(hyp)
                if sink is not None:
                    sink.write(json.dumps(asdict(hyp), ensure_ascii=False) + "\n")
                    sink.flush()
                bar.update(1)
    finally:
        if sink is not None:
            sink.close()
    return out


def _decode_alone(sessions: list[list[Utterance]], recognizer, batch: int,
                  done: dict[str, Hypothesis], oracle_count: bool = False
                  ) -> Iterator[Hypothesis]:
    """Context none: every utterance alone, `batch` of them per `recognize` call (with
    `oracle_count`, `recognize_with_counts` and each utterance's talker count).

    A batch's wall time is shared by its utterances in proportion to their audio, so the
    real-time factor is that of the batch.
    """
    turns = [(i, u) for s in sessions for i, u in enumerate(s)]
    pending: list[tuple[int, Utterance]] = []
    for k, (i, u) in enumerate(turns):
        if u.id in done:
            yield from _recognized(pending, recognizer, oracle_count)
            pending = []
            yield done[u.id]
            continue
        pending.append((i, u))
        if len(pending) == batch or k == len(turns) - 1:
            yield from _recognized(pending, recognizer, oracle_count)
            pending = []


def _recognized(pending: Sequence[tuple[int, Utterance]], recognizer,
                oracle_count: bool = False) -> Iterator[Hypothesis]:
    if not pending:
        return
    audio = [load_audio(u.audio, u.start, u.duration) for _, u in pending]
    t0 = time.perf_counter()
    if oracle_count:
        recognized = recognizer.recognize_with_counts(audio, [talker_count(u) for _, u in pending])
    else:
        recognized = recognizer.recognize(audio)
    wall = time.perf_counter() - t0
    total = sum(a.shape[0] for a in audio)
    for (i, u), a, r in zip(pending, audio, recognized, strict=True):
        yield Hypothesis(u.id, r.text, [s.text for s in r.streams], a.shape[0] / SAMPLE_RATE,
                         wall * a.shape[0] / total if total else 0.0, 0, r.audio_tokens,
                         turn_index=i, issues=[issue.message for issue in r.issues],
                         fallback_windows=sum(s.temperature > 0 for s in r.segments),
                         first_pass_windows=sum(s.first_pass for s in r.segments))


def _decode_conversations(sessions: list[list[Utterance]], recognizer, config: DecodeConfig,
                          done: dict[str, Hypothesis]) -> Iterator[Hypothesis]:
    """Any context: one recognizer session per conversation, turn by turn.

    A turn decoded before an interruption is not decoded again: it re-enters the context as it
    was kept (its hypothesis, or the reference with oracle context).
    """
    for turns in sessions:
        session = _session(recognizer, config)
        for i, u in enumerate(turns):
            audio = load_audio(u.audio, u.start, u.duration)
            keep = u.reference if config.oracle else None
            if u.id in done:
                hyp = done[u.id]
                session.add_turn(audio, keep if keep is not None else hyp.text)
            else:
                r = session.transcribe_turn(audio, remember_as=keep)
                hyp = Hypothesis(u.id, r.text, [r.text], r.audio_seconds, r.seconds,
                                 r.context_text_tokens, r.audio_tokens, turn_index=i,
                                 prior_turns=r.prior_turns,
                                 context_audio_tokens=r.context_audio_tokens,
                                 issues=[issue.message for issue in r.issues],
                                 fallback_windows=int(r.temperature > 0),
                                 first_pass_windows=int(r.first_pass),
                                 context_windows=int(r.from_context))
            yield hyp
