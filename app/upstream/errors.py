"""The one translation of the SDK's errors into the domain's `UpstreamError`s, for both engines.

The upstream's own text is kept on the error (for engines that recognise refusals, and the log);
clients only ever get the error's own message.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx2
import openai

from app.errors import (
    UpstreamAuthFailed,
    UpstreamError,
    UpstreamForbidden,
    UpstreamNotFound,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnreachable,
)

_VALIDATION_ERROR = re.compile(r"\bvalidation errors?\b", re.IGNORECASE)


def upstream_message(exc: openai.APIError) -> str:
    """The message the upstream wrote (`{"error": {"message": ...}}`), else the SDK's."""
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])
    return str(exc.message or "")


def _outcome_unknown(exc: openai.APIError) -> bool:
    """True when the request may have taken effect upstream although it failed."""
    if isinstance(exc, openai.APITimeoutError):
        return True
    if isinstance(exc, openai.APIConnectionError):
        # No connection made means nothing was sent; a connection lost mid-request may have delivered it.
        return not isinstance(exc.__cause__, httpx2.ConnectError)
    return isinstance(exc, openai.APIStatusError) and exc.status_code >= 500


def deterministic_failure(status: int, text: str) -> bool:
    """A 500 whose body is a validation error (llama-cpp-python's answer to a message it cannot parse): the same
    request fails the same way again, so it is not retried, whatever the SDK's rule says of a 500."""
    return status == 500 and _VALIDATION_ERROR.search(text) is not None


def _retryable(exc: openai.APIError) -> bool:
    """The SDK's retry rule, read from the error (its response's status and `x-should-retry`), but for a
    deterministic failure."""
    if isinstance(exc, openai.APIConnectionError):
        return True
    if not isinstance(exc, openai.APIStatusError):
        return False
    if deterministic_failure(exc.status_code, upstream_message(exc)):
        return False
    should_retry = exc.response.headers.get("x-should-retry")
    if should_retry in ("true", "false"):
        return should_retry == "true"
    return exc.status_code in (408, 409, 429) or exc.status_code >= 500


def _error_class(exc: openai.APIError) -> type[UpstreamError]:
    if isinstance(exc, openai.AuthenticationError):
        return UpstreamAuthFailed
    if isinstance(exc, openai.RateLimitError):
        return UpstreamRateLimited
    if isinstance(exc, openai.APITimeoutError):
        return UpstreamTimeout
    if isinstance(exc, openai.APIConnectionError):
        return UpstreamUnreachable
    if isinstance(exc, openai.PermissionDeniedError):
        return UpstreamForbidden
    if isinstance(exc, openai.NotFoundError):
        return UpstreamNotFound
    if isinstance(exc, openai.APIStatusError) and exc.status_code < 500:
        return UpstreamRejected
    return UpstreamError


def translate(exc: openai.APIError) -> UpstreamError:
    """The domain error for an SDK error (raise it `from exc`)."""
    status = exc.status_code if isinstance(exc, openai.APIStatusError) else None
    retry_after = exc.response.headers.get("retry-after") if isinstance(exc, openai.RateLimitError) else None
    return _error_class(exc)(
        upstream_status=status,
        upstream_message=upstream_message(exc),
        upstream_type=type(exc).__name__,
        request_id=getattr(exc, "request_id", None),
        outcome_unknown=_outcome_unknown(exc),
        retryable=_retryable(exc),
        headers={"Retry-After": retry_after} if retry_after else {},
    )


@asynccontextmanager
async def translated() -> AsyncIterator[None]:
    """Run SDK calls whose errors leave as `UpstreamError`s."""
    try:
        yield
    except openai.APIError as exc:
        raise translate(exc) from exc
