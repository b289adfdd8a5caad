"""susurrus: LLM-informed speech recognition that stays cheap."""

__version__ = "0.1.0"

from susurrus.audio import load_audio  # noqa: E402
from susurrus.infer import Transcript, transcribe  # noqa: E402
from susurrus.infer.session import ConversationSession  # noqa: E402

__all__ = ["ConversationSession", "Transcript", "__version__", "load_audio", "transcribe"]
