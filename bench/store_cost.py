"""Per-request cost of the embedded (SQLite) stores, at small and large data sizes.

The goal: per-request cost stays flat as data grows. A `/chat` request makes one
`touch_conversation`; this times 1,000 of them (half on existing conversations, half new)
on the embedded store (a SQLite file in a temporary directory) already holding N
conversations, and a page of `GET /conversations` read from the middle of the list (a cursor).
For the hosted engine's store it reuses bench/hosted_store_cost.py: what one run does to a
thread, at N messages.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from app.storage.conversations import PageCursor
from app.storage.sqlite.conversations import SqliteConversationStore
from app.storage.sqlite.database import DATABASE_FILE, SqliteDatabase

SIZES = (1_000, 100_000)
TOUCHES = 1_000
PAGES = 200
REPEATS = 7
USER = "default-user"


async def _per_touch_and_page_us(size: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory(prefix="bench-store-") as directory:
        database = SqliteDatabase(str(Path(directory) / DATABASE_FILE))
        try:
            return await _measure_conversations(SqliteConversationStore(database), size)
        finally:
            database.close()


async def _measure_conversations(store: SqliteConversationStore, size: int) -> tuple[float, float]:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for n in range(size):  # a millisecond apart, so the list has a definite order
        await store.touch_conversation(USER, f"thread_s{n}", at=start + timedelta(milliseconds=n))
    middle = PageCursor(start + timedelta(milliseconds=size // 2), f"thread_s{size // 2}")
    step = max(1, size // (TOUCHES // 2))
    touch_samples, page_samples = [], []
    for repeat in range(REPEATS):
        existing = [f"thread_s{n}" for n in range(0, size, step)][: TOUCHES // 2]
        new = [f"thread_new{repeat}_{n}" for n in range(TOUCHES - len(existing))]
        ids = [tid for pair in zip(existing, new, strict=False) for tid in pair] + new[len(existing) :]
        started = time.perf_counter()
        for thread_id in ids:
            await store.touch_conversation(USER, thread_id)
        touch_samples.append((time.perf_counter() - started) / len(ids) * 1e6)
        started = time.perf_counter()
        for _ in range(PAGES):
            page = await store.list_conversations(USER, limit=20, after=middle)
        page_samples.append((time.perf_counter() - started) / PAGES * 1e6)
        assert len(page) == 20
    return statistics.median(touch_samples), statistics.median(page_samples)


async def _per_hosted_run_us(size: int) -> float:
    from bench.hosted_store_cost import measure_sqlite

    return await measure_sqlite(size, 200)


def measure_store_cost(sizes: tuple[int, ...] = SIZES) -> dict[str, Any]:
    """Median microseconds per touch, per page and per hosted run at each size, and largest/smallest."""
    conversations = {size: asyncio.run(_per_touch_and_page_us(size)) for size in sizes}
    per_touch = {size: touch for size, (touch, _) in conversations.items()}
    per_page = {size: page for size, (_, page) in conversations.items()}
    per_run = {size: asyncio.run(_per_hosted_run_us(size)) for size in sizes}
    return {
        "per_touch_us": per_touch,
        "flatness": per_touch[max(sizes)] / per_touch[min(sizes)],
        "per_page_us": per_page,
        "page_flatness": per_page[max(sizes)] / per_page[min(sizes)],
        "hosted_per_run_us": per_run,
        "hosted_flatness": per_run[max(sizes)] / per_run[min(sizes)],
    }


if __name__ == "__main__":
    print(measure_store_cost())
