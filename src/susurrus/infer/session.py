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

A saved session holds the kept turns (transcripts and context audio) and a fingerprint of the
model's trained weights; restoring it into the same model rebuilds the cache in one pass, so the
next turn's output equals the uninterrupted session's.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from susurrus.audio.io import SAMPLE_RATE, load_audio
from susurrus.errors import BadSessionError
from susurrus.models.speech_llm.generation import GenerateOptions, repeated_tail
from susurrus.models.speech_llm.model import CONTEXT_MODES, ContextMode, PriorTurn, SpeechLLM

MAX_TURN_SECONDS = 30.0  # the encoder's window: one turn is read whole
SESSION_VERSION = 1


class SessionError(BadSessionError):
    """A session file that cannot be restored as asked (damaged, or another model's)."""


@dataclass(frozen=True)
class TurnResult:
    """One transcribed turn and what it cost."""

    index: int  # 0-based turn index in the session
    text: str  # the hypothesis
    token_ids: list[int]
    audio_seconds: float
    audio_tokens: int  # audio tokens of this turn the LLM read
    prior_turns: int  # prior turns in the context it was read with
    context_audio_tokens: int  # audio tokens of those prior turns (K each for abstract)
    context_text_tokens: int  # transcript tokens of those prior turns
    seconds: float  # wall time of the whole turn: encoding, decoding, updating the context


@dataclass
class _Kept:
    text: str
    text_ids: list[int]
    audio: torch.Tensor  # (n, E) context audio, on the CPU


def model_fingerprint(model: SpeechLLM) -> str:
    """A digest of the trained weights (what makes two checkpoints different models)."""
    h = hashlib.sha256()
    for name, t in sorted(model.trainable_state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().float().cpu().numpy().tobytes())
    return h.hexdigest()[:16]


