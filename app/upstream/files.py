"""Files, vector stores and assistant creation, through the SDK's typed resources.

These calls are few and off the hot path, so they use the SDK as it is (its retries, its
multipart encoding). Errors leave as `UpstreamError`s.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from openai import AsyncOpenAI

from app.upstream.errors import translated


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

    async def download(self, file_id: str) -> tuple[str, bytes]:
        async with translated():
            info = await self._client.files.retrieve(file_id)
            content = await self._client.files.content(file_id)
        return info.filename, content.content

    async def create_assistant(self, **params: Any) -> str:
        async with translated():
            assistant = await self._client.beta.assistants.create(**params)
        return assistant.id
