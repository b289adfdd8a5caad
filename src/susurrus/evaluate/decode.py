"""Run a recognizer over a manifest, session by session, with the chosen context.

The Whisper baseline is a system like any other: with `context="prompt"` each turn's prompt is
the session's previous hypotheses (what a deployed system would have), with `"oracle-prompt"` the
previous references (the ceiling of that kind of context).

A speech LLM reads earlier turns as conversational context (paper 000) through a
`ConversationSession`: `text` (their transcripts), `raw` (their audio tokens and transcripts) or
`abstract` (K latent tokens each, and transcripts). The transcripts are the session's own earlier
hypotheses, or with `oracle_context` the references (the gap between the two is exposure bias).

Hypotheses are appended to a JSONL file as they come, so an interrupted evaluation resumes where
it stopped.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from susurrus.audio.io import SAMPLE_RATE, load_audio
from susurrus.data.manifest import Utterance, group_sessions

ContextMode = Literal["none", "prompt", "oracle-prompt", "text", "raw", "abstract"]
CONTEXT_MODES: tuple[ContextMode, ...] = ("none", "prompt", "oracle-prompt", "text", "raw",
                                          "abstract")
WHISPER_CONTEXTS = ("none", "prompt", "oracle-prompt")
SPEECH_LLM_CONTEXTS = ("none", "text", "raw", "abstract")


@dataclass(frozen=True)
class DecodeConfig:
    """What system runs, and what context it sees."""

    model: str = "whisper-tiny.en"  # embedded name, local folder or hub id
    engine: Literal["torch", "faster-whisper"] = "torch"
    context: ContextMode = "none"  # what each turn's prompt holds (see the module doc)
    # prior turns in the context; None = Whisper: all that fit its prompt, a speech LLM: the N
    # it was trained with (its recipe's model.context_turns)
    max_context_turns: int | None = None
    limit_sessions: int | None = None  # evaluate the first N sessions only (quick looks)
    oracle_context: bool = False  # text/raw/abstract: prior transcripts are the references

    def __post_init__(self) -> None:
        if self.context not in CONTEXT_MODES:
            raise ValueError(f"context must be one of {CONTEXT_MODES}, got {self.context!r}")
        if self.oracle_context and self.context not in ("text", "raw", "abstract"):
            raise ValueError("oracle context applies to the context modes text, raw and "
                             f"abstract, not {self.context!r} (Whisper: use oracle-prompt)")
        if self.max_context_turns is not None and self.max_context_turns < 0:
            raise ValueError(f"max_context_turns must be >= 0, got {self.max_context_turns}")
        if self.limit_sessions is not None and self.limit_sessions < 1:
            raise ValueError(f"limit_sessions must be >= 1, got {self.limit_sessions}")


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


def _prompt(prior: list[str], config: DecodeConfig) -> str | None:
    if config.context == "none" or not prior:
        return None
    if config.max_context_turns is not None:
        prior = prior[len(prior) - config.max_context_turns :] if config.max_context_turns else []
    return " ".join(p.strip() for p in prior if p.strip()) or None


def _context_tokens(prompt: str | None, tokenizer) -> int:
    """Prompt tokens the decoder actually reads (Whisper keeps the last 223)."""
    if not prompt:
        return 0
    if tokenizer is None:
        return len(prompt.split())
    return min(len(tokenizer.encode(" " + prompt, add_special_tokens=False)), 223)


def manifest_fingerprint(utterances: list[Utterance]) -> str:
    """What the hypotheses depend on besides the config: audio spans and references."""
    import hashlib

    h = hashlib.sha256()
    for u in utterances:
        h.update(json.dumps([u.id, str(u.audio), u.start, u.duration, u.reference]).encode())
    return h.hexdigest()[:16]


def _header(config: DecodeConfig, utterances: list[Utterance]) -> dict:
    return {"config": asdict(config), "manifest": manifest_fingerprint(utterances)}


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


def warm_up(engine) -> None:
    """One untimed decode of 1 s of faint noise: lazy initialisation must not be billed to the
    first utterance timed."""
    warm = np.random.default_rng(0).standard_normal(SAMPLE_RATE).astype(np.float32) * 0.01
    engine.segments(warm, None, None)


def decode_manifest(
    utterances: list[Utterance],
    config: DecodeConfig,
    hyp_file: Path | None = None,
    progress: bool = True,
) -> list[Hypothesis]:
    """Decode every utterance (in session/turn order); resumes from `hyp_file` if it matches."""
    from tqdm import tqdm

    from susurrus.infer import get_engine

    engine = get_engine(config.model, config.engine)
    allowed = SPEECH_LLM_CONTEXTS if engine.name == "speech-llm" else WHISPER_CONTEXTS
    if config.context not in allowed:
        kind = "a speech LLM" if engine.name == "speech-llm" else "a Whisper model"
        raise ValueError(f"{config.model} is {kind}: its context modes are {', '.join(allowed)}, "
                         f"not {config.context!r}")
    warm_up(engine)
    tokenizer = getattr(getattr(engine, "decoder", None), "tokenizer", None)
    header = _header(config, utterances)
    if engine.name == "speech-llm" and config.context != "none":  # the window actually read
        header["context_turns"] = _speech_llm_window(config, engine)
    done = _load_done(hyp_file, header)
    sessions = list(group_sessions(utterances).values())[: config.limit_sessions]
    total = sum(len(s) for s in sessions)
    out: list[Hypothesis] = []
    sink = None
    if hyp_file is not None:
        hyp_file.parent.mkdir(parents=True, exist_ok=True)
        sink = open(hyp_file, "w", encoding="utf-8")
        sink.write(json.dumps(header) + "\n")
    try:
        with tqdm(total=total, desc=f"{config.model} [{config.context}]", unit="utt",
                  disable=not progress, leave=False) as bar:
            for hyp in _decode_sessions(sessions, config, engine, tokenizer, done):
                out.append(hyp)
                if sink is not None:
                    sink.write(json.dumps(asdict(hyp), ensure_ascii=False) + "\n")
                    sink.flush()
                bar.update(1)
    finally:
        if sink is not None:
            sink.close()
    return out


def _decode_sessions(sessions, config, engine, tokenizer, done) -> Iterator[Hypothesis]:
    if engine.name == "speech-llm" and config.context != "none":
        yield from _conversation_sessions(sessions, config, engine, done)
        return
    for turns in sessions:
        prior: list[str] = []
        for u in turns:
            if u.id in done:
                hyp = done[u.id]
            else:
                prompt = _prompt(prior, config)
                audio = load_audio(u.audio, u.start, u.duration)
                t0 = time.perf_counter()
                segs = engine.segments(audio, prompt, None)
                wall = time.perf_counter() - t0
                text = "".join(s.text for s in segs).strip()
                n_ctx = _context_tokens(prompt, tokenizer)
                n_audio = sum(s.audio_tokens for s in segs)
                hyp = Hypothesis(u.id, text, [text], audio.shape[0] / SAMPLE_RATE, wall, n_ctx,
                                 n_audio, turn_index=len(prior))
            prior.append(u.reference if config.context == "oracle-prompt" else hyp.text)
            yield hyp


def _speech_llm_window(config: DecodeConfig, engine) -> int | None:
    """Earlier turns a speech LLM reads: as asked, else as many as it was trained with."""
    if config.max_context_turns is None:
        return engine.model.context_turns
    return config.max_context_turns


def _conversation_sessions(sessions, config, engine, done) -> Iterator[Hypothesis]:
    """A speech LLM with context: one `ConversationSession` per session, turn by turn.

    A turn decoded before an interruption is not decoded again: it re-enters the context as it
    was kept (its hypothesis, or the reference with oracle context).
    """
    from susurrus.infer.session import ConversationSession

    for turns in sessions:
        session = ConversationSession(engine.model, context=config.context,
                                      max_turns=_speech_llm_window(config, engine),
                                      options=engine.options)
        for i, u in enumerate(turns):
            audio = load_audio(u.audio, u.start, u.duration)
            keep = u.reference if config.oracle_context else None
            if u.id in done:
                hyp = done[u.id]
                session.add_turn(audio, keep if keep is not None else hyp.text)
            else:
                r = session.transcribe_turn(audio, remember_as=keep)
                hyp = Hypothesis(u.id, r.text, [r.text], r.audio_seconds, r.seconds,
                                 r.context_text_tokens, r.audio_tokens, turn_index=i,
                                 prior_turns=r.prior_turns,
                                 context_audio_tokens=r.context_audio_tokens)
            yield hyp
