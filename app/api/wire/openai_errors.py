"""Error answers in OpenAI's shape, for the OpenAI-compatible API under /v1.

`{"error": {"message", "type", "param", "code"}}`, as the OpenAI SDKs read it (they raise
`NotFoundError`, `BadRequestError`, `AuthenticationError`, ... from the status and show `message`):
the /v1 sub-application's handlers (`register_error_handlers`) write every error, access refusals included, so.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from app.api.error_handlers import HttpAnswer, answer_for
from app.errors import RunAlreadyActive, RunNotFound

INVALID_REQUEST = "invalid_request_error"


def openai_error(
    message: str, *, type_: str = INVALID_REQUEST, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


# The tags pydantic puts in an error's location for a union's member (`str`, `list[str]`, `literal['auto']`,
# `function-after[...]`): not names of fields, whose names may start the same way (`string_value`, `interval`).
_UNION_TAG = re.compile(
    r"(?:str|int|float|bool|bytes|none|any|decimal|date|datetime|time|timedelta|uuid|url|constrained-[a-z]+)"
    r"|[a-z][a-z-]*\[.*\]",
    re.DOTALL,
)


def param_name(loc: tuple[Any, ...] | list[Any]) -> str | None:
    """`messages[0].content` for the location ("body", "messages", 0, "content")."""
    name = ""
    for part in loc:
        if part in ("body", "query", "path", "header") and not name:
            continue
        if isinstance(part, int):
            name += f"[{part}]"
        elif not _UNION_TAG.fullmatch(str(part)):
            name += f".{part}" if name else str(part)
    return name or None


def _validation(errors: list[Any]) -> tuple[str, str | None, str | None]:
    """(message, param, code) for the first problem, worded as OpenAI words it."""
    if not errors:
        return "Invalid request.", None, None
    error = errors[0]
    kind = error.get("type")
    if kind == "json_invalid":
        return "We could not parse the JSON body of your request. Send valid JSON.", None, None
    param = param_name(error.get("loc", ()))
    if kind == "extra_forbidden":
        return f"Unrecognized request argument supplied: {param}", param, "unknown_parameter"
    if kind == "missing":
        return f"Missing required parameter: '{param}'.", param, "missing_required_parameter"
    return f"Invalid '{param}': {error.get('msg', 'invalid value')}.", param, "invalid_value"


def _body(exc: BaseException, answer: HttpAnswer) -> tuple[int, dict[str, Any]]:
    if isinstance(exc, RequestValidationError | ValidationError):
        message, param, code = _validation(list(exc.errors()))
        return 400, openai_error(message, param=param, code=code)
    if answer.code == "validation_error":  # a check made outside the schema (InvalidField), or an unreadable body
        fields = answer.extra.get("fields") or [{}]
        param = fields[0].get("field")
        return 400, openai_error(answer.message, param=None if param == "body" else param, code="invalid_value")
    if isinstance(exc, RunAlreadyActive):
        run = f" {exc.extra['run_id']}" if exc.extra.get("run_id") else ""
        return 400, openai_error(f"Thread {exc.extra['thread_id']} already has an active run{run}.")
    if isinstance(exc, RunNotFound):
        return 404, openai_error(f"No run found with id '{exc.extra['run_id']}'.")
    if answer.status == 401:
        return 401, openai_error("Incorrect API key provided.", code="invalid_api_key")
    if answer.status == 429 and answer.code == "rate_limited":
        return 429, openai_error(answer.message, type_="requests", code="rate_limit_exceeded")
    if answer.status == 404:
        return 404, openai_error(answer.message)
    if answer.status >= 500:
        return answer.status, openai_error(answer.message, type_="server_error", code=answer.code)
    param = answer.extra.get("field")
    status = 400 if answer.status == 422 else answer.status  # OpenAI answers a request it refuses 400
    return status, openai_error(answer.message, param=param if isinstance(param, str) else None, code=answer.code)


def describe_openai_error(exc: BaseException) -> tuple[int, dict[str, Any]]:
    """(status, OpenAI-shaped body) of an error, for answers kept under an Idempotency-Key."""
    return _body(exc, answer_for(exc, log=False))


def openai_error_response(exc: BaseException, answer: HttpAnswer) -> JSONResponse:
    """The OpenAI-shaped answer for an error (its headers, e.g. Retry-After, kept)."""
    status, body = _body(exc, answer)
    return JSONResponse(status_code=status, content=body, headers=answer.headers or None)
