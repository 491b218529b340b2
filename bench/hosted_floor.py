"""The hosted floor: a hosted `POST /chat`'s minimum as a raw ASGI app, the plain way, for bench/run.py.

Parse the body; in one SQLite transaction store the user message, the queued run (a partial unique
index allows one active run per thread: a second is refused with 400 `active_run`) and the
conversation upsert; answer `{"success": true, "run_id", "thread_id"}` at once. Then, on a task the
app owns, read the thread's last 10 messages, stream one `POST /v1/responses` call (`stream: true`),
collect the text deltas, and store the reply and the completed run in one transaction. No
framework; served by the service's own server with the service's options (bench/procs.py).
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import time
import uuid

import aiohttp

from bench.floor_asgi import Floor, Send, answer, upsert_conversation, upstream_headers, upstream_url

ENGINE = "hosted floor"
DATABASE_FILE = "hosted-floor.sqlite3"
SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY, thread_id TEXT NOT NULL, role TEXT NOT NULL, text TEXT NOT NULL,
    run_id TEXT, created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_thread ON messages (thread_id, id);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY, thread_id TEXT NOT NULL, status TEXT NOT NULL, created_at INTEGER NOT NULL,
    completed_at INTEGER
);
CREATE UNIQUE INDEX IF NOT EXISTS one_active_run ON runs (thread_id) WHERE status IN ('queued', 'in_progress');
"""
INSTRUCTIONS = "You are a helpful assistant."
TEXT_DELTA = "response.output_text.delta"


def _ms() -> int:
    return round(time.time() * 1000)


class HostedFloor(Floor):
    engine = ENGINE
    database_file = DATABASE_FILE
    schema = SCHEMA

    def __init__(self) -> None:
        super().__init__()
        self.runs: set[asyncio.Task[None]] = set()

    async def stop(self) -> None:
        for task in self.runs:
            task.cancel()
        await asyncio.gather(*self.runs, return_exceptions=True)
        await super().stop()

    async def chat(self, content: str, thread_id: str, send: Send) -> None:
        assert self.db is not None
        run_id = "run_" + uuid.uuid4().hex
        now = _ms()
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.execute(
                "INSERT INTO runs (id, thread_id, status, created_at) VALUES (?, ?, 'queued', ?)",
                (run_id, thread_id, now),
            )
            self.db.execute(
                "INSERT INTO messages (thread_id, role, text, created_at) VALUES (?, 'user', ?, ?)",
                (thread_id, content, now),
            )
            upsert_conversation(self.db, thread_id)
            self.db.execute("COMMIT")
        except sqlite3.IntegrityError:
            self.db.execute("ROLLBACK")
            await answer(send, 400, {"code": "active_run", "detail": "the thread has an active run"})
            return
        task = asyncio.create_task(self.run(run_id, thread_id))
        self.runs.add(task)
        task.add_done_callback(self.runs.discard)
        await answer(send, 200, {"success": True, "run_id": run_id, "thread_id": thread_id})

    async def run(self, run_id: str, thread_id: str) -> None:
        assert self.session is not None
        assert self.db is not None
        rows = self.db.execute(
            "SELECT role, text FROM messages WHERE thread_id = ? ORDER BY id DESC LIMIT 10", (thread_id,)
        ).fetchall()
        body = {
            "input": [{"type": "message", "role": role, "content": text} for role, text in reversed(rows)],
            "instructions": INSTRUCTIONS,
            "max_output_tokens": 1000,
            "model": os.environ.get("OPENAI_MODEL", "gpt-4o-mini"),
            "store": False,
            "stream": True,
        }
        parts: list[str] = []
        status = "failed"
        try:
            async with self.session.post(upstream_url("/responses"), json=body, headers=upstream_headers()) as response:
                if response.status == 200:
                    async for line in response.content:
                        if not line.startswith(b"data: "):
                            continue
                        event = json.loads(line[6:])
                        if event.get("type") == TEXT_DELTA:
                            parts.append(event["delta"])
                        elif event.get("type") == "response.completed":
                            status = "completed"
        except aiohttp.ClientError:
            status = "failed"
        now = _ms()
        self.db.execute("BEGIN IMMEDIATE")
        try:
            if status == "completed":
                self.db.execute(
                    "INSERT INTO messages (thread_id, role, text, run_id, created_at) VALUES (?, 'assistant', ?, ?, ?)",
                    (thread_id, "".join(parts), run_id, now),
                )
            self.db.execute("UPDATE runs SET status = ?, completed_at = ? WHERE id = ?", (status, now, run_id))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise


app = HostedFloor()
