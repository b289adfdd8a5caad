"""Training by task: what the generic loop (`susurrus.train.loop`) asks of a kind of model.

A recipe's `task:` names one (`speech_llm` when absent); its `model:` section is that task's own
config dataclass. A new model family trains through the same loop with one task module and one
line in `TASKS`. A task defined elsewhere (a user's package, a test) is named `module:ClassName`.

The loop owns Accelerate, the batches (lhotse samplers, sharded by process), the optimizer, the
schedule, logs, checkpoints and exact resume; the task owns everything about its model:

    task = SpeechLLMTask()
    model = task.build(recipe.model, run)      # pretrained parts loaded, trained parts seeded
    examples = task.prepare(model, run)        # read (and cache) the data: [Example(id, seconds)]
    entry = task.start(model, run)             # its own first phase, on a fresh run only
    loss = task.loss(model, [3, 17, 9], device)  # a batch of examples -> a scalar loss
    wer = task.validate(model, run)            # WER on the validation set, or None
    task.save(model, folder, recipe_dict); task.load(model, folder)
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

if TYPE_CHECKING:
    import torch
    from torch import nn

# One line per task: recipe name -> "module:Class" (imported only when a recipe names it).
TASKS: dict[str, str] = {
    "speech_llm": "susurrus.train.tasks.speech_llm:SpeechLLMTask",
    "multitalker_ctc": "susurrus.train.tasks.multitalker_ctc:MultiTalkerCTCTask",
    "whisper_distill": "susurrus.train.tasks.whisper_distill:WhisperDistillTask",
    "teacher_lora": "susurrus.train.tasks.teacher_lora:TeacherLoraTask",
}
DEFAULT_TASK = "speech_llm"  # what a recipe without `task:` trains (every recipe before issue 15)


@dataclass(frozen=True)
class Example:
    """One training example as the batching sees it: an id (for logs) and its cost to a batch
    in seconds of audio (its own; a speech LLM with context adds its prior turns')."""

    id: str
    seconds: float


@dataclass(frozen=True)
class Run:
    """What the loop tells a task about the run it takes part in."""

    recipe: Any  # the whole `Recipe` (its `model` is this task's config)
    out: Path  # the run folder
    device: torch.device  # where this process computes
    rank: int  # this process's index among `world` processes
    world: int  # processes training together (1 on one machine without a launcher)
    progress: bool  # show progress bars (never on processes other than the first)
    log: Callable[[str], None]  # messages; a no-op on processes other than the first
    cache_root: Path | None  # where derived data (e.g. encoder features) is cached; None = default
    # context manager: the first process runs the block, then the others (e.g. write a cache once)
    main_process_first: Callable[[], AbstractContextManager]

    @property
    def main(self) -> bool:
        """Whether this is the first process (the one that writes files and logs)."""
        return self.rank == 0


class Task(Protocol):
    """One kind of model the generic loop trains. One instance per run: it holds its data."""

    config: ClassVar[type]  # the recipe's `model:` section: a frozen dataclass
    trains: ClassVar[str]  # what it trains, for messages (e.g. "speech LLM")

    @staticmethod
    def check(config: Any) -> list[tuple[str, str]]:
        """Problems of the config's builders and their options, as (field, message), found
        without loading any pretrained weights: a recipe is refused before anything is written."""
        ...

    @staticmethod
    def idle_parameters(config: Any) -> bool:
        """Whether a batch may leave some trained parameters without a gradient (e.g. parts
        that read context some batches lack): multi-process training must then look for them."""
        ...

    def build(self, config: Any, run: Run) -> nn.Module:
        """The model: pretrained parts loaded, trained parts fresh from the current torch seed;
        only the parameters that train have requires_grad."""
        ...

    def prepare(self, model: nn.Module, run: Run) -> list[Example]:
        """Read the training and validation data (computing what it caches); the training
        examples, whose indices `loss` receives in batches."""
        ...

    def start(self, model: nn.Module, run: Run) -> dict[str, Any] | None:
        """The task's own first phase, once before step 1 of a fresh run (never on resume);
        returns what to keep in the run's log as step 0, or None."""
        ...

    def set_epoch(self, epoch: int) -> None:
        """The epoch of the batches `loss` is given next (a task whose examples change by epoch,
        e.g. augmented variants, reads it; others ignore it)."""
        ...

    def loss(self, model: nn.Module, batch: list[int], device: torch.device) -> torch.Tensor:
        """The scalar loss of examples `batch` (indices into `prepare`'s list), the mean over
        them. `model` may be wrapped for multi-process training: call it, do not reach in."""
        ...

    def validate(self, model: nn.Module, run: Run) -> float | None:
        """Word error rate on the validation set (None: there is none). First process only."""
        ...

    def save(self, model: nn.Module, folder: Path, recipe: dict[str, Any]) -> None:
        """Write what trains (and the recipe that rebuilds the rest) into `folder`."""
        ...

    def load(self, model: nn.Module, folder: Path) -> None:
        """Copy what `save` wrote into `model`."""
        ...


class UnknownTaskError(LookupError):
    """A task name that is neither in TASKS nor an importable `module:Class`."""


def task_class(name: str) -> type:
    """The task class a recipe's `task:` names: a key of TASKS, or `module:ClassName`."""
    spec = TASKS.get(name, name)
    module, colon, attr = spec.partition(":")
    if not colon or not module or not attr:
        raise UnknownTaskError(f"unknown task {name!r}; valid: {', '.join(TASKS)}, or "
                               "module:ClassName for a task defined elsewhere")
    try:
        cls = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        raise UnknownTaskError(f"cannot import {spec} ({e})") from None
    missing = [m for m in ("config", "trains", "check", "idle_parameters", "build", "prepare",
                           "start", "loss", "validate", "save", "load") if not hasattr(cls, m)]
    if missing:
        raise UnknownTaskError(f"{spec} is not a training task (it lacks "
                               f"{', '.join(missing)}; see susurrus.train.task.Task)")
    return cls
