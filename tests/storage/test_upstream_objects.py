"""Upstream objects (files and vector stores made through the service): put, get, delete, pages per owner and kind."""

from __future__ import annotations

from datetime import timedelta

from app.clock import utc_now
from app.storage import Stores
from app.storage.upstream_objects import UpstreamObjectRecord

NOW = utc_now().replace(microsecond=0)


def _object(
    object_id: str, owner: str = "alice", kind: str = "file", minutes: int = 0, **fields: object
) -> UpstreamObjectRecord:
    return UpstreamObjectRecord(object_id, owner, kind, NOW + timedelta(minutes=minutes), **fields)  # type: ignore[arg-type]


async def test_put_get_replace_delete(store: Stores) -> None:
    await store.ensure_indexes(threads=True)
    objects = store.upstream_objects
    record = _object("file-a", purpose="assistants", snapshot={"id": "file-a", "filename": "a.txt", "bytes": 3})
    assert await objects.get("file-a") is None
    await objects.put(record)
    assert await objects.get("file-a") == record
    changed = _object("file-a", purpose="assistants", snapshot={"id": "file-a", "filename": "b.txt"})
    await objects.put(changed)
    assert await objects.get("file-a") == changed
    assert await objects.delete("file-a") is True
    assert await objects.delete("file-a") is False
    assert await objects.get("file-a") is None


async def test_pages_are_per_owner_kind_and_purpose_in_key_order(store: Stores) -> None:
    await store.ensure_indexes(threads=True)
    objects = store.upstream_objects
    mine = [_object(f"file-{n}", minutes=n, purpose="assistants" if n % 2 else "batch") for n in range(6)]
    tied = [_object("file-t1", minutes=9, purpose="batch"), _object("file-t2", minutes=9, purpose="batch")]
    others = [_object("file-b", owner="bob", minutes=3), _object("vs_1", kind="vector_store", minutes=4)]
    for record in [*mine, *tied, *others]:
        await objects.put(record)

    def ids(records: list[UpstreamObjectRecord]) -> list[str]:
        return [record.id for record in records]

    newest = await objects.page(
        "alice", "file", purpose=None, key_after=None, key_before=None, ascending=False, limit=3
    )
    assert ids(newest) == ["file-t2", "file-t1", "file-5"]
    last = newest[-1]
    following = await objects.page(
        "alice", "file", purpose=None, key_after=None, key_before=(last.created_at, last.id), ascending=False, limit=10
    )
    assert ids(following) == ["file-4", "file-3", "file-2", "file-1", "file-0"]
    oldest = await objects.page(
        "alice", "file", purpose=None, key_after=(NOW, "file-0"), key_before=None, ascending=True, limit=2
    )
    assert ids(oldest) == ["file-1", "file-2"]
    batch = await objects.page(
        "alice", "file", purpose="batch", key_after=None, key_before=None, ascending=True, limit=10
    )
    assert ids(batch) == ["file-0", "file-2", "file-4", "file-t1", "file-t2"]
    stores = await objects.page(
        "alice", "vector_store", purpose=None, key_after=None, key_before=None, ascending=True, limit=10
    )
    assert ids(stores) == ["vs_1"]
    assert (
        ids(await objects.page("carol", "file", purpose=None, key_after=None, key_before=None, ascending=True, limit=5))
        == []
    )
