"""Every error the server answers, in OpenAI's shape, mapped in one place.

    {"error": {"message": "...", "type": "invalid_request_error", "param": "file", "code": null}}

A `susurrus.errors.UserError` from the Python API answers its `http_status` (400 usage, 404
unknown model, 415 bad audio, 503 a missing part); the server's own checks raise `ApiError`
naming the form field (`param`). Anything else is a bug of ours: logged with its traceback,
answered 500 with a one-line message and never the traceback.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from susurrus.errors import UserError

log = logging.getLogger("susurrus.serve")

# HTTP status -> OpenAI error type (their API answers these types for these codes)
TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 403: "invalid_request_error",
         404: "invalid_request_error", 405: "invalid_request_error", 409: "invalid_request_error",
         413: "invalid_request_error", 415: "invalid_request_error", 422: "invalid_request_error",
         429: "rate_limit_error", 503: "server_error"}


class ApiError(HTTPException):
    """An answer other than 2xx: status, a message saying what to do, the field at fault.

    An HTTPException, so that FastAPI passes it through unchanged when it is raised while the
    body is read (the size limit), instead of making it a 400 'error parsing the body'."""

    def __init__(self, status: int, message: str, param: str | None = None,
                 code: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(status, message, headers)
        self.status, self.message, self.param, self.code = status, message, param, code
        self.headers = headers or {}


def error_body(status: int, message: str, param: str | None = None,
               code: str | None = None) -> dict:
    return {"error": {"message": message, "type": TYPES.get(status, "server_error"),
                      "param": param, "code": code}}


def error_response(e: ApiError) -> JSONResponse:
    return JSONResponse(error_body(e.status, e.message, e.param, e.code), status_code=e.status,
                        headers=e.headers)


def as_api_error(e: Exception) -> ApiError:
    """Any exception -> the ApiError it is answered with (the one mapping of the server)."""
    if isinstance(e, ApiError):
        return e
    if isinstance(e, UserError):
        code = "model_not_found" if e.http_status == 404 else None
        return ApiError(e.http_status, str(e), code=code)
    log.error("internal error", exc_info=e)
    return ApiError(500, f"internal error ({type(e).__name__}); the server log has the details",
                    code="internal_error")


def _validation(exc: RequestValidationError) -> ApiError:
    """FastAPI's 422 -> 400 naming the first field at fault."""
    first = exc.errors()[0] if exc.errors() else {}
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path", "form")]
    param = ".".join(loc) or None
    what = first.get("msg", "invalid value")
    return ApiError(400, f"{param or 'request'}: {what}", param=param)


def install(app: FastAPI) -> None:
    """Answer every error raised by a route (and FastAPI's own) in OpenAI's shape."""

    @app.exception_handler(ApiError)
    async def _api(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(UserError)
    async def _user(request: Request, exc: UserError) -> JSONResponse:
        return error_response(as_api_error(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(_validation(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        if exc.status_code == 404:
            message = f"{request.url.path}: no such endpoint"
        return error_response(ApiError(exc.status_code, message))

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        return error_response(as_api_error(exc))
