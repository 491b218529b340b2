"""The domain error tree: every error the service answers with on purpose.

Each has a stable `code`, an HTTP `status_code` and a message safe to show; `app/api/error_handlers.py`
turns them into HTTP answers, `app/upstream/errors.py` makes the `UpstreamError`s.
"""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException as StarletteHTTPException

# The codes the Assistants API uses in a failed run's `last_error`.
SERVER_ERROR = "server_error"
RATE_LIMIT_EXCEEDED = "rate_limit_exceeded"
INVALID_PROMPT = "invalid_prompt"


class AppError(Exception):
    """An error with a stable code and an HTTP status; its message is safe to show.

    A class with `fields` takes them positionally (kept in `extra`, shown in the body); the others take an
    optional message. Without a message, `default_message` formatted with `extra` (`{thread_id}`) is used.
    """

    status_code = 500
    code = "internal_error"
    default_message = "Internal error."
    default_headers: dict[str, str] = {}
    fields: tuple[str, ...] = ()

    def __init__(self, *args: Any, headers: dict[str, str] | None = None, **extra: Any) -> None:
        message = None if self.fields else (args[0] if args else None)
        self.extra = dict(zip(self.fields, args, strict=True)) if self.fields else {}
        self.extra.update(extra)
        self.message = message or self.default_message.format(**self.extra)
        super().__init__(self.message)
        self.headers = headers or dict(self.default_headers)


class InvalidRequest(AppError):
    status_code = 400
    code = "invalid_request"


class UnstorableValue(InvalidRequest):
    """A value no store keeps as it came (a key with U+0000, a record over 16 MiB): the same 400 on every store."""


class InvalidField(AppError):
    """A request field that failed a check made outside the schema; same shape as schema errors."""

    status_code = 422
    code = "validation_error"

    def __init__(self, field_name: str, problem: str) -> None:
        super().__init__(f"{field_name}: {problem}", fields=[{"field": field_name, "message": problem}])


class ThreadNotFound(AppError):
    status_code = 404
    code = "thread_not_found"
    default_message = "No thread found with id '{thread_id}'."
    fields = ("thread_id",)


class RunNotFound(AppError):
    status_code = 404
    code = "run_not_found"
    default_message = "No run found with id '{run_id}' on thread '{thread_id}'."
    fields = ("thread_id", "run_id")


class NotFound(AppError):
    status_code = 404
    code = "not_found"


class AssistantNotFound(AppError):
    status_code = 404
    code = "assistant_not_found"
    default_message = "No assistant found with id '{assistant_id}'."
    fields = ("assistant_id",)


class OperatorObjectReadOnly(AppError):
    """The operator's assistants and vector stores: used by everyone's runs, changed only by the operator."""

    status_code = 403
    code = "read_only"
    default_message = (
        "{object_id} belongs to this service's operator (ASSISTANTS_FILE, OPENAI_ASSISTANT_ID, the built-in "
        "default assistant or a configured vector store): it can be used but not changed through this API."
    )
    fields = ("object_id",)


class HostedEngineRequired(AppError):
    status_code = 400
    code = "hosted_engine_required"
    default_message = (
        "Assistants are stored by this service only with ENGINE=hosted; with ENGINE=assistants they "
        "live in the upstream Assistants API (OPENAI_ASSISTANT_ID)."
    )


class RunAlreadyActive(AppError):
    status_code = 400
    code = "active_run"

    def __init__(self, thread_id: str, run_id: str | None) -> None:
        run = f" {run_id}" if run_id else ""
        message = f"Thread {thread_id} already has an active run{run}. Wait for it to finish (or cancel it) before "
        super().__init__(message + "sending another message.", thread_id=thread_id, run_id=run_id)


class ThreadBusy(AppError):
    """Another request keeps changing the thread (a short write, not a run): retry (the SDKs retry a 409)."""

    status_code = 409
    code = "thread_busy"
    default_message = "Thread {thread_id} is being changed by another request; retry."
    fields = ("thread_id",)


