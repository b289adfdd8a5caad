"""Whisper over audio of any length: 30-s windows, each conditioned on the text before it.

The seek loop of openai/whisper `transcribe()`, kept small: decode a window with timestamps, cut it
into segments at the timestamp pairs, move the seek to the end of the last complete segment (or
the whole window), and carry the previous text as the next window's prompt. The loop always
advances, so every second of the input is decoded: nothing is silently truncated.

`transcribe_batch` decodes the first windows of several inputs greedily as one batch; each input
then goes on alone from there (a hotter retry of its first window, its later windows), so its
segments are those `transcribe_longform` gives it alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from susurrus.audio.features import (
    FRAMES_PER_SECOND,
    N_FRAMES_CHUNK,
    N_SAMPLES_CHUNK,
    log_mel_spectrogram,
)
from susurrus.infer.transcript import Segment
from susurrus.infer.whisper_decoding import (
    TIME_PRECISION,
    DecodingOptions,
    DecodingResult,
    WindowDecoder,
)

INPUT_STRIDE = 2  # mel frames per encoder frame (one timestamp step = 2 mel frames = 20 ms)
TOKENS_PER_SECOND = 8  # generous upper bound of text + timestamp tokens per second of speech


@dataclass(frozen=True)
class LongFormOptions:
    """How a long input is cut into windows and how each window may be re-decoded."""

    condition_on_previous_text: bool = True  # carry the previous windows' text as the prompt
    temperatures: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)  # fallback ladder
    compression_ratio_threshold: float = 2.4  # above: a repetition loop, retry hotter
    logprob_threshold: float = -1.0  # mean token log-prob below: retry hotter
    no_speech_threshold: float = 0.6  # P(no speech) above (and log-prob low): skip the window
    timestamps: bool = True  # segment times from timestamp tokens (else one segment a window)
    seed: int = 0  # sampling seed for the fallback temperatures

    def __post_init__(self) -> None:
        if not self.temperatures or any(t < 0 for t in self.temperatures):
            raise ValueError(
                f"temperatures must be a non-empty list of values >= 0, got {self.temperatures}")


def token_budget(seconds: float) -> int:
    """Most tokens a window of `seconds` of speech can need: fast speech is ~4 tokens/s, plus
    timestamps. A hallucination loop on a 3-s turn then stops at 48 tokens, not at 224."""
    return max(16, min(224, round(TOKENS_PER_SECOND * seconds) + 24))


def _window_options(opts: LongFormOptions, attempt: int, seconds: float) -> DecodingOptions:
    """How attempt `attempt` (0 = the first temperature) of a window of `seconds` decodes."""
    return DecodingOptions(temperature=opts.temperatures[attempt], timestamps=opts.timestamps,
                           seed=opts.seed + attempt, max_new_tokens=token_budget(seconds))


def _decode_with_fallback(
    decoder: WindowDecoder, encode: Callable[[], torch.Tensor], prompt: list[int],
    opts: LongFormOptions, seconds: float, first: DecodingResult | None = None,
) -> DecodingResult:
    """Decode a window at each temperature in turn until the result is acceptable.

    `first` is the first temperature's result when it was decoded already (in a batch);
    `encode` gives the window's encoder states, and is called only if a decode is needed.
    """
    result = None
    for i in range(len(opts.temperatures)):
        if i == 0 and first is not None:
            result = first
        else:
            result = decoder.decode(encode(), prompt, _window_options(opts, i, seconds))
        too_repetitive = result.compression_ratio > opts.compression_ratio_threshold
        too_unlikely = result.avg_logprob < opts.logprob_threshold
        silent = result.no_speech_prob > opts.no_speech_threshold and too_unlikely
        if silent or not (too_repetitive or too_unlikely):
            break
    assert result is not None
    return result


def _split_segments(
    result: DecodingResult, decoder: WindowDecoder, offset: float, window_seconds: float
) -> tuple[list[Segment], float | None]:
    """Cut a window at timestamp pairs. Returns (segments, seconds consumed; None = all)."""
    tb = decoder.tk.timestamp_begin
    toks = result.tokens
    text = decoder.tokenizer.decode

    def seg(start_tok: int | None, end_tok: int | None, body: list[int]) -> Segment:
        start = offset + ((start_tok - tb) * TIME_PRECISION if start_tok is not None else 0.0)
        end = offset + ((end_tok - tb) * TIME_PRECISION if end_tok is not None else window_seconds)
        return Segment(start, max(end, start), text(body), body, result.avg_logprob,
                       result.no_speech_prob, temperature=result.temperature)

    # indices i where toks[i-1] and toks[i] are both timestamps: a segment boundary
    cuts = [i for i in range(1, len(toks)) if toks[i] >= tb and toks[i - 1] >= tb]
    single_end = len(toks) >= 2 and toks[-1] >= tb and toks[-2] < tb
    if cuts:
        bounds = cuts + ([len(toks)] if single_end else [])
        segments, last = [], 0
        for b in bounds:
            piece = toks[last:b]
            body = [t for t in piece if t < tb]
            if body:
                segments.append(seg(piece[0], piece[-1], body))
            last = b
        if single_end:
            return segments, None
        # the window ended mid-segment: continue from the last complete timestamp
        return segments, (toks[last - 1] - tb) * TIME_PRECISION
    # no complete pair: one segment for the window, ending at its last timestamp if it has one
    body = [t for t in toks if t < tb]
    if not body:
        return [], None
    stamps = [t for t in toks if t >= tb]
    start = stamps[0] if len(stamps) > 1 else None
    end = stamps[-1] if stamps and stamps[-1] != tb else None
    return [seg(start, end, body)], None


def _features(decoder: WindowDecoder, audio: np.ndarray) -> tuple[torch.Tensor, int]:
    """Log-mel of the whole input plus 30 s of padding, and its real length in frames.

    As openai/whisper does: the last window is then a real slice, padded with the log-mel of
    silence rather than zeros.
    """
    n_mels = decoder.model.config.num_mel_bins
    mel = log_mel_spectrogram(audio, n_mels=n_mels, padding=N_SAMPLES_CHUNK)
    return mel, audio.shape[0] * FRAMES_PER_SECOND // 16_000


def _prompt_ids(decoder: WindowDecoder, initial_prompt: str | None) -> list[int]:
    if not initial_prompt:
        return []
    return decoder.tokenizer.encode(" " + initial_prompt.strip(), add_special_tokens=False)


def transcribe_longform(
    decoder: WindowDecoder,
    audio: np.ndarray,
    initial_prompt: str | None = None,
    options: LongFormOptions | None = None,
    on_progress: Callable[[float], None] | None = None,
    first: DecodingResult | None = None,
    features: tuple[torch.Tensor, int] | None = None,
) -> list[Segment]:
    """(T,) 16-kHz samples of any length -> segments covering all of it, in time order.

    `first` (with `features`, the input's `_features`): the first window's result at the first
    temperature, decoded already in a batch.
    """
    opts = options or LongFormOptions()
    mel, n_frames = features if features is not None else _features(decoder, audio)
    prompt = _prompt_ids(decoder, initial_prompt)
    seek, segments = 0, []
    while seek < n_frames:
        window = min(N_FRAMES_CHUNK, n_frames - seek)
        offset = seek / FRAMES_PER_SECOND

        def encode(seek: int = seek) -> torch.Tensor:
            return decoder.encode(mel[None, :, seek : seek + N_FRAMES_CHUNK])

        result = _decode_with_fallback(decoder, encode, prompt, opts, window / FRAMES_PER_SECOND,
                                       first if seek == 0 else None)
        skip = (result.no_speech_prob > opts.no_speech_threshold
                and result.avg_logprob < opts.logprob_threshold)
        consumed = None
        if not skip:
            new, consumed = _split_segments(result, decoder, offset, window / FRAMES_PER_SECOND)
            for s in new:  # a segment may not run past the audio
                s.end = min(s.end, (seek + window) / FRAMES_PER_SECOND)
                s.start = min(s.start, s.end)
            segments.extend(new)
            if opts.condition_on_previous_text:
                prompt = prompt + result.tokens  # timestamps included, as openai/whisper does
            # openai/whisper: a hot (high-temperature) window is a poor prompt for the next
            if result.temperature > 0.5:
                prompt = []
        advance = window if consumed is None else round(consumed * FRAMES_PER_SECOND)
        seek += max(advance, INPUT_STRIDE)  # always move forward
        if on_progress:
            on_progress(min(seek, n_frames) / FRAMES_PER_SECOND)
    return segments


def transcribe_batch(
    decoder: WindowDecoder,
    audios: Sequence[np.ndarray],
    initial_prompt: str | None = None,
    options: LongFormOptions | None = None,
    on_progress: Callable[[float], None] | None = None,
) -> list[list[Segment]]:
    """Several inputs -> each one's segments, as `transcribe_longform` gives them one by one.

    The first window of every input is decoded greedily in one batch (when the first fallback
    temperature is 0); an input whose first window needs a hotter retry, or that has more
    windows, goes on alone from there. `on_progress` gets the seconds done over all inputs.
    """
    opts = options or LongFormOptions()
    features = [_features(decoder, a) for a in audios]
    firsts: list[DecodingResult | None] = [None] * len(audios)
    batched = [i for i, (_, n) in enumerate(features) if n > 0]
    if len(batched) > 1 and opts.temperatures[0] == 0:
        encoded = decoder.encode(torch.stack([features[i][0][:, :N_FRAMES_CHUNK] for i in batched]))
        window_options = [_window_options(opts, 0, min(N_FRAMES_CHUNK, features[i][1])
                                          / FRAMES_PER_SECOND) for i in batched]
        results = decoder.decode_batch(encoded, _prompt_ids(decoder, initial_prompt),
                                       window_options)
        for i, r in zip(batched, results, strict=True):
            firsts[i] = r
    out, done = [], 0.0
    for audio, feats, first in zip(audios, features, firsts, strict=True):
        progress = None if on_progress is None else (lambda s, d=done: on_progress(d + s))
        out.append(transcribe_longform(decoder, audio, initial_prompt, opts, progress, first,
                                       feats))
        done += feats[1] / FRAMES_PER_SECOND
    return out
