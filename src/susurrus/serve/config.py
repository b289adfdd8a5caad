"""What `susurrus serve` is told: one frozen dataclass, every field checked where it is made."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from susurrus.errors import UsageError
from susurrus.pretrained.registry import SERVE_DEFAULT_MODEL

MB = 1024 * 1024


@dataclass(frozen=True)
class ServeConfig:
    """The server's settings; the CLI's flags are these fields."""

    models: tuple[str, ...] = (SERVE_DEFAULT_MODEL,)  # served models (embedded names, folders);
    # the first is the default, and what OpenAI's `whisper-1` means here
    state_dir: Path = Path("serve-state")  # sessions are kept here (one folder each)
    api_keys: tuple[str, ...] = ()  # Bearer keys accepted on /v1 (none: no key needed)
    engine: str = "torch"  # Whisper engine: torch (batches) or faster-whisper (one by one)
    device: str = "cpu"
    max_request_bytes: int = 25 * MB  # OpenAI's limit; larger bodies get 413
    max_batch: int = 16  # requests decoded together at most (1: no batching)
    batch_wait_s: float = 0.01  # how long the first request of a batch waits for company
    max_queue: int = 64  # requests waiting per model at most; more get 429 with Retry-After
    session_idle_s: float = 300.0  # a session unused this long leaves memory (reloads from disk)
    languages: tuple[str, ...] = field(default=("en",))  # what the served models transcribe

    def __post_init__(self) -> None:
        if not self.models:
            raise UsageError("--model: serve at least one model")
        if len(set(self.models)) != len(self.models):
            raise UsageError(f"--model: a model is named twice in {', '.join(self.models)}")
        for name, value, least in [("max_request_bytes", self.max_request_bytes, 1),
                                   ("max_batch", self.max_batch, 1),
                                   ("max_queue", self.max_queue, 1)]:
            if not isinstance(value, int) or value < least:
                raise UsageError(f"{name} must be an integer >= {least}, got {value!r}")
        if self.batch_wait_s < 0 or self.session_idle_s < 0:
            raise UsageError("batch_wait_s and session_idle_s must be >= 0 seconds")
        if any(not k or any(c.isspace() for c in k) for k in self.api_keys):
            raise UsageError("api keys must be non-empty and hold no spaces")


def read_api_keys(path: str | Path) -> tuple[str, ...]:
    """One key a line; blank lines and `#` comments are skipped. No key at all is an error
    (a server that was meant to be locked would be open)."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise UsageError(f"--api-keys {path}: no such file (one key a line)") from None
    keys = tuple(s for s in (line.strip() for line in lines) if s and not s.startswith("#"))
    if not keys:
        raise UsageError(f"--api-keys {path}: holds no key (one key a line, # for comments)")
    bad = [i for i, k in enumerate(keys) if any(c.isspace() for c in k)]
    if bad:
        raise UsageError(f"--api-keys {path}: key {bad[0] + 1} holds a space; one key a line")
    return keys
