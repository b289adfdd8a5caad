"""What a speech LLM is made of: named pretrained parts, a compressor, a projector, LoRA.

Recipes (`susurrus.train.recipe`) nest these; checkpoints store them so a trained model is rebuilt
exactly (issue 4). Architecture is chosen by name and numbers, never written out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from susurrus.fields import check_fields, raise_problems


@dataclass(frozen=True)
class LoraConfig:
    """LoRA adapters on the LLM's attention projections (Hu et al. 2021)."""

    r: int = 8  # rank of each adapter; 0 = no LoRA (LLM fully frozen)
    alpha: int = 16  # scaling numerator: the update is scaled by alpha / r
    dropout: float = 0.05  # dropout on the adapter's input, in [0, 1)
    targets: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")  # LLM module names

    def __post_init__(self) -> None:
        problems = check_fields(
            self, {"r": (0, False), "alpha": (0, True), "dropout": (0.0, False)}
        )
        if self.dropout >= 1:
            problems.append(("dropout", f"must be < 1, got {self.dropout!r}"))
        if self.r > 0 and not self.targets:
            problems.append(("targets", "must name at least one module when r > 0"))
        if any(not isinstance(t, str) or not t for t in self.targets):
            problems.append(("targets", f"must be non-empty module names, got {self.targets!r}"))
        raise_problems(problems)


@dataclass(frozen=True)
class ModelConfig:
    """Which pretrained parts and which compressor make the speech LLM (SLAM-ASR layout)."""

    encoder: str = "whisper-tiny.en"  # frozen speech encoder, a name in susurrus.pretrained
    llm: str = "smollm2-135m-instruct"  # decoder LLM, a name in susurrus.pretrained
    compressor: str = "stack"  # a name in susurrus.compression.COMPRESSORS
    # free-form: validated later by susurrus.compression.build_compressor
    compressor_options: dict = field(default_factory=lambda: {"k": 5})
    projector_hidden: int = 1024  # hidden width of the MLP from audio tokens to the LLM width
    lora: LoraConfig = field(default_factory=LoraConfig)  # adapters on the LLM
    prompt: str = "Transcribe the audio."  # instruction placed after the audio tokens
    # Conversational context (paper 000): none | text | raw | abstract
    context: str = "none"  # how prior turns of the session are read (training and default use)
    context_turns: int | None = None  # N: prior turns read at most; None = all of the session
    abstract_tokens: int = 4  # K: latent tokens per prior turn (context "abstract")
    abstract_heads: int = 4  # attention heads of the abstract compressor (divide encoder width)
    # First pass (issue 16, lever 4): a Whisper model whose greedy transcript of each turn the
    # LLM reads after the audio tokens (generative error correction with audio); None = none
    first_pass: str | None = None
    first_pass_engine: str = "faster-whisper"  # faster-whisper | torch: what decodes it
    # training only: an augmented variant reads the first pass of its own audio (decoded once
    # per variant) instead of the clean audio's, so the hypothesis is as wrong as the audio is
    # hard, as on voices the model never heard
    first_pass_augmented: bool = False
    # Serialized output training (paper 003's LLM-SOT teacher, issue 18): train on mixture
    # manifests, the target every talker's transcript in onset order joined by a line break
    # (`susurrus.train.sot`); validation scores the split streams by cpWER
    sot: bool = False

    def __post_init__(self) -> None:
        from susurrus.data.hypotheses import FIRST_PASS_ENGINES
        from susurrus.models.speech_llm.model import CONTEXT_MODES

        problems = check_fields(
            self, {"projector_hidden": (0, True), "abstract_tokens": (0, True),
                   "abstract_heads": (0, True)}, ("encoder", "llm", "compressor")
        )
        if self.context not in CONTEXT_MODES:
            problems.append(("context", f"must be one of {', '.join(CONTEXT_MODES)}, "
                                        f"got {self.context!r}"))
        if self.first_pass is not None and (not isinstance(self.first_pass, str)
                                            or not self.first_pass.strip()):
            problems.append(("first_pass", "must name a Whisper model (e.g. whisper-tiny.en) "
                                           f"or be null, got {self.first_pass!r}"))
        if self.first_pass_engine not in FIRST_PASS_ENGINES:
            problems.append(("first_pass_engine", f"must be one of "
                                                  f"{', '.join(FIRST_PASS_ENGINES)}, got "
                                                  f"{self.first_pass_engine!r}"))
        if not isinstance(self.sot, bool):
            problems.append(("sot", f"must be true or false, got {self.sot!r}"))
        if self.context_turns is not None and (not isinstance(self.context_turns, int)
                                               or self.context_turns < 1):
            problems.append(("context_turns", "must be an integer >= 1, or null for all prior "
                                              f"turns, got {self.context_turns!r}"))
        if any(not isinstance(k, str) for k in self.compressor_options):
            problems.append(
                (
                    "compressor_options",
                    f"keys must be option names (strings), got {list(self.compressor_options)!r}",
                )
            )
        raise_problems(problems)


def model_config_from_dict(raw: dict, where: str = "model") -> ModelConfig:
    """A ModelConfig from its plain-dict form (recipes, checkpoints); errors name `where`."""
    from dataclasses import fields

    if not isinstance(raw, dict):
        raise ValueError(f"{where}: expected a mapping, got {type(raw).__name__}")
    valid = {f.name for f in fields(ModelConfig)}
    unknown = sorted(set(raw) - valid)
    if unknown:
        raise ValueError(
            f"{where}: unknown key(s) {', '.join(unknown)}; valid: {', '.join(sorted(valid))}"
        )
    kw = dict(raw)
    if "lora" in kw:
        lora = kw["lora"]
        lvalid = {f.name for f in fields(LoraConfig)}
        if not isinstance(lora, dict) or set(lora) - lvalid:
            raise ValueError(
                f"{where}.lora: expected a mapping with keys among "
                f"{', '.join(sorted(lvalid))}, got {lora!r}"
            )
        lora = dict(lora)
        if "targets" in lora:
            lora["targets"] = tuple(lora["targets"])
        kw["lora"] = LoraConfig(**lora)
    return ModelConfig(**kw)
