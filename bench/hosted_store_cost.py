"""Per-request cost of the hosted engine's embedded store as data grows (it must stay flat).

    .venv/bin/python -m bench.hosted_store_cost [--repeats 200]

For each size, fills the embedded SQLite store (a file in a temporary directory) with that many
messages (one busy thread holding a tenth of them, the rest spread over many threads), then times
what one run does on the busy thread: claim it, store the user message, read the last N messages,
store the reply, release it; plus a page of list_messages with a cursor. mongomock (what unit
tests use) is shown at the small sizes for comparison: it scans collections.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.clock import utc_now
from app.engines.hosted.objects import new_id
from app.storage.mongo.threads import MongoThreadStore
from app.storage.sqlite.database import DATABASE_FILE, SqliteDatabase
from app.storage.sqlite.threads import SqliteThreadStore
from app.storage.threads import MessageRecord, ThreadRecord, ThreadStore

LAST_N = 10
SIZES = (1_000, 10_000, 100_000)


@contextmanager
def sqlite_store() -> Iterator[SqliteThreadStore]:
    """The embedded store on a fresh file, as the service opens it; removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="bench-store-") as directory:
        database = SqliteDatabase(str(Path(directory) / DATABASE_FILE))
        try:
            yield SqliteThreadStore(database)
        finally:
            database.close()


async def measure_sqlite(messages: int, repeats: int) -> float:
    with sqlite_store() as store:
        return await measure(store, messages, repeats)


async def fill(store: ThreadStore, messages: int) -> str:
    """Store `messages` messages; return the busy thread's id."""
    now = utc_now()
    busy = new_id("thread_")
    await store.create_thread(ThreadRecord(id=busy, created_at=now, message_count=messages // 10))
    for seq in range(1, messages // 10 + 1):
        await store.insert_message(MessageRecord(new_id("msg_"), busy, seq, "user", "hello", now))
    per_thread = 10
    for _ in range((messages - messages // 10) // per_thread):
        thread_id = new_id("thread_")
        await store.create_thread(ThreadRecord(id=thread_id, created_at=now, message_count=per_thread))
        for seq in range(1, per_thread + 1):
            await store.insert_message(MessageRecord(new_id("msg_"), thread_id, seq, "user", "hello", now))
    return busy


async def one_run(store: ThreadStore, thread_id: str) -> None:
    now = utc_now()
    run_id = new_id("run_")
    claim = await store.claim_active_run(thread_id, run_id, holder=None, claim_expires_at=now + timedelta(seconds=30))
    assert claim.granted
    assert claim.thread is not None
    await store.insert_message(MessageRecord(new_id("msg_"), thread_id, claim.thread.message_count, "user", "q", now))
    await store.messages_page(thread_id, seq_after=None, seq_before=None, ascending=False, limit=LAST_N)
    seq = await store.next_message_seq(thread_id, run_id)
    assert seq is not None
    await store.insert_message(MessageRecord(new_id("msg_"), thread_id, seq, "assistant", "a", now))
    await store.release_active_run(thread_id, run_id)
    await store.messages_page(thread_id, seq_after=seq // 2, seq_before=None, ascending=True, limit=20)


async def measure(store: ThreadStore, messages: int, repeats: int, rounds: int = 3) -> float:
    """Median microseconds per run over `rounds` rounds of `repeats` runs, after a few warm-up runs."""
    thread_id = await fill(store, messages)
    for _ in range(max(1, repeats // 10)):
        await one_run(store, thread_id)
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(repeats):
            await one_run(store, thread_id)
        samples.append((time.perf_counter() - started) / repeats * 1e6)
    return statistics.median(samples)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    print(f"{'store':<10} {'messages':>9} {'us per run':>11}")
    for size in SIZES:
        print(f"{'sqlite':<10} {size:>9} {await measure_sqlite(size, args.repeats):>11.1f}")
    from mongomock_motor import AsyncMongoMockClient

    for size in (1_000, 4_000):
        store = MongoThreadStore(AsyncMongoMockClient(tz_aware=True)["bench"])
        print(f"{'mongomock':<10} {size:>9} {await measure(store, size, max(args.repeats // 10, 5)):>11.1f}")


if __name__ == "__main__":
    asyncio.run(main())
