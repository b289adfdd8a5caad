"""Whisper distillation (paper 002, issue 17): the `whisper_distill` training task.

A Whisper student learns long-form transcripts (≤ 30-s windows with the earlier text as the
prompt and timestamp targets, `susurrus.data.longform_windows`) from the reference and from a
teacher LLM that read each window's text with its surrounding context. Every step computes

    loss = w_ce · CE(labels) + w_ot · OT(student logits, teacher top-K)
           + w_rep · Rep(pooled decoder states, teacher context vector)

- CE: teacher forcing on the window's target (timestamps included, the prompt not predicted).
- OT (`susurrus.losses.ot_distill`): student positions are the logits that predict a *text*
  token of the target (a timestamp or <|endoftext|> has no characters), each with that token's
  span in the window's text; teacher positions are the cached tokens of the same text.
- Rep (`susurrus.losses.representation`): the decoder's last states over the positions that
  predict the target (prompt and pads left out), projected onto the teacher's context vector.

With `data.augment.variants` = K > 0, each epoch each window trains on one of its K + 1 variants
(0 = clean; `susurrus.data.augment`), made from its audio as it is read (the encoder is not
cached here); speed and tempo scale the timestamp targets with the speech.

The teacher runs once, before training (`susurrus distill-teacher RECIPE`,
`susurrus.train.distill_teacher`); the task reads its cache and refuses to start without it.
The student is saved as a plain Whisper folder (`susurrus.models.whisper_student`): `--model
RUN` transcribes with it through the Whisper recognizers.

Shapes: B windows, L decoder positions, V Whisper vocabulary, M teacher positions, K top-K,
H teacher context width.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from susurrus.data.longform_windows import (
    WINDOW_SECONDS,
    WhisperTarget,
    Window,
    scale_window,
    training_windows,
    whisper_target,
)
from susurrus.data.teacher_cache import TeacherChunk
from susurrus.errors import BadRecipeError
from susurrus.fields import FieldError, check_fields, raise_problems
from susurrus.losses.ot_distill import OTDistillConfig, OTDistillLoss
from susurrus.losses.representation import RepresentationLoss, masked_mean
from susurrus.models.whisper_student import freeze_student, load_student, save_student
from susurrus.train.distill_teacher import (
    ADAPTER,
    SHARD_SIZE,
    TeacherInput,
    adapter_folder,
    compute_teacher_cache,
    default_cache_folder,
    open_teacher_cache,
    teacher_inputs,
)
from susurrus.train.task import Example, Run

IGNORE = -100  # label of a position the CE does not score


@dataclass
class DistillBatch:
    """Teacher-forcing inputs and the teacher's targets of B windows."""

    decoder_input_ids: torch.Tensor  # (B, L) long, padded with <|endoftext|>
    labels: torch.Tensor  # (B, L) long, IGNORE on the prompt, sot and pads
    student_spans: torch.Tensor  # (B, L, 2) long: span of the token position l predicts
    student_mask: torch.Tensor  # (B, L) bool: position l predicts a text token
    teacher_probs: torch.Tensor  # (B, M, K)
    teacher_spans: torch.Tensor  # (B, M, 2) long
    teacher_mask: torch.Tensor  # (B, M) bool
    context: torch.Tensor  # (B, H)

    def to(self, device: torch.device) -> DistillBatch:
        return DistillBatch(**{k: v.to(device) for k, v in self.__dict__.items()})


def collate(targets: list[WhisperTarget], teachers: list[TeacherChunk] | None, texts: list[str],
            pad_id: int) -> DistillBatch:
    """One batch from each window's Whisper target, its teacher chunk and its text (the teacher
    must have read exactly the text the target's spans index into). Without teachers (CE
    only) the teacher's tensors are empty: (B, 1, 1), masked out, and a (B, 1) context."""
    if teachers is None:
        return _collate_targets(targets, 1, 1, torch.zeros(len(targets), 1), pad_id)
    for t, text in zip(teachers, texts, strict=True):
        if t.text != text:
            raise ValueError(f"teacher chunk {t.id} read {t.text[:40]!r}..., the window's text "
                             f"is {text[:40]!r}...; recompute the teacher cache for this manifest")
    out = _collate_targets(targets, max(t.ids.shape[0] for t in teachers),
                           teachers[0].probs.shape[1],
                           torch.stack([torch.from_numpy(t.context) for t in teachers]).float(),
                           pad_id)
    for i, tch in enumerate(teachers):
        mm = tch.ids.shape[0]
        out.teacher_probs[i, :mm] = torch.from_numpy(tch.probs)
        out.teacher_spans[i, :mm] = torch.from_numpy(tch.spans.astype("int64"))
        out.teacher_mask[i, :mm] = True
    return out