class ChatNotConfigured(AppError):
    status_code = 503
    code = "chat_not_configured"
    default_message = "Chat is not configured: set {missing} in the environment or .env and restart."
    fields = ("missing",)


class AssistantsApiUnavailable(AppError):
    status_code = 502
    code = "assistants_api_unavailable"
    default_message = (
        "The upstream does not serve the Assistants API (OpenAI shut it down on "
        "2026-08-26). Set ENGINE=hosted to keep threads in this service's MongoDB."
    )


class RunNotActive(AppError):
    status_code = 409
    code = "run_not_active"
    default_message = "Run {run_id} on thread {thread_id} is not active: it cannot be cancelled or take tool outputs."
    fields = ("thread_id", "run_id")


class StreamBrokeOff(AppError):
    status_code = 502
    code = "upstream_stream_broken"
    default_message = "The run's event stream ended before the run finished."


class StreamFellBehind(AppError):
    status_code = 503
    code = "stream_fell_behind"
    default_message = "The stream was read too slowly and was closed; the run goes on (fetch it by its id)."


class ConversationNotFound(AppError):
    status_code = 404
    code = "conversation_not_found"
    default_message = "No conversation found for thread '{thread_id}'."
    fields = ("thread_id",)


class NoToolCallPending(AppError):
    status_code = 400
    code = "no_tool_call_pending"
    default_message = "Run {run_id} on thread {thread_id} is not waiting for tool outputs."
    fields = ("thread_id", "run_id")


class Unauthorized(AppError):
    status_code = 401
    code = "unauthorized"
    default_message = "A valid API key is required: send `Authorization: Bearer <key>` or `X-API-Key: <key>`."
    default_headers = {"WWW-Authenticate": "Bearer"}


class RateLimited(AppError):
    status_code = 429
    code = "rate_limited"
    default_message = "Too many requests; retry in {retry_after} s."
    fields = ("retry_after",)

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(retry_after_s, headers={"Retry-After": str(retry_after_s)})


class ThreadLimitReached(AppError):
    status_code = 429
    code = "thread_limit_reached"
    default_message = (
        "This user already has {limit} threads, the most the service allows per user; "
        "no new thread can be created for it."
    )
    fields = ("limit",)


class PayloadTooLarge(StarletteHTTPException):
    """Raised while the body is read: an HTTPException, so FastAPI's body reading passes it on as it is."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body is larger than {limit} bytes.")


class UnsupportedMediaType(AppError):
    status_code = 415
    code = "unsupported_media_type"
    default_message = "Content-Type must be {expected}."
    fields = ("expected",)


class IdempotencyKeyReused(AppError):
    status_code = 422
    code = "idempotency_key_reused"
    default_message = "This Idempotency-Key was already used with a different request; use a new key for a new request."


class IdempotencyInProgress(AppError):
    status_code = 409
    code = "idempotency_in_progress"
    default_message = "A request with this Idempotency-Key is still in progress; retry shortly to get its answer."
    default_headers = {"Retry-After": "1"}


class IdempotencyNotSupported(AppError):
    status_code = 422
    code = "idempotency_not_supported"
    default_message = (
        "Idempotency-Key is not supported on streaming routes (a stream cannot be replayed); "
        "use POST /chat and follow the run by polling."
    )


class DuplicateStoredKey(AppError):
    """Stored data breaks a unique key the service relies on (data written before its index existed): start-up stops."""

    code = "duplicate_stored_key"
    default_message = (
        "The {collection} collection holds more than one document with {key}, so its unique index {index} "
        "cannot be built: remove the duplicates (keep one), then start again."
    )
    fields = ("collection", "index", "key")


class UnsupportedDatabase(AppError):
    """MONGODB_URI names a server older than the service supports: start-up stops."""

    code = "unsupported_database"
    default_message = (
        "MongoDB {version} is older than {minimum}, the oldest version this service supports (metadata keys "
        "with '.' or '$' need it): upgrade the server."
    )
    fields = ("version", "minimum")


class StorageUnavailable(AppError):
    """The database could not be reached or failed; raised by the stores for their driver's errors."""

    status_code = 503
    code = "storage_unavailable"
    default_message = "The database is unavailable; retry later."


