"""Whisper recognizers: the same weights on two engines.

`torch` runs our converted Hugging Face weights with susurrus's own decoding (`whisper_decoding`,
`whisper_longform`), several inputs at once; `faster-whisper` runs them through CTranslate2 (the
peer users would pick), one input at a time, for side-by-side comparison. Both read a text prompt,
so their conversation context is `text`: the earlier turns' transcripts as the prompt.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from susurrus.context import ContextMode
from susurrus.infer.recognizer import (
    Capabilities,
    MaxTurns,
    Progress,
    PromptSession,
    Recognition,
    TalkerStream,
)
from susurrus.infer.transcript import Segment
from susurrus.infer.whisper_decoding import WindowDecoder
from susurrus.infer.whisper_longform import LongFormOptions, transcribe_batch

MAX_PROMPT_TOKENS = 223  # Whisper keeps the last n_ctx // 2 - 1 prompt tokens
BATCH = 16  # inputs whose first windows decode together at most (memory: 16 x 30 s)
WHISPER_CONTEXTS: tuple[ContextMode, ...] = ("none", "text")


class _PromptSessions:
    """What both Whisper engines share: sessions whose context is a text prompt."""

    kind = "a Whisper model"
    model_name: str

    def prompt_tokens(self, prompt: str) -> int:
        """Prompt tokens the decoder reads of `prompt` (Whisper keeps the last 223)."""
        return min(len(self._encode(" " + prompt)), MAX_PROMPT_TOKENS)

    def _encode(self, text: str) -> list[int]:
        raise NotImplementedError

    def session(self, context: ContextMode | None = None,
                max_turns: MaxTurns = "trained") -> PromptSession:
        return PromptSession(self, context or "text", max_turns, self.prompt_tokens)

    def restore_session(self, path: str | Path,
                        max_turns: MaxTurns | None = None) -> PromptSession:
        return PromptSession.restore(path, self, max_turns, self.prompt_tokens)


class TorchWhisperRecognizer(_PromptSessions):
    """Hugging Face Whisper weights + susurrus decoding; a batch's first windows decode together."""

    name = "torch"
    capabilities = Capabilities(prompt=True, contexts=WHISPER_CONTEXTS, batch=True)

    def __init__(self, model: str, device: str = "cpu",
                 options: LongFormOptions | None = None) -> None:
        from susurrus.pretrained import load_whisper

        hf_model, tokenizer = load_whisper(model)
        self.model_name = model
        self.decoder = WindowDecoder(hf_model.to(device), tokenizer)
        self.options = options or LongFormOptions()

    def _encode(self, text: str) -> list[int]:
        return self.decoder.tokenizer.encode(text, add_special_tokens=False)

    def recognize(self, audio, prompt: str | None = None,
                  on_progress: Progress | None = None) -> list[Recognition]:
        out: list[Recognition] = []
        for i in range(0, len(audio), BATCH):
            done = sum(a.shape[0] for a in audio[:i]) / 16_000
            progress = None if on_progress is None else (lambda s, d=done: on_progress(d + s))
            out += [Recognition([TalkerStream(segments)]) for segments in transcribe_batch(
                self.decoder, audio[i : i + BATCH], prompt, self.options, progress)]
        return out


class FasterWhisperRecognizer(_PromptSessions):
    """The same Whisper weights run by faster-whisper (CTranslate2), greedy like ours."""

    name = "faster-whisper"
    capabilities = Capabilities(prompt=True, contexts=WHISPER_CONTEXTS, batch=False)

    def __init__(self, model: str, device: str = "cpu", options: LongFormOptions | None = None,
                 compute_type: str = "float32") -> None:
        import ctranslate2
        from faster_whisper import WhisperModel

        from susurrus.pretrained import ct2_whisper_dir

        self.model_name = model
        self.options = options or LongFormOptions()
        # The fallback temperatures sample. CTranslate2 seeds each worker thread's generator, on
        # its first draw, from a process-wide seed that defaults to a random one: unset, the
        # same audio gives other text in another process. Set before the model (and so its
        # threads) exists, one run's text depends only on the seed and the order of the calls.
        ctranslate2.set_random_seed(self.options.seed)
        self.model = WhisperModel(ct2_whisper_dir(model), device=device, compute_type=compute_type,
                                  cpu_threads=torch.get_num_threads())

    def _encode(self, text: str) -> list[int]:
        return self.model.hf_tokenizer.encode(text, add_special_tokens=False).ids

    def segments(self, audio: np.ndarray, prompt: str | None = None,
                 on_progress: Progress | None = None) -> list[Segment]:
        """(T,) 16-kHz samples -> time-ordered segments covering the whole input."""
        o = self.options
        segs, _ = self.model.transcribe(
            audio, language="en", beam_size=1, temperature=list(o.temperatures),
            initial_prompt=prompt, condition_on_previous_text=o.condition_on_previous_text,
            compression_ratio_threshold=o.compression_ratio_threshold,
            log_prob_threshold=o.logprob_threshold, no_speech_threshold=o.no_speech_threshold,
            without_timestamps=not o.timestamps, vad_filter=False,
        )
        out = []
        for s in segs:  # a generator: decoding happens while we iterate
            out.append(Segment(s.start, s.end, s.text, list(s.tokens), s.avg_logprob,
                               s.no_speech_prob, temperature=s.temperature))
            if on_progress:
                on_progress(s.end)
        return out

    def recognize(self, audio, prompt: str | None = None,
                  on_progress: Progress | None = None) -> list[Recognition]:
        out, done = [], 0.0
        for a in audio:
            progress = None if on_progress is None else (lambda s, d=done: on_progress(d + s))
            out.append(Recognition([TalkerStream(self.segments(a, prompt, progress))]))
            done += a.shape[0] / 16_000
        return out
