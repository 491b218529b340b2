"""Thread owners: one owner per thread, even when claims race; only the owner releases it; per-user counts."""

from __future__ import annotations

import asyncio
from pathlib import Path

from app.storage import Stores
from app.storage.sqlite.database import SqliteDatabase
from app.storage.sqlite.thread_owners import SqliteThreadOwnerStore
from app.storage.thread_owners import CountingThreadOwnerStore


async def test_a_thread_has_one_owner_and_only_the_owner_releases_it(store: Stores) -> None:
    await store.ensure_indexes(threads=False)
    assert await store.thread_owners.owner_of("thread_x") is None
    owners = await asyncio.gather(*(store.thread_owners.claim_owner(f"u{n}", "thread_x") for n in range(5)))
    assert len(set(owners)) == 1
    owner = owners[0]
    await store.thread_owners.release_owner("someone-else", "thread_x")
    assert await store.thread_owners.owner_of("thread_x") == owner
    await store.thread_owners.release_owner(owner, "thread_x")
    assert await store.thread_owners.owner_of("thread_x") is None


async def test_the_embedded_store_counts_each_users_threads_and_refuses_a_claim_over_the_limit(tmp_path: Path) -> None:
    database = SqliteDatabase(str(tmp_path / "owners.sqlite3"))
    owners = SqliteThreadOwnerStore(database)
    assert isinstance(owners, CountingThreadOwnerStore)
    assert await owners.claim_owner_within_limit("alice", "thread_1", 2) == "alice"
    assert await owners.claim_owner("alice", "thread_2") == "alice"
    assert await owners.claim_owner("bob", "thread_2") == "alice", "a claim of an owned thread changes nothing"
    assert await owners.thread_count("alice") == 2
    assert await owners.thread_count("bob") == 0

    assert await owners.claim_owner_within_limit("alice", "thread_3", 2) is None
    assert await owners.owner_of("thread_3") is None
    assert await owners.claim_owner_within_limit("alice", "thread_1", 2) == "alice", "her own thread, at the limit"
    assert await owners.claim_owner_within_limit("bob", "thread_1", 2) == "alice"

    await owners.release_owner("alice", "thread_2")
    assert await owners.thread_count("alice") == 1
    assert await owners.claim_owner_within_limit("alice", "thread_3", 2) == "alice"
    assert await owners.thread_count("alice") == 2
    database.close()