class UpstreamError(AppError):
    """The upstream (OpenAI or a compatible server) failed; its own text never reaches a client.

    `upstream_status`/`upstream_message`: what it said (for refusals and the log); `outcome_unknown`: the
    request may have taken effect (timeout, 5xx, connection lost); `retryable`: the SDK's retry rule says so.
    """

    status_code = 502
    code = "upstream_error"
    default_message = "The upstream failed to handle the request."
    # A hosted run's `last_error` (code, message) for this error; no message: one naming the status.
    run_error_code = SERVER_ERROR
    run_error_message = ""

    def __init__(
        self,
        *,
        upstream_status: int | None = None,
        upstream_message: str = "",
        upstream_type: str = "",
        request_id: str | None = None,
        outcome_unknown: bool = False,
        retryable: bool = False,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(headers=headers)
        self.upstream_status = upstream_status
        self.upstream_message = upstream_message
        self.upstream_type = upstream_type or type(self).__name__
        self.request_id = request_id
        self.outcome_unknown = outcome_unknown
        self.retryable = retryable

    def with_posting_outcome(self, posted: bool | None) -> UpstreamError:
        """Say in the answer whether the user's message reached the thread (None: it cannot be known yet)."""
        self.extra["posted"] = posted
        if posted is None:
            self.message += " The message may have been posted: check the thread before sending it again."
        elif not posted:
            self.message += " The message was not posted."
        return self

    def run_error(self) -> tuple[str, str]:
        """The `last_error` (code, message) of a hosted run that failed with this error."""
        if self.run_error_message:
            return self.run_error_code, self.run_error_message
        if self.upstream_status is not None:
            return SERVER_ERROR, f"The model provider failed (status {self.upstream_status})."
        return SERVER_ERROR, "The model provider reported an error while answering."


class UpstreamAuthFailed(UpstreamError):
    status_code = 401
    code = "upstream_auth_failed"
    default_message = "The upstream rejected the configured OPENAI_API_KEY."
    run_error_message = "The model provider rejected the configured OPENAI_API_KEY."


class UpstreamRateLimited(UpstreamError):
    status_code = 429
    code = "upstream_rate_limited"
    default_message = "The upstream is rate limiting requests; retry later."
    run_error_code = RATE_LIMIT_EXCEEDED
    run_error_message = "The model provider is rate limiting requests; try again later."


class UpstreamTimeout(UpstreamError):
    status_code = 504
    code = "upstream_timeout"
    default_message = "The upstream did not answer in time."
    run_error_message = "The model did not answer in time."


class UpstreamUnreachable(UpstreamError):
    code = "upstream_unreachable"
    default_message = "The upstream could not be reached."
    run_error_message = "The model provider could not be reached."


class UpstreamForbidden(UpstreamError):
    code = "upstream_forbidden"
    default_message = "The upstream refused access with the configured credentials."


class UpstreamNotFound(UpstreamError):
    code = "upstream_not_found"
    default_message = "The upstream could not find a configured resource."


class UpstreamRejected(UpstreamError):
    """A 4xx other than the ones above (400 and 422 among them)."""

    code = "upstream_rejected"
    default_message = "The upstream rejected the request."

    def run_error(self) -> tuple[str, str]:
        if self.upstream_status == 400:
            return INVALID_PROMPT, "The model provider rejected the request (status 400)."
        return super().run_error()


class UpstreamNoSuchEndpoint(AppError):
    status_code = 404
    code = "upstream_endpoint_missing"
    default_message = (
        "The upstream (OPENAI_BASE_URL) has no endpoint {method} {path}: it does not serve OpenAI's files and "
        "vector stores, so this service cannot pass the request on."
    )
    fields = ("method", "path")  # `path` holds no query: the passthrough sends its parameters apart
