"""The speech-LLM task (papers 001, 000): frozen encoder -> compressor -> projector -> LLM + LoRA.

What the generic loop leaves to it:
- the data: the frozen encoder runs once per utterance (`FeatureCache`, kept in RAM as float16)
  and each transcript becomes the LLM tokenizer's ids;
- augmentation (`data.augment.variants` = K > 0): K augmented variants of each training
  utterance are encoded and cached too; each epoch, each example trains on one of its K + 1
  variants (0 = clean), drawn from (train.seed, epoch, example) so exact resume holds. Prior
  turns (context), the alignment warm-up and validation read the clean features;
- multi-turn samples (paper 000): each turn reads its session's earlier turns as context, with
  their reference transcripts; a turn's cost to its batch counts those positions of the LLM
  sequence too (`batch_cost`), so a batch of short turns with long prior turns is as big as one
  without context (batches bucketed by the current turn alone padded every row to its longest
  context, e.g. a short news segment after four long ones, and ran out of memory);
- its first phase on a fresh run: `train.init` (start from another checkpoint's trained parts,
  e.g. a single-turn model starting a multi-turn run), else the CTC alignment warm-up of the
  compressor and projector onto the LLM's embeddings (`train.align_steps`, `train/align.py`);
- time masks (`data.time_mask_share` > 0): a share of the training examples, drawn each epoch
  like the variant, read their features with random spans zeroed (`train.data.time_mask`), so
  the audio cannot carry every word: with a first pass the model must lean on it there;
- a first pass (`model.first_pass`, issue 16 lever 4): each utterance's Whisper transcript,
  decoded once (`data.hypotheses.HypothesisCache`), is read after its audio tokens: of its
  clean audio whichever variant it trains on, or with `model.first_pass_augmented` of the
  variant's own audio;
- context-copy training (`data.respell_share`, `data.repeat_weight`, `train/respelling.py`):
  each epoch a share of a session's names is respelled in all its turns, so a repeated name can
  only be spelled from the context; copyable mentions weigh `repeat_weight` in the loss;
- serialized output training (`model.sot`, paper 003's LLM-SOT teacher): the lines are
  mixtures (or plain utterances, one talker) and each target is every talker's transcript in
  onset order joined by a speaker-change token (`train/sot.py`);
- validation: greedy transcripts of cached features, scored by corpus WER (with `model.sot`:
  split into talker streams and scored by cpWER);
- checkpoints: only the trained parts plus the recipe (`models/speech_llm/checkpoint.py`).

Shapes: B batch, T' encoder frames, D encoder width.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from susurrus.models.speech_llm.config import ModelConfig
from susurrus.models.speech_llm.model import SpeechLLM
from susurrus.train.data import (
    FeatureCache,
    load_split,
    pad_features,
    pick_variant,
    prior_turns,
    time_mask,
)
from susurrus.train.task import Example, Run


def batch_cost(seconds: list[float], priors: list[list[int]], target_tokens: list[int],
               tokens_per_second: float, context: str, abstract_tokens: int) -> list[float]:
    """Each example's cost to a batch, in seconds of audio: its own seconds plus the LLM
    positions its prior turns fill (their transcripts, and their context audio: K latent tokens
    each for `abstract`, all their audio tokens for `raw`), at `tokens_per_second` audio tokens
    a second. With no context (or no prior turn) the cost is the example's seconds."""
    def positions(j: int) -> float:
        audio = {"abstract": abstract_tokens, "raw": seconds[j] * tokens_per_second}
        return target_tokens[j] + audio.get(context, 0)

    if context == "none":
        return list(seconds)
    return [s + sum(positions(j) for j in p) / tokens_per_second
            for s, p in zip(seconds, priors, strict=True)]


