"""The one place that maps every exception to an HTTP answer.

Every error answer has the same JSON shape::

    {"success": false, "error": {"code": "...", "message": "...", ...extra fields}}

Upstream and database texts never reach the client: they are logged with the exception type
and the upstream request id, and the client gets the domain error's own text.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import Scope

from app.api.routing import ApiRoute
from app.errors import AppError, StorageUnavailable, UpstreamError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class HttpAnswer:
    """How an error is answered: status, stable code, safe message, headers and extra fields."""

    status: int
    code: str
    message: str
    headers: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        """The one JSON error shape."""
        return {"success": False, "error": {"code": self.code, "message": self.message, **self.extra}}

    def response(self) -> JSONResponse:
        return JSONResponse(status_code=self.status, content=self.body(), headers=self.headers or None)


def _field_name(loc: tuple[Any, ...] | list[Any], error_type: object = None) -> str:
    if error_type == "json_invalid":
        return "body"  # its loc is ("body", <byte offset of the error>): the offset names no field
    parts = [str(part) for part in loc if part not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def validation_answer(errors: list[Any]) -> HttpAnswer:
    """422 naming each invalid field, from pydantic/FastAPI error dicts."""
    fields = [
        {"field": _field_name(err.get("loc", ()), err.get("type")), "message": str(err.get("msg", ""))}
        for err in errors
    ]
    summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields) or "Invalid request."
    return HttpAnswer(422, "validation_error", summary, extra={"fields": fields})


def answer_for(exc: BaseException, *, log: bool = True) -> HttpAnswer:
    """The answer for any error, shared by JSON handlers and event streams (`log=False`: logged elsewhere)."""
    if isinstance(exc, AppError):
        if log and isinstance(exc, UpstreamError):
            logger.warning(
                "upstream error %s status=%s request_id=%s", exc.upstream_type, exc.upstream_status, exc.request_id
            )
        elif log and isinstance(exc, StorageUnavailable):
            logger.warning("storage error %s", type(exc.__cause__).__name__)
        return HttpAnswer(exc.status_code, exc.code, exc.message, headers=dict(exc.headers), extra=dict(exc.extra))
    if isinstance(exc, RequestValidationError | ValidationError):
        return validation_answer(list(exc.errors()))
    if isinstance(exc, StarletteHTTPException) and exc.status_code == 400:
        # FastAPI/Starlette could not parse the body (not UTF-8, broken multipart): a body error like any other.
        return validation_answer([{"loc": ("body",), "msg": exc.detail}])
    if isinstance(exc, StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(exc.status_code)
        return HttpAnswer(exc.status_code, code or "http_error", str(exc.detail), headers=dict(exc.headers or {}))
    if log:
        logger.error("unhandled error %s", type(exc).__name__, exc_info=exc)
    return HttpAnswer(500, "internal_error", "Internal server error.")


def error_response(scope: Scope, exc: BaseException) -> Response:
    """The answer to an error (from middleware, a dependency or a route), in the format the path's clients read."""
    answer = answer_for(exc)
    route = scope.get("route")
    if isinstance(route, ApiRoute):
        return route.render_error(answer)
    return answer.response()


# The errors answered as they are; any other is unexpected (a 500).
HANDLED = (AppError, RequestValidationError, ValidationError, StarletteHTTPException)


def register_error_handlers(
    app: FastAPI, render: Callable[[BaseException, HttpAnswer], Response] | None = None
) -> None:
    """Install the handlers that answer every error in the one JSON shape, or in `render`'s (/v1: OpenAI's)."""

    async def handle(request: Request, exc: Exception) -> Response:
        if render is None:
            return error_response(request.scope, exc)
        # A mounted application re-raises an unexpected error after answering it, and the parent logs it then.
        return render(exc, answer_for(exc, log=isinstance(exc, HANDLED)))

    for error_class in (*HANDLED, Exception):
        app.add_exception_handler(error_class, handle)
