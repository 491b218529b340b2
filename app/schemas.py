"""Request and response models of the HTTP API (JSON keys as the Next.js app uses them)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

THREAD_ID_PATTERN = r"^thread_[A-Za-z0-9]{1,64}$"
MAX_CONTENT_CHARS = 32_000


class ChatRequest(BaseModel):
    """A user message for a thread."""

    model_config = ConfigDict(
        populate_by_name=True,
        json_schema_extra={"examples": [{"content": "Hello!", "threadId": "thread_abc123"}]},
    )

    content: str = Field(
        min_length=1,
        max_length=MAX_CONTENT_CHARS,
        description="The user's message: non-empty text, not only white space.",
    )
    thread_id: str = Field(
        alias="threadId",
        pattern=THREAD_ID_PATTERN,
        description="The thread to post to, e.g. `thread_abc123`.",
    )

    @field_validator("content")
    @classmethod
    def _has_text(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must contain text, not only white space")
        return value


class ChatStarted(BaseModel):
    """The run was started; poll or stream it by its id."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"success": True, "run_id": "run_abc123", "thread_id": "thread_abc123"}]}
    )

    success: Literal[True] = True
    run_id: str
    thread_id: str


class Health(BaseModel):
    """Service status."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "ok",
                    "service": "chat-backend",
                    "version": "0.1.0",
                    "engine": "assistants",
                    "storage": "mongodb",
                    "chat_configured": True,
                }
            ]
        }
    )

    status: Literal["ok"] = "ok"
    service: str
    version: str
    engine: str
    storage: str
    chat_configured: bool


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="allow")

    code: str = Field(description="Stable, machine-readable error code, e.g. `active_run`.")
    message: str = Field(description="What went wrong, for people.")


class ErrorAnswer(BaseModel):
    """Every error answer has this shape."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "success": False,
                    "error": {
                        "code": "active_run",
                        "message": "Thread thread_abc123 already has an active run run_abc123. "
                        "Wait for it to finish (or cancel it) before sending another message.",
                        "thread_id": "thread_abc123",
                        "run_id": "run_abc123",
                    },
                }
            ]
        }
    )

    success: Literal[False] = False
    error: ErrorDetail


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries documenting the error shape for the given statuses."""
    descriptions = {
        400: "Bad request, or the thread already has an active run (`active_run`)",
        401: "The upstream rejected the configured API key",
        404: "Unknown thread",
        422: "Invalid body: the `error.fields` list names each field",
        429: "Upstream rate limit; `Retry-After` is passed on",
        502: "Upstream failed or unreachable",
        503: "Chat not configured, or storage unavailable",
        504: "Upstream timed out",
    }
    return {s: {"model": ErrorAnswer, "description": descriptions.get(s, "Error")} for s in statuses}
