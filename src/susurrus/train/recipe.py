"""Training recipes: YAML files of named builders and numbers, with dotted `key=value` overrides.

    recipe = load_recipe("recipes/speech_llm/default.yaml", ["train.lr=3e-4", "model.lora.r=0"])

A recipe is a task name and three frozen dataclasses: `task` names what is trained (a key of
`susurrus.train.task.TASKS`, `speech_llm` when absent), `model` is that task's own config
dataclass, `data` and `train` are the same for every task. A YAML file or an override may set
any field by its dotted key; free-form mappings (e.g. `model.compressor_options`) are checked by
the task's builders. Every problem of a file and its overrides (unknown keys, wrong types,
invalid values, builders' options) is collected and raised together as one `RecipeError` whose
lines name the file and the full dotted key, before anything is written or loaded.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

import yaml

from susurrus.errors import BadRecipeError
from susurrus.fields import FieldError, check_fields, raise_problems
from susurrus.train.task import DEFAULT_TASK, UnknownTaskError, task_class

Precision = Literal["fp32", "bf16", "auto"]


class RecipeError(BadRecipeError):
    """A recipe that cannot be used; `.problems` holds one line per problem."""

    def __init__(self, source: str | Path | None, problems: Sequence[str]) -> None:
        self.source = None if source is None else str(source)
        self.problems = list(problems)
        where = f"{source}: " if source is not None else ""
        lines = "\n".join(f"  {p}" for p in self.problems)
        n = len(self.problems)
        if n == 1:  # one line
            super().__init__(f"{where}invalid recipe: {self.problems[0]}")
        else:
            super().__init__(f"{where}invalid recipe ({n} problems):\n{lines}")


@dataclass(frozen=True)
class DataConfig:
    """Where the training audio comes from and how it is batched."""

    # manifest path(s) (JSONL manifests or lhotse cuts), read as one training set; () = use synth
    train: tuple[str, ...] = ()
    valid: str = ""  # manifest path of the validation set; "" = the synthesized dev set
    synth_hours: float = 1.0  # when train is "": synthesize conversations of this many hours
    synth_seed: int = 0  # seed of the synthesized corpus
    synth_dir: str = "out/corpus"  # where the synthesized corpus is written (and reused)
    max_duration: float = 30.0  # seconds; longer utterances are refused at load, not cut
    batch_seconds: float = 60.0  # padded audio seconds per batch (duration-bucketed batches)
    valid_limit: int = 64  # utterances of the valid set scored by WER during training
    # augmented copies of each training utterance, each with its own cached encoder features:
    # {variants: K, seed: S, <AugmentConfig fields>}; empty or variants 0 = off (`augment_settings`)
    augment: dict = field(default_factory=dict)
    # multi-talker mixtures drawn on the fly from single-talker manifests (task multitalker_ctc):
    # {sources: [...], valid_sources, mixtures, talkers, ...}: susurrus.data.dynamic_mixing
    mixing: dict = field(default_factory=dict)
    # time masks on the encoder features a training example reads (SpecAugment's time masking,
    # after the frozen encoder): this share of the examples, drawn each epoch, has spans of at
    # most `time_mask_seconds` zeroed until `time_mask_fraction` of its frames are; 0 = off
    time_mask_share: float = 0.0
    time_mask_fraction: float = 0.4
    time_mask_seconds: float = 1.0
    # context-copy training (multi-turn speech LLM, `train/respelling.py`): each epoch this share
    # of a session's names is respelled in all its turns; a mention the context window already
    # holds weighs `repeat_weight` in the loss, a respelled first mention 0
    respell_share: float = 0.0
    repeat_weight: float = 1.0

    def __post_init__(self) -> None:
        problems = check_fields(self, {"synth_hours": (0.0, True), "max_duration": (0.0, True),
                                       "batch_seconds": (0.0, True), "valid_limit": (0, False),
                                       "time_mask_share": (0.0, False),
                                       "time_mask_fraction": (0.0, False),
                                       "time_mask_seconds": (0.0, True),
                                       "respell_share": (0.0, False),
                                       "repeat_weight": (0.0, False)}, ("synth_dir",))
        if self.time_mask_share > 1:  # a share of the examples: all of them at most
            problems.append(("time_mask_share", f"must be <= 1, got {self.time_mask_share!r}"))
        if self.respell_share > 1:  # a share of a session's names: all of them at most
            problems.append(("respell_share", f"must be <= 1, got {self.respell_share!r}"))
        if self.time_mask_fraction >= 1:  # of an example's frames: some must stay
            problems.append(("time_mask_fraction",
                             f"must be < 1, got {self.time_mask_fraction!r}"))
        raise_problems(problems)


@dataclass(frozen=True)
class TrainConfig:
    """Optimization, precision and the logging / validation / checkpoint schedule."""

    out: str = "runs/default"  # run folder: checkpoints, logs, the saved recipe
    seed: int = 0  # seeds parameter init, dropout and batch order
    steps: int = 1000  # optimizer steps
    lr: float = 1e-3  # peak learning rate (AdamW), after warmup
    warmup_steps: int = 50  # linear warmup from 0 to lr
    weight_decay: float = 0.0  # AdamW decoupled weight decay
    grad_clip: float = 1.0  # max global gradient norm
    grad_accum: int = 1  # batches whose gradients are summed per optimizer step
    precision: Precision = "fp32"  # fp32, bf16 (autocast), or auto (bf16 where measured faster)
    log_every: int = 10  # steps between log lines
    valid_every: int = 200  # steps between validation passes; 0 = only at the end
    save_every: int = 200  # steps between checkpoints (the last two are kept)
    keep_every: int = 0  # also keep the checkpoints of every multiple of this step; 0 = none
    init: str = ""  # checkpoint or run whose trained weights start this run ("" = fresh)
    align_steps: int = 0  # CTC warm-up steps of compressor+projector before LLM training (align.py)
    align_lr: float = 2e-3  # peak learning rate of that warm-up
    # write each process's batch ids per step and a hash of its final weights to ranks/ (tests)
    debug_ranks: bool = False

    def __post_init__(self) -> None:
        problems = check_fields(
            self,
            {"steps": (0, True), "lr": (0.0, True), "warmup_steps": (0, False),
             "weight_decay": (0.0, False), "grad_clip": (0.0, True), "grad_accum": (0, True),
             "log_every": (0, True), "valid_every": (0, False), "save_every": (0, True),
             "keep_every": (0, False),
             "align_steps": (0, False), "align_lr": (0.0, True)},
            ("out",),
        )
        if self.precision not in get_args(Precision):
            problems.append(("precision", f"must be one of {', '.join(get_args(Precision))}, "
                                          f"got {self.precision!r}"))
        raise_problems(problems)


def _default_model() -> Any:
    return task_class(DEFAULT_TASK).config()


@dataclass(frozen=True)
class Recipe:
    """Everything a training run is made of."""

    task: str = DEFAULT_TASK  # what kind of model: a key of TASKS, or module:ClassName
    model: Any = field(default_factory=_default_model)  # its config: the task's dataclass
    data: DataConfig = field(default_factory=DataConfig)  # on what
    train: TrainConfig = field(default_factory=TrainConfig)  # how


# --- reading ------------------------------------------------------------------------------------


def _hints(cls: type, model: type | None = None) -> dict[str, Any]:
    """Field types of `cls`; a Recipe's `model` is the config class of its task (`model`)."""
    hints = get_type_hints(cls)
    if cls is Recipe:
        hints["model"] = model
    return hints


