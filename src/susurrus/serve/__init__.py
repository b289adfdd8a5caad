"""`susurrus serve`: an OpenAI-compatible transcription server with conversation sessions.

    from susurrus.serve import ServeConfig, create_app
    app = create_app(ServeConfig(models=("whisper-tiny.en",)))      # uvicorn runs it

Modules: `config` (the settings), `app` (the factory, key check, size limit), `routes_audio`
(`/v1/audio/transcriptions`, `/v1/models`), `routes_sessions` (`/v1/sessions`), `formats`
(OpenAI's response formats and stream events), `scheduler` (one worker thread per model that
batches waiting requests), `sessions` (sessions on disk, surviving restarts), `auth`, `metrics`
(Prometheus text), `errors` (every error in OpenAI's shape), `static/index.html` (the page).
"""

from susurrus.serve.app import create_app
from susurrus.serve.config import ServeConfig

__all__ = ["ServeConfig", "create_app"]
