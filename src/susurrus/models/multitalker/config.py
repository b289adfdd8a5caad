"""The `MultiTalkerCTC` config: the recipe's `model:` section of task `multitalker_ctc`."""

from __future__ import annotations

from dataclasses import dataclass, field

from susurrus.fields import check_fields, raise_problems

# Characters, not Whisper's 51,865 BPE tokens: S output layers of D x 39 instead of D x 51,866
# (on whisper-tiny's D = 384 and 3 branches: 45 k parameters instead of 60 M, and the same
# factor in the softmax of every frame on a CPU). Characters also suit CTC at the encoder's
# 50 frames/s (speech runs at ~15 characters/s) and need no tokenizer at inference. Digits are
# in because references write numbers as digits ("12.0.2"), as the WER normalizer keeps them.
ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789 '"


@dataclass(frozen=True)
class MultiTalkerConfig:
    """Encoder -> separator (S branches) -> a CTC head per branch + a talker-count head."""

    encoder: str = "whisper-tiny.en"  # a Whisper encoder (a name in susurrus.pretrained)
    train_layers: int = 0  # top encoder layers that train (with its final norm); 0 = frozen
    separator: str = "lstm"  # lstm | mask (susurrus.models.multitalker.separator.SEPARATORS)
    separator_options: dict = field(default_factory=dict)  # that separator's config fields
    max_talkers: int = 3  # branches S: talkers one mixture may hold at most
    alphabet: str = ALPHABET  # CTC classes (+ blank); other characters of a text are dropped
    count_hidden: int = 128  # hidden width of the talker-count head's MLP
    pit: bool = False  # permutation-invariant CTC instead of serialized CTC (a comparison)
    ctc_weight: float = 1.0  # weight of the CTC loss over the talker branches
    idle_weight: float = 1.0  # weight of the all-blank target of branches beyond the talkers
    count_weight: float = 0.5  # weight of the talker-count cross-entropy
    # distillation from cached teacher states (issue 18 item 3): a name in
    # susurrus.train.tasks.multitalker_ctc.DISTILL_TERMS ("" = none) and its weight
    distill: str = ""
    distill_weight: float = 0.0
    # the teacher whose cached states the term reads: an SOT speech-LLM run or checkpoint
    # (recipes/speech_llm/sot.yaml); `susurrus distill-teacher` caches its states
    teacher: str = ""
    teacher_cache: str = ""  # folder of the cached states; "" = keyed by teacher and mixtures

    def __post_init__(self) -> None:
        problems = check_fields(
            self, {"train_layers": (0, False), "max_talkers": (1, False),
                   "count_hidden": (0, True), "ctc_weight": (0.0, False),
                   "idle_weight": (0.0, False), "count_weight": (0.0, False),
                   "distill_weight": (0.0, False)},
            ("encoder", "separator", "alphabet"))
        if len(set(self.alphabet)) != len(self.alphabet):
            problems.append(("alphabet", f"must not repeat a character, got {self.alphabet!r}"))
        if self.alphabet != self.alphabet.lower():
            problems.append(("alphabet", "must be lower case (texts are lower-cased first)"))
        raise_problems(problems)