def _default(cls: type, name: str, model: type | None = None) -> Any:
    if cls is Recipe and name == "model":
        return model()
    f = next(f for f in fields(cls) if f.name == name)
    return f.default_factory() if f.default is MISSING else f.default


def _valid_keys(cls: type, prefix: str) -> str:
    where = prefix or "the top level"
    return f"valid keys in {where}: {', '.join(f.name for f in fields(cls))}"


def _set_free(tree: dict, keys: list[str], value: Any, dotted: str, problems: list[str]) -> None:
    """tree[k1][k2]... = value inside a free-form mapping, creating mappings on the way."""
    for k in keys[:-1]:
        sub = tree.setdefault(k, {})
        if not isinstance(sub, dict):
            problems.append(f"{dotted}: {k!r} holds {sub!r}, not a mapping with sub-keys")
            return
        tree = sub
    tree[keys[-1]] = value


def _assign(tree: dict, cls: type, keys: list[str], value: Any, text: str | None, prefix: str,
            problems: list[str], model: type | None = None) -> None:
    """Set the raw value of dotted `keys` under dataclass `cls`, whose raw mapping is `tree`.

    A mapping given to a dataclass section is merged field by field; a mapping given to a
    free-form dict field replaces it. `text` is an override's literal text (None for YAML).
    `model` is the task's config class (at the top level; None: the task is unknown).
    """
    name, rest = keys[0], keys[1:]
    dotted = f"{prefix}.{name}" if prefix else name
    full = ".".join([dotted, *rest])
    hints = _hints(cls, model)
    if name not in hints:
        problems.append(f"{full}: unknown key {name!r}; {_valid_keys(cls, prefix)}")
        return
    typ = hints[name]
    if typ is None:  # the model section of an unknown task: its problem is reported already
        return
    if is_dataclass(typ):
        sub = tree.setdefault(name, {})
        if rest:
            _assign(sub, typ, rest, value, text, dotted, problems)
        elif value is None:  # `model:` with nothing under it: all defaults
            pass
        elif isinstance(value, Mapping):
            for k, v in value.items():
                _assign(sub, typ, [str(k)], v, None, dotted, problems)
        else:
            problems.append(f"{dotted}: is a section, expected a mapping of its keys, "
                            f"got {value!r}; {_valid_keys(typ, dotted)}")
    elif rest and typ is dict:
        current = tree.get(name, _default(cls, name))
        if not isinstance(current, dict):
            problems.append(f"{full}: {dotted} is {current!r}, not a mapping")
            return
        current = copy.deepcopy(current)
        _set_free(current, rest, value, full, problems)
        tree[name] = current
    elif rest:
        problems.append(f"{full}: {dotted} is a single value, it has no sub-key {rest[0]!r}")
    elif typ is str and text is not None and not isinstance(value, str):
        # `model.prompt=Say: hi` or `data.train=` mean the text as written, not YAML's mapping/null.
        tree[name] = text
    else:
        tree[name] = value


