"""A toy training task: a linear CTC head over log-mel frames, writing characters.

What a new model family needs to train through the generic loop (`susurrus.train.loop`): one
module like this one and one line in `susurrus.train.task.TASKS`, or a recipe naming it by
`task: susurrus.testing.toy_task:ToyCTCTask`. It trains in a second on a CPU, so the tests
exercise the loop (exact resume, several processes) without a pretrained model.

Shapes: B batch, T log-mel frames (100/s), M mel bins, C characters + 1 (the blank, class 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from susurrus.fields import check_fields, raise_problems
from susurrus.train.data import load_split, pad_features
from susurrus.train.task import Example, Run

WEIGHTS = "trained.safetensors"


@dataclass(frozen=True)
class ToyCTCConfig:
    """The toy head: which features it reads and which characters it writes."""

    n_mels: int = 40  # log-mel bins per frame
    alphabet: str = "abcdefghijklmnopqrstuvwxyz '"  # its characters; others in a text are dropped

    def __post_init__(self) -> None:
        problems = check_fields(self, {"n_mels": (0, True)}, ("alphabet",))
        if len(set(self.alphabet)) != len(self.alphabet):
            problems.append(("alphabet", f"must not repeat a character, got {self.alphabet!r}"))
        raise_problems(problems)


class ToyCTCModel(nn.Module):
    """One linear layer from a log-mel frame to character log-probabilities."""

    def __init__(self, config: ToyCTCConfig) -> None:
        super().__init__()
        self.alphabet = config.alphabet
        self.head = nn.Linear(config.n_mels, len(config.alphabet) + 1)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """mel (B, T, M) -> log-probabilities (B, T, C + 1), class 0 the blank."""
        return self.head(mel).log_softmax(-1)

    def ids(self, text: str) -> list[int]:
        return [self.alphabet.index(c) + 1 for c in text.lower() if c in self.alphabet]

    def greedy(self, logp: torch.Tensor) -> str:
        """(T, C + 1) -> text: the best class per frame, repeats merged, blanks dropped."""
        out, prev = [], 0
        for c in logp.argmax(-1).tolist():
            if c != prev and c != 0:
                out.append(self.alphabet[c - 1])
            prev = c
        return "".join(out)


class ToyCTCTask:
    """Train `ToyCTCModel` by CTC on the recipe's utterances."""

    config = ToyCTCConfig
    trains = "toy CTC head"

    def __init__(self) -> None:
        self.mels: list[torch.Tensor] = []  # (T, M) per training utterance
        self.targets: list[list[int]] = []  # character ids per training utterance
        self.valid: list[tuple[torch.Tensor, str]] = []  # (T, M) and reference text

    @staticmethod
    def check(config: ToyCTCConfig) -> list[tuple[str, str]]:
        return []  # no named builders: its fields check themselves

    @staticmethod
    def idle_parameters(config: ToyCTCConfig) -> bool:
        return False  # every batch trains the whole head

    def build(self, config: ToyCTCConfig, run: Run) -> ToyCTCModel:
        return ToyCTCModel(config)

    def prepare(self, model: ToyCTCModel, run: Run) -> list[Example]:
        from susurrus.audio.io import SAMPLE_RATE

        data = run.recipe.data
        with run.main_process_first():  # the first process synthesizes a missing corpus
            train = load_split(data, "train", run.log)
            valid = load_split(data, "valid", run.log)[: data.valid_limit]
        examples = []
        for utt in train:
            audio = self._mel(utt, model)
            self.mels.append(audio[1])
            self.targets.append(model.ids(utt.text))
            examples.append(Example(utt.id, audio[0] / SAMPLE_RATE))
        self.valid = [(self._mel(u, model)[1], u.text) for u in valid]
        run.log(f"train: {len(train)} utterances; valid: {len(valid)}")
        return examples

    @staticmethod
    def _mel(utt, model: ToyCTCModel) -> tuple[int, torch.Tensor]:
        """(samples, (T, M) log-mel) of an utterance."""
        from susurrus.audio.features import log_mel_spectrogram
        from susurrus.audio.io import load_audio

        audio = load_audio(utt.audio, utt.start, utt.duration)
        return audio.size, log_mel_spectrogram(audio, n_mels=model.head.in_features).T

    def start(self, model: ToyCTCModel, run: Run) -> dict[str, Any] | None:
        return None  # no first phase

    def set_epoch(self, epoch: int) -> None:
        """Its examples are the same every epoch."""

    def loss(self, model: nn.Module, batch: list[int], device: torch.device) -> torch.Tensor:
        x, lengths = pad_features([self.mels[i] for i in batch])  # (B, T, M), (B,)
        logp = model(x.to(device))  # (B, T, C + 1)
        targets = [self.targets[i] for i in batch]
        flat = torch.tensor([c for t in targets for c in t], dtype=torch.long, device=device)
        return F.ctc_loss(logp.transpose(0, 1), flat, lengths.to(device),
                          torch.tensor([len(t) for t in targets], device=device), blank=0,
                          reduction="mean", zero_infinity=True)

    @torch.no_grad()
    def validate(self, model: ToyCTCModel, run: Run) -> float | None:
        from susurrus.metrics.scores import ErrorCounts, word_errors

        if not self.valid:
            return None
        device = next(model.parameters()).device
        hyps = [model.greedy(model(mel[None].to(device))[0]) for mel, _ in self.valid]
        return sum((word_errors(ref, hyp) for (_, ref), hyp in zip(self.valid, hyps, strict=True)),
                   ErrorCounts()).rate

    def save(self, model: ToyCTCModel, folder: Path, recipe: dict[str, Any]) -> None:
        import yaml
        from safetensors.torch import save_file

        folder.mkdir(parents=True, exist_ok=True)
        save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
                  str(folder / WEIGHTS))
        (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))

    def load(self, model: ToyCTCModel, folder: Path) -> None:
        from safetensors.torch import load_file

        model.load_state_dict(load_file(str(folder / WEIGHTS)))
