"""Thread owners: one owner per thread, even when claims race; only the owner releases it."""

from __future__ import annotations

import asyncio

from app.storage import Stores


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