def _collate_targets(targets: list[WhisperTarget], m: int, k: int, context: torch.Tensor,
                     pad_id: int) -> DistillBatch:
    """The student's side of a batch, with empty teacher tensors of M positions and K top."""
    b = len(targets)
    length = max(len(t.tokens) for t in targets) - 1
    out = DistillBatch(
        decoder_input_ids=torch.full((b, length), pad_id, dtype=torch.long),
        labels=torch.full((b, length), IGNORE, dtype=torch.long),
        student_spans=torch.zeros(b, length, 2, dtype=torch.long),
        student_mask=torch.zeros(b, length, dtype=torch.bool),
        teacher_probs=torch.zeros(b, m, k), teacher_spans=torch.zeros(b, m, 2, dtype=torch.long),
        teacher_mask=torch.zeros(b, m, dtype=torch.bool), context=context)
    for i, tgt in enumerate(targets):
        n = len(tgt.tokens) - 1
        out.decoder_input_ids[i, :n] = torch.tensor(tgt.tokens[:-1])
        first = tgt.first_label - 1  # position l predicts token l + 1
        out.labels[i, first:n] = torch.tensor(tgt.tokens[tgt.first_label:])
        for pos, span in enumerate(tgt.spans[1:]):
            if span is not None and pos >= first:
                out.student_spans[i, pos] = torch.tensor(span)
                out.student_mask[i, pos] = True
    return out


@dataclass(frozen=True)
class DistillWeights:
    """How much each part counts."""

    ce: float = 1.0  # cross-entropy on the target
    ot: float = 1.0  # token-level OT distillation
    rep: float = 1.0  # representation loss


class WhisperDistillLoss(nn.Module):
    """CE + OT + representation for a Hugging Face Whisper; owns the representation projection
    (which trains with the student). A part weighted 0 is not computed; without a
    `context_width` (no teacher) there is no representation part."""

    def __init__(self, decoder_width: int, context_width: int | None,
                 weights: DistillWeights | None = None, ot: OTDistillConfig | None = None,
                 rep_distance: str = "cosine") -> None:
        super().__init__()
        self.weights = weights or DistillWeights()
        self.ot = OTDistillLoss(ot)
        if self.weights.rep and not context_width:
            raise ValueError("WhisperDistillLoss: a representation weight needs context_width")
        self.rep = (RepresentationLoss(decoder_width, context_width, rep_distance)  # type: ignore[arg-type]
                    if context_width else None)

    def forward(self, model: Any, features: torch.Tensor, batch: DistillBatch
                ) -> tuple[torch.Tensor, dict[str, float]]:
        """features (B, mels, frames) log-mel -> (total loss, each part's value)."""
        out = model(input_features=features, decoder_input_ids=batch.decoder_input_ids,
                    output_hidden_states=True)
        logits = out.logits  # (B, L, V)
        ce = F.cross_entropy(logits.transpose(1, 2).float(), batch.labels, ignore_index=IGNORE)
        w = self.weights
        zero = logits.new_zeros(())
        ot = (self.ot(logits, batch.student_spans, batch.student_mask, batch.teacher_probs,
                      batch.teacher_spans, batch.teacher_mask) if w.ot else zero)
        states = out.decoder_hidden_states[-1]  # (B, L, D)
        rep = (self.rep(states, batch.labels != IGNORE, batch.context)
               if w.rep and self.rep is not None else zero)
        total = w.ce * ce + w.ot * ot + w.rep * rep
        return total, {"ce": ce.item(), "ot": ot.item(), "rep": rep.item()}


