"""The quickstart's file viewer: the vector store's files (list, upload, delete, download), and its assistant."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator

from app.config import Settings
from app.errors import ChatNotConfigured, NotFound, UpstreamNotFound
from app.upstream.files import StoredFile, UpstreamFiles

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


class FileService:
    """Files of the configured vector store (OPENAI_VECTOR_STORE_ID), and the quickstart's assistant creation."""

    def __init__(self, files: UpstreamFiles | None, settings: Settings) -> None:
        self._files = files
        self._settings = settings

    def _upstream(self) -> UpstreamFiles:
        if self._files is None:
            raise ChatNotConfigured("OPENAI_API_KEY")
        return self._files

    def _vector_store(self) -> tuple[UpstreamFiles, str]:
        files = self._upstream()
        if not self._settings.openai_vector_store_id:
            raise ChatNotConfigured("OPENAI_VECTOR_STORE_ID")
        return files, self._settings.openai_vector_store_id

    async def list_files(self) -> list[StoredFile]:
        files, store_id = self._vector_store()
        return await files.list_store_files(store_id)

    async def upload_file(self, filename: str, data: bytes) -> StoredFile:
        files, store_id = self._vector_store()
        stored = await files.upload_to_store(store_id, filename, data)
        logger.info("file uploaded file_id=%s bytes=%d", stored.file_id, len(data))
        return stored

    async def delete_file(self, file_id: str) -> None:
        files, store_id = self._vector_store()
        try:
            await files.remove_from_store(store_id, file_id)
        except UpstreamNotFound as exc:
            raise NotFound(f"No file '{file_id}' in the vector store.", file_id=file_id) from exc

    async def download_file(self, file_id: str) -> tuple[str, AsyncGenerator[bytes, None]]:
        """The file's name and bytes (streamed), if it may be shown here; any other file is answered as unknown.

        Shown: files in the configured vector store, and files the assistant's runs wrote
        (purpose `assistants_output`: code interpreter images and files). Not: any other file of
        the organisation (fine-tuning data, batch files, other apps' uploads).
        """
        files = self._upstream()
        unknown = NotFound(f"No file '{file_id}'.", file_id=file_id)
        try:
            info = await files.describe(file_id)
            store_id = self._settings.openai_vector_store_id
            if info.purpose != "assistants_output" and not (store_id and await files.store_has_file(store_id, file_id)):
                raise unknown
            return info.filename, await files.content(file_id)
        except UpstreamNotFound as exc:
            raise unknown from exc

    async def create_quickstart_assistant(self) -> str:
        assistant_id = await self._upstream().create_assistant(
            instructions="You are a helpful assistant.",
            name="Quickstart Assistant",
            model=self._settings.openai_model,
            tools=QUICKSTART_TOOLS,
        )
        logger.info("assistant created assistant_id=%s", assistant_id)
        return assistant_id
