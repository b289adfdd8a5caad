"""The multi-talker CTC recognizer (paper 003): one `TalkerStream` per talker it hears.

    rec = load_recognizer("runs/multitalker-tiny")        # a checkpoint declaring multitalker_ctc
    [hyp] = rec.recognize([mixture])                       # the count head picks the streams
    [hyp.streams[k].text for k in range(len(hyp.streams))]
    [hyp] = rec.recognize_with_counts([mixture], [2])      # an oracle count, for evaluation

Streams are in onset order (branch k = the k-th talker to start, `losses.serialized_ctc`),
labelled `talker1`, `talker2`, ...; each holds one segment from its first to its last emitted
character (CTC frames, 20 ms). The count head decides how many branches are decoded, so a
hypothesis holds exactly that many streams, empty ones included (cpWER then counts a stream
with no words as a talker heard and nothing written, talker-count accuracy sees the count).
No LLM runs: one encoder pass, the separator, S linear heads and greedy CTC.

Shapes: B batch, M mel bins, T mel frames (100/s), S branches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from susurrus.audio.features import FRAMES_PER_SECOND, N_FFT, log_mel_spectrogram
from susurrus.audio.io import SAMPLE_RATE
from susurrus.context import ContextMode
from susurrus.errors import BadAudioError, IncompatibleOptionError
from susurrus.infer.recognizer import (
    AudioTooLongError,
    Capabilities,
    MaxTurns,
    Progress,
    Recognition,
    TalkerStream,
)
from susurrus.infer.transcript import Segment
from susurrus.models.multitalker.model import BranchText, MultiTalkerCTC

BATCH = 8  # inputs decoded together at most


@dataclass(frozen=True)
class MultiTalkerOptions:
    """How a multi-talker recognizer decides how many streams to write."""

    talkers: int | None = None  # decode this many branches for every input (None: the count head)

    def __post_init__(self) -> None:
        if self.talkers is not None and self.talkers < 1:
            raise ValueError(f"MultiTalkerOptions.talkers must be >= 1 or None, got "
                             f"{self.talkers}")


def stream(branch: BranchText, k: int, frames_per_second: float) -> TalkerStream:
    """A decoded branch -> a talker stream with one segment (none when nothing was written)."""
    segments = []
    if branch.text:
        segments.append(Segment(start=round(branch.first / frames_per_second, 2),
                                end=round((branch.last + 1) / frames_per_second, 2),
                                text=branch.text))
    return TalkerStream(segments, speaker=f"talker{k + 1}")


class MultiTalkerRecognizer:
    """A trained MultiTalkerCTC behind the Recognizer interface."""

    name = "multitalker-ctc"
    kind = "a multi-talker CTC model"

    def __init__(self, model: str | MultiTalkerCTC, device: str = "cpu",
                 options: MultiTalkerOptions | None = None) -> None:
        if isinstance(model, MultiTalkerCTC):
            self.model, self.model_name = model.eval(), "<model>"
        else:
            from susurrus.models.multitalker.checkpoint import load_multitalker

            self.model, self.model_name = load_multitalker(model), str(model)
        self.model.to(device)
        self.device = torch.device(device)
        self.options = options or MultiTalkerOptions()
        if self.options.talkers is not None and self.options.talkers > self.model.max_talkers:
            raise IncompatibleOptionError(
                f"talkers: {self.model_name} has {self.model.max_talkers} branches, "
                f"{self.options.talkers} talkers asked for")
        self.capabilities = Capabilities(streams=self.model.max_talkers, batch=True)

    def recognize(self, audio: Sequence[np.ndarray], prompt: str | None = None,
                  on_progress: Progress | None = None) -> list[Recognition]:
        """16-kHz arrays (30 s at most each) -> one hypothesis each, the count head (or the
        options' fixed count) choosing its streams."""
        return self.recognize_with_counts(audio, [self.options.talkers] * len(audio), prompt,
                                          on_progress)

    @torch.no_grad()
    def recognize_with_counts(self, audio: Sequence[np.ndarray],
                              counts: Sequence[int | None], prompt: str | None = None,
                              on_progress: Progress | None = None) -> list[Recognition]:
        """As `recognize`, with each input's talker count given (an oracle count) or None (the
        count head's)."""
        if prompt:
            raise IncompatibleOptionError(f"prompt: {self.model_name} is {self.kind}, which "
                                          "takes no text prompt; drop the prompt")
        if len(counts) != len(audio):
            raise ValueError(f"{len(counts)} talker counts for {len(audio)} inputs")
        mels = [self._mel(np.asarray(a, dtype=np.float32), i) for i, a in enumerate(audio)]
        out: list[Recognition] = []
        done = 0.0
        for i in range(0, len(mels), BATCH):
            chunk = mels[i:i + BATCH]
            lengths = torch.tensor([m.shape[1] for m in chunk])
            batch = torch.zeros(len(chunk), chunk[0].shape[0], int(lengths.max()))  # (B, M, T)
            for b, m in enumerate(chunk):
                batch[b, :, : m.shape[1]] = m
            result = self.model(batch.to(self.device), lengths.to(self.device))
            predicted = self.model.count(result).tolist()
            chosen = [p if c is None else c
                      for c, p in zip(counts[i:i + BATCH], predicted, strict=True)]
            decoded = self.model.decode(result, chosen)
            fps = self.model.frames_per_second
            out += [Recognition([stream(b, k, fps) for k, b in enumerate(branches)])
                    for branches in decoded]
            done += sum(a.shape[0] for a in audio[i:i + BATCH]) / SAMPLE_RATE
            if on_progress is not None:
                on_progress(done)
        return out

    def _mel(self, audio: np.ndarray, index: int) -> torch.Tensor:
        """(M, T) log-mel of one input; empty is a BadAudioError, over 30 s an
        AudioTooLongError (which `transcribe` re-names with the file)."""
        if audio.ndim != 1 or audio.size == 0:
            raise BadAudioError(f"input {index}: mono 16-kHz samples expected, got shape "
                                f"{audio.shape}")
        if audio.size < N_FFT:
            audio = np.pad(audio, (0, N_FFT - audio.size))
        mel = log_mel_spectrogram(audio, n_mels=self.model.encoder.n_mels)
        if mel.shape[1] > self.model.encoder.max_frames:
            limit = self.model.encoder.max_frames / FRAMES_PER_SECOND
            raise AudioTooLongError(f"input {index}", audio.size / SAMPLE_RATE, limit,
                                    f"{self.kind} reads a mixture whole")
        return mel

    def session(self, context: ContextMode | None = None,
                max_turns: MaxTurns = "trained") -> None:
        raise IncompatibleOptionError(f"{self.model_name} is {self.kind}: it transcribes "
                                      "mixtures one at a time and keeps no conversation")

    def restore_session(self, path: str | Path, max_turns: MaxTurns | None = None) -> None:
        self.session()