def _number(value: Any, kind: type) -> int | float | None:
    """value as an int / float, or None if it is not one (bools never are)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot) as a string, not a float
        try:
            value = float(value)
        except ValueError:
            return None
    if kind is float and isinstance(value, (int, float)):
        return float(value)
    if kind is int and isinstance(value, int):
        return value
    if kind is int and isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _coerce(value: Any, typ: Any, dotted: str, problems: list[str]) -> Any:
    """A raw YAML value as the field's type; on failure a problem is added and None returned."""
    args = get_args(typ)
    if get_origin(typ) in (Union, UnionType) and type(None) in args:  # e.g. int | None
        if value is None or value == "all":  # `null`, or `all` (every prior turn)
            return None
        return _coerce(value, next(a for a in args if a is not type(None)), dotted, problems)
    if typ is bool:
        if not isinstance(value, bool):
            problems.append(f"{dotted}: expected true or false, got {value!r}")
            return None
        return value
    if typ in (int, float):
        out = _number(value, typ)
        if out is None:
            what = "an integer" if typ is int else "a number"
            problems.append(f"{dotted}: expected {what}, got {value!r}")
        return out
    if typ is str:
        if value is None:
            return ""
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        if isinstance(value, str):
            return value
        problems.append(f"{dotted}: expected a string, got {value!r}")
        return None
    if get_origin(typ) is Literal:
        if value not in get_args(typ):
            problems.append(f"{dotted}: expected one of {', '.join(get_args(typ))}, got {value!r}")
            return None
        return value
    if get_origin(typ) is tuple:
        if value is None or value == "":
            return ()
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)) or not all(isinstance(i, str) for i in items):
            problems.append(f"{dotted}: expected a list of names, e.g. [q_proj, v_proj], "
                            f"got {value!r}")
            return None
        return tuple(items)
    if typ is dict:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            problems.append(f"{dotted}: expected a mapping, e.g. {{k: 3}}, got {value!r}")
            return None
        return copy.deepcopy(dict(value))
    raise TypeError(f"{dotted}: recipe field type {typ!r} is not supported")


