"""Request and response models of the HTTP API (JSON keys as the Next.js app uses them)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator

from app.engines.base import ToolOutput
from app.engines.hosted.tool_calls import MAX_TOOL_OUTPUT_CHARS

THREAD_ID_PATTERN = r"^thread_[A-Za-z0-9]{1,64}$"
RUN_ID_PATTERN = r"^run_[A-Za-z0-9]{1,64}$"
MESSAGE_ID_PATTERN = r"^msg_[A-Za-z0-9]{1,64}$"
STEP_ID_PATTERN = r"^step_[A-Za-z0-9]{1,64}$"
# The quickstart's files (/v1 takes the upstream's longer ids: `routes/v1/passthrough.py`).
FILE_ID_PATTERN = r"^file-[A-Za-z0-9_-]{1,64}$"
ThreadId = Annotated[str, Path(pattern=THREAD_ID_PATTERN, examples=["thread_abc123"])]
RunId = Annotated[str, Path(pattern=RUN_ID_PATTERN, examples=["run_abc123"])]
# The largest MAX_CONTENT_CHARS allows; the configured limit is checked by the chat service.
MAX_CONTENT_CHARS = 256_000


def _has_text(value: str) -> str:
    if not value.strip():
        raise ValueError("must contain text, not only white space")
    return value


class MessageContent(BaseModel):
    """A user message (the Next.js route's body)."""

    content: str = Field(
        min_length=1,
        max_length=MAX_CONTENT_CHARS,
        description="The user's message: non-empty text, not only white space.",
    )

    _content = field_validator("content")(_has_text)


class ChatRequest(MessageContent):
    """A user message for a thread."""

    model_config = ConfigDict(
        populate_by_name=True, json_schema_extra={"examples": [{"content": "Hello!", "threadId": "thread_abc123"}]}
    )

    thread_id: str = Field(
        alias="threadId", pattern=THREAD_ID_PATTERN, description="The thread to post to, e.g. `thread_abc123`."
    )


class ChatStarted(BaseModel):
    """The run was started; poll or stream it by its id."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"success": True, "run_id": "run_abc123", "thread_id": "thread_abc123"}]}
    )

    success: Literal[True] = True
    run_id: str
    thread_id: str


class SubmittedToolOutput(BaseModel):
    """The answer to one function call; `output` left out is empty (chat.tsx leaves it out when its
    handler returns nothing)."""

    tool_call_id: StrictStr = Field(min_length=1, max_length=200)
    output: StrictStr = Field(default="", max_length=MAX_TOOL_OUTPUT_CHARS, description="At most 524288 characters.")

    def as_output(self) -> ToolOutput:
        return ToolOutput(tool_call_id=self.tool_call_id, output=self.output)


class ToolOutputsBody(BaseModel):
    """Outputs for every call of a run in `requires_action`."""

    tool_outputs: list[SubmittedToolOutput] = Field(min_length=1, max_length=128)

    def outputs(self) -> list[ToolOutput]:
        return [output.as_output() for output in self.tool_outputs]


class Health(BaseModel):
    """Service status."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "ok",
                    "service": "chat-backend",
                    "version": "0.1.0",
                    "engine": "hosted",
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


class Liveness(BaseModel):
    """The process is up and its event loop answers."""

    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    """The service can take traffic: storage reachable, no conversation writes waiting."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"status": "ready", "storage": "ok", "pending_upserts": 0}]}
    )

    status: Literal["ready"] = "ready"
    storage: Literal["ok"] = "ok"
    pending_upserts: int


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
        401: "Missing or invalid API key (`unauthorized`), or the upstream rejected the configured OpenAI key",
        404: "Unknown thread or assistant (or another user's)",
        409: "Conflict: the run is not active, or a request with this Idempotency-Key is still in progress",
        413: "Body larger than the limit (`payload_too_large`)",
        415: "Body is not `application/json` (`unsupported_media_type`)",
        422: "Invalid body: the `error.fields` list names each field",
        429: "Rate limit (`rate_limited`) or the upstream's (`upstream_rate_limited`), see `Retry-After`; "
        "or the user owns the most threads allowed (`thread_limit_reached`, embedded store)",
        502: "Upstream failed or unreachable",
        503: "Chat not configured, or storage unavailable",
        504: "Upstream timed out",
    }
    return {s: {"model": ErrorAnswer, "description": descriptions.get(s, "Error")} for s in statuses}


class ThreadCreatedNext(BaseModel):
    """The Next.js route's answer."""

    model_config = ConfigDict(populate_by_name=True)

    thread_id: str = Field(alias="threadId")


class ThreadCreated(BaseModel):
    """A new, empty thread."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"thread_id": "thread_abc123"}]})

    thread_id: str


class ConversationOut(BaseModel):
    """A conversation, with the Next.js app's field names."""

    model_config = ConfigDict(
        populate_by_name=True,
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "threadId": "thread_abc123",
                    "userId": "default-user",
                    "name": "2026-11-24 10:30:00",
                    "isGroup": False,
                    "createdAt": "2026-11-24T10:30:00Z",
                    "updatedAt": "2026-11-24T10:42:10Z",
                }
            ]
        },
    )

    thread_id: str = Field(alias="threadId")
    user_id: str = Field(alias="userId")
    name: str
    is_group: bool = Field(alias="isGroup")
    created_at: datetime = Field(alias="createdAt")
    updated_at: datetime = Field(alias="updatedAt")


class ConversationPage(BaseModel):
    """A page of conversations, newest first."""

    data: list[ConversationOut]
    has_more: bool
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class ConversationRename(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "Trip to Oslo"}]})

    name: str = Field(min_length=1, max_length=200)

    @field_validator("name")
    @classmethod
    def _stripped(cls, value: str) -> str:
        return _has_text(value).strip()


class FileEntry(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    file_id: str
    filename: str
    status: str


class FileDelete(BaseModel):
    file_id: str = Field(alias="fileId", pattern=FILE_ID_PATTERN)


class AssistantCreated(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    assistant_id: str = Field(alias="assistantId")