# --- the task -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class WhisperDistillConfig:
    """A recipe's `model:` section for `task: whisper_distill`."""

    student: str = "whisper-tiny.en"  # the Whisper that learns: embedded name, folder or hub id
    encoder_layers: int = 2  # the encoder's last N layers train (the paper: 2); 0 = frozen
    train_decoder: bool = True  # the whole decoder trains (False: only those encoder layers)
    # with train_decoder, its token embedding (tied to the output layer) trains too; false keeps
    # the base's, and the shipped student (`susurrus distill-export`) 40 MB smaller for tiny.en
    train_token_embedding: bool = True
    teacher: str = "smollm2-135m-instruct"  # the causal LM that read each window in context
    # a PEFT LoRA adapter folder for the teacher (merged into it before it reads), or a
    # `teacher_lora` run folder (its model/); "" = none
    teacher_adapter: str = ""
    # folder of the teacher's cache (`susurrus distill-teacher` writes it);
    # "" = <cache root>/teacher/<teacher>-k<K>-<hash of what it reads>
    teacher_cache: str = ""
    top_k: int = 16  # teacher probabilities kept per position
    context_words: int = 64  # reference words around a window the teacher reads (half each side)
    window_seconds: float = 30.0  # training windows' length at most (Whisper's input)
    ce: float = 1.0  # weight of the cross-entropy on the window's target
    ot: float = 1.0  # weight of the token-level OT distillation (0: no teacher tokens)
    rep: float = 1.0  # weight of the representation loss (0: no teacher context vector)
    rep_distance: Literal["cosine", "mse"] = "cosine"  # of the projected pooled decoder states
    # the representation loss's target: the teacher's context vector of the window (it read the
    # surrounding text), or `sentence_encoder`'s embedding of the window's text alone
    rep_target: Literal["teacher", "sentence"] = "teacher"
    sentence_encoder: str = "minilm-l6"  # for rep_target sentence: mean-pooled, L2-normalised
    ot_span_weight: float = 1.0  # OT cost: weight of 1 − IoU of the tokens' character spans
    ot_distance_weight: float = 0.1  # OT cost: weight of the sorted top-K probability L1
    ot_epsilon: float = 0.05  # Sinkhorn's entropic regularisation
    ot_iterations: int = 100  # Sinkhorn iterations

    def __post_init__(self) -> None:
        problems = check_fields(self, {
            "encoder_layers": (0, False), "top_k": (1, False), "context_words": (0, False),
            "window_seconds": (0.0, True), "ce": (0.0, False), "ot": (0.0, False),
            "rep": (0.0, False)}, ("student",))
        if self.ce + self.ot + self.rep <= 0:
            problems.append(("ce", "ce, ot and rep cannot all be 0"))
        if self.window_seconds > WINDOW_SECONDS:
            problems.append(("window_seconds", f"must be <= {WINDOW_SECONDS} (Whisper's input), "
                                               f"got {self.window_seconds}"))
        if self.uses_teacher and not self.teacher:
            problems.append(("teacher", "must not be empty when the teacher is read (ot above 0, "
                                        "or rep above 0 with rep_target teacher)"))
        if self.rep_target not in ("teacher", "sentence"):
            problems.append(("rep_target", f"must be teacher or sentence, got {self.rep_target!r}"))
        if self.rep_distance not in ("cosine", "mse"):
            problems.append(("rep_distance", f"must be cosine or mse, got {self.rep_distance!r}"))
        try:
            self.ot_config()
        except FieldError as e:
            problems += [(f"ot_{name}", message) for name, message in e.problems]
        raise_problems(problems)

    def ot_config(self) -> OTDistillConfig:
        return OTDistillConfig(span_weight=self.ot_span_weight,
                               distance_weight=self.ot_distance_weight, epsilon=self.ot_epsilon,
                               iterations=self.ot_iterations)

    @property
    def uses_teacher(self) -> bool:
        """Whether training reads the teacher cache (OT, or the teacher's context vector)."""
        return bool(self.ot or (self.rep and self.rep_target == "teacher"))

    def teacher_id(self) -> str:
        """The teacher as its cache records it: the name, and the adapter's content if any."""
        if not self.teacher_adapter:
            return self.teacher
        from susurrus.pretrained.cache import fingerprint

        weights = adapter_folder(self.teacher_adapter) / ADAPTER
        if not weights.is_file():
            raise BadRecipeError(f"model.teacher_adapter: {weights} does not exist; give a PEFT "
                                 "LoRA adapter folder (save_pretrained of a PeftModel)")
        return f"{self.teacher}+lora-{fingerprint(weights)}"


