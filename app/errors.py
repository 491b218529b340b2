"""Domain errors and the one place that maps every error to an HTTP answer.

Every error answer has the same JSON shape::

    {"success": false, "error": {"code": "...", "message": "...", ...extra fields}}

Upstream and database texts never reach the client: they are logged with the
exception type and the upstream request id, and the client gets our own text.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from typing import Any

import openai
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

logger = logging.getLogger(__name__)


class AppError(Exception):
    """An error with a stable code and an HTTP status; its message is safe to show."""

    status_code = 500
    code = "internal_error"

    def __init__(self, message: str, *, headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return error_body(self.code, self.message, **self.extra)


class InvalidRequest(AppError):
    status_code = 400
    code = "invalid_request"


class InvalidField(AppError):
    """A request field that failed a check made outside the schema; same shape as schema errors."""

    status_code = 422
    code = "validation_error"

    def __init__(self, field_name: str, problem: str) -> None:
        super().__init__(f"{field_name}: {problem}", fields=[{"field": field_name, "message": problem}])


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


class RunNotActive(AppError):
    status_code = 409
    code = "run_not_active"

    def __init__(self, thread_id: str, run_id: str) -> None:
        super().__init__(
            f"Run {run_id} on thread {thread_id} is not active: it cannot be cancelled or take tool outputs.",
            thread_id=thread_id,
            run_id=run_id,
        )


class StreamBrokeOff(AppError):
    status_code = 502
    code = "upstream_stream_broken"

    def __init__(self) -> None:
        super().__init__("The run's event stream ended before the run finished.")


class ConversationNotFound(AppError):
    status_code = 404
    code = "conversation_not_found"

    def __init__(self, thread_id: str) -> None:
        super().__init__(f"No conversation found for thread '{thread_id}'.", thread_id=thread_id)


class NoToolCallPending(AppError):
    status_code = 400
    code = "no_tool_call_pending"

    def __init__(self, thread_id: str, run_id: str) -> None:
        super().__init__(
            f"Run {run_id} on thread {thread_id} is not waiting for tool outputs.",
            thread_id=thread_id,
            run_id=run_id,
        )


class Unauthorized(AppError):
    status_code = 401
    code = "unauthorized"

    def __init__(self) -> None:
        super().__init__(
            "A valid API key is required: send `Authorization: Bearer <key>` or `X-API-Key: <key>`.",
            headers={"WWW-Authenticate": "Bearer"},
        )


class RateLimited(AppError):
    status_code = 429
    code = "rate_limited"

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(
            f"Too many requests; retry in {retry_after_s} s.",
            headers={"Retry-After": str(retry_after_s)},
            retry_after=retry_after_s,
        )


class PayloadTooLarge(StarletteHTTPException):
    """Raised while the body is read (an HTTPException, so FastAPI's body reading passes it on as it is)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body is larger than {limit} bytes.")


class UnsupportedMediaType(AppError):
    status_code = 415
    code = "unsupported_media_type"

    def __init__(self, expected: str) -> None:
        super().__init__(f"Content-Type must be {expected}.", expected=expected)


class IdempotencyKeyReused(AppError):
    status_code = 422
    code = "idempotency_key_reused"

    def __init__(self) -> None:
        super().__init__(
            "This Idempotency-Key was already used with a different request; use a new key for a new request."
        )


class IdempotencyInProgress(AppError):
    status_code = 409
    code = "idempotency_in_progress"

    def __init__(self) -> None:
        super().__init__(
            "A request with this Idempotency-Key is still in progress; retry shortly to get its answer.",
            headers={"Retry-After": "1"},
        )


class IdempotencyNotSupported(AppError):
    status_code = 422
    code = "idempotency_not_supported"

    def __init__(self) -> None:
        super().__init__(
            "Idempotency-Key is not supported on streaming routes (a stream cannot be replayed); "
            "use POST /chat and follow the run by polling."
        )


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    """The one JSON error shape."""
    return {"success": False, "error": {"code": code, "message": message, **extra}}


@dataclass(frozen=True)
class ErrorAnswer:
    """How an error is answered: status, stable code, safe message, headers and extra fields."""

    status: int
    code: str
    message: str
    headers: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        return error_body(self.code, self.message, **self.extra)

    def response(self) -> JSONResponse:
        return JSONResponse(status_code=self.status, content=self.body(), headers=self.headers or None)


def _field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(part) for part in loc if part not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def validation_answer(errors: list[Any]) -> ErrorAnswer:
    """422 naming each invalid field, from pydantic/FastAPI error dicts."""
    fields = [{"field": _field_name(err.get("loc", ())), "message": str(err.get("msg", ""))} for err in errors]
    summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields) or "Invalid request."
    return ErrorAnswer(422, "validation_error", summary, extra={"fields": fields})


