"""A thread's files: message attachments and the thread's `tool_resources`, as the Assistants API keeps them.

A file attached to a message for `file_search` goes into the thread's vector store, made in the
upstream (OPENAI_BASE_URL) with the first such attachment and recorded in the thread's
`tool_resources.file_search` (it expires upstream 7 days after its last use, as OpenAI's own thread
stores did). A file attached for `code_interpreter` joins `tool_resources.code_interpreter.file_ids`.
A run searches its assistant's vector store and its thread's, and its code_interpreter sees both
file lists. This happens while the thread is held for the message (claims.py), so two writers never
make two stores for one thread.
"""

from __future__ import annotations

import logging
from typing import Any

from app.config import Settings
from app.errors import InvalidField, UpstreamNotFound
from app.storage.assistants import AssistantRecord
from app.storage.threads import ThreadRecord, ThreadStore
from app.upstream.files import UpstreamFiles

logger = logging.getLogger(__name__)

MAX_CODE_FILES = 20
THREAD_STORE_EXPIRY_DAYS = 7


def tool_names(attachment: dict[str, Any]) -> list[str]:
    return [str(tool.get("type")) for tool in attachment.get("tools") or []]


def store_ids(resources: dict[str, Any] | None) -> list[str]:
    """`file_search.vector_store_ids` of a `tool_resources` object."""
    return [str(i) for i in ((resources or {}).get("file_search") or {}).get("vector_store_ids") or []]


def code_file_ids(resources: dict[str, Any] | None) -> list[str]:
    """`code_interpreter.file_ids` of a `tool_resources` object."""
    return [str(i) for i in ((resources or {}).get("code_interpreter") or {}).get("file_ids") or []]


def searched_stores(
    tools: tuple[str | dict[str, Any], ...], assistant: AssistantRecord, thread: ThreadRecord
) -> list[str]:
    """The vector stores a run's file_search searches: its assistant's, then its thread's (none without the tool)."""
    if not any((tool.get("type") if isinstance(tool, dict) else tool) == "file_search" for tool in tools):
        return []
    return list(dict.fromkeys([*assistant.vector_store_ids, *store_ids(thread.tool_resources)]))


def code_files(assistant: AssistantRecord, thread: ThreadRecord) -> list[str]:
    """The files a run's code_interpreter starts with: its assistant's, then its thread's."""
    return list(dict.fromkeys([*code_file_ids(assistant.tool_resources), *code_file_ids(thread.tool_resources)]))


class ThreadFiles:
    """Adds attached files to the thread's tools (the upstream's vector stores for file_search)."""

    def __init__(self, settings: Settings, store: ThreadStore, files: UpstreamFiles | None) -> None:
        self._settings = settings
        self._store = store
        self._files = files

    def check(self, attachments: list[dict[str, Any]], field: str = "attachments") -> None:
        """Refuse what this setup cannot serve before anything is written (400 naming the field)."""
        if not attachments:
            return
        if self._settings.hosted_model_api != "responses" or self._files is None:
            raise InvalidField(
                field,
                "files attached to messages need HOSTED_MODEL_API=responses (file_search and code_interpreter "
                "are tools of the Responses API)",
            )

    async def attach(self, thread: ThreadRecord, attachments: list[dict[str, Any]], field: str = "attachments") -> None:
        """Add the files to the thread's vector store (made on first use) and code_interpreter files."""
        if not attachments:
            return
        self.check(attachments, field)
        assert self._files is not None
        for index, attachment in enumerate(attachments):
            try:
                await self._files.describe(str(attachment["file_id"]))
            except UpstreamNotFound:
                raise InvalidField(f"{field}[{index}].file_id", f"no file '{attachment['file_id']}'") from None
        resources = dict(thread.tool_resources or {})
        searched = [str(a["file_id"]) for a in attachments if "file_search" in tool_names(a)]
        if searched:
            store_id = await self._thread_store(thread, resources)
            for file_id in dict.fromkeys(searched):
                await self._files.add_to_store(store_id, file_id)
        coded = [str(a["file_id"]) for a in attachments if "code_interpreter" in tool_names(a)]
        if coded:
            file_ids = list(dict.fromkeys([*code_file_ids(resources), *coded]))
            if len(file_ids) > MAX_CODE_FILES:
                raise InvalidField(field, f"a thread's code_interpreter takes at most {MAX_CODE_FILES} files")
            resources["code_interpreter"] = {"file_ids": file_ids}
        if resources != (thread.tool_resources or {}):
            await self._store.set_thread_tool_resources(thread.id, resources)

    async def _thread_store(self, thread: ThreadRecord, resources: dict[str, Any]) -> str:
        """The thread's vector store, made in the upstream (and put in `resources`) when it has none."""
        existing = store_ids(resources)
        if existing:
            return existing[0]
        assert self._files is not None
        store_id = await self._files.create_vector_store(
            f"thread {thread.id}", expires_after_days=THREAD_STORE_EXPIRY_DAYS
        )
        # Recorded at once: a failure further on (a file refused) must not leave a store nobody knows of.
        resources["file_search"] = {"vector_store_ids": [store_id]}
        await self._store.set_thread_tool_resources(thread.id, resources)
        logger.info("thread %s: vector store %s made for its attached files", thread.id, store_id)
        return store_id
