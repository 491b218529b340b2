"""Domain errors and the one place that maps every error to an HTTP answer.

Every error answer has the same JSON shape::

    {"success": false, "error": {"code": "...", "message": "...", ...extra fields}}

Upstream and database texts never reach the client: they are logged with the
exception type and the upstream request id, and the client gets our own text.
"""

from __future__ import annotations

import logging
from typing import Any

import openai
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pymongo.errors import PyMongoError
from starlette.exceptions import HTTPException as StarletteHTTPException

logger = logging.getLogger(__name__)


class AppError(Exception):
    """An error with a stable code and an HTTP status; its message is safe to show."""

    status_code = 500
    code = "internal_error"

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return error_body(self.code, self.message, **self.extra)


class InvalidRequest(AppError):
    status_code = 400
    code = "invalid_request"


class ThreadNotFound(AppError):
    status_code = 404
    code = "thread_not_found"

    def __init__(self, thread_id: str) -> None:
        super().__init__(f"No thread found with id '{thread_id}'.", thread_id=thread_id)


class RunNotFound(AppError):
    status_code = 404
    code = "run_not_found"

    def __init__(self, thread_id: str, run_id: str) -> None:
        super().__init__(
            f"No run found with id '{run_id}' on thread '{thread_id}'.",
            thread_id=thread_id,
            run_id=run_id,
        )


class NotFound(AppError):
    status_code = 404
    code = "not_found"


class RunAlreadyActive(AppError):
    status_code = 400
    code = "active_run"

    def __init__(self, thread_id: str, run_id: str | None) -> None:
        super().__init__(
            f"Thread {thread_id} already has an active run"
            + (f" {run_id}" if run_id else "")
            + ". Wait for it to finish (or cancel it) before sending another message.",
            thread_id=thread_id,
            run_id=run_id,
        )


class ChatNotConfigured(AppError):
    status_code = 503
    code = "chat_not_configured"

    def __init__(self, variable: str) -> None:
        super().__init__(
            f"Chat is not configured: set {variable} in the environment or .env and restart.",
            missing=variable,
        )


class AssistantsApiUnavailable(AppError):
    status_code = 502
    code = "assistants_api_unavailable"

    def __init__(self) -> None:
        super().__init__(
            "The upstream does not serve the Assistants API (OpenAI shut it down on "
            "2026-08-26). Set ENGINE=hosted to keep threads in this service's MongoDB."
        )


class UpstreamRejected(AppError):
    status_code = 502
    code = "upstream_rejected"


class NoToolCallPending(AppError):
    status_code = 400
    code = "no_tool_call_pending"

    def __init__(self, thread_id: str, run_id: str) -> None:
        super().__init__(
            f"Run {run_id} on thread {thread_id} is not waiting for tool outputs.",
            thread_id=thread_id,
            run_id=run_id,
        )


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    """The one JSON error shape."""
    return {"success": False, "error": {"code": code, "message": message, **extra}}


def _answer(status: int, code: str, message: str, headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    return JSONResponse(status_code=status, content=error_body(code, message, **extra), headers=headers)


def _field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(part) for part in loc if part not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def _log_upstream(exc: openai.APIError) -> None:
    logger.warning(
        "upstream error %s status=%s request_id=%s",
        type(exc).__name__,
        getattr(exc, "status_code", None),
        getattr(exc, "request_id", None),
    )


def upstream_answer(exc: openai.APIError) -> tuple[int, str, str, dict[str, str]]:
    """Status, code, safe message and headers for an upstream (OpenAI SDK) error."""
    if isinstance(exc, openai.AuthenticationError):
        return 401, "upstream_auth_failed", "The upstream rejected the configured OPENAI_API_KEY.", {}
    if isinstance(exc, openai.RateLimitError):
        retry_after = exc.response.headers.get("retry-after")
        headers = {"Retry-After": retry_after} if retry_after else {}
        return 429, "upstream_rate_limited", "The upstream is rate limiting requests; retry later.", headers
    if isinstance(exc, openai.APITimeoutError):
        return 504, "upstream_timeout", "The upstream did not answer in time.", {}
    if isinstance(exc, openai.APIConnectionError):
        return 502, "upstream_unreachable", "The upstream could not be reached.", {}
    if isinstance(exc, openai.PermissionDeniedError):
        return 502, "upstream_forbidden", "The upstream refused access with the configured credentials.", {}
    if isinstance(exc, openai.NotFoundError):
        return 502, "upstream_not_found", "The upstream could not find a configured resource.", {}
    if isinstance(exc, openai.APIStatusError) and exc.status_code < 500:
        return 502, "upstream_rejected", "The upstream rejected the request.", {}
    return 502, "upstream_error", "The upstream failed to handle the request.", {}


def register_error_handlers(app: FastAPI) -> None:
    """Install the handlers that turn every error into the one JSON shape."""

    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError) -> JSONResponse:
        return JSONResponse(status_code=exc.status_code, content=exc.body())

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = [
            {"field": _field_name(err.get("loc", ())), "message": str(err.get("msg", ""))} for err in exc.errors()
        ]
        summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields) or "Invalid request."
        return _answer(422, "validation_error", summary, fields=fields)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _answer(exc.status_code, code, str(exc.detail), headers=dict(exc.headers or {}))

    @app.exception_handler(openai.APIError)
    async def _upstream_error(request: Request, exc: openai.APIError) -> JSONResponse:
        _log_upstream(exc)
        status, code, message, headers = upstream_answer(exc)
        return _answer(status, code, message, headers=headers)

    @app.exception_handler(PyMongoError)
    async def _storage_error(request: Request, exc: PyMongoError) -> JSONResponse:
        logger.warning("storage error %s", type(exc).__name__)
        return _answer(503, "storage_unavailable", "The database is unavailable; retry later.")

    @app.exception_handler(Exception)
    async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
        logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return _answer(500, "internal_error", "Internal server error.")
