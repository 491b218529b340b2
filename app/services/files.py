"""The quickstart's file viewer (the vector store's files) and its assistant.

The store is OPENAI_VECTOR_STORE_ID, else the run assistant's first file_search store, made on the
first upload and recorded on the assistant (upstream with ENGINE=assistants, here with hosted).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator

from app.config import Settings
from app.errors import AssistantNotFound, ChatNotConfigured, NotFound, UpstreamError, UpstreamNotFound
from app.services.assistants import AssistantCreate, AssistantService
from app.upstream.files import StoredFile, UpstreamFiles

logger = logging.getLogger(__name__)

VECTOR_STORE_NAME = "sample-assistant-vector-store"
QUICKSTART_INSTRUCTIONS = "You are a helpful assistant."
QUICKSTART_NAME = "Quickstart Assistant"
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
    """Files of the assistant's vector store, and the quickstart's assistant creation."""

    def __init__(self, files: UpstreamFiles | None, settings: Settings, assistants: AssistantService) -> None:
        self._files = files
        self._settings = settings
        self._assistants = assistants

    def _upstream(self) -> UpstreamFiles:
        if self._files is None:
            raise ChatNotConfigured("OPENAI_API_KEY")
        return self._files

    async def _vector_store(self, *, create: bool) -> tuple[UpstreamFiles, str | None]:
        """The store the files live in; None when there is none yet and `create` is False."""
        files = self._upstream()
        if self._settings.openai_vector_store_id:
            return files, self._settings.openai_vector_store_id
        if self._settings.engine == "hosted":
            return files, await self._hosted_store(files, create=create)
        assistant_id = self._settings.openai_assistant_id
        if not assistant_id:
            raise ChatNotConfigured("OPENAI_ASSISTANT_ID")
        store_ids = await files.assistant_vector_store_ids(assistant_id)
        if store_ids or not create:
            return files, store_ids[0] if store_ids else None
        store_id = (await files.create_vector_store(VECTOR_STORE_NAME))["id"]
        await files.attach_vector_store(assistant_id, store_id)
        logger.info("vector store created vector_store_id=%s assistant_id=%s", store_id, assistant_id)
        return files, store_id

    async def _hosted_store(self, files: UpstreamFiles, *, create: bool) -> str | None:
        """The run assistant's first file_search store (our storage); created upstream and recorded on it."""
        assistant = await self._assistants.run_assistants.current()
        if assistant.vector_store_ids or not create:
            return assistant.vector_store_ids[0] if assistant.vector_store_ids else None
        store_id = str((await files.create_vector_store(VECTOR_STORE_NAME))["id"])
        attached = await self._assistants.store.attach_vector_store(assistant.id, store_id)
        winner = attached.vector_store_ids[0] if attached is not None and attached.vector_store_ids else None
        if winner != store_id:  # deleted meanwhile, or another request attached its store first
            try:
                await files.delete_vector_store(store_id)
            except UpstreamError as exc:
                logger.warning("could not delete the unused vector store %s: %s", store_id, type(exc).__name__)
            if winner is None:
                raise AssistantNotFound(assistant.id)
            return winner
        logger.info("vector store created vector_store_id=%s assistant_id=%s", store_id, assistant.id)
        return store_id

    async def list_files(self) -> list[StoredFile]:
        files, store_id = await self._vector_store(create=False)
        return await files.list_store_files(store_id) if store_id else []

    async def upload_file(self, filename: str, data: bytes) -> StoredFile:
        files, store_id = await self._vector_store(create=True)
        assert store_id is not None
        stored = await files.upload_to_store(store_id, filename, data)
        logger.info("file uploaded file_id=%s bytes=%d", stored.file_id, len(data))
        return stored

    async def delete_file(self, file_id: str) -> None:
        files, store_id = await self._vector_store(create=False)
        missing = NotFound(f"No file '{file_id}' in the vector store.", file_id=file_id)
        if store_id is None:
            raise missing
        try:
            await files.remove_from_store(store_id, file_id)
        except UpstreamNotFound as exc:
            raise missing from exc

    async def download_file(self, file_id: str) -> tuple[str, AsyncGenerator[bytes, None]]:
        """The file's name and bytes (streamed), if it may be shown here, else answered as unknown.

        Shown: files in the assistant's vector store, and those its runs wrote (`assistants_output`); never
        the organisation's other files (fine-tuning data, batch files, other apps' uploads).
        """
        files = self._upstream()
        unknown = NotFound(f"No file '{file_id}'.", file_id=file_id)
        try:
            info = await files.describe(file_id)
            if info.purpose != "assistants_output":
                _, store_id = await self._vector_store(create=False)
                if not (store_id and await files.store_has_file(store_id, file_id)):
                    raise unknown
            return info.filename, await files.content(file_id)
        except UpstreamNotFound as exc:
            raise unknown from exc

    async def create_quickstart_assistant(self, owner: str) -> str:
        """The quickstart's assistant: in our storage with ENGINE=hosted (owned by `owner`), else upstream."""
        params = {"instructions": QUICKSTART_INSTRUCTIONS, "name": QUICKSTART_NAME, "tools": QUICKSTART_TOOLS}
        params["model"] = self._settings.openai_model
        if self._settings.engine == "hosted":
            return (await self._assistants.create(owner, AssistantCreate.model_validate(params))).id
        assistant_id = await self._upstream().create_assistant(**params)
        logger.info("assistant created assistant_id=%s", assistant_id)
        return assistant_id