def _build(cls: type, tree: dict, prefix: str, problems: list[str],
           model: type | None = None) -> Any:
    """The dataclass `cls` from its raw mapping; None (with problems added) when invalid.

    A field that cannot be converted is checked with its default in its place, so the values of
    the other fields are still validated and every problem is reported in one go.
    """
    bad = len(problems)
    kwargs = {}
    for name, typ in _hints(cls, model).items():
        if name not in tree or typ is None:
            continue
        dotted = f"{prefix}.{name}" if prefix else name
        if is_dataclass(typ):
            value = _build(typ, tree[name], dotted, problems)
        else:
            value = _coerce(tree[name], typ, dotted, problems)
        kwargs[name] = _default(cls, name, model) if value is None else value
    if model is None and cls is Recipe:  # an unknown task: nothing to build
        return None
    try:
        built = cls(**kwargs)
    except FieldError as e:
        problems += [f"{prefix}.{name}: {message}" if prefix else f"{name}: {message}"
                     for name, message in e.problems]
        return None
    return built if len(problems) == bad else None


def parse_override(override: str) -> tuple[str, Any, str]:
    """'train.lr=3e-4' -> ('train.lr', 3e-4 as YAML reads it, '3e-4'); RecipeError without '='."""
    key, eq, text = override.partition("=")
    key = key.strip()
    if not eq or not key:
        raise RecipeError(None, [f"override {override!r}: expected section.key=value, "
                                 "e.g. train.lr=3e-4 or model.compressor_options.k=3"])
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        value = text  # not YAML (e.g. an unbalanced bracket): keep the text as written
    return key, value, text


AUDIO_MAGIC = (b"RIFF", b"fLaC", b"OggS", b"ID3", b"\xff\xfb", b"\xff\xf3", b"FORM")


def _read_yaml(path: Path) -> dict:
    if not path.is_file():
        raise RecipeError(path, ["no such recipe file" if not path.exists() else "not a file"])
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is None or "\0" in text[:8192]:
        what = "an audio file" if raw.startswith(AUDIO_MAGIC) else "binary data"
        raise RecipeError(path, [f"not a YAML recipe ({what}); `susurrus train` takes a recipe "
                                 "such as recipes/speech_llm/default.yaml (audio goes to "
                                 "`susurrus transcribe`)"])
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise RecipeError(path, [f"not valid YAML: {problem}{where}"]) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise RecipeError(path, [f"expected a mapping of sections (task, model, data, train), "
                                 f"got {type(data).__name__}"])
    return data


def _task_config(name: Any, problems: list[str]) -> type | None:
    """The config class of the task called `name`; None (with a problem added) if unknown."""
    try:
        return task_class(str(name)).config
    except UnknownTaskError as e:
        problems.append(f"task: {e}")
        return None


AUGMENT_KEYS = ("variants", "seed")  # data.augment's own keys; the others are AugmentConfig's


@dataclass(frozen=True)
class AugmentSettings:
    """`data.augment` read: K augmented variants per training utterance (0 = off), drawn with
    `seed` from `config` (`susurrus.data.augment`); variant 0 is always the clean audio."""

    variants: int = 0
    seed: int = 0
    config: Any = None  # an AugmentConfig when variants > 0


def _augment_value(key: str, value: Any, default: Any) -> tuple[Any, str | None]:
    """A data.augment value shaped like the AugmentConfig default it replaces, or a problem."""
    if isinstance(default, dict):
        if not isinstance(value, Mapping) or not all(
                _number(v, float) is not None for v in value.values()):
            return None, f"expected a mapping of piece names to probabilities, got {value!r}"
        return {str(k): _number(v, float) for k, v in value.items()}, None
    items = value if isinstance(value, (list, tuple)) else None
    if items is None or not default:
        return None, f"expected a list like {list(default)}, got {value!r}"
    if isinstance(default[0], str):
        if not all(isinstance(i, str) for i in items):
            return None, f"expected a list of names like {list(default)}, got {value!r}"
        return tuple(items), None
    numbers = [_number(i, float) for i in items]
    if any(n is None for n in numbers):
        return None, f"expected a list of numbers like {list(default)}, got {value!r}"
    return tuple(numbers), None


