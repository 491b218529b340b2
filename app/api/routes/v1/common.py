"""What the /v1 resources share: the hosted-engine gate, the API's objects in OpenAI's shapes, list pages."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from fastapi import Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator, model_validator

from app.api.routes.v1.passthrough import FILE_ID_PATTERN
from app.config import Settings
from app.engines.hosted.objects import epoch, text_content
from app.engines.hosted.pages import PageQuery
from app.engines.hosted.run_spec import NewMessage
from app.errors import HostedEngineRequired
from app.services.assistants import (
    MAX_METADATA_KEYS,
    AssistantCreate,
    CodeInterpreterResources,
    FileSearchResources,
    ToolResources,
    _metadata_checked,
)
from app.services.assistants_api import AssistantsApi
from app.storage.threads import MessageRecord, ThreadRecord

V1_PREFIX = "/v1"
HOSTED_ONLY = (
    "The OpenAI-compatible Assistants API under /v1 is served only with ENGINE=hosted (threads, messages and "
    "runs kept by this service); this server runs ENGINE=assistants."
)


async def require_hosted(request: Request) -> None:
    """Every /v1 route: 400 naming ENGINE=hosted when the service runs another engine."""
    settings: Settings = request.app.state.settings
    if settings.engine != "hosted":
        raise HostedEngineRequired(HOSTED_ONLY)


async def get_api(request: Request) -> AssistantsApi:
    state = request.app.state
    return AssistantsApi(
        state.engine.hosted(), state.assistants, state.thread_access, state.chat_service, state.upstream_objects
    )


ApiDep = Annotated[AssistantsApi, Depends(get_api)]
PageDep = Annotated[PageQuery, Query()]


class StrictBody(BaseModel):
    """A body, or a part of one, that refuses fields it does not know, as OpenAI does."""

    model_config = ConfigDict(extra="forbid")


class Metadata(StrictBody):
    """A body with only `metadata` (updates)."""

    metadata: dict[str, StrictStr] | None = Field(default=None, description=f"At most {MAX_METADATA_KEYS} keys.")

    _metadata = field_validator("metadata")(_metadata_checked)


class TextPart(StrictBody):
    type: Literal["text"]
    text: StrictStr


class AttachmentTool(StrictBody):
    type: Literal["file_search", "code_interpreter"]


class Attachment(StrictBody):
    """A file (uploaded with `POST /v1/files`) and the tools it is added to."""

    file_id: StrictStr = Field(pattern=FILE_ID_PATTERN)
    tools: list[AttachmentTool] = Field(min_length=1, max_length=2)


class MessageCreate(Metadata):
    """A message, as `POST /v1/threads/{id}/messages` (and `messages`, `additional_messages`) take it."""

    role: Literal["user", "assistant"]
    content: StrictStr | list[TextPart] = Field(description="A string, or text parts.")
    attachments: list[Attachment] | None = Field(
        default=None, max_length=10, description="Files added to the thread's file_search or code_interpreter."
    )

    def new_message(self) -> NewMessage:
        text = self.content if isinstance(self.content, str) else "".join(part.text for part in self.content)
        attachments = [attachment.model_dump() for attachment in self.attachments or ()]
        return NewMessage(self.role, text, dict(self.metadata) if self.metadata else None, attachments or None)


class NewVectorStore(Metadata):
    """`tool_resources.file_search.vector_stores[0]`: a vector store to make in the upstream from files."""

    file_ids: list[Annotated[str, Field(pattern=FILE_ID_PATTERN)]] = Field(default_factory=list, max_length=500)
    chunking_strategy: dict[str, Any] | None = None


class ThreadFileSearch(FileSearchResources):
    """The thread's vector store: an existing one (`vector_store_ids`), or one made from files (`vector_stores`)."""

    vector_stores: list[NewVectorStore] | None = Field(default=None, max_length=1)

    @model_validator(mode="after")
    def _one_store(self) -> ThreadFileSearch:
        if self.vector_stores and self.vector_store_ids:
            raise ValueError("one vector store: give vector_store_ids or vector_stores, not both")
        return self


class NewAssistantResources(ToolResources):
    """A new assistant's `tool_resources`: its vector store may be made from files (`file_search.vector_stores`)."""

    file_search: ThreadFileSearch | None = None


class AssistantCreateBody(AssistantCreate):
    """`POST /v1/assistants`: OpenAI's create body, whose `file_search.vector_stores` makes a store."""

    tool_resources: NewAssistantResources | None = None


class ThreadResources(StrictBody):
    """A thread's `tool_resources`: its vector store (one) and its code_interpreter files."""

    file_search: FileSearchResources | None = None
    code_interpreter: CodeInterpreterResources | None = None

    def stored(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class NewThreadResources(ThreadResources):
    """A new thread's `tool_resources`: its vector store may be made from files (`file_search.vector_stores`)."""

    file_search: ThreadFileSearch | None = None


class ThreadCreate(Metadata):
    """A new thread (`POST /v1/threads`, and `thread` of `POST /v1/threads/runs`)."""

    messages: list[MessageCreate] = Field(default_factory=list, max_length=32)
    tool_resources: NewThreadResources | None = None


class NestedThread(ThreadCreate):
    """`thread` of `POST /v1/threads/runs`. The SDK may fill it from its own object (`thread=<a Thread>`), and then
    sends the object's read-only fields too: they are dropped, as OpenAI drops them; other unknown ones are refused."""

    read_only: ClassVar[frozenset[str]] = frozenset({"id", "object", "created_at"})

    @model_validator(mode="before")
    @classmethod
    def _without_read_only(cls, data: Any) -> Any:
        if isinstance(data, dict) and not cls.read_only.isdisjoint(data):
            return {key: value for key, value in data.items() if key not in cls.read_only}
        return data


def thread_object(thread: ThreadRecord) -> dict[str, Any]:
    return {
        "id": thread.id,
        "object": "thread",
        "created_at": epoch(thread.created_at),
        "metadata": dict(thread.metadata or {}),
        "tool_resources": dict(thread.tool_resources or {}),
    }


def message_object(message: MessageRecord, assistant_id: str | None = None) -> dict[str, Any]:
    created_at = epoch(message.created_at)
    return {
        "id": message.id,
        "object": "thread.message",
        "created_at": created_at,
        "assistant_id": assistant_id,
        "thread_id": message.thread_id,
        "run_id": message.run_id,
        "role": message.role,
        "status": "completed",
        "incomplete_details": None,
        "completed_at": created_at if message.role == "assistant" else None,
        "incomplete_at": None,
        "content": text_content(message.text, message.annotations),
        "attachments": [dict(attachment) for attachment in message.attachments or ()],
        "metadata": dict(message.metadata or {}),
    }
