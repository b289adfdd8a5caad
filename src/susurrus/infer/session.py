"""A conversation, turn by turn, at the cost of the new turn: `susurrus.ConversationSession`.

    session = ConversationSession("runs/ctx-abstract")          # a speech-LLM checkpoint
    for path in turns:
        print(session.transcribe_turn(path).text)
    session.save("call.session")                                 # ... restart ...
    session = ConversationSession.restore("call.session", "runs/ctx-abstract")

Each finished turn is kept as what the model reads of it later (paper 000): its transcript (the
hypothesis, or `remember_as`, e.g. the reference for oracle context) and its context audio (`raw`:
all its audio tokens, `abstract`: K latent tokens, `text`: none). The LLM's key/value cache of
the context prefix is kept too, so turn 20 runs the LLM over turn 20's audio and the tokens it
writes, and appends turn 20's context to the cache; turns 1-19 are neither re-encoded nor re-read.
With `max_turns` = N, the window of prior turns slides once it is full, and the prefix (N turns of
context) is computed afresh that turn. By default N is what the model was trained with (its
recipe's `model.context_turns`): a model trained on 4 earlier turns is not read with 19.

The session decides which turns are read; the model does the work in a few whole operations
(`SpeechLLM.encode_turn`, `remember_turn`, `generate_turn_row`, and `ConversationContext` for the
cache: `reset`, `extend`, `generate_row`).

A turn whose greedy decoding went wrong (`susurrus.infer.suspect`: no text or far too little for
its speech, a loop, the length limit) is decoded again hotter, as the recognizer's windows are
(`decode_with_fallback`); one still wrong is kept as decoded greedily and reported on its
`TurnResult.issues`. Sampled passes draw differently with and without the cache; greedy ones
are identical.

A saved session holds the kept turns (transcripts and context audio) and a fingerprint of the
model's trained weights; restoring it into the same model rebuilds the cache in one pass, so the
next turn's output equals the uninterrupted session's.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np
import torch

from susurrus.audio.io import SAMPLE_RATE
from susurrus.context import CONTEXT_MODES, ContextMode
from susurrus.errors import BadAudioError, BadSessionError, IncompatibleOptionError, UsageError
from susurrus.infer.first_pass import FirstPass, first_passes, joint_choice
from susurrus.infer.recognizer import MaxTurns, TurnResult, check_max_turns, turn_audio
from susurrus.infer.suspect import speech_seconds, window_issues
from susurrus.infer.transcript import WindowIssue
from susurrus.models.speech_llm.conversation import ConversationContext
from susurrus.models.speech_llm.generation import (
    GeneratedRow,
    GenerateOptions,
    decode_with_fallback,
)
from susurrus.models.speech_llm.model import PriorTurn, SpeechLLM

MAX_TURN_SECONDS = 30.0  # the encoder's window: one turn is read whole
SESSION_VERSION = 1

__all__ = ["ConversationSession", "SessionError", "TurnResult", "model_fingerprint"]


class SessionError(BadSessionError):
    """A session file that cannot be restored as asked (damaged, or another model's)."""


def model_fingerprint(model: SpeechLLM) -> str:
    """A digest of the trained weights (what makes two checkpoints different models)."""
    h = hashlib.sha256()
    for name, t in sorted(model.trainable_state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().float().cpu().numpy().tobytes())
    return h.hexdigest()[:16]


class ConversationSession:
    """Transcribes one conversation turn by turn with prior turns as context (a speech LLM)."""

    def __init__(self, model: SpeechLLM | str, context: ContextMode | None = None,
                 max_turns: MaxTurns = "trained", options: GenerateOptions | None = None,
                 device: str = "cpu", use_cache: bool = True) -> None:
        if isinstance(model, (str, Path)):  # loaded as a recognizer loads it (LoRA merged)
            from susurrus.models.speech_llm.checkpoint import load_for_inference

            model = load_for_inference(str(model), device=device)
        self.model = model.eval()
        self.context: ContextMode = context or model.context
        if self.context not in CONTEXT_MODES:
            raise UsageError(f"context must be one of {', '.join(CONTEXT_MODES)}, "
                             f"got {self.context!r}")
        if self.context not in model.context_modes():
            raise IncompatibleOptionError(
                f"context {self.context!r} needs a model trained with it; this one runs "
                f"{', '.join(model.context_modes())}")
        if max_turns == "trained":  # the window the model was trained with (None = all)
            max_turns = model.context_turns
        if max_turns == 0:
            raise UsageError("max_turns 0 reads no earlier turn: use context 'none'")
        check_max_turns(max_turns, 1)
        self.max_turns: int | None = max_turns  # type: ignore[assignment]
        self.options = options or GenerateOptions()
        if use_cache and self.options.num_beams != 1:
            raise IncompatibleOptionError("a cached session decodes greedily; use num_beams=1, "
                                          "or use_cache=False for beam search")
        self.use_cache = use_cache
        self.turns: list[PriorTurn] = []  # each finished turn as later turns read it (CPU)
        self._context = ConversationContext(model)  # the LLM's cache of head + `_cached`
        self._cached: list[int] | None = None  # indices of the turns it holds; None: nothing

    @property
    def texts(self) -> list[str]:
        return [t.text for t in self.turns]

    # -- the context window ------------------------------------------------------------------------
    def _window(self) -> list[int]:
        """Indices of the prior turns the next turn reads."""
        if self.context == "none":
            return []
        n = len(self.turns)
        start = 0 if self.max_turns is None else max(0, n - self.max_turns)
        return list(range(start, n))

    def _sync_cache(self) -> None:
        """Make the cache hold exactly head + the window's turns (extend if it is a prefix)."""
        window = self._window()
        cached = self._cached
        if cached is not None and cached == window[: len(cached)]:
            self._context.extend([self.turns[i] for i in window[len(cached):]])
        else:  # the window slid (or nothing is cached): the prefix afresh
            self._context.reset([self.turns[i] for i in window])
        self._cached = window

    # -- one turn ----------------------------------------------------------------------------------
    def _samples(self, audio: np.ndarray | str | Path) -> tuple[np.ndarray, float]:
        samples, where = turn_audio(audio)
        seconds = samples.shape[0] / SAMPLE_RATE
        if seconds > MAX_TURN_SECONDS:
            raise BadAudioError(f"{where}the turn lasts {seconds:.1f} s; a session turn is read "
                                f"whole and may last at most {MAX_TURN_SECONDS:.0f} s: split it "
                                "into turns, or use `susurrus transcribe` for long audio")
        return samples, seconds

    @torch.inference_mode()
    def transcribe_turn(self, audio: np.ndarray | str | Path,
                        remember_as: str | None = None) -> TurnResult:
        """Transcribe the next turn (16-kHz mono samples or an audio file) and keep it as context.

        `remember_as` is the transcript kept for later turns (default: the hypothesis; evaluation
        with oracle context passes the reference).
        """
        t0 = time.perf_counter()
        samples, seconds = self._samples(audio)
        first = self._first_pass(samples)
        turn = self.model.encode_turn(samples, first.read if first else None)
        priors = [self.turns[i] for i in self._window()]
        if self.use_cache:
            self._sync_cache()
        speech = speech_seconds(samples, [(0, samples.shape[0])])[0]

        def decode(rows: list[int], options: GenerateOptions) -> list[GeneratedRow]:
            if self.use_cache:
                return [self._context.generate_row(turn, options)]
            return [self.model.generate_turn_row(turn, priors, options)]

        def issues(row: GeneratedRow) -> list[WindowIssue]:
            return window_issues(0.0, seconds, self.model.decode_text(row.ids), row, speech)

        # a turn gone wrong is decoded again hotter, and reported if it stays wrong
        [row] = decode_with_fallback(decode, 1, self.options, lambda i, r: bool(issues(r)))
        if first is not None and self.options.first_pass_choice == "joint":
            [row] = joint_choice(self.model, turn.feats, turn.lengths, [samples], [first],
                                 [row], [priors], self.options.context_candidates)
        ids = row.ids
        text = self.model.decode_text(ids)
        self._keep(self.model.remember_turn(turn, text if remember_as is None else remember_as,
                                            self.context))
        return TurnResult(
            index=len(self.turns) - 1, text=text, token_ids=ids, audio_seconds=seconds,
            audio_tokens=turn.audio.shape[0], prior_turns=len(priors),
            context_audio_tokens=sum(p.audio.shape[0] for p in priors),
            context_text_tokens=sum(len(p.text_ids) for p in priors),
            seconds=time.perf_counter() - t0, issues=tuple(issues(row)),
            temperature=row.temperature, first_pass=row.from_first_pass,
            from_context=row.from_context)

    @torch.inference_mode()
    def add_turn(self, audio: np.ndarray | str | Path, text: str) -> None:
        """Keep a turn whose transcript is known (no decoding): it becomes context like any."""
        samples, _ = self._samples(audio)
        turn = self.model.encode_turn(samples, "" if self.model.first_pass else None)
        self._keep(self.model.remember_turn(turn, text, self.context))

    def _first_pass(self, samples: np.ndarray) -> FirstPass | None:
        """The first pass of a turn, for a model that reads one (else None)."""
        if not self.model.first_pass:
            return None
        return first_passes(self.model.first_pass, self.model.first_pass_engine, [samples],
                            answers=self.options.first_pass_choice == "joint",
                            nbest=self.options.first_pass_nbest)[0]

    def _keep(self, turn: PriorTurn) -> None:
        """Append a finished turn (and extend the cache: it joins the prefix now, not later)."""
        self.turns.append(turn)
        if self.use_cache:
            self._sync_cache()

    # -- saving and restoring ----------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the kept turns (transcripts, context audio) and the model's fingerprint."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {
            "version": SESSION_VERSION, "context": self.context, "max_turns": self.max_turns,
            "model": model_fingerprint(self.model),
            "turns": [{"text": k.text, "text_ids": k.text_ids, "audio": k.audio.float()}
                      for k in self.turns],
        }
        tmp = path.with_name(path.name + ".tmp")
        torch.save(state, tmp)
        tmp.replace(path)
        return path

    @classmethod
    def restore(cls, path: str | Path, model: SpeechLLM | str, **kwargs) -> ConversationSession:
        """A session saved by `save`, continued with the same model (another one is refused).

        `kwargs` go to the constructor (options, device, use_cache, max_turns); the context
        mode is the saved one, since the kept context audio was made for it. A model that
        cannot read that mode, or other trained weights, is a SessionError naming the file.
        """
        path = Path(path)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            version, turns, context = state["version"], state["turns"], state["context"]
        except FileNotFoundError:
            raise SessionError(f"{path}: no such session file") from None
        except Exception as e:  # noqa: BLE001 - any unreadable file is the same problem to fix
            raise SessionError(f"{path}: not a susurrus session file ({e})") from None
        if version != SESSION_VERSION:
            raise SessionError(f"{path}: session format {version}, this susurrus reads "
                               f"{SESSION_VERSION}")
        kwargs.setdefault("max_turns", state["max_turns"])  # the saved window unless told
        if isinstance(model, (str, Path)):
            from susurrus.models.speech_llm.checkpoint import load_for_inference

            model = load_for_inference(str(model), device=kwargs.pop("device", "cpu"))
        if context not in model.context_modes():
            raise SessionError(
                f"{path}: saved with context {context!r}, which this model cannot read (it "
                f"reads {', '.join(model.context_modes())}); restore it with the model that "
                "transcribed it")
        session = cls(model, context=context, **kwargs)
        if model_fingerprint(session.model) != state["model"]:
            raise SessionError(f"{path}: saved with another model (trained weights differ); "
                               "restore it with the model that transcribed it")
        session.turns = [PriorTurn(t["audio"], list(t["text_ids"]), t["text"]) for t in turns]
        return session