def augment_settings(augment: Mapping[str, Any]) -> tuple[AugmentSettings, list[str]]:
    """`data.augment` as AugmentSettings, and its problems (each naming its dotted key)."""
    from susurrus.data.augment import AugmentConfig

    defaults = {f.name: _default(AugmentConfig, f.name) for f in fields(AugmentConfig)}
    problems, kwargs, own = [], {}, {}
    for key, value in augment.items():
        dotted = f"data.augment.{key}"
        if key in AUGMENT_KEYS:
            number = _number(value, int)
            if number is None or number < 0:
                problems.append(f"{dotted}: expected an integer >= 0, got {value!r}")
            else:
                own[key] = number
        elif key in defaults:
            kwargs[key], problem = _augment_value(key, value, defaults[key])
            if problem:
                problems.append(f"{dotted}: {problem}")
        else:
            problems.append(f"{dotted}: unknown key {key!r}; valid keys in data.augment: "
                            f"{', '.join([*AUGMENT_KEYS, *defaults])}")
    try:  # the values of well-formed keys are checked too: every problem at once
        config = AugmentConfig(**{k: v for k, v in kwargs.items() if v is not None})
    except BadRecipeError as e:  # "augment: a: ...; b: ..." -> one line per field
        text = str(e).removeprefix("augment: ")
        problems += [f"data.augment.{p}" for p in re.split(r"; (?=[\w.]+: )", text)]
    if problems:
        return AugmentSettings(), problems
    variants = own.get("variants", 0)
    return AugmentSettings(variants, own.get("seed", 0), config if variants else None), []


def recipe_problems(recipe: Recipe, data_paths: bool = False) -> list[str]:
    """What is wrong with a recipe beyond its fields' types: its task, the task's builders and
    their options (checked without loading weights), and with `data_paths` the files it names
    (manifests, `train.init`)."""
    problems: list[str] = augment_settings(recipe.data.augment)[1]
    config = _task_config(recipe.task, problems)
    if recipe.data.mixing:
        from susurrus.data.dynamic_mixing import mixing_config

        problems += mixing_config(recipe.data.mixing)[1]
        if config is not None and not getattr(task_class(recipe.task), "mixes", False):
            problems.append(f"data.mixing: task {recipe.task!r} does not read dynamic "
                            "mixtures (task multitalker_ctc does); remove data.mixing")
    if (config is not None and augment_settings(recipe.data.augment)[0].variants
            and not getattr(task_class(recipe.task), "augments", False)):
        problems.append(f"data.augment: task {recipe.task!r} does not train on augmented "
                        "variants (task speech_llm does); remove data.augment")
    if (config is not None and recipe.data.time_mask_share > 0
            and not getattr(task_class(recipe.task), "time_masks", False)):
        problems.append(f"data.time_mask_share: task {recipe.task!r} does not time-mask its "
                        "features (task speech_llm does); remove it")
    if recipe.data.respell_share > 0 or recipe.data.repeat_weight != 1:
        if getattr(recipe.model, "context", "none") == "none":
            problems.append("data.respell_share / data.repeat_weight: they train copying from "
                            "earlier turns; set model.context (text, raw or abstract) or "
                            "remove them")
        elif getattr(recipe.model, "sot", False):
            problems.append("data.respell_share / data.repeat_weight: they respell transcripts, "
                            "not serialized multi-talker targets; remove them or model.sot")
    if config is not None and not isinstance(recipe.model, config):
        problems.append(f"model: task {recipe.task!r} takes a {config.__name__}, "
                        f"got a {type(recipe.model).__name__}")
    elif config is not None:
        problems += [f"model.{name}: {message}"
                     for name, message in task_class(recipe.task).check(recipe.model)]
    if data_paths:
        given = [("train", p) for p in recipe.data.train] + [("valid", recipe.data.valid)]
        mixing = recipe.data.mixing
        sources = mixing.get("sources", []) if isinstance(mixing, dict) else []
        given += [("mixing.sources", p) for p in
                  (sources if isinstance(sources, list | tuple) else [sources])]
        if isinstance(mixing, dict) and mixing.get("valid_sources"):
            given.append(("mixing.valid_sources", mixing["valid_sources"]))
        for split, path in given:
            if path and not Path(path).exists():
                problems.append(f"data.{split}: {path} does not exist; give a manifest path "
                                "(JSONL or lhotse cuts), or \"\" to synthesize a corpus")
        if recipe.train.init and not init_source(recipe.train.init).exists():
            problems.append(f"train.init: {recipe.train.init} does not exist; give a checkpoint "
                            "or run folder, an embedded model's name, or \"\" to start fresh")
    return problems