class SpeechLLMTask:
    """Train a speech LLM's compressor, projector (and context parts) and LoRA adapters."""

    config = ModelConfig
    trains = "speech LLM"
    augments = True  # reads `data.augment` (augmented variants of each utterance)
    time_masks = True  # reads `data.time_mask_*` (time masks on the cached features)

    def __init__(self) -> None:
        self.feats: list[torch.Tensor] = []  # (T', D) float16 encoder output per utterance
        self.augmented: list[list[torch.Tensor]] = []  # per utterance, variants 1..K likewise
        self.epoch = 0  # of the batch `loss` is given (set by the loop through `set_epoch`)
        self.seed = 0  # train.seed: with the epoch, picks each example's variant
        self.targets: list[list[int]] = []  # LLM token ids of each reference
        self.priors: list[list[int]] = []  # indices of each utterance's prior turns
        self.valid: list = []  # validation utterances
        self.context = "none"  # how prior turns are read (model.context)
        self.cache: FeatureCache | None = None
        self.hypotheses: list[list[list[int]]] | None = None  # first-pass ids per utt, variant
        self.valid_hypotheses: list[str] | None = None
        self.sot = False  # model.sot: mixtures, targets serialized by onset
        self.masks = (0.0, 0.0, 0)  # data.time_mask_*: share, fraction, longest span (frames)
        self.respelling = None  # ContextRespelling when data.respell_share / repeat_weight ask

    @staticmethod
    def check(config: ModelConfig) -> list[tuple[str, str]]:
        """The compressor's name and options (LoRA targets need the LLM: checked when built)."""
        from susurrus.compression import COMPRESSORS

        builder = COMPRESSORS.get(config.compressor)
        if builder is None:
            return [("compressor", f"unknown compressor {config.compressor!r}; valid: "
                                   f"{', '.join(COMPRESSORS)}")]
        options = dict(config.compressor_options)
        unknown = sorted(set(options) - set(builder.options))
        if unknown:
            return [("compressor_options", f"compressor {config.compressor!r} has no option(s) "
                                           f"{', '.join(unknown)}; valid: "
                                           f"{', '.join(builder.options)}")]
        try:
            builder.config(**options)
        except (ValueError, TypeError) as e:  # "StackConfig.k must be ..." -> compressor_options.k
            owner = f"{builder.config.__name__}."
            name, _, message = str(e).removeprefix(owner).partition(" ")
            if str(e).startswith(owner) and name in options:
                return [(f"compressor_options.{name}", message)]
            return [("compressor_options", f"{e} (compressor {config.compressor!r})")]
        return []

    @staticmethod
    def idle_parameters(config: ModelConfig) -> bool:
        """The abstract context's parts idle on a batch whose turns have no prior turns."""
        return config.context == "abstract"

    def build(self, config: ModelConfig, run: Run) -> SpeechLLM:
        from susurrus.models.speech_llm.build import build_speech_llm

        return build_speech_llm(config)

    def prepare(self, model: SpeechLLM, run: Run) -> list[Example]:
        from susurrus.pretrained.cache import cache_root
        from susurrus.train.recipe import augment_settings

        recipe = run.recipe
        self.sot = recipe.model.sot
        with run.main_process_first():  # the first process synthesizes a missing corpus
            train_utts = self._load(recipe.data, "train", run)
            self.valid = self._load(recipe.data, "valid", run)[: recipe.data.valid_limit]
        aug = augment_settings(recipe.data.augment)[0]  # validated with the recipe
        self.cache = FeatureCache(run.cache_root or cache_root() / "features",
                                  recipe.model.encoder, model.encoder, aug.config, aug.seed)
        with run.main_process_first():  # the first computes the features, the others read them
            self.cache.prepare(train_utts, progress=run.progress, variants=aug.variants)
            self.cache.prepare(self.valid, progress=run.progress)
        self.feats = [self.cache.get(u).to(torch.float16) for u in train_utts]
        self.augmented = [[self.cache.get(u, k).to(torch.float16)
                           for k in range(1, aug.variants + 1)] for u in train_utts]
        self.seed = recipe.train.seed
        data = recipe.data
        self.masks = (data.time_mask_share, data.time_mask_fraction,
                      max(1, round(data.time_mask_seconds * model.frames_per_second)))
        if data.time_mask_share:
            run.log(f"time masks: {data.time_mask_share:.0%} of the examples, "
                    f"{data.time_mask_fraction:.0%} of their frames, spans <= "
                    f"{data.time_mask_seconds} s")
        if aug.variants:
            run.log(f"augmentation: {aug.variants} variants per training utterance "
                    f"(features in {self.cache.augment_folder})")
        self.targets = [self.target_ids(model, u) for u in train_utts]
        if recipe.model.first_pass:
            from susurrus.data.hypotheses import HypothesisCache
            from susurrus.infer.first_pass import first_pass_recognizer

            name, engine = recipe.model.first_pass, recipe.model.first_pass_engine
            own = recipe.model.first_pass_augmented and aug.variants > 0
            first = HypothesisCache((run.cache_root or cache_root()) / "first-pass", name,
                                    engine, first_pass_recognizer(name, engine),
                                    aug.config if own else None, aug.seed,
                                    self.cache.max_seconds)
            with run.main_process_first():  # the first process decodes, the others read
                first.prepare(train_utts, progress=run.progress,
                              variants=aug.variants if own else 0)
                first.prepare(self.valid, progress=run.progress)
            # per utterance, per variant (0 = clean): each variant's own or the clean one's
            self.hypotheses = [
                [model.hypothesis_ids(first.get(u, k)) for k in range(aug.variants + 1)] if own
                else [model.hypothesis_ids(first.get(u))] * (aug.variants + 1)
                for u in train_utts]
            self.valid_hypotheses = [first.get(u) for u in self.valid]
            run.log(f"first pass: {recipe.model.first_pass} ({recipe.model.first_pass_engine}) "
                    f"transcripts in {first.path}")
        self.context = context = recipe.model.context
        self.priors = (prior_turns(train_utts, recipe.model.context_turns) if context != "none"
                       else [[] for _ in train_utts])
        if data.respell_share > 0 or data.repeat_weight != 1:
            from susurrus.train.respelling import ContextRespelling

            self.respelling = ContextRespelling(
                [u.text for u in train_utts], [u.entities for u in train_utts],
                [u.session for u in train_utts], self.priors, model.tokenizer,
                data.respell_share, data.repeat_weight, recipe.train.seed)
            run.log(f"context-copy training: {data.respell_share:.0%} of each session's names "
                    f"respelled per epoch; copyable mentions weigh {data.repeat_weight:g}")
        seconds = [f.shape[0] / model.frames_per_second for f in self.feats]
        trained = sum(t.numel() for t in model.trainable_state_dict().values())
        run.log(f"train: {len(train_utts)} utterances, {sum(seconds) / 3600:.2f} h; "
                f"valid: {len(self.valid)}; audio tokens/s: {model.tokens_per_second():.1f}; "
                f"context: {context}" +
                (f" (mean {np.mean([len(p) for p in self.priors]):.1f} prior turns)"
                 if context != "none" else "") + f"; trained parameters: {trained:,}")
        cost = batch_cost(seconds, self.priors, [len(t) for t in self.targets],
                          model.tokens_per_second(), context, recipe.model.abstract_tokens)
        if context != "none":
            run.log(f"batches count the context as audio: {sum(cost) / sum(seconds):.2f} s of "
                    "batch per s of current-turn audio")
        return [Example(u.id, c) for u, c in zip(train_utts, cost, strict=True)]

    def _load(self, data, split: str, run: Run) -> list:
        """The split's single-talker utterances, or with `model.sot` its mixtures too."""
        if not self.sot:
            return load_split(data, split, run.log)
        from susurrus.train.mixtures import load_mixtures

        return load_mixtures(data, split, run.log)

    def target_ids(self, model: SpeechLLM, utt) -> list[int]:
        """A line's target token ids: its transcript, or with `model.sot` its SOT target."""
        if self.sot:
            from susurrus.train.mixtures import talkers_of
            from susurrus.train.sot import sot_target

            return sot_target(talkers_of(utt), model.tokenizer).ids
        return model.tokenizer(utt.text.strip(), add_special_tokens=False)["input_ids"]

    def start(self, model: SpeechLLM, run: Run) -> dict[str, Any] | None:
        """`train.init`'s weights, or else the CTC alignment warm-up (`train.align_steps`)."""
        cfg = run.recipe.train
        if cfg.init:
            from susurrus.models.speech_llm.checkpoint import (
                CheckpointError,
                find_checkpoint,
                load_trained,
            )
            from susurrus.train.recipe import init_source

            folder = find_checkpoint(init_source(cfg.init))
            if folder is None:
                raise CheckpointError(f"train.init: {cfg.init} holds no speech-LLM checkpoint")
            load_trained(model, folder, may_lack=("context_compressor.", "context_projector."))
            run.log(f"initialised the trained parts from {folder}")
            return None
        if not cfg.align_steps:
            return None
        from susurrus.train.align import align

        # Every process runs the same deterministic warm-up (DDP then starts from rank 0's).
        aligned = align(model.to(run.device), self.feats, self.targets,
                        [f.shape[0] / model.frames_per_second for f in self.feats],
                        cfg.align_steps, cfg.align_lr, run.recipe.data.batch_seconds, cfg.seed,
                        run.device, progress=run.progress, log=run.log)
        return {"align_steps": aligned.steps, "align_loss": round(aligned.final_loss, 5),
                "align_token_error_rate": round(aligned.token_error_rate, 5),
                "align_seconds": round(aligned.seconds, 1)}

    def set_epoch(self, epoch: int) -> None:
        """The epoch of the batches `loss` is given next (picks the augmented variants)."""
        self.epoch = epoch

    def variant(self, i: int) -> int:
        """The variant example `i` trains on this epoch (0 = clean)."""
        return pick_variant(self.seed, self.epoch, i, len(self.augmented[i]) if self.augmented
                            else 0)

    def features(self, i: int) -> torch.Tensor:
        """(T', D) features example `i` trains on this epoch: clean or one augmented variant,
        time-masked when its draw says so."""
        k = self.variant(i)
        return time_mask(self.feats[i] if k == 0 else self.augmented[i][k - 1], self.seed,
                         self.epoch, i, *self.masks)

    def loss(self, model: torch.nn.Module, batch: list[int], device: torch.device
             ) -> torch.Tensor:
        x, lengths = pad_features([self.features(i) for i in batch])  # (B, T', D), (B,)
        targets = [self.targets[i] for i in batch]
        priors = [[self.targets[j] for j in self.priors[i]] for i in batch]
        weights = None
        if self.respelling is not None:  # this epoch's respelled targets and their weights
            rows = [self.respelling.row(i, self.epoch, self.targets.__getitem__) for i in batch]
            targets, priors = [r.ids for r in rows], [r.prior_ids for r in rows]
            weights = [r.weights for r in rows]
        ctx = None
        if self.context != "none":  # each row's prior turns: (frames, reference ids)
            ctx = [[(self.feats[j].to(device, torch.float32), ids)
                    for j, ids in zip(self.priors[i], p, strict=True)]
                   for i, p in zip(batch, priors, strict=True)]
        hyps = (None if self.hypotheses is None
                else [self.hypotheses[i][self.variant(i)] for i in batch])
        return model(x.to(device, torch.float32), lengths.to(device), targets, ctx,
                     hypotheses=hyps, weights=weights)

    def validate(self, model: SpeechLLM, run: Run) -> float | None:
        from susurrus.train.validate import validation_wer

        if not self.valid:
            return None
        if self.sot:
            from susurrus.train.validate import validation_cpwer

            cp = validation_cpwer(model, self.cache, self.valid, self.valid_hypotheses)
            run.log(f"valid: cpWER {cp.rate:.3f} over {len(self.valid)} mixtures")
            return cp.rate
        return validation_wer(model, self.cache, self.valid, run.recipe.model.context_turns,
                              self.valid_hypotheses)

    def save(self, model: SpeechLLM, folder: Path, recipe: dict[str, Any]) -> None:
        from susurrus.models.speech_llm.checkpoint import save_checkpoint

        save_checkpoint(model, folder, recipe)

    def load(self, model: SpeechLLM, folder: Path) -> None:
        from susurrus.models.speech_llm.checkpoint import load_trained

        load_trained(model, folder)