class ConversationSession:
    """Transcribes one conversation turn by turn with prior turns as context."""

    def __init__(self, model: SpeechLLM | str, context: ContextMode | None = None,
                 max_turns: int | None | Literal["trained"] = "trained",
                 options: GenerateOptions | None = None,
                 device: str = "cpu", use_cache: bool = True) -> None:
        if isinstance(model, (str, Path)):  # loaded as the engine loads it (LoRA merged)
            from susurrus.infer.speech_llm_engine import SpeechLLMEngine

            model = SpeechLLMEngine(str(model), device=device).model
        self.model = model.eval()
        self.context: ContextMode = context or model.context
        if self.context not in CONTEXT_MODES:
            raise ValueError(f"context must be one of {CONTEXT_MODES}, got {self.context!r}")
        if self.context not in model.context_modes():
            raise ValueError(f"context {self.context!r} needs a model trained with it; this one "
                             f"runs {', '.join(model.context_modes())}")
        if max_turns == "trained":  # the window the model was trained with (None = all)
            max_turns = model.context_turns
        if max_turns is not None and (not isinstance(max_turns, int) or max_turns < 1):
            raise ValueError(f"max_turns must be >= 1, None (all) or 'trained' (the model's "
                             f"own window), got {max_turns!r}")
        self.max_turns = max_turns
        self.options = options or GenerateOptions()
        self.use_cache = use_cache
        self.turns: list[_Kept] = []
        self._cache = None  # the LLM's KV cache of head + the turns in `_cached`
        self._cached: list[int] = []  # indices of the turns the cache holds, in order
        self._prefix_len = 0

    @property
    def device(self) -> torch.device:
        return next(self.model.projector.parameters()).device

    # -- the context window ------------------------------------------------------------------------
    def _window(self) -> list[int]:
        """Indices of the prior turns the next turn reads."""
        if self.context == "none":
            return []
        n = len(self.turns)
        start = 0 if self.max_turns is None else max(0, n - self.max_turns)
        return list(range(start, n))

    def _prior(self, i: int) -> PriorTurn:
        kept = self.turns[i]
        return PriorTurn(kept.audio.to(self.device), kept.text_ids)

    def _run(self, embeds: torch.Tensor) -> torch.Tensor:
        """Append embeds (1, L, E) to the cache; the last position's logits (V,).

        The decoder alone runs over the new positions; only the last one goes through the
        output layer (V is 49k wide: a context chunk needs no logits at all).
        """
        base = self.model._base()
        hidden = base.get_decoder()(inputs_embeds=embeds, past_key_values=self._cache,
                                    use_cache=True).last_hidden_state  # (1, L, E)
        return base.get_output_embeddings()(hidden[0, -1])

    def _ensure_cache(self) -> None:
        """Make the cache hold exactly head + the window's turns (append if it is a prefix)."""
        window = self._window()
        if self._cache is not None and self._cached == window[: len(self._cached)]:
            new = window[len(self._cached):]
            if new:
                emb = torch.cat([self.model.prior_embeddings(self._prior(i)) for i in new])
                self._run(emb[None])
                self._cached += new
                self._prefix_len += emb.shape[0]
            return
        from transformers import DynamicCache

        emb = self.model.prefix_embeddings([self._prior(i) for i in window])  # (P, E)
        self._cache = DynamicCache()
        self._run(emb[None])
        self._cached, self._prefix_len = list(window), emb.shape[0]

    # -- one turn ----------------------------------------------------------------------------------
    def _features(self, audio: np.ndarray | str | Path) -> tuple[torch.Tensor, torch.Tensor, float]:
        where = ""
        if isinstance(audio, (str, Path)):
            where = f"{audio}: "
            audio = load_audio(audio)
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim != 1:
            raise ValueError(f"{where}a turn is mono audio (samples,), got shape {audio.shape}")
        seconds = audio.shape[0] / SAMPLE_RATE
        if seconds > MAX_TURN_SECONDS:
            raise ValueError(f"{where}the turn lasts {seconds:.1f} s; a session turn is read "
                             f"whole and may last at most {MAX_TURN_SECONDS:.0f} s: split it "
                             "into turns, or use `susurrus transcribe` for long audio")
        if audio.shape[0] < 400:
            audio = np.pad(audio, (0, 400 - audio.shape[0]))  # one STFT frame
        feats, feat_lengths = self.model.encode_audio([audio])
        return feats, feat_lengths, seconds

    @torch.inference_mode()
    def transcribe_turn(self, audio: np.ndarray | str | Path,
                        remember_as: str | None = None) -> TurnResult:
        """Transcribe the next turn (16-kHz mono samples or an audio file) and keep it as context.

        `remember_as` is the transcript kept for later turns (default: the hypothesis; evaluation
        with oracle context passes the reference).
        """
        t0 = time.perf_counter()
        model = self.model
        feats, lengths, seconds = self._features(audio)
        audio_emb, n = model.audio_embeddings(feats, lengths)  # (1, N, E)
        window = self._window()
        priors = [self._prior(i) for i in window]
        if self.use_cache:
            self._ensure_cache()
            # the length limit counts encoder frames, as `SpeechLLM.generate` does
            frames_seconds = float(lengths[0]) / model.frames_per_second
            ids = self._greedy(model.turn_embeddings(audio_emb[0, : int(n[0])]), frames_seconds)
        else:
            ids = model.generate(feats, lengths, self.options, [priors])[0]
        text = model.decode_text(ids)
        self._keep(feats, lengths, audio_emb[0, : int(n[0])],
                   text if remember_as is None else remember_as)
        return TurnResult(
            index=len(self.turns) - 1, text=text, token_ids=ids, audio_seconds=seconds,
            audio_tokens=int(n[0]), prior_turns=len(priors),
            context_audio_tokens=sum(p.audio.shape[0] for p in priors),
            context_text_tokens=sum(len(p.text_ids) for p in priors),
            seconds=time.perf_counter() - t0)

    @torch.inference_mode()
    def add_turn(self, audio: np.ndarray | str | Path, text: str) -> None:
        """Keep a turn whose transcript is known (no decoding): it becomes context like any."""
        feats, lengths, _ = self._features(audio)
        audio_emb, n = self.model.audio_embeddings(feats, lengths)
        self._keep(feats, lengths, audio_emb[0, : int(n[0])], text)

    def _keep(self, feats: torch.Tensor, lengths: torch.Tensor, audio: torch.Tensor,
              text: str) -> None:
        """Append a finished turn as the model will read it later (and extend the cache)."""
        if self.context == "raw":
            ctx = audio
        elif self.context == "abstract":
            ctx = self.model.context_audio(feats, lengths, "abstract")[0]
        else:
            ctx = audio.new_zeros(0, audio.shape[-1])
        text = text.strip()
        text_ids = self.model.tokenizer(text, add_special_tokens=False)["input_ids"]
        self.turns.append(_Kept(text, text_ids, ctx.detach().cpu()))
        if self.use_cache:
            self._ensure_cache()  # the new turn joins the cached prefix now, not next turn

    def _greedy(self, turn: torch.Tensor, seconds: float) -> list[int]:
        """Greedy decoding of the turn (T, E) on the cached prefix; the cache is restored after.

        The same stopping rules as `SpeechLLM.generate`: EOS, the length limit, the repetition
        guard (and its cut).
        """
        if self.options.num_beams != 1:
            raise ValueError("a cached session decodes greedily; use num_beams=1, or "
                             "use_cache=False for beam search")
        opts, model = self.options, self.model
        limit = opts.max_new_tokens(seconds)
        logits = self._run(turn[None])
        ids: list[int] = []
        try:
            while True:
                tok = int(logits.argmax())
                if tok == model.eos_id:
                    break
                ids.append(tok)
                if len(ids) >= limit or repeated_tail(ids, opts.max_repeats, opts.max_ngram):
                    break
                logits = self._run(model.embed_ids([tok])[None])
        finally:
            extra = self._cache.get_seq_length() - self._prefix_len
            if extra > 0:  # back to the prefix, whatever happened (negative: tokens to drop)
                self._cache.crop(-extra)
        cut = repeated_tail(ids, opts.max_repeats, opts.max_ngram)
        return ids[: len(ids) - cut] if cut else ids

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
        mode is the saved one, since the kept context audio was made for it.
        """
        path = Path(path)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            version, turns = state["version"], state["turns"]
        except FileNotFoundError:
            raise SessionError(f"{path}: no such session file") from None
        except Exception as e:  # noqa: BLE001 - any unreadable file is the same problem to fix
            raise SessionError(f"{path}: not a susurrus session file ({e})") from None
        if version != SESSION_VERSION:
            raise SessionError(f"{path}: session format {version}, this susurrus reads "
                               f"{SESSION_VERSION}")
        kwargs.setdefault("max_turns", state["max_turns"])  # the saved window unless told
        session = cls(model, context=state["context"], **kwargs)
        if model_fingerprint(session.model) != state["model"]:
            raise SessionError(f"{path}: saved with another model (trained weights differ); "
                               "restore it with the model that transcribed it")
        dtype = session.model.embed_ids([]).dtype
        session.turns = [_Kept(t["text"], list(t["text_ids"]), t["audio"].to(dtype))
                         for t in turns]
        return session
