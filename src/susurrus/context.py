"""What a recognizer reads of a conversation's earlier turns: one `ContextMode` and an oracle flag.

    none      nothing: every turn alone
    text      the earlier turns' transcripts (Whisper reads them as its prompt; a speech LLM as
              the assistant's earlier replies in its chat template)
    raw       transcripts and every audio token of the earlier turns (speech LLM, paper 000)
    abstract  transcripts and K learned latent tokens per earlier turn (speech LLM, paper 000)

`oracle` = the earlier transcripts are the references instead of the system's own hypotheses
(the ceiling of that context; the gap to it is exposure bias). Each recognizer declares which
modes it supports.

Results written before this module spelled Whisper's text context `prompt` and its oracle form
`oracle-prompt`, and a speech LLM's oracle form `text (oracle)`; `parse_context` reads them all.
"""

from __future__ import annotations

from typing import Literal, get_args

from susurrus.errors import UsageError

ContextMode = Literal["none", "text", "raw", "abstract"]
CONTEXT_MODES: tuple[ContextMode, ...] = get_args(ContextMode)

_LEGACY = {"prompt": ("text", False), "oracle-prompt": ("text", True)}


def parse_context(name: str, oracle: bool = False) -> tuple[ContextMode, bool]:
    """A context name as written anywhere (CLI, results JSON, old results) -> (mode, oracle).

    'prompt' -> ('text', False); 'oracle-prompt' -> ('text', True); 'raw (oracle)' -> ('raw',
    True). `oracle` is or-ed in. An unknown name raises UsageError naming the valid ones.
    """
    text = name.strip()
    if text.endswith("(oracle)"):
        text, oracle = text[: -len("(oracle)")].strip(), True
    if text in _LEGACY:
        mode, legacy_oracle = _LEGACY[text]
        return mode, oracle or legacy_oracle
    if text not in CONTEXT_MODES:
        raise UsageError(f"context {name!r}: choose one of {', '.join(CONTEXT_MODES)} "
                         "(with --oracle-context to read the references)")
    if oracle and text == "none":
        raise UsageError("oracle context needs a context mode to read the references with "
                         f"({', '.join(CONTEXT_MODES[1:])}), not 'none'")
    return text, oracle  # type: ignore[return-value]


def context_label(mode: ContextMode, oracle: bool) -> str:
    """How tables name a context: 'text', 'abstract (oracle)'."""
    return f"{mode} (oracle)" if oracle else mode
