"""Errors a user can fix, raised by the Python API; the CLI and the server only translate them.

Every message names the file, field or id at fault and says what to do. The CLI prints it on one
line and exits 2; the HTTP server answers 4xx with it (`http_status`). Anything that is not a
`UserError` is a bug of ours and keeps its traceback (500 in the server).

The kinds, each a base that the modules' own errors subclass:

    UsageError             options that are invalid or do not fit together
      IncompatibleOptionError   an option the chosen model cannot do (e.g. a prompt, a context)
    BadAudioError          unreadable, empty, silent or invalid audio (susurrus.audio.io)
    BadManifestError       a manifest line or field that cannot be used (susurrus.data.manifest)
    BadRecipeError         a training recipe or run folder that cannot be used (susurrus.train)
    UnknownModelError      a model name that is neither embedded, a folder, nor reachable
    BadCheckpointError     a folder that is not a usable checkpoint of any family
    BadSessionError        a saved conversation session that cannot be restored
    OutputExistsError      an output that would overwrite a user's file (pass --overwrite)
    MissingDependencyError a program or package the asked-for work needs is not installed
"""

from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix; the message says where and what to do."""

    http_status = 400


class UsageError(UserError, ValueError):
    """Options that are invalid or do not fit together."""


class IncompatibleOptionError(UsageError):
    """An option the chosen model (or recognizer family) cannot do."""


class BadAudioError(UserError, ValueError):
    """Audio that cannot be used: unreadable, empty, silent, wrong shape or rate."""

    http_status = 415


class BadManifestError(UserError, ValueError):
    """A manifest, or one of its lines, that cannot be used."""


class BadRecipeError(UserError, ValueError):
    """A training recipe, or a run folder, that cannot be used as asked."""


class UnknownModelError(UserError, ValueError):
    """A model name that resolves to nothing usable."""

    http_status = 404


class BadCheckpointError(UserError, ValueError):
    """A folder that is not a usable checkpoint."""


class BadSessionError(UserError, ValueError):
    """A saved conversation session that cannot be restored as asked."""


class OutputExistsError(UserError, FileExistsError):
    """An output file that exists; the user must ask for it to be replaced."""

    http_status = 409


class MissingDependencyError(UserError, RuntimeError):
    """A program or package the asked-for work needs is not installed (the message says which)."""

    http_status = 503  # the server lacks a part; the request itself may be fine
