"""The assistant a hosted run uses: OPENAI_ASSISTANT_ID from storage, else the built-in default, made from
the settings and kept in storage so the file routes can record the vector store they create on it."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from app.clock import utc_now
from app.config import Settings
from app.errors import AssistantNotFound
from app.storage.assistants import FILE_SEARCH_TOOL, AssistantRecord, AssistantStore

DEFAULT_ASSISTANT_ID = "asst_default"


def default_assistant(settings: Settings, *, created_at: datetime | None = None) -> AssistantRecord:
    store_ids = settings.file_search_store_ids
    return AssistantRecord(
        id=DEFAULT_ASSISTANT_ID,
        owner=settings.default_user_id,
        created_at=created_at or utc_now(),
        model=settings.openai_model,
        name="Default assistant",
        description="Built in: ASSISTANT_INSTRUCTIONS, OPENAI_MODEL and the configured vector stores.",
        instructions=settings.assistant_instructions,
        tools=(dict(FILE_SEARCH_TOOL),) if store_ids else (),
        tool_resources={"file_search": {"vector_store_ids": store_ids}} if store_ids else {},
    )


def refreshed_default(settings: Settings, stored: AssistantRecord | None) -> AssistantRecord:
    """The default assistant for these settings; a vector store recorded on the stored one is kept
    while the settings name none."""
    fresh = default_assistant(settings, created_at=stored.created_at if stored else None)
    if stored is not None and stored.vector_store_ids and not fresh.vector_store_ids:
        kept = {"file_search": {"vector_store_ids": stored.vector_store_ids[:1]}}
        fresh = replace(fresh, tools=(dict(FILE_SEARCH_TOOL),), tool_resources=kept)
    return fresh


class RunAssistants:
    """Finds the run's assistant: in storage, or (without a store, as in engine tests) the default."""

    def __init__(self, settings: Settings, store: AssistantStore | None) -> None:
        self._settings = settings
        self._store = store

    @property
    def assistant_id(self) -> str:
        return self._settings.openai_assistant_id or DEFAULT_ASSISTANT_ID

    async def current(self) -> AssistantRecord:
        """The assistant runs use now; AssistantNotFound (naming it) when it is not stored."""
        if self._store is None and not self._settings.openai_assistant_id:
            return default_assistant(self._settings)
        assistant = await self._store.get(self.assistant_id) if self._store is not None else None
        if assistant is None:
            raise AssistantNotFound(self.assistant_id)
        return assistant
