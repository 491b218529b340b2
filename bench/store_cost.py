"""Per-request cost of the embedded (in-memory) stores, at small and large data sizes.

The goal: per-request cost stays flat as data grows. A `/chat` request makes one
`touch_conversation`; this times 1,000 of them (half on existing conversations, half new)
on a MemoryConversationStore already holding N conversations. For the hosted engine's
store it reuses bench/hosted_store_cost.py: what one run does to a thread, at N messages.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

from app.storage.memory.conversations import MemoryConversationStore

SIZES = (1_000, 50_000)
TOUCHES = 1_000
REPEATS = 7
USER = "default-user"


async def _per_touch_us(size: int) -> float:
    store = MemoryConversationStore()
    for n in range(size):
        await store.touch_conversation(USER, f"thread_s{n}")
    step = max(1, size // (TOUCHES // 2))
    samples = []
    for repeat in range(REPEATS):
        existing = [f"thread_s{n}" for n in range(0, size, step)][: TOUCHES // 2]
        new = [f"thread_new{repeat}_{n}" for n in range(TOUCHES - len(existing))]
        ids = [tid for pair in zip(existing, new, strict=False) for tid in pair] + new[len(existing) :]
        started = time.perf_counter()
        for thread_id in ids:
            await store.touch_conversation(USER, thread_id)
        samples.append((time.perf_counter() - started) / len(ids) * 1e6)
    return statistics.median(samples)


async def _per_hosted_run_us(size: int) -> float:
    from app.storage.memory.threads import MemoryThreadStore
    from bench.hosted_store_cost import measure

    return statistics.median([await measure(MemoryThreadStore(), size, 200) for _ in range(3)])


def measure_store_cost(sizes: tuple[int, ...] = SIZES) -> dict[str, Any]:
    """Median microseconds per touch (and per hosted run) at each size, and largest/smallest."""
    per_touch = {size: asyncio.run(_per_touch_us(size)) for size in sizes}
    per_run = {size: asyncio.run(_per_hosted_run_us(size)) for size in sizes}
    return {
        "per_touch_us": per_touch,
        "flatness": per_touch[max(sizes)] / per_touch[min(sizes)],
        "hosted_per_run_us": per_run,
        "hosted_flatness": per_run[max(sizes)] / per_run[min(sizes)],
    }


if __name__ == "__main__":
    print(measure_store_cost())