def _upstream_answer(exc: openai.APIError, log: bool) -> ErrorAnswer:
    if log:
        logger.warning(
            "upstream error %s status=%s request_id=%s",
            type(exc).__name__,
            getattr(exc, "status_code", None),
            getattr(exc, "request_id", None),
        )
    if isinstance(exc, openai.AuthenticationError):
        return ErrorAnswer(401, "upstream_auth_failed", "The upstream rejected the configured OPENAI_API_KEY.")
    if isinstance(exc, openai.RateLimitError):
        retry_after = exc.response.headers.get("retry-after")
        return ErrorAnswer(
            429,
            "upstream_rate_limited",
            "The upstream is rate limiting requests; retry later.",
            headers={"Retry-After": retry_after} if retry_after else {},
        )
    if isinstance(exc, openai.APITimeoutError):
        return ErrorAnswer(504, "upstream_timeout", "The upstream did not answer in time.")
    if isinstance(exc, openai.APIConnectionError):
        return ErrorAnswer(502, "upstream_unreachable", "The upstream could not be reached.")
    if isinstance(exc, openai.PermissionDeniedError):
        return ErrorAnswer(502, "upstream_forbidden", "The upstream refused access with the configured credentials.")
    if isinstance(exc, openai.NotFoundError):
        return ErrorAnswer(502, "upstream_not_found", "The upstream could not find a configured resource.")
    if isinstance(exc, openai.APIStatusError) and exc.status_code < 500:
        return ErrorAnswer(502, "upstream_rejected", "The upstream rejected the request.")
    return ErrorAnswer(502, "upstream_error", "The upstream failed to handle the request.")


def answer_for(exc: BaseException, *, log: bool = True) -> ErrorAnswer:
    """The answer for any error: the one mapping, shared by JSON handlers and event streams.

    `log=False` when the same error will be answered (and logged) again later.
    """
    if isinstance(exc, AppError):
        return ErrorAnswer(exc.status_code, exc.code, exc.message, headers=dict(exc.headers), extra=dict(exc.extra))
    if isinstance(exc, RequestValidationError | ValidationError):
        return validation_answer(list(exc.errors()))
    if isinstance(exc, StarletteHTTPException) and exc.status_code == 400:
        # FastAPI/Starlette could not parse the body (not UTF-8, broken multipart): a body error like any other.
        return ErrorAnswer(
            422,
            "validation_error",
            f"body: {exc.detail}",
            extra={"fields": [{"field": "body", "message": str(exc.detail)}]},
        )
    if isinstance(exc, StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(
            exc.status_code, "http_error"
        )
        return ErrorAnswer(exc.status_code, code, str(exc.detail), headers=dict(exc.headers or {}))
    if isinstance(exc, openai.APIError):
        return _upstream_answer(exc, log)
    storage_error = _storage_error_class()
    if storage_error is not None and isinstance(exc, storage_error):
        if log:
            logger.warning("storage error %s", type(exc).__name__)
        return ErrorAnswer(503, "storage_unavailable", "The database is unavailable; retry later.")
    if log:
        logger.error("unhandled error %s", type(exc).__name__, exc_info=exc)
    return ErrorAnswer(500, "internal_error", "Internal server error.")


def _storage_error_class() -> type[Exception] | None:
    """pymongo's base error, once pymongo is loaded (it is imported only when MONGODB_URI is set)."""
    module = sys.modules.get("pymongo.errors")
    return getattr(module, "PyMongoError", None) if module is not None else None


async def _handle(request: Request, exc: Exception) -> JSONResponse:
    return answer_for(exc).response()


def register_error_handlers(app: FastAPI) -> None:
    """Install the handlers that turn every error into the one JSON shape."""
    for error_class in (AppError, RequestValidationError, StarletteHTTPException, openai.APIError):
        app.add_exception_handler(error_class, _handle)
    register_storage_error_handler(app)
    app.add_exception_handler(Exception, _handle)


def register_storage_error_handler(app: FastAPI) -> bool:
    """Answer pymongo's errors like the classes above, if pymongo is loaded; True when newly registered.

    A class of its own, not only the catch-all `Exception`: a class handler answers inside the
    middleware stack (CORS applies, nothing is re-raised), while the catch-all runs outermost and
    Starlette re-raises after it. pymongo is imported when the lifespan opens MongoDB, after the
    middleware stack is built, so the lifespan rebuilds the stack when this returns True.
    """
    error_class = _storage_error_class()
    if error_class is None or error_class in app.exception_handlers:
        return False
    app.add_exception_handler(error_class, _handle)
    return True
