"""The multi-talker CTC task (paper 003, issue 18): Whisper encoder -> separator -> serialized
CTC heads + talker-count head, trained on mixture manifests.

What the generic loop leaves to it:
- the data: every manifest line is one example: a mixture (`talkers`, 1..max_talkers of them)
  or a plain utterance (one talker at 0 s); each talker becomes a character target, branches in
  serialized order (`losses.serialized_ctc`). Or, with `data.mixing`, mixtures drawn on the fly
  from single-talker sources (`data.dynamic_mixing`: mixture i is a pure function of the seed
  and i; its log-mel is computed on the training device each step). With a frozen encoder
  (`model.train_layers` 0) and a manifest, its output is computed once (`FeatureCache`, on
  disk; two thirds of a step's time otherwise) and kept in RAM as float16; with encoder layers
  training, the log-mel is kept instead. With no manifest given, `susurrus synth mixtures`
  makes 1-, 2- and 3-talker mixtures (30% of the multi-talker ones fully overlapped) into
  `data.synth_dir`;
- the loss: serialized CTC (or PIT, `model.pit`) + the all-blank target of the idle branches +
  the count head's cross-entropy, plus a distillation term when `model.distill` names one in
  `DISTILL_TERMS` (`sot_states`: the LLM-SOT teacher's cached per-talker states,
  `train/sot_teacher.py`);
- validation: the count head picks how many branches are decoded; cpWER over the valid set
  (the talker-count accuracy and the mean of each loss part since the last validation, the
  distillation term too, go to the log);
- checkpoints: the trained parts plus the recipe (`models/multitalker/checkpoint.py`).

Shapes: B batch, M mel bins, T mel frames (100/s), S branches.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from susurrus.data.manifest import Utterance
from susurrus.losses.serialized_ctc import (
    DistillTerm,
    LossWeights,
    MultiTalkerLoss,
    TalkerRef,
    onset_order,
    serialized_targets,
)
from susurrus.metrics.scores import (
    CountAccuracy,
    CpErrorCounts,
    cp_word_errors,
    talker_count_accuracy,
)
from susurrus.models.multitalker.config import MultiTalkerConfig
from susurrus.models.multitalker.model import MultiTalkerCTC
from susurrus.train.data import pad_features
from susurrus.train.mixtures import load_mixtures, talkers_of
from susurrus.train.task import Example, Run


def _sot_states(config: MultiTalkerConfig, run: Run) -> DistillTerm:
    from susurrus.train.sot_teacher import sot_states_term

    return sot_states_term(config, run)


# name -> builder(config, run) of a distillation term from cached teacher states
DISTILL_TERMS: dict[str, Callable[[MultiTalkerConfig, Run], DistillTerm]] = {
    # the LLM-SOT teacher's per-talker states, by relational distillation (train/sot_teacher.py)
    "sot_states": _sot_states,
}


class MultiTalkerCTCTask:
    """Train a MultiTalkerCTC's separator, heads (and top encoder layers) on mixtures."""

    config = MultiTalkerConfig
    trains = "multi-talker CTC model"
    mixes = True  # reads `data.mixing` (dynamic mixing)

    def __init__(self) -> None:
        # per training example, float16: (T', D) encoder states if `encoded`, else (M, T) log-mel
        self.inputs: list[torch.Tensor] = []
        self.encoded = False  # the encoder is frozen: its outputs are cached
        self.targets: list[list[list[int]]] = []  # per example, its talkers' serialized targets
        self.ids: list[str] = []
        self.valid: list[tuple[torch.Tensor, list[str]]] = []  # input, references by onset
        self.loss_fn: MultiTalkerLoss | None = None
        self.parts: dict[str, list[float]] = {}  # the loss's parts since the last validation
        self.mixer = None  # a DynamicMixer when the recipe has `data.mixing`
        # the model `prepare` got: its vocabulary and mel size make the mixtures' inputs (the
        # loop hands `loss` the same model, maybe wrapped for several processes)
        self.model: MultiTalkerCTC | None = None

    @staticmethod
    def check(config: MultiTalkerConfig) -> list[tuple[str, str]]:
        """The separator's name and options, and the distillation term's name."""
        from susurrus.models.multitalker.separator import SEPARATORS

        problems = []
        builder = SEPARATORS.get(config.separator)
        if builder is None:
            problems.append(("separator", f"unknown separator {config.separator!r}; valid: "
                                          f"{', '.join(SEPARATORS)}"))
        else:
            try:
                builder.config(**dict(config.separator_options))
            except (TypeError, ValueError) as e:
                problems.append(("separator_options", f"{e} (valid options of "
                                 f"{config.separator!r}: {', '.join(builder.options)})"))
        if config.distill and config.distill not in DISTILL_TERMS:
            problems.append(("distill", f"unknown distillation term {config.distill!r}; "
                                        f"valid: {', '.join(DISTILL_TERMS)}"))
        if config.distill and config.distill_weight > 0 and not config.teacher:
            problems.append(("teacher", f"distillation term {config.distill!r} reads a "
                                        "teacher's cached states: name the teacher (an SOT "
                                        "speech-LLM run, recipes/speech_llm/sot.yaml)"))
        return problems

    @staticmethod
    def idle_parameters(config: MultiTalkerConfig) -> bool:
        """Branches beyond a batch's talkers learn silence; with `idle_weight` 0 a batch of
        one-talker mixtures leaves the other branches without a gradient."""
        return config.idle_weight == 0

    def build(self, config: MultiTalkerConfig, run: Run) -> MultiTalkerCTC:
        from susurrus.models.multitalker.checkpoint import build_multitalker

        distill = (DISTILL_TERMS[config.distill](config, run)
                   if config.distill and config.distill_weight > 0 else None)
        self.loss_fn = MultiTalkerLoss(
            LossWeights(ctc=config.ctc_weight, count=config.count_weight,
                        idle=config.idle_weight, distill=config.distill_weight),
            pit=config.pit, distill=distill)
        return build_multitalker(config)

    def prepare(self, model: MultiTalkerCTC, run: Run) -> list[Example]:
        data = run.recipe.data
        if data.mixing:
            return self._prepare_mixing(model, run)
        with run.main_process_first():  # the first process synthesizes a missing corpus
            train = load_mixtures(data, "train", run.log)
            valid = load_mixtures(data, "valid", run.log)[: data.valid_limit]
        self.encoded = run.recipe.model.train_layers == 0
        self.targets = [self._targets(u, model) for u in train]  # bad lines before any work
        self.ids = [u.id for u in train]
        self.inputs = self._inputs(train, model, run)
        self.valid = [(x, [talkers_of(u)[i].text for i in onset_order(talkers_of(u))])
                      for u, x in zip(valid, self._inputs(valid, model, run), strict=True)]
        per_second = model.frames_per_second if self.encoded else 100.0
        examples = [Example(u.id, x.shape[0 if self.encoded else 1] / per_second)
                    for u, x in zip(train, self.inputs, strict=True)]
        counts = sorted({len(t) for t in self.targets})
        trained = sum(p.numel() for p in model.parameters() if p.requires_grad)
        run.log(f"train: {len(train)} mixtures ({sum(e.seconds for e in examples) / 3600:.2f} h;"
                f" talker counts {counts}); valid: {len(valid)}; encoder "
                f"{'frozen (states cached)' if self.encoded else 'training'}; trained "
                f"parameters: {trained:,}")
        return examples

    def _prepare_mixing(self, model: MultiTalkerCTC, run: Run) -> list[Example]:
        """Examples are dynamic mixtures; the valid set is rendered once (from
        `data.mixing.valid_sources`, else the `data.valid` manifest)."""
        from susurrus.data.dynamic_mixing import (
            SAMPLE_RATE,
            DynamicMixer,
            load_sources,
            mixing_config,
        )
        from susurrus.data.lhotse_io import load_utterances
        from susurrus.errors import BadRecipeError

        data = run.recipe.data
        config, _ = mixing_config(data.mixing)  # checked with the recipe
        if self.loss_fn is not None and self.loss_fn.distill is not None:
            raise BadRecipeError("data.mixing: distillation reads teacher states cached per "
                                 "rendered mixture; dynamic mixtures have none (set "
                                 "model.distill_weight=0 or train on a mixture manifest)")
        self.encoded = False  # each step's mixtures are new: no encoder cache
        self.model = model

        def sources(paths: list[str]) -> list:
            utts = [u for p in paths for u in load_utterances(p)]
            return load_sources(utts, config.max_source_seconds, progress=run.progress)

        self.mixer = DynamicMixer(config, sources(list(config.sources)), data.max_duration)
        if config.valid_sources:
            mixer = DynamicMixer(config, sources([config.valid_sources]), data.max_duration,
                                 count=min(data.valid_limit, config.mixtures), namespace="valid")
            self.valid = []
            for audio, talkers in mixer.render_many(range(len(mixer))):
                refs = [TalkerRef(*t) for t in talkers]
                self.valid.append((self._mel_of(audio, model).to(torch.float16),
                                   [refs[i].text for i in onset_order(refs)]))
        else:
            with run.main_process_first():
                valid = load_mixtures(data, "valid", run.log)[: data.valid_limit]
            self.valid = [(x, [talkers_of(u)[i].text for i in onset_order(talkers_of(u))])
                          for u, x in zip(valid, self._inputs(valid, model, run), strict=True)]
        examples = [Example(f"mix{i:06d}", self.mixer.seconds(i)) for i in range(len(self.mixer))]
        trained = sum(p.numel() for p in model.parameters() if p.requires_grad)
        run.log(f"train: dynamic mixing of {len(self.mixer.sources)} source utterances "
                f"({sum(len(x.audio) for x in self.mixer.sources) / SAMPLE_RATE / 3600:.2f} h, "
                f"{len({x.voice for x in self.mixer.sources})} voices) into {len(examples)} "
                f"mixtures ({sum(e.seconds for e in examples) / 3600:.1f} h; talker counts "
                f"{sorted(config.talkers)}); valid: {len(self.valid)}; trained parameters: "
                f"{trained:,}")
        return examples

    @staticmethod
    def _mel_of(audio, model: MultiTalkerCTC) -> torch.Tensor:
        from susurrus.audio.features import log_mel_spectrogram

        return log_mel_spectrogram(audio, n_mels=model.encoder.n_mels)

    def _mixed_batch(self, model: MultiTalkerCTC, batch: list[int], device: torch.device
                     ) -> tuple[torch.Tensor, torch.Tensor, list[list[list[int]]]]:
        """The batch's dynamic mixtures -> padded log-mel (made on `device`), lengths, targets."""
        rendered = self.mixer.render_many(batch)
        mels = [self._mel_of(torch.from_numpy(audio).to(device), model)
                for audio, _ in rendered]
        targets = [serialized_targets([TalkerRef(*t) for t in talkers], model.max_talkers,
                                      model.vocab.encode)[:len(talkers)]
                   for _, talkers in rendered]
        x, lengths = pad_inputs(mels, encoded=False)
        return x, lengths, targets

    def _inputs(self, utts: list[Utterance], model: MultiTalkerCTC, run: Run
                ) -> list[torch.Tensor]:
        """float16 (T', D) encoder states (frozen encoder, from the disk cache) or (M, T)
        log-mel of each line."""
        if not self.encoded:
            return [self._mel(u, model).to(torch.float16) for u in utts]
        from susurrus.pretrained.cache import cache_root
        from susurrus.train.data import FeatureCache

        cache = FeatureCache(run.cache_root or cache_root() / "features",
                             run.recipe.model.encoder, model.encoder)
        with run.main_process_first():  # the first computes the states, the others read them
            cache.prepare(utts, progress=run.progress)
        return [cache.get(u).to(torch.float16) for u in utts]

    @staticmethod
    def _mel(utt: Utterance, model: MultiTalkerCTC) -> torch.Tensor:
        """(M, T) log-mel of a line's audio; over the encoder's 30 s is a BadManifestError."""
        from susurrus.audio.io import load_audio
        from susurrus.errors import BadManifestError

        mel = MultiTalkerCTCTask._mel_of(load_audio(utt.audio, utt.start, utt.duration), model)
        if mel.shape[1] > model.encoder.max_frames:
            raise BadManifestError(f"{utt.id}: {mel.shape[1] / 100:.1f} s is longer than the "
                                   "encoder's 30 s; cut the mixture or lower data.max_duration")
        return mel

    @staticmethod
    def _targets(utt: Utterance, model: MultiTalkerCTC) -> list[list[int]]:
        from susurrus.errors import BadManifestError

        talkers = talkers_of(utt)
        if len(talkers) > model.max_talkers:
            raise BadManifestError(f"{utt.id}: {len(talkers)} talkers, the model has "
                                   f"model.max_talkers={model.max_talkers} branches; raise it "
                                   "or leave such mixtures out")
        return serialized_targets(talkers, model.max_talkers, model.vocab.encode)[:len(talkers)]

    def start(self, model: MultiTalkerCTC, run: Run) -> dict[str, Any] | None:
        """`train.init`: start from another checkpoint's trained weights (same recipe shape)."""
        if run.recipe.train.init:
            from susurrus.models.multitalker.checkpoint import find_checkpoint, load_trained
            from susurrus.train.recipe import init_source

            folder = find_checkpoint(init_source(run.recipe.train.init))
            load_trained(model, folder)
            run.log(f"initialised the trained parts from {folder}")
        return None

    def set_epoch(self, epoch: int) -> None:
        """Its examples are the same every epoch."""

    def loss(self, model: torch.nn.Module, batch: list[int], device: torch.device
             ) -> torch.Tensor:
        if self.mixer is not None:
            x, lengths, targets = self._mixed_batch(self.model, batch, device)
            ids = [f"mix{i:06d}" for i in batch]
        else:
            x, lengths = pad_inputs([self.inputs[i] for i in batch], self.encoded)
            targets, ids = [self.targets[i] for i in batch], [self.ids[i] for i in batch]
        out = model(x.to(device, torch.float32), lengths.to(device), self.encoded)
        total, parts = self.loss_fn(out.log_probs, out.lengths, out.count_logits, targets,
                                    out.branches, ids)
        for name, value in parts.items():
            self.parts.setdefault(name, []).append(value)
        return total

    @torch.no_grad()
    def validate(self, model: MultiTalkerCTC, run: Run) -> float | None:
        """cpWER of the valid set (the count head routing); the count accuracy is logged."""
        if not self.valid:
            return None
        if self.parts:  # e.g. whether the distillation term falls
            run.log("train loss parts (mean since the last validation): " + ", ".join(
                f"{k} {sum(v) / len(v):.4f}" for k, v in self.parts.items()))
            self.parts = {}
        cp, acc = score(model, self.valid, self.encoded)
        run.log(f"valid: cpWER {cp.rate:.3f}, talker-count accuracy {acc.accuracy:.3f} "
                f"({acc.correct}/{acc.total})")
        return cp.rate

    def save(self, model: MultiTalkerCTC, folder: Path, recipe: dict[str, Any]) -> None:
        from susurrus.models.multitalker.checkpoint import save_checkpoint

        save_checkpoint(model, folder, recipe)

    def load(self, model: MultiTalkerCTC, folder: Path) -> None:
        from susurrus.models.multitalker.checkpoint import load_trained

        load_trained(model, folder)


