"""susurrus: LLM-informed speech recognition that stays cheap.

`import susurrus` is light (no torch): the public names below load their modules on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY = {  # public name -> the module that defines it
    "load_audio": "susurrus.audio.io",
    "transcribe": "susurrus.infer.transcribe",
    "Transcript": "susurrus.infer.transcript",
    "ConversationSession": "susurrus.infer.session",
}

if TYPE_CHECKING:  # for type checkers and IDEs; at run time `__getattr__` imports on demand
    from susurrus.audio.io import load_audio
    from susurrus.infer.session import ConversationSession
    from susurrus.infer.transcribe import transcribe
    from susurrus.infer.transcript import Transcript


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'susurrus' has no attribute {name!r}")


__all__ = ["ConversationSession", "Transcript", "__version__", "load_audio", "transcribe"]