class DistillStudent(nn.Module):
    """The student Whisper and its distillation loss (with the trained projection)."""

    def __init__(self, whisper: nn.Module, tokenizer: Any, loss: WhisperDistillLoss) -> None:
        super().__init__()
        self.whisper, self.tokenizer, self.distill = whisper, tokenizer, loss

    def forward(self, features: torch.Tensor, batch: DistillBatch
                ) -> tuple[torch.Tensor, dict[str, float]]:
        """features (B, mels, 3000) log-mel -> (total loss, each part's value)."""
        return self.distill(self.whisper, features, batch)


def window_audio(window: Window) -> np.ndarray:
    """(T,) 16-kHz samples of a window, read from its reading's file."""
    from susurrus.audio.io import load_audio

    return load_audio(window.audio, window.start, window.duration)


def audio_features(audio: np.ndarray, n_mels: int) -> torch.Tensor:
    """(n_mels, 3000) log-mel of ≤ 30 s of audio, padded to 30 s as the seek loop's first
    window is."""
    from susurrus.audio.features import N_FRAMES_CHUNK, N_SAMPLES_CHUNK, log_mel_spectrogram

    return log_mel_spectrogram(audio, n_mels=n_mels, padding=N_SAMPLES_CHUNK)[:, :N_FRAMES_CHUNK]


def window_features(window: Window, n_mels: int) -> torch.Tensor:
    """(n_mels, 3000) log-mel of a window, padded to 30 s as the seek loop's first window is."""
    return audio_features(window_audio(window), n_mels)


def recipe_windows(recipe: Any, split: str, log: Callable[[str], None] = print) -> list[Window]:
    """The long-form windows of a recipe's train or valid segments manifests (none for a valid
    split the recipe does not name)."""
    from susurrus.train.data import load_split

    data = recipe.data
    if split == "train" and not data.train:
        raise BadRecipeError("data.train: whisper_distill trains on long-form segments manifests "
                             "({split}-segments.jsonl of `susurrus synth longform`); give one")
    if split == "valid" and not data.valid:
        return []
    windows, skipped = training_windows(load_split(data, split, log),
                                        recipe.model.window_seconds)
    if skipped:
        log(f"{split}: {len(skipped)} segments longer than {recipe.model.window_seconds} s "
            f"are in no window (e.g. {skipped[0]})")
    return windows


def teacher_folder(config: WhisperDistillConfig, inputs: list[TeacherInput]) -> Path:
    """Where the recipe's teacher cache is (given, or the default keyed by what it reads)."""
    if config.teacher_cache:
        return Path(config.teacher_cache)
    return default_cache_folder(config.teacher_id(), config.top_k, inputs)


def compute_teacher(recipe: Any, progress: bool = True, log: Callable[[str], None] = print,
                    shard_size: int = SHARD_SIZE, batch_size: int = 4, device: str = "cpu"
                    ) -> Path:
    """Run the recipe's teacher over its training windows on `device`, `batch_size` windows at
    a time (resuming); returns the cache folder."""
    from susurrus.pretrained import load_llm

    cfg = recipe.model
    inputs = teacher_inputs(recipe_windows(recipe, "train", log), cfg.context_words)
    folder = teacher_folder(cfg, inputs)
    llm, tokenizer = load_llm(cfg.teacher)
    if cfg.teacher_adapter:  # the teacher adapted to read context and write the chunk (LoRA)
        from peft import PeftModel

        llm = PeftModel.from_pretrained(llm, str(adapter_folder(cfg.teacher_adapter)))
        llm = llm.merge_and_unload().eval()
    log(f"teacher {cfg.teacher_id()}: {len(inputs)} training windows -> {folder}")
    return compute_teacher_cache(llm.to(device), tokenizer, cfg.teacher_id(), inputs, folder,
                                 cfg.top_k, shard_size, batch_size, progress, log)