def init_source(init: str) -> Path:
    """`train.init` as a folder: an embedded model's name (e.g. `speech-llm-tiny-v2`) is its
    shipped folder, anything else a path."""
    from susurrus.pretrained.registry import EMBEDDED

    model = EMBEDDED.get(init)
    path = model.source_path() if model is not None and model.package == "susurrus" else None
    return path if path is not None else Path(init)


def check_recipe(recipe: Recipe, source: str | Path | None = None) -> None:
    """Raise one RecipeError listing every problem `recipe_problems` finds (manifests too)."""
    problems = recipe_problems(recipe, data_paths=True)
    if problems:
        raise RecipeError(source, problems)


def load_recipe(path: str | Path | None, overrides: Sequence[str] = ()) -> Recipe:
    """The recipe in YAML file `path` (None = all defaults) with `key=value` overrides applied.

    Overrides are applied in order after the file; values are read as YAML (`[q_proj, v_proj]`,
    `{k: 3}`, `3e-4`) and converted to the field's type. The `model` section is the config of
    the recipe's `task` (the last one given). Raises RecipeError listing every problem at once,
    each with its full dotted key, the task's builders and their options included.
    """
    if isinstance(overrides, str):
        overrides = [overrides]
    data = {} if path is None else _read_yaml(Path(path))
    problems: list[str] = []
    parsed = []
    for override in overrides:
        try:
            parsed.append(parse_override(override))
        except RecipeError as e:
            problems += e.problems
    task = data.get("task", DEFAULT_TASK)
    for key, value, text in parsed:
        if key == "task":
            task = value if isinstance(value, str) else text
    model = _task_config(task or DEFAULT_TASK, problems)
    tree: dict = {"model": {}}  # no model section: the task's defaults
    for key, value in data.items():
        _assign(tree, Recipe, [str(key)], value, None, "", problems, model)
    for key, value, text in parsed:
        _assign(tree, Recipe, key.split("."), value, text, "", problems, model)
    recipe = _build(Recipe, tree, "", problems, model)
    if recipe is not None:
        problems += recipe_problems(recipe)
    elif model is not None:  # other sections are wrong: still check the task's builders
        config = _build(model, tree.get("model", {}), "model", [])
        if config is not None:
            problems += [f"model.{name}: {message}"
                         for name, message in task_class(str(task)).check(config)]
    if problems:
        raise RecipeError(path, problems)
    return recipe


# --- writing and fingerprints -------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def recipe_to_dict(recipe: Recipe) -> dict[str, Any]:
    """The recipe as plain YAML/JSON-able data (tuples become lists)."""
    return _plain(asdict(recipe))


def save_recipe(recipe: Recipe, path: str | Path) -> Path:
    """Write the recipe as YAML (atomically); `load_recipe(path)` gives back an equal recipe."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(recipe_to_dict(recipe), sort_keys=False, allow_unicode=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
    return path


def recipe_fingerprint(recipe: Recipe,
                       sections: Sequence[str] = ("task", "model", "data")) -> str:
    """A short id (sha256 of canonical JSON) of the given sections.

    A run refuses to resume under a recipe whose task, model or data differ; train numbers
    (steps, lr) may change between resumes.
    """
    valid = [f.name for f in fields(Recipe)]
    unknown = [s for s in sections if s not in valid]
    if unknown:
        raise ValueError(f"unknown recipe sections {unknown}; valid: {', '.join(valid)}")
    data = recipe_to_dict(recipe)
    canonical = json.dumps({s: data[s] for s in sections}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]
