"""Which model family a name or folder holds, from what the checkpoint says about itself.

Every susurrus checkpoint declares its family when it is saved: a top-level `family:` key in its
`recipe.yaml` (and the same `family` in its safetensors metadata). The recognizer registry
(`susurrus.infer.registry`) and the trainers key on it; nothing sniffs a folder's files for it,
except for the one compatibility rule below.

    embedded name            its registry kind ('speech-llm' -> speech_llm, 'whisper' -> whisper)
    folder with `family`     what it declares (the folder itself, or a run folder's model/)
    older folder             trained.safetensors + recipe.yaml and no `family`: speech_llm
                             (checkpoints written before families were recorded)
    anything else            whisper: a Hugging Face Whisper folder or hub id
"""

from __future__ import annotations

from pathlib import Path

FAMILY_KEY = "family"  # the recipe.yaml key and safetensors metadata field
RECIPE_FILE = "recipe.yaml"
LEGACY_WEIGHTS = "trained.safetensors"  # with RECIPE_FILE and no family: a speech LLM
DEFAULT_FAMILY = "whisper"  # a name that is no susurrus checkpoint: a Whisper folder or hub id


def embedded_family(kind: str) -> str:
    """An embedded model's registry kind -> its family name ('speech-llm' -> 'speech_llm')."""
    return kind.replace("-", "_")


def declared_family(folder: Path) -> str | None:
    """The family `folder`'s recipe.yaml or weights metadata declares, or None."""
    import yaml

    try:
        raw = yaml.safe_load((folder / RECIPE_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        raw = None
    if isinstance(raw, dict) and isinstance(raw.get(FAMILY_KEY), str):
        return raw[FAMILY_KEY]
    for weights in sorted(folder.glob("*.safetensors")):
        try:
            from safetensors import safe_open

            with safe_open(str(weights), "pt") as f:
                family = (f.metadata() or {}).get(FAMILY_KEY)
        except Exception:  # noqa: BLE001 - a damaged file is reported by the family's loader
            family = None
        if family:
            return family
    return None


def checkpoint_family(path: str | Path) -> str | None:
    """The family of the susurrus checkpoint at `path` (or its run folder's model/), or None."""
    path = Path(path).expanduser()
    for folder in (path, path / "model"):
        if not (folder / RECIPE_FILE).is_file():
            continue
        family = declared_family(folder)
        if family is not None:
            return family
        if (folder / LEGACY_WEIGHTS).is_file():  # written before families were recorded
            return "speech_llm"
    return None


def model_family(model: str) -> str:
    """The family of an embedded name, checkpoint or run folder; anything else is a Whisper.

    An embedded model that is no recognizer (an LLM, a sentence encoder) gives its kind's
    family name ('llm', 'sentence_encoder'); the recognizer registry refuses those by name.
    """
    from susurrus.pretrained.registry import EMBEDDED

    if model in EMBEDDED:
        return embedded_family(EMBEDDED[model].kind)
    path = Path(model).expanduser()
    if path.is_dir():
        family = checkpoint_family(path)
        if family is not None:
            return family
    return DEFAULT_FAMILY
