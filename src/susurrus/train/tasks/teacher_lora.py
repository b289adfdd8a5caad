"""The teacher of paper 002 adapted to its job (issue 17): the `teacher_lora` training task.

The `whisper_distill` teacher reads, for each training window, the reading's words around it and
then the window's own text, cased and punctuated (`susurrus.train.distill_teacher.TeacherInput`);
what the student distils is the probability the teacher gives each token of that text. An
instruction-tuned LLM that was never asked this gives the reference's own token the top rank on
about a third of the positions. This task trains LoRA adapters on the LLM for exactly that input:
the cross-entropy of the window's text tokens, the prompt read but not predicted, on the same
training windows the student learns from (never a test or held-out reading), tokenized as
`susurrus.train.distill_teacher.teach` tokenizes them.

Validation is the teacher's top-1 token error rate on the validation windows: the share of their
text tokens whose most probable token is not the reference's (what the loop logs as "validation
WER"; lower is better, as for a WER).

The run's `model/` folder is a PEFT adapter folder (`adapter_model.safetensors`,
`adapter_config.json`) plus the recipe: what `whisper_distill`'s `model.teacher_adapter` takes.

Shapes: B windows, T prompt + text tokens, V vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
import yaml
from torch import nn

from susurrus.data.longform_windows import WINDOW_SECONDS
from susurrus.data.token_spans import token_spans
from susurrus.errors import BadCheckpointError
from susurrus.fields import check_fields, raise_problems
from susurrus.train.distill_teacher import ADAPTER, TeacherInput, adapter_folder, teacher_inputs
from susurrus.train.task import Example, Run

IGNORE = -100  # label of a position the cross-entropy does not score
RECIPE = "recipe.yaml"


@dataclass(frozen=True)
class TeacherLoraConfig:
    """A recipe's `model:` section for `task: teacher_lora`."""

    teacher: str = "smollm2-135m-instruct"  # the causal LM adapted: embedded name, folder, hub id
    context_words: int = 64  # reference words around a window it reads (as whisper_distill's)
    window_seconds: float = 30.0  # the windows' length at most (as whisper_distill's)
    lora_r: int = 16  # rank of each adapter
    lora_alpha: int = 32  # the update is scaled by alpha / r
    lora_dropout: float = 0.05  # dropout on the adapter's input, in [0, 1)
    lora_targets: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")  # module names

    def __post_init__(self) -> None:
        problems = check_fields(self, {
            "context_words": (0, False), "window_seconds": (0.0, True), "lora_r": (0, True),
            "lora_alpha": (0, True), "lora_dropout": (0.0, False)}, ("teacher", "lora_targets"))
        if self.lora_dropout >= 1:
            problems.append(("lora_dropout", f"must be < 1, got {self.lora_dropout!r}"))
        if self.window_seconds > WINDOW_SECONDS:
            problems.append(("window_seconds", f"must be <= {WINDOW_SECONDS}, got "
                                               f"{self.window_seconds}"))
        raise_problems(problems)


class LoraTeacher(nn.Module):
    """The causal LM with LoRA adapters (a PeftModel) and its tokenizer."""

    def __init__(self, llm: nn.Module, tokenizer: Any) -> None:
        super().__init__()
        self.llm, self.tokenizer = llm, tokenizer

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, T) token ids and attention mask -> (B, T, V) next-token logits."""
        return self.llm(input_ids=ids, attention_mask=mask).logits


def teacher_rows(tokenizer: Any, item: TeacherInput) -> tuple[list[int], list[int]]:
    """(prompt ids, text ids) of one window, tokenized as the teacher cache tokenizes them."""
    prompt = tokenizer(item.prompt(), add_special_tokens=False)["input_ids"]
    ids, _ = token_spans(tokenizer, item.text)
    return list(prompt), list(ids)


def collate_rows(rows: list[tuple[list[int], list[int]]], pad: int
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded (B, T) ids, attention mask and labels: each text token's label at the
    position that predicts it (the one before), IGNORE elsewhere (prompt, pads)."""
    length = max(len(p) + len(t) for p, t in rows)
    ids = torch.full((len(rows), length), pad, dtype=torch.long)
    mask = torch.zeros(len(rows), length, dtype=torch.long)
    labels = torch.full((len(rows), length), IGNORE, dtype=torch.long)
    for b, (prompt, text) in enumerate(rows):
        n, p = len(prompt) + len(text), len(prompt)
        ids[b, :n] = torch.tensor(prompt + text)
        mask[b, :n] = 1
        labels[b, p - 1 : n - 1] = torch.tensor(text)  # position p-1+j predicts text token j
    return ids, mask, labels