class WhisperDistillTask:
    """Fine-tune a Whisper on long-form windows with CE, token OT and representation losses."""

    config = WhisperDistillConfig
    trains = "Whisper student"
    augments = True  # reads `data.augment`: voice and channel variants of each window

    def __init__(self) -> None:
        self.windows: list[Window] = []  # training windows
        self.targets: list[WhisperTarget] = []  # their decoder tokens
        self.teachers: list[TeacherChunk] | None = None  # their teacher chunks (None: CE only)
        self.sentences: torch.Tensor | None = None  # (N, E) rep_target sentence: the targets
        self.valid: list[Window] = []  # validation windows scored by WER
        self.augment: Any = None  # data.augment's AugmentSettings (variants 0: clean only)
        self.seed = 0  # train.seed: with the epoch, picks each example's variant
        self.epoch = 0  # of the batch `loss` is given (set by the loop through `set_epoch`)
        self._augmented: dict[tuple[int, int], WhisperTarget | None] = {}  # (i, k) -> target

    @staticmethod
    def check(config: WhisperDistillConfig) -> list[tuple[str, str]]:
        return []  # no named builders: its fields check themselves

    @staticmethod
    def idle_parameters(config: WhisperDistillConfig) -> bool:
        return False  # every batch reaches every trained part

    def build(self, config: WhisperDistillConfig, run: Run) -> DistillStudent:
        from susurrus.pretrained import load_whisper

        whisper, tokenizer = load_whisper(config.student)
        trained = freeze_student(whisper, config.encoder_layers, config.train_decoder,
                                 config.train_token_embedding)
        width = _target_width(config) if config.rep else None
        loss = WhisperDistillLoss(whisper.config.d_model, width,
                                  DistillWeights(config.ce, config.ot, config.rep),
                                  config.ot_config(), config.rep_distance)
        run.log(f"student {config.student}: {trained:,} trained parameters")
        return DistillStudent(whisper.train(), tokenizer, loss)

    def prepare(self, model: DistillStudent, run: Run) -> list[Example]:
        cfg = run.recipe.model
        with run.main_process_first():
            self.windows = recipe_windows(run.recipe, "train", run.log)
            valid = recipe_windows(run.recipe, "valid", run.log)
        self.valid = [w for w in valid if w.text][: run.recipe.data.valid_limit]
        if cfg.uses_teacher:
            self.windows = [w for w in self.windows if w.text]  # the teacher reads text
            inputs = teacher_inputs(self.windows, cfg.context_words)
            cache = open_teacher_cache(teacher_folder(cfg, inputs), inputs, cfg.teacher_id(),
                                       cfg.top_k)
            self.teachers = [cache[w.id] for w in self.windows]
        if cfg.rep and cfg.rep_target == "sentence":
            self.sentences = sentence_embeddings(cfg.sentence_encoder,
                                                 [w.text for w in self.windows])
        self.targets = [whisper_target(model.tokenizer, w) for w in self.windows]
        from susurrus.train.recipe import augment_settings

        self.augment = augment_settings(run.recipe.data.augment)[0]  # validated with the recipe
        self.seed = run.recipe.train.seed
        if self.augment.variants:
            run.log(f"augmentation: {self.augment.variants} variants per training window, "
                    "made as they are read (speed and tempo rescale the timestamp targets)")
        seconds = sum(w.duration for w in self.windows)
        run.log(f"train: {len(self.windows)} windows, {seconds / 3600:.2f} h; valid: "
                f"{len(self.valid)} windows; teacher: "
                f"{cfg.teacher_id() if cfg.uses_teacher else 'none'}; representation target: "
                f"{cfg.rep_target if cfg.rep else 'none'}")
        return [Example(w.id, w.duration) for w in self.windows]

    def start(self, model: DistillStudent, run: Run) -> dict[str, Any] | None:
        """`train.init`: start from another student checkpoint's trained weights."""
        if run.recipe.train.init:
            from susurrus.errors import BadCheckpointError
            from susurrus.models.whisper_student import find_student

            folder = find_student(run.recipe.train.init)
            if folder is None:
                raise BadCheckpointError(f"train.init: {run.recipe.train.init} holds no Whisper "
                                      "student checkpoint")
            self.load(model, folder)
            run.log(f"initialised the trained parts from {folder}")
        return None

    def set_epoch(self, epoch: int) -> None:
        """The epoch of the batches `loss` is given next (picks the augmented variants)."""
        self.epoch = epoch

    def example(self, i: int, n_mels: int, tokenizer: Any) -> tuple[torch.Tensor, WhisperTarget]:
        """Window `i`'s features and target this epoch: the clean window, or augmented variant
        k of `pick_variant`, drawn from (data.augment.seed, window id, k) as the speech LLM's
        are. Speed and tempo move the speech in time, so the timestamps are scaled with it; a
        variant that would outgrow Whisper's 30 s stays clean (its words are kept)."""
        from susurrus.train.data import pick_variant

        window = self.windows[i]
        variants = self.augment.variants if self.augment is not None else 0
        k = pick_variant(self.seed, self.epoch, i, variants)
        if k == 0 or self._augmented.get((i, k), False) is None:
            return window_features(window, n_mels), self.targets[i]
        from susurrus.data.augment import apply_chain, draw_chain, time_scale

        chain = draw_chain(self.augment.config, self.augment.seed, window.id, k)
        scaled = scale_window(window, time_scale(chain))
        if scaled.duration > WINDOW_SECONDS:
            self._augmented[(i, k)] = None
            return window_features(window, n_mels), self.targets[i]
        if (i, k) not in self._augmented:
            self._augmented[(i, k)] = whisper_target(tokenizer, scaled)
        audio = apply_chain(window_audio(window), chain)
        n = round(scaled.duration * 16000)  # the reverb tail past the window is cut off
        audio = audio[:n] if len(audio) >= n else np.pad(audio, (0, n - len(audio)))
        return audio_features(audio, n_mels), self._augmented[(i, k)]

    def loss(self, model: nn.Module, batch: list[int], device: torch.device) -> torch.Tensor:
        n_mels, tokenizer = self._n_mels(model), getattr(model, "module", model).tokenizer
        examples = [self.example(i, n_mels, tokenizer) for i in batch]
        features = torch.stack([f for f, _ in examples])
        teachers = None if self.teachers is None else [self.teachers[i] for i in batch]
        db = collate([t for _, t in examples], teachers,
                     [self.windows[i].text for i in batch], self._pad_id(model))
        if self.sentences is not None:  # the representation target is the sentence embedding
            db.context = self.sentences[batch]
        total, _ = model(features.to(device), db.to(device))
        return total

    @staticmethod
    def _n_mels(model: nn.Module) -> int:
        return getattr(model, "module", model).whisper.config.num_mel_bins

    @staticmethod
    def _pad_id(model: nn.Module) -> int:
        return getattr(model, "module", model).tokenizer.pad_token_id

    @torch.no_grad()
    def validate(self, model: DistillStudent, run: Run) -> float | None:
        """Corpus WER of greedy long-form decoding of each validation window (prompted with the
        reading's text before it, audio cut where its last finished segment ends)."""
        from susurrus.audio.io import load_audio
        from susurrus.infer.whisper_decoding import WindowDecoder
        from susurrus.infer.whisper_longform import LongFormOptions, transcribe_batch
        from susurrus.metrics.scores import ErrorCounts, word_errors

        if not self.valid:
            return None
        was = model.training
        model.eval()
        decoder = WindowDecoder(model.whisper, model.tokenizer)
        options = LongFormOptions(temperatures=(0.0,))
        counts = ErrorCounts()
        for w in self.valid:
            end = max(s.end for s in w.segments if s.end is not None)
            audio = load_audio(w.audio, w.start, end)
            segments = transcribe_batch(decoder, [audio], w.prompt or None, options)[0]
            counts += word_errors(w.text, " ".join(s.text.strip() for s in segments))
        model.train(was)
        return counts.rate

    def save(self, model: DistillStudent, folder: Path, recipe: dict[str, Any]) -> None:
        save_student(model.whisper, model.tokenizer, model.distill.state_dict(), folder, recipe)

    def load(self, model: DistillStudent, folder: Path) -> None:
        load_student(model.whisper, model.distill, folder)


def _target_width(config: WhisperDistillConfig) -> int:
    """The representation target's width (the teacher's or the sentence encoder's hidden
    size), from the model's config alone."""
    from transformers import AutoConfig

    from susurrus.pretrained import resolve

    if config.rep_target == "sentence":
        return AutoConfig.from_pretrained(resolve(config.sentence_encoder,
                                                  "sentence-encoder")).hidden_size
    return AutoConfig.from_pretrained(resolve(config.teacher, "llm")).hidden_size


@torch.no_grad()
def sentence_embeddings(name: str, texts: list[str], batch: int = 32) -> torch.Tensor:
    """(N, E) L2-normalised mean-pooled last states of sentence encoder `name` for `texts` (how
    all-MiniLM-L6-v2 is meant to be used)."""
    from susurrus.pretrained import load_sentence_encoder

    model, tokenizer = load_sentence_encoder(name)
    out = []
    for i in range(0, len(texts), batch):
        enc = tokenizer(texts[i : i + batch], padding=True, truncation=True, return_tensors="pt")
        states = model(**enc).last_hidden_state  # (b, n, E)
        out.append(F.normalize(masked_mean(states, enc["attention_mask"].bool()), dim=-1))
    return torch.cat(out)
