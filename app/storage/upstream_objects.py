"""Files and vector stores made upstream through this service: who made each one (the record and the protocol).

The upstream keeps them under the service's one key; this record is what makes them a user's. Pages are per
owner and kind (and a file's purpose), ordered by (created_at, id), so a cursor is an object of the page before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from app.clock import utc_now
from app.storage.records import IndexedStore

ObjectKind = Literal["file", "vector_store"]
Key = tuple[datetime, str]  # (created_at, id): the pages' order


@dataclass(frozen=True)
class UpstreamObjectRecord:
    """An upstream file or vector store and its owner. `snapshot` is the upstream's object as last seen."""

    id: str
    owner: str
    kind: str
    created_at: datetime
    purpose: str | None = None  # a file's (`assistants`, `batch`, ...)
    snapshot: dict[str, Any] = field(default_factory=dict)


def made_now(owner: str, kind: ObjectKind, snapshot: dict[str, Any]) -> UpstreamObjectRecord:
    """The record of an object the upstream just made (`snapshot`: its answer) for `owner`."""
    purpose = snapshot.get("purpose") if kind == "file" else None
    return UpstreamObjectRecord(str(snapshot["id"]), owner, kind, utc_now(), purpose, dict(snapshot))


class UpstreamObjectStore(IndexedStore, Protocol):
    """Upstream objects by id; listed per owner and kind."""

    async def put(self, record: UpstreamObjectRecord) -> None:
        """Insert the record, or replace the one with its id."""

    async def get(self, object_id: str) -> UpstreamObjectRecord | None: ...

    async def delete(self, object_id: str) -> bool:
        """Forget it; False when there was none."""

    async def page(
        self,
        owner: str,
        kind: ObjectKind,
        *,
        purpose: str | None,
        key_after: Key | None,
        key_before: Key | None,
        ascending: bool,
        limit: int,
    ) -> list[UpstreamObjectRecord]:
        """Up to `limit` of the owner's objects of `kind` (of `purpose` when given) with
        key_after < (created_at, id) < key_before, sorted by it."""
