"""What a list costs as it grows: GET /v1/threads/{id}/runs?limit=20 (and a run's messages, `?run_id=`) on a thread
of 100, 1,000 and 10,000 runs, and /livez while 8 clients list.

    .venv/bin/python -m bench.list_cost [--sizes 100,1000,10000] [--requests 200] [--root /work/main]

Each size gets a fresh DATA_DIR (SQLite), seeded straight into the file before `python -m app` (ENGINE=hosted)
starts on it: one thread, N completed runs of about 4 KB each (instructions and a reply), one reply message
per run. Reported per size, as JSON: the median and p95 latency of one page of runs and of one run's
messages (`requests` sequential calls each), the service's RSS after listing, and /livez's median and
max latency alone and while 8 clients list runs as fast as they can. `--root` runs another checkout's
app on the same data (e.g. main, for the figures before).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx2
import psutil

from app.clock import utc_now
from app.storage.sqlite.database import SqliteDatabase
from app.storage.sqlite.threads import SqliteThreadStore
from app.storage.threads import MessageRecord, RunRecord, ThreadRecord
from tests.fakes.processes import Server

THREAD = "thread_listcost"
RUN_TEXT = "x" * 2000  # each run's instructions and reply: a run of about 4 KB, as an assistant's with a long prompt
LISTERS = 8


async def seed(data_dir: Path, runs: int) -> list[str]:
    """The thread with `runs` completed runs and their replies; the run ids, oldest first."""
    database = SqliteDatabase.in_directory(str(data_dir))
    store = SqliteThreadStore(database)
    start = utc_now() - timedelta(days=1)
    await store.create_thread(ThreadRecord(THREAD, start, message_count=runs))
    ids = []
    with database.transaction():
        for n in range(runs):
            at = start + timedelta(milliseconds=n)
            run = RunRecord(
                id=f"run_lc{n:06d}",
                thread_id=THREAD,
                status="completed",
                created_at=at,
                model="gpt-4o-mini",
                instructions=RUN_TEXT,
                tools=(),
                max_completion_tokens=1000,
                truncation_last_messages=10,
                lease_expires_at=None,
                expires_at=None,
                completed_at=at,
                reply=RUN_TEXT,
            )
            await store.insert_run(run)
            await store.insert_message(MessageRecord(f"msg_lc{n:06d}", THREAD, n + 1, "assistant", "r", at, run.id))
            ids.append(run.id)
    database.close()
    return ids


def _ms(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1] * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


async def _timed(http: httpx2.AsyncClient, path: str, **params: Any) -> float:
    started = time.perf_counter()
    response = await http.get(path, params=params)
    assert response.status_code == 200, response.text
    return time.perf_counter() - started


async def measure_size(runs: int, requests: int, root: Path | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="list-cost-") as workdir:
        run_ids = await seed(Path(workdir) / "data", runs)
        server = Server(Path(workdir), DATA_DIR="data", OPENAI_API_KEY="sk-list-cost-0123456789", LOG_LEVEL="WARNING")
        if root is not None:
            server.env["PYTHONPATH"] = str(root)
        base = server.start()
        assert server.process is not None
        try:
            async with httpx2.AsyncClient(base_url=base, timeout=60) as http:
                runs_path = f"/v1/threads/{THREAD}/runs"
                messages_path = f"/v1/threads/{THREAD}/messages"
                middle = run_ids[len(run_ids) // 2]
                page = [await _timed(http, runs_path, limit=20) for _ in range(requests)]
                of_run = [await _timed(http, messages_path, run_id=middle) for _ in range(requests)]
                livez_alone = [await _timed(http, "/livez") for _ in range(50)]
                stop = asyncio.Event()

                async def lister() -> int:
                    count = 0
                    while not stop.is_set():
                        await _timed(http, runs_path, limit=20)
                        count += 1
                    return count

                listers = [asyncio.create_task(lister()) for _ in range(LISTERS)]
                livez_busy = []
                for _ in range(50):
                    livez_busy.append(await _timed(http, "/livez"))
                    await asyncio.sleep(0.02)
                stop.set()
                listed = sum(await asyncio.gather(*listers))
                rss = psutil.Process(server.process.pid).memory_info().rss
        finally:
            server.stop()
    return {
        "runs": runs,
        "runs_page_limit_20": _ms(page),
        "messages_of_one_run": _ms(of_run),
        "livez_alone": _ms(livez_alone),
        f"livez_while_{LISTERS}_list": _ms(livez_busy),
        "pages_listed_meanwhile": listed,
        "rss_mb_after": round(rss / 2**20, 1),
    }


async def measure(sizes: list[int], requests: int, root: Path | None) -> list[dict[str, Any]]:
    return [await measure_size(size, requests, root) for size in sizes]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--root", type=Path, default=None, help="another checkout whose app to run (e.g. main)")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    print(json.dumps(asyncio.run(measure(sizes, args.requests, args.root)), indent=2))


if __name__ == "__main__":
    main()
