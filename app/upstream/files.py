"""Files, vector stores and assistant creation, through the SDK's typed resources.

These calls are few and off the hot path, so they use the SDK as it is (its retries, its
multipart encoding). Errors leave as `UpstreamError`s.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Any

import openai
from openai import AsyncOpenAI, omit

from app.upstream.errors import translated

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileInfo:
    file_id: str
    filename: str
    purpose: str


@dataclass(frozen=True)
class StoredFile:
    file_id: str
    filename: str
    status: str


class UpstreamFiles:
    """The upstream's files and vector stores."""

    def __init__(self, client: AsyncOpenAI) -> None:
        self._client = client

    async def list_store_files(self, store_id: str) -> list[StoredFile]:
        async with translated():
            entries = [entry async for entry in self._client.vector_stores.files.list(store_id, limit=100)]
            details = await asyncio.gather(*(self._client.files.retrieve(e.id) for e in entries))
        return [StoredFile(e.id, d.filename, e.status) for e, d in zip(entries, details, strict=True)]

    async def upload_to_store(self, store_id: str, filename: str, data: bytes) -> StoredFile:
        async with translated():
            created = await self._client.files.create(file=(filename, data), purpose="assistants")
            entry = await self._client.vector_stores.files.create(store_id, file_id=created.id)
        return StoredFile(created.id, created.filename, entry.status)

    async def remove_from_store(self, store_id: str, file_id: str) -> None:
        async with translated():
            await self._client.vector_stores.files.delete(file_id, vector_store_id=store_id)

    async def describe(self, file_id: str) -> FileInfo:
        """The file's name and purpose (`assistants`, `assistants_output`, `fine-tune`, ...)."""
        async with translated():
            info = await self._client.files.retrieve(file_id)
        return FileInfo(info.id, info.filename, str(info.purpose))

    async def store_has_file(self, store_id: str, file_id: str) -> bool:
        """Whether the vector store holds the file."""
        async with translated():
            try:
                await self._client.vector_stores.files.retrieve(file_id, vector_store_id=store_id)
            except openai.NotFoundError:
                return False
        return True

    async def content(self, file_id: str) -> AsyncGenerator[bytes, None]:
        """The file's bytes as they arrive (never held whole); errors before the first byte are raised here."""
        manager = self._client.files.with_streaming_response.content(file_id)
        async with translated():
            response = await manager.__aenter__()
        return _relayed(manager, response.iter_bytes())

    async def create_assistant(self, **params: Any) -> str:
        async with translated():
            assistant = await self._client.beta.assistants.create(**params)
        return assistant.id

    async def assistant_vector_store_ids(self, assistant_id: str) -> list[str]:
        """The vector stores of the upstream assistant's file_search (`tool_resources`)."""
        async with translated():
            assistant = await self._client.beta.assistants.retrieve(assistant_id)
        resources = assistant.tool_resources
        file_search = resources.file_search if resources is not None else None
        return list(file_search.vector_store_ids or []) if file_search is not None else []

    async def attach_vector_store(self, assistant_id: str, store_id: str) -> None:
        """Make `store_id` the upstream assistant's file_search store (as the quickstart does)."""
        async with translated():
            await self._client.beta.assistants.update(
                assistant_id, tool_resources={"file_search": {"vector_store_ids": [store_id]}}
            )

    async def create_vector_store(
        self,
        name: str,
        *,
        expires_after_days: int | None = None,
        file_ids: list[str] | None = None,
        chunking_strategy: dict[str, Any] | None = None,
        metadata: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """A new vector store holding `file_ids` (the upstream's object); with `expires_after_days`, deleted that
        long after its last use."""
        expiry = {"anchor": "last_active_at", "days": expires_after_days} if expires_after_days is not None else omit
        async with translated():
            store = await self._client.vector_stores.create(
                name=name,
                expires_after=expiry,  # type: ignore[arg-type]  # the SDK's TypedDict, written as a dict
                file_ids=file_ids or omit,
                chunking_strategy=chunking_strategy or omit,  # type: ignore[arg-type]
                metadata=metadata or omit,
            )
        return store.model_dump(mode="json")

    async def add_to_store(self, store_id: str, file_id: str) -> None:
        """Add an uploaded file to a vector store (adding it again changes nothing upstream)."""
        async with translated():
            await self._client.vector_stores.files.create(store_id, file_id=file_id)

    async def delete_vector_store(self, store_id: str) -> None:
        async with translated():
            await self._client.vector_stores.delete(store_id)


async def _relayed(manager: Any, chunks: AsyncIterator[bytes]) -> AsyncGenerator[bytes, None]:
    """The body's chunks; the upstream response is closed however the relay ends."""
    try:
        async for chunk in chunks:
            yield chunk
    except openai.APIError as exc:  # the answer has started: all that is left is to stop
        logger.warning("file download broke off: %s", type(exc).__name__)
    finally:
        await manager.__aexit__(None, None, None)
