"""`susurrus serve`: the OpenAI-compatible transcription server (FastAPI + uvicorn).

    susurrus serve --model whisper-tiny.en --model speech-llm-tiny-fp-abstract --state-dir state/
    susurrus serve --port 8000 --api-keys keys.txt            # Bearer keys, one a line

Models load after the server starts listening; GET /health answers 503 until they are ready.
Conversation sessions are kept in --state-dir and survive restarts. See docs/serve.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from susurrus.cli.common import ENGINE_NAMES
from susurrus.pretrained.registry import SERVE_DEFAULT_MODEL


def add_arguments(s: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the `serve` arguments to a (sub)parser; returns it."""
    s.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (0.0.0.0: every interface; set --api-keys then)")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--model", action="append", default=None,
                   help=f"a model to serve (repeat for several; the first is the default and "
                        f"what OpenAI's 'whisper-1' means); default {SERVE_DEFAULT_MODEL}")
    s.add_argument("--state-dir", type=Path, default=Path("serve-state"),
                   help="where conversation sessions are kept (they survive restarts)")
    s.add_argument("--api-keys", type=Path, default=None,
                   help="a file of accepted keys, one a line: every /v1 call then needs "
                        "'Authorization: Bearer KEY'")
    s.add_argument("--engine", default="torch", choices=sorted(ENGINE_NAMES),
                   help="Whisper engine: torch batches requests; faster-whisper decodes one by one")
    s.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ... or mps")
    s.add_argument("--max-batch", type=int, default=16,
                   help="requests decoded together at most (1: no batching)")
    s.add_argument("--max-queue", type=int, default=64,
                   help="requests waiting per model at most; more are answered 429")
    s.add_argument("--max-request-mb", type=float, default=25.0,
                   help="largest request body in MB (larger: 413)")
    s.add_argument("--session-idle", type=float, default=300.0,
                   help="seconds after which an unused session leaves memory (it stays on disk)")
    s.add_argument("--log-level", default="info",
                   choices=["critical", "error", "warning", "info", "debug"])
    return s


def config_from(args: argparse.Namespace):
    """The ServeConfig the flags describe (every check before anything loads)."""
    from susurrus.preflight import resolve_device
    from susurrus.serve.config import MB, ServeConfig, read_api_keys

    return ServeConfig(
        models=tuple(args.model or [SERVE_DEFAULT_MODEL]), state_dir=args.state_dir,
        api_keys=read_api_keys(args.api_keys) if args.api_keys else (), engine=args.engine,
        device=resolve_device(args.device, "--device"), max_batch=args.max_batch,
        max_queue=args.max_queue, max_request_bytes=int(args.max_request_mb * MB),
        session_idle_s=args.session_idle)


def run(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C (or SIGTERM)."""
    import uvicorn

    from susurrus.serve import create_app

    config = config_from(args)
    config.state_dir.mkdir(parents=True, exist_ok=True)
    uvicorn.run(create_app(config), host=args.host, port=args.port, log_level=args.log_level)
    return 0
