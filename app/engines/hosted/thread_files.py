"""A thread's files: message attachments and the thread's `tool_resources`, as the Assistants API keeps them.

A file attached for `file_search` goes into the thread's vector store, made upstream with the first such
attachment (expiring 7 days after its last use, as OpenAI's thread stores did)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from app.config import Settings
from app.errors import InvalidField, ThreadBusy, ThreadNotFound, UpstreamError, UpstreamNotFound
from app.storage.assistants import AssistantRecord
from app.storage.thread_owners import ThreadOwnerStore
from app.storage.threads import RunRecord, ThreadRecord, ThreadStore
from app.storage.upstream_objects import UpstreamObjectStore, made_now
from app.upstream.files import UpstreamFiles

logger = logging.getLogger(__name__)

MAX_CODE_FILES = 20
THREAD_STORE_EXPIRY_DAYS = 7
_SWAP_ATTEMPTS = 16


def _attached_for(attachments: list[dict[str, Any]], tool: str) -> list[str]:
    return [str(a["file_id"]) for a in attachments if tool in [str(t.get("type")) for t in a.get("tools") or []]]


def store_ids(resources: dict[str, Any] | None) -> list[str]:
    return [str(i) for i in ((resources or {}).get("file_search") or {}).get("vector_store_ids") or []]


def code_file_ids(resources: dict[str, Any] | None) -> list[str]:
    return [str(i) for i in ((resources or {}).get("code_interpreter") or {}).get("file_ids") or []]


def searched_stores(
    tools: tuple[str | dict[str, Any], ...],
    assistant: AssistantRecord,
    thread: ThreadRecord,
    configured: Sequence[str] = (),
) -> list[str]:
    """The vector stores a run's file_search searches (none without the tool): the assistant's, the thread's, and
    `configured` (OPENAI_VECTOR_STORE_ID and OPENAI_KNOWLEDGE_STORE_ID, for the operator's assistants)."""
    if not any(_tool_type(tool) == "file_search" for tool in tools):
        return []
    return list(dict.fromkeys([*assistant.vector_store_ids, *store_ids(thread.tool_resources), *configured]))


def log_dropped_tools(run: RunRecord, settings: Settings) -> None:
    """A tool the run declares but the model call cannot carry is named in the log (never dropped silently)."""
    kinds = {_tool_type(tool) for tool in run.tools}
    dropped = sorted(kinds & {"file_search", "code_interpreter"}) if settings.hosted_model_api != "responses" else []
    if settings.hosted_model_api == "responses" and "file_search" in kinds and not run.vector_store_ids:
        dropped = ["file_search (no vector store: neither the assistant's, the thread's nor a configured one)"]
    for tool in dropped:
        logger.warning(
            "run %s: its %s tool is not sent to the model (HOSTED_MODEL_API=%s)",
            run.id,
            tool,
            settings.hosted_model_api,
        )


def _tool_type(tool: str | dict[str, Any]) -> Any:
    return tool.get("type") if isinstance(tool, dict) else tool


def code_files(assistant: AssistantRecord, thread: ThreadRecord) -> list[str]:
    return list(dict.fromkeys([*code_file_ids(assistant.tool_resources), *code_file_ids(thread.tool_resources)]))


class ThreadFiles:
    """Adds attached files to the thread's tools. `tool_resources` change by compare-and-swap, so attachments
    of messages posted at once all land, and of two stores made at once the one recorded first is kept.
    A store it makes belongs to the thread's owner (`objects`), as if they had made it on /v1."""

    def __init__(
        self,
        settings: Settings,
        store: ThreadStore,
        files: UpstreamFiles | None,
        objects: UpstreamObjectStore | None = None,
        owners: ThreadOwnerStore | None = None,
    ) -> None:
        self._settings = settings
        self._store = store
        self._files = files
        self._objects = objects
        self._owners = owners

    async def _made(self, owner: str | None, store: dict[str, Any]) -> str:
        """Record the store just made as `owner`'s; its id."""
        if self._objects is not None and owner is not None:
            await self._objects.put(made_now(owner, "vector_store", store))
        return str(store["id"])

    def _check_setup(self, field: str) -> None:
        if self._settings.hosted_model_api != "responses" or self._files is None:
            raise InvalidField(
                field,
                "files attached to messages need HOSTED_MODEL_API=responses (file_search and code_interpreter "
                "are tools of the Responses API)",
            )

    async def verify(self, attachments: list[dict[str, Any]], field: str = "attachments") -> None:
        """Check that every attached file exists upstream (400 naming it), before any write."""
        if attachments:
            self._check_setup(field)
            await self._files_exist([str(a["file_id"]) for a in attachments], lambda i: f"{field}[{i}].file_id")

    async def _files_exist(self, file_ids: list[str], field: Callable[[int], str]) -> None:
        assert self._files is not None
        for index, file_id in enumerate(file_ids):
            try:
                await self._files.describe(file_id)
            except UpstreamNotFound:
                raise InvalidField(field(index), f"no file '{file_id}'") from None

    async def attach(
        self, thread: ThreadRecord, attachments: list[dict[str, Any]], field: str = "attachments"
    ) -> list[str]:
        """Add the files (checked by `verify`) to the thread's tools; the vector store it made, if any."""
        made: list[str] = []  # the vector store made, if any
        coded = _attached_for(attachments, "code_interpreter")
        _with_code_files(thread.tool_resources, coded, field)  # over the limit: refused before any upstream call
        searched = _attached_for(attachments, "file_search")
        if searched:
            assert self._files is not None
            store_id, made = await self._thread_store(thread)
            for file_id in dict.fromkeys(searched):
                await self._files.add_to_store(store_id, file_id)
        if coded:
            await self._change(thread.id, lambda resources: _with_code_files(resources, coded, field))
        return made

    async def restore(self, thread: ThreadRecord, made_stores: list[str]) -> None:
        """Put back the thread's tool_resources as in `thread`, and delete the stores made since (a failed start)."""
        current = await self._store.get_thread(thread.id)
        if current is not None and current.tool_resources != thread.tool_resources:
            await self._store.set_thread_tool_resources(thread.id, thread.tool_resources or {})
        await self.delete_stores(made_stores)

    async def delete_stores(self, store_ids: list[str]) -> None:
        """Best effort: they expire."""
        for store_id in store_ids:
            assert self._files is not None
            try:
                await self._files.delete_vector_store(store_id)
            except UpstreamError as exc:
                logger.warning("could not delete vector store %s (it expires by itself): %s", store_id, exc.code)
            if self._objects is not None:
                await self._objects.delete(store_id)

    async def made_resources(
        self,
        resources: dict[str, Any] | None,
        owner: str | None = None,
        *,
        name: str = "thread files",
        expires_after_days: int | None = THREAD_STORE_EXPIRY_DAYS,
    ) -> tuple[dict[str, Any] | None, list[str]]:
        """`resources` with a `file_search.vector_stores` request replaced by the store made (the owner's), and
        the stores made. A thread's store expires 7 days after its last use; an assistant's never."""
        file_search = (resources or {}).get("file_search") or {}
        wanted = file_search.get("vector_stores")
        if not resources or not wanted:
            return resources, []
        field = "tool_resources.file_search.vector_stores[0]"
        spec = wanted[0]
        self._check_setup(field)
        await self._files_exist(list(spec.get("file_ids") or []), lambda i: f"{field}.file_ids[{i}]")
        assert self._files is not None
        made = await self._files.create_vector_store(
            name,
            expires_after_days=expires_after_days,
            file_ids=spec.get("file_ids") or [],
            chunking_strategy=spec.get("chunking_strategy"),
            metadata=spec.get("metadata"),
        )
        store_id = await self._made(owner, made)
        logger.info("vector store %s (%s) made from %d file(s)", store_id, name, len(spec.get("file_ids") or []))
        return {**resources, "file_search": {"vector_store_ids": [store_id]}}, [store_id]

    async def _thread_store(self, thread: ThreadRecord) -> tuple[str, list[str]]:
        """The thread's vector store (made when it has none), and the store made now, if any."""
        existing = store_ids(thread.tool_resources)
        if existing:
            return existing[0], []
        assert self._files is not None
        store = await self._files.create_vector_store(
            f"thread {thread.id}", expires_after_days=THREAD_STORE_EXPIRY_DAYS
        )
        owner = await self._owners.owner_of(thread.id) if self._owners is not None else None
        made = await self._made(owner, store)
        recorded = await self._change(thread.id, lambda resources: _with_store(resources, made))
        kept = store_ids(recorded)[0]
        if kept != made:  # another writer's store was recorded first: use it, drop ours
            logger.info("thread %s: vector store %s made at the same time as %s; deleting it", thread.id, made, kept)
            await self.delete_stores([made])
            return kept, []
        logger.info("thread %s: vector store %s made for its attached files", thread.id, made)
        return kept, [made]

    async def _change(self, thread_id: str, change: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
        for _ in range(_SWAP_ATTEMPTS):
            thread = await self._store.get_thread(thread_id)
            if thread is None:
                raise ThreadNotFound(thread_id)
            current = dict(thread.tool_resources or {})
            changed = change(dict(current))
            if changed == current:
                return current
            if await self._store.swap_thread_tool_resources(thread_id, changed, expected=thread.tool_resources):
                return changed
        raise ThreadBusy(thread_id)


def _with_store(resources: dict[str, Any] | None, store_id: str) -> dict[str, Any]:
    resources = dict(resources or {})
    if not store_ids(resources):
        resources["file_search"] = {"vector_store_ids": [store_id]}
    return resources


def _with_code_files(resources: dict[str, Any] | None, file_ids: list[str], field: str) -> dict[str, Any]:
    resources = dict(resources or {})
    joined = list(dict.fromkeys([*code_file_ids(resources), *file_ids]))
    if len(joined) > MAX_CODE_FILES:
        raise InvalidField(field, f"a thread's code_interpreter takes at most {MAX_CODE_FILES} files")
    resources["code_interpreter"] = {"file_ids": joined}
    return resources
