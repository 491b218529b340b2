"""What both floors (bench/relay_floor.py, bench/hosted_floor.py) share: raw ASGI plumbing, their
upstream session and their SQLite file, each written the plain way (no framework)."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
THREAD_ID = re.compile(r"thread_[A-Za-z0-9]{1,64}")
USER_ID = "default-user"
MAX_CONTENT_CHARS = 32_000
# The conversation upsert by (userId, threadId), as the service's store keeps it: name and createdAt
# on insert only, updatedAt on every message. One statement, so one implicit transaction.
CONVERSATIONS = """
CREATE TABLE IF NOT EXISTS conversations (
    user_id TEXT NOT NULL, thread_id TEXT NOT NULL, name TEXT NOT NULL, is_group INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, PRIMARY KEY (user_id, thread_id)
);
"""
UPSERT_CONVERSATION = (
    "INSERT INTO conversations (user_id, thread_id, name, is_group, created_at, updated_at) VALUES (?, ?, ?, 0, ?, ?) "
    "ON CONFLICT (user_id, thread_id) DO UPDATE SET updated_at = MAX(updated_at, excluded.updated_at)"
)


def upsert_conversation(db: sqlite3.Connection, thread_id: str) -> None:
    now = time.time()
    millis = round(now * 1000)
    name = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now))
    db.execute(UPSERT_CONVERSATION, (USER_ID, thread_id, name, millis, millis))


def open_database(file_name: str, schema: str) -> sqlite3.Connection:
    """One connection to a file in DATA_DIR, with the service's pragmas (WAL, synchronous=NORMAL)."""
    directory = Path(os.environ.get("DATA_DIR", "data")).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(str(directory / file_name), isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA busy_timeout = 5000")
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    db.executescript(CONVERSATIONS + schema)
    return db


def open_session() -> aiohttp.ClientSession:
    """One upstream pool of up to 1,000 connections, as the service's (MAX_UPSTREAM_CONNECTIONS)."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1000))


def upstream_url(path: str) -> str:
    return os.environ.get("OPENAI_BASE_URL", "https://api.openai.com/v1").rstrip("/") + path


def upstream_headers(**extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {os.environ.get('OPENAI_API_KEY', '')}", **extra}


async def read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def answer(send: Send, status: int, payload: Any) -> None:
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def chat_body(raw: bytes) -> tuple[str, str] | str:
    """(content, threadId) from a /chat body, or the name of the field that is wrong."""
    try:
        body = json.loads(raw)
    except ValueError:
        return "body"
    if not isinstance(body, dict):
        return "body"
    content, thread_id = body.get("content"), body.get("threadId")
    if not isinstance(content, str) or not 0 < len(content) <= MAX_CONTENT_CHARS:
        return "content"
    if not isinstance(thread_id, str) or not THREAD_ID.fullmatch(thread_id):
        return "threadId"
    return content, thread_id


class Floor:
    """A floor's ASGI app: the lifespan (its upstream session and SQLite file), `GET /` naming it, 404 for
    anything but `POST /chat`, and the body parsed. Subclasses answer a valid chat in `chat`."""

    engine = ""
    database_file = ""
    schema = ""

    def __init__(self) -> None:
        self.session: aiohttp.ClientSession | None = None
        self.db: sqlite3.Connection | None = None

    def start(self) -> None:
        self.session = open_session()
        self.db = open_database(self.database_file, self.schema)

    async def stop(self) -> None:
        if self.session is not None:
            await self.session.close()
        if self.db is not None:
            self.db.close()

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] != "http":
            return
        elif scope["path"] == "/" and scope["method"] == "GET":
            await answer(send, 200, {"status": "ok", "engine": self.engine})
        elif scope["path"] != "/chat" or scope["method"] != "POST":
            await answer(send, 404, {"detail": "Not Found"})
        else:
            parsed = chat_body(await read_body(receive))
            if isinstance(parsed, str):
                await answer(send, 422, {"detail": f"invalid {parsed}"})
            else:
                await self.chat(*parsed, send)

    async def chat(self, content: str, thread_id: str, send: Send) -> None:
        raise NotImplementedError

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return
