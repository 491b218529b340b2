"""Files of the file_search vector store, and the quickstart's assistant creation (upstream calls)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import openai
from openai import AsyncOpenAI

from app.config import Settings
from app.errors import ChatNotConfigured, NotFound

logger = logging.getLogger(__name__)

QUICKSTART_TOOLS = [
    {"type": "code_interpreter"},
    {"type": "file_search"},
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Determine weather in my location",
            "parameters": {
                "type": "object",
                "properties": {
                    "location": {"type": "string", "description": "The city and state e.g. San Francisco, CA"},
                    "unit": {"type": "string", "enum": ["c", "f"]},
                },
                "required": ["location"],
            },
        },
    },
]


@dataclass(frozen=True)
class StoredFile:
    file_id: str
    filename: str
    status: str


class UpstreamResources:
    """The vector store's files (list, upload, delete, download) and assistant creation."""

    def __init__(self, client: AsyncOpenAI | None, settings: Settings) -> None:
        self._client = client
        self._settings = settings

    def _openai(self) -> AsyncOpenAI:
        if self._client is None:
            raise ChatNotConfigured("OPENAI_API_KEY")
        return self._client

    def _vector_store(self) -> tuple[AsyncOpenAI, str]:
        client = self._openai()
        if not self._settings.openai_vector_store_id:
            raise ChatNotConfigured("OPENAI_VECTOR_STORE_ID")
        return client, self._settings.openai_vector_store_id

    async def list_files(self) -> list[StoredFile]:
        client, store_id = self._vector_store()
        entries = [entry async for entry in client.vector_stores.files.list(store_id, limit=100)]
        details = await asyncio.gather(*(client.files.retrieve(e.id) for e in entries))
        return [StoredFile(e.id, d.filename, e.status) for e, d in zip(entries, details, strict=True)]

    async def upload_file(self, filename: str, data: bytes) -> StoredFile:
        client, store_id = self._vector_store()
        created = await client.files.create(file=(filename, data), purpose="assistants")
        entry = await client.vector_stores.files.create(store_id, file_id=created.id)
        logger.info("file uploaded file_id=%s bytes=%d", created.id, len(data))
        return StoredFile(created.id, created.filename, entry.status)

    async def delete_file(self, file_id: str) -> None:
        client, store_id = self._vector_store()
        try:
            await client.vector_stores.files.delete(file_id, vector_store_id=store_id)
        except openai.NotFoundError as exc:
            raise NotFound(f"No file '{file_id}' in the vector store.", file_id=file_id) from exc

    async def download_file(self, file_id: str) -> tuple[str, bytes]:
        client = self._openai()
        try:
            info = await client.files.retrieve(file_id)
            content = await client.files.content(file_id)
        except openai.NotFoundError as exc:
            raise NotFound(f"No file '{file_id}'.", file_id=file_id) from exc
        return info.filename, content.content

    async def create_quickstart_assistant(self) -> str:
        assistant = await self._openai().beta.assistants.create(
            instructions="You are a helpful assistant.",
            name="Quickstart Assistant",
            model=self._settings.openai_model,
            tools=QUICKSTART_TOOLS,
        )
        logger.info("assistant created assistant_id=%s", assistant.id)
        return assistant.id
