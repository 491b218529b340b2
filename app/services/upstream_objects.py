"""Files and vector stores on /v1: each belongs to the user who made it through this service.

The upstream keeps them all under the service's one key, so ownership is ours to record (`storage/upstream_objects`).
A user sees and changes only their own; another user's, or an upstream object the service never made, is answered as
unknown (404, OpenAI's words). The operator's vector stores (OPENAI_VECTOR_STORE_ID, OPENAI_KNOWLEDGE_STORE_ID, those of
the operator's assistants) may be read and searched by every user, and changed by none (403).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

from app.config import Settings
from app.errors import InvalidField, InvalidRequest, NotFound, OperatorObjectReadOnly
from app.services.assistants import AssistantService
from app.storage.upstream_objects import ObjectKind, UpstreamObjectRecord, UpstreamObjectStore, made_now

logger = logging.getLogger(__name__)

_UNKNOWN = {"file": "No such File object: {id}", "vector_store": "No vector store found with id '{id}'."}


def unknown(kind: ObjectKind, object_id: str) -> NotFound:
    """The 404 for an object that is not the caller's, in OpenAI's words."""
    return NotFound(_UNKNOWN[kind].format(id=object_id))


@dataclass(frozen=True)
class ObjectPage:
    data: list[UpstreamObjectRecord]
    has_more: bool


class UpstreamObjects:
    """Who owns which upstream file and vector store, and the checks on requests that name them."""

    def __init__(self, store: UpstreamObjectStore, settings: Settings, assistants: AssistantService) -> None:
        self._store = store
        self._settings = settings
        self._assistants = assistants

    async def record(self, owner: str, kind: ObjectKind, snapshot: dict[str, Any]) -> None:
        """The upstream just made this object (its answer, `snapshot`) for `owner`."""
        await self._store.put(made_now(owner, kind, snapshot))
        logger.info("%s %s made upstream for its owner", kind, snapshot["id"])

    async def refresh(self, record: UpstreamObjectRecord, snapshot: dict[str, Any]) -> None:
        """Keep the upstream's latest answer for the object, which lists show."""
        if snapshot != record.snapshot:
            await self._store.put(replace(record, snapshot=dict(snapshot)))

    async def forget(self, object_id: str) -> None:
        await self._store.delete(object_id)

    async def own(self, owner: str, kind: ObjectKind, object_id: str) -> UpstreamObjectRecord:
        """The user's object of `kind`; else 404 in OpenAI's words."""
        record = await self._store.get(object_id)
        if record is None or record.owner != owner or record.kind != kind:
            raise unknown(kind, object_id)
        return record

    async def readable_store(self, owner: str, store_id: str) -> UpstreamObjectRecord | None:
        """The user's vector store, or None for one of the operator's (readable by all); else 404."""
        record = await self._store.get(store_id)
        if record is not None and record.owner == owner and record.kind == "vector_store":
            return record
        if store_id in await self.operator_store_ids():
            return None
        raise unknown("vector_store", store_id)

    async def writable_store(self, owner: str, store_id: str) -> UpstreamObjectRecord:
        """The user's vector store; the operator's are read-only (403), any other is unknown (404)."""
        record = await self.readable_store(owner, store_id)
        if record is None:
            raise OperatorObjectReadOnly(store_id)
        return record

    async def operator_store_ids(self) -> set[str]:
        """The configured stores and the operator's assistants' (read from storage: only off the usual path)."""
        found = set(self._settings.file_search_store_ids)
        for assistant_id in self._assistants.operator_ids:
            assistant = await self._assistants.store.get(assistant_id)
            found.update(assistant.vector_store_ids if assistant is not None else ())
        return found

    async def page(
        self,
        owner: str,
        kind: ObjectKind,
        *,
        limit: int,
        order: Literal["asc", "desc"],
        after: str | None,
        before: str | None = None,
        purpose: str | None = None,
    ) -> ObjectPage:
        """A page of the user's objects (newest first by default), cursors as in OpenAI's lists."""
        ascending = order == "asc"
        after_key = await self._cursor_key(owner, kind, "after", after)
        before_key = await self._cursor_key(owner, kind, "before", before)
        low, high = (after_key, before_key) if ascending else (before_key, after_key)
        backwards = before is not None and after is None
        found = await self._store.page(
            owner,
            kind,
            purpose=purpose,
            key_after=low,
            key_before=high,
            ascending=ascending != backwards,
            limit=limit + 1,
        )
        page = found[:limit]
        return ObjectPage(data=page[::-1] if backwards else page, has_more=len(found) > limit)

    async def _cursor_key(self, owner: str, kind: ObjectKind, name: str, object_id: str | None) -> Any:
        if object_id is None:
            return None
        record = await self._store.get(object_id)
        if record is None or record.owner != owner or record.kind != kind:
            raise InvalidRequest(f"{name}: no {kind.replace('_', ' ')} '{object_id}'", field=name)
        return (record.created_at, record.id)

    # ---- requests that name files and stores ------------------------------------------------
    async def check_files(self, owner: str, file_ids: list[str], field: Callable[[int], str] | None) -> None:
        """Every file is the user's: else 400 naming the field of the first that is not (`field` None: 404, as
        OpenAI answers an unknown file given to a vector store)."""
        for index, file_id in enumerate(file_ids):
            record = await self._store.get(file_id)
            if record is None or record.owner != owner or record.kind != "file":
                raise unknown("file", file_id) if field is None else InvalidField(field(index), f"no file '{file_id}'")

    async def check_stores(self, owner: str, store_ids: list[str], field: Callable[[int], str]) -> None:
        """Every vector store is the user's (400 naming the first that is not: the operator's included)."""
        for index, store_id in enumerate(store_ids):
            record = await self._store.get(store_id)
            if record is None or record.owner != owner or record.kind != "vector_store":
                raise InvalidField(field(index), f"no vector store '{store_id}'")

    async def check_resources(self, owner: str, resources: dict[str, Any] | None, name: str = "tool_resources") -> None:
        """`tool_resources` (a thread's, a run's or an assistant's) names only the user's files and stores."""
        file_search = (resources or {}).get("file_search") or {}
        stores = [str(store_id) for store_id in file_search.get("vector_store_ids") or []]
        await self.check_stores(owner, stores, lambda i: f"{name}.file_search.vector_store_ids[{i}]")
        for n, spec in enumerate(file_search.get("vector_stores") or []):
            files = [str(file_id) for file_id in spec.get("file_ids") or []]
            where = f"{name}.file_search.vector_stores[{n}].file_ids"
            await self.check_files(owner, files, lambda i: f"{where}[{i}]")  # noqa: B023 (called at once)
        code_files = [str(i) for i in ((resources or {}).get("code_interpreter") or {}).get("file_ids") or []]
        await self.check_files(owner, code_files, lambda i: f"{name}.code_interpreter.file_ids[{i}]")

    async def check_attachments(self, owner: str, attachments: list[dict[str, Any]] | None, name: str) -> None:
        files = [str(attachment["file_id"]) for attachment in attachments or ()]
        await self.check_files(owner, files, lambda i: f"{name}[{i}].file_id")