def pad_inputs(inputs: list[torch.Tensor], encoded: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """[(T'_b, D)] encoder states -> (B, T', D), or [(M, T_b)] log-mel -> (B, M, T);
    zero-padded, with lengths (B,)."""
    if encoded:
        return pad_features(inputs)
    lengths = torch.tensor([m.shape[1] for m in inputs])
    out = inputs[0].new_zeros(len(inputs), inputs[0].shape[0], int(lengths.max()))
    for b, m in enumerate(inputs):
        out[b, :, : m.shape[1]] = m
    return out, lengths


@torch.no_grad()
def score(model: MultiTalkerCTC, items: list[tuple[torch.Tensor, list[str]]],
          encoded: bool = False, batch_size: int = 8) -> tuple[CpErrorCounts, CountAccuracy]:
    """(cpWER counts, talker-count accuracy) of (input, references) items, the count head
    routing; inputs as `pad_inputs` takes them."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    cp, acc = [], []
    for i in range(0, len(items), batch_size):
        chunk = items[i:i + batch_size]
        x, lengths = pad_inputs([m for m, _ in chunk], encoded)
        decoded = model.decode(model(x.to(device, torch.float32), lengths.to(device), encoded))
        for (_, refs), branches in zip(chunk, decoded, strict=True):
            cp.append(cp_word_errors(refs, [b.text for b in branches]))
            acc.append(talker_count_accuracy(len(refs), len(branches)))
    model.train(was_training)
    return sum(cp[1:], cp[0]), sum(acc[1:], acc[0])
