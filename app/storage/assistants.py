"""Assistants of the hosted engine: the stored record and the store protocol.

An assistant belongs to a user (`owner`): the routes show each user only their own. Pages are
ordered by (created_at, id), so a cursor is an assistant of the page before.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from app.storage.records import IndexedStore


@dataclass(frozen=True)
class AssistantRecord:
    """An assistant, with the Assistants API's fields. `tools` are tool objects (`{"type": ...}`)."""

    id: str
    owner: str
    created_at: datetime
    model: str
    name: str | None = None
    description: str | None = None
    instructions: str | None = None
    tools: tuple[dict[str, Any], ...] = ()
    tool_resources: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    # Its runs' defaults: None, the model's (`response_format` None: "auto").
    temperature: float | None = None
    top_p: float | None = None
    response_format: str | dict[str, Any] | None = None

    @property
    def vector_store_ids(self) -> list[str]:
        """The vector stores its file_search searches (`tool_resources.file_search.vector_store_ids`)."""
        file_search = self.tool_resources.get("file_search") or {}
        return [str(vs) for vs in file_search.get("vector_store_ids") or []]


Key = tuple[datetime, str]  # (created_at, id): the pages' order

FILE_SEARCH_TOOL: dict[str, Any] = {"type": "file_search"}


def with_vector_store(assistant: AssistantRecord, store_id: str) -> AssistantRecord:
    """The assistant searching `store_id` with file_search (the tool added when missing)."""
    resources = dict(assistant.tool_resources)
    resources["file_search"] = {**(resources.get("file_search") or {}), "vector_store_ids": [store_id]}
    tools = assistant.tools
    if not any(tool.get("type") == "file_search" for tool in tools):
        tools = (*tools, dict(FILE_SEARCH_TOOL))
    return replace(assistant, tool_resources=resources, tools=tools)


class AssistantStore(IndexedStore, Protocol):
    """Assistants, by id; listed per owner."""

    async def put(self, assistant: AssistantRecord) -> None:
        """Insert the assistant, or replace the one with its id."""

    async def get(self, assistant_id: str) -> AssistantRecord | None: ...

    async def delete(self, assistant_id: str) -> bool:
        """Remove it; False when there was none."""

    async def page(
        self, owner: str, *, key_after: Key | None, key_before: Key | None, ascending: bool, limit: int
    ) -> list[AssistantRecord]:
        """Up to `limit` of the owner's assistants with key_after < (created_at, id) < key_before, sorted by it."""

    async def attach_vector_store(self, assistant_id: str, store_id: str) -> AssistantRecord | None:
        """Atomically: if its file_search has no vector store yet, make it `store_id` (adding the tool when
        missing). The assistant afterwards (another store if one was there first), or None."""