class TeacherLoraTask:
    """Adapt the distillation teacher (LoRA) to write a window's text from its context."""

    config = TeacherLoraConfig
    trains = "teacher LoRA"

    def __init__(self) -> None:
        self.rows: list[tuple[list[int], list[int]]] = []  # training windows' token ids
        self.valid: list[tuple[list[int], list[int]]] = []

    @staticmethod
    def check(config: TeacherLoraConfig) -> list[tuple[str, str]]:
        return []  # no named builders: its fields check themselves

    @staticmethod
    def idle_parameters(config: TeacherLoraConfig) -> bool:
        return False

    def build(self, config: TeacherLoraConfig, run: Run) -> LoraTeacher:
        from peft import LoraConfig, get_peft_model

        from susurrus.pretrained import load_llm

        llm, tokenizer = load_llm(config.teacher)
        missing = [t for t in config.lora_targets
                   if not any(name.split(".")[-1] == t for name, _ in llm.named_modules())]
        if missing:
            raise BadCheckpointError(f"model.lora_targets: no module of {config.teacher} is "
                                     f"called {missing}; name Linear layers such as q_proj")
        peft = get_peft_model(llm, LoraConfig(
            r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
            target_modules=list(config.lora_targets), bias="none", task_type="CAUSAL_LM"))
        trained = sum(p.numel() for p in peft.parameters() if p.requires_grad)
        run.log(f"teacher {config.teacher}: {trained:,} LoRA parameters")
        return LoraTeacher(peft.train(), tokenizer)

    def prepare(self, model: LoraTeacher, run: Run) -> list[Example]:
        from susurrus.train.tasks.whisper_distill import recipe_windows

        cfg = run.recipe.model
        with run.main_process_first():
            train = [w for w in recipe_windows(run.recipe, "train", run.log) if w.text]
            valid = [w for w in recipe_windows(run.recipe, "valid", run.log) if w.text]
        inputs = teacher_inputs(train, cfg.context_words)
        self.rows = [teacher_rows(model.tokenizer, i) for i in inputs]
        valid_inputs = teacher_inputs(valid, cfg.context_words)[: run.recipe.data.valid_limit]
        self.valid = [teacher_rows(model.tokenizer, i) for i in valid_inputs]
        seconds = {w.id: w.duration for w in train}
        tokens = sum(len(t) for _, t in self.rows)
        run.log(f"train: {len(self.rows)} windows, {tokens:,} text tokens; valid: "
                f"{len(self.valid)} windows")
        return [Example(i.id, seconds[i.id]) for i in inputs]

    def start(self, model: LoraTeacher, run: Run) -> dict[str, Any] | None:
        """`train.init`: start from another teacher_lora run's adapters."""
        if run.recipe.train.init:
            self.load(model, adapter_folder(run.recipe.train.init))
            run.log(f"initialised the adapters from {run.recipe.train.init}")
        return None

    def set_epoch(self, epoch: int) -> None:
        """Its examples are the same every epoch."""

    def loss(self, model: nn.Module, batch: list[int], device: torch.device) -> torch.Tensor:
        ids, mask, labels = collate_rows([self.rows[i] for i in batch], self._pad_id(model))
        logits = model(ids.to(device), mask.to(device))  # (B, T, V)
        return F.cross_entropy(logits.flatten(0, 1).float(), labels.to(device).flatten(),
                               ignore_index=IGNORE)

    @staticmethod
    def _pad_id(model: nn.Module) -> int:
        tokenizer = getattr(model, "module", model).tokenizer
        return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    @torch.no_grad()
    def validate(self, model: LoraTeacher, run: Run, batch: int = 4) -> float | None:
        """Share of the validation windows' text tokens whose top-1 token is not the
        reference's (None: no validation windows)."""
        if not self.valid:
            return None
        was = model.training
        model.eval()
        device = next(model.parameters()).device
        wrong = total = 0
        for s in range(0, len(self.valid), batch):
            ids, mask, labels = collate_rows(self.valid[s : s + batch], self._pad_id(model))
            top = model(ids.to(device), mask.to(device)).argmax(-1).cpu()  # (B, T)
            scored = labels != IGNORE
            wrong += int((top[scored] != labels[scored]).sum())
            total += int(scored.sum())
        model.train(was)
        return wrong / max(total, 1)

    def save(self, model: LoraTeacher, folder: Path, recipe: dict[str, Any]) -> None:
        from susurrus.files import replace_folder, staging_folder

        folder = Path(folder)
        tmp = staging_folder(folder)
        model.llm.save_pretrained(tmp)  # adapter_model.safetensors + adapter_config.json
        (tmp / RECIPE).write_text(yaml.safe_dump(recipe, sort_keys=False), encoding="utf-8")
        replace_folder(tmp, folder)

    def load(self, model: LoraTeacher, folder: Path) -> None:
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        weights = Path(folder) / ADAPTER
        if not weights.is_file():
            raise BadCheckpointError(f"{folder}: no {ADAPTER}; give a teacher_lora run's "
                                     "model/ folder or checkpoint")
        result = set_peft_model_state_dict(model.llm, load_file(str(weights)))
        if result.unexpected_keys:
            raise BadCheckpointError(f"{weights}: tensors this teacher does not have "
                                     f"({result.unexpected_keys[:3]}); was it trained on "
                                     "another model or LoRA targets?")
