"""`kill -9` with keyed requests in flight: `python -m app` killed while POST /chat requests with an
Idempotency-Key are being answered, restarted, and every unanswered key retried (and maybe killed again)
until each is answered; then each key's message is counted on its thread.

Used by tests/system/test_exactly_once.py (a few kills) and bench/crash_retries.py (200 per engine).
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2

from tests.fakes.processes import Server

ASSISTANT = "asst_fake"
# A restarted service takes over a dead attempt's key after this long, and a dead hosted run's thread.
SHORT_LEASE_S = "1"


@dataclass
class CrashOutcome:
    kills: int = 0
    requests: int = 0
    answered: int = 0
    interrupted: int = 0  # attempts that got no answer (killed mid-way), retried later with the same key
    replayed: int = 0  # keys answered with what an earlier, killed attempt had written (Idempotent-Replayed)
    duplicates: int = 0  # messages posted more than once for one key
    lost: int = 0  # keys answered 200 whose message is nowhere
    unanswered: list[str] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)  # answers by status


def crash_server(workdir: Path, engine: str, fake_base: str) -> Server:
    """The service on DATA_DIR in `workdir`, with short leases, talking to the fake upstream process."""
    settings = {
        "ENGINE": engine,
        "DATA_DIR": "data",
        "OPENAI_API_KEY": "sk-crash-test-0123456789",
        "OPENAI_BASE_URL": fake_base + "/v1",
        "OPENAI_TIMEOUT_S": "5",
        "IDEMPOTENCY_LEASE_S": SHORT_LEASE_S,
        "RUN_LEASE_S": SHORT_LEASE_S,
        "LOG_LEVEL": "WARNING",
    }
    if engine == "assistants":
        settings["OPENAI_ASSISTANT_ID"] = ASSISTANT
    return Server(workdir, **settings)


class CrashProbe:
    """Keys, their threads and contents; the rounds of kills; the final count."""

    def __init__(self, server: Server, engine: str, fake_base: str, *, concurrency: int, seed: int) -> None:
        self.server = server
        self.engine = engine
        self.fake_base = fake_base
        self.concurrency = concurrency
        self.random = random.Random(seed)
        self.pending: dict[str, str] = {}  # key -> thread id (the content is the key)
        self.answered: dict[str, str] = {}  # key -> thread id
        self.outcome = CrashOutcome()

    async def run(self, kills: int, max_delay_s: float = 0.05) -> CrashOutcome:
        try:
            return await self._run(kills, max_delay_s)
        finally:
            self.server.stop()

    async def _run(self, kills: int, max_delay_s: float) -> CrashOutcome:
        for round_ in range(kills):
            base = self.server.start()
            async with httpx2.AsyncClient(base_url=base, timeout=10) as http:
                for n in range(self.concurrency):
                    self.pending[f"k{round_}-{n}"] = await self._new_thread(http)
                attempts = {key: asyncio.create_task(self._post(http, key)) for key in list(self.pending)}
                # The first kill comes at once (every attempt is cut off), later ones 0 to max_delay_s after.
                await asyncio.sleep(self.random.uniform(0, max_delay_s) if round_ else 0)
                self.server.kill()
                self.outcome.kills += 1
                await self._settle(attempts)
        async with httpx2.AsyncClient(base_url=self.server.start(), timeout=10) as http:
            await self._retry_until_answered(http)
            await self._count(http)
        return self.outcome

    async def _retry_until_answered(self, http: httpx2.AsyncClient, rounds: int = 60) -> None:
        for _ in range(rounds):
            if not self.pending:
                break
            attempts = {key: asyncio.create_task(self._post(http, key)) for key in list(self.pending)}
            await self._settle(attempts)
            if self.pending:
                await asyncio.sleep(0.5)  # a key still held by a lease that has not lapsed yet: 409
        self.outcome.unanswered = sorted(self.pending)

    async def _settle(self, attempts: dict[str, asyncio.Task[httpx2.Response]]) -> None:
        for key, attempt in attempts.items():
            self.outcome.requests += 1
            try:
                response = await attempt
            except httpx2.HTTPError:
                self.outcome.interrupted += 1
                continue
            statuses = self.outcome.statuses
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            if response.status_code == 200:
                self.answered[key] = self.pending.pop(key)
                self.outcome.answered += 1
                self.outcome.replayed += response.headers.get("idempotent-replayed") == "true"

    async def _post(self, http: httpx2.AsyncClient, key: str) -> httpx2.Response:
        body = {"content": key, "threadId": self.pending[key]}
        return await http.post("/chat", json=body, headers={"Idempotency-Key": key})

    async def _new_thread(self, http: httpx2.AsyncClient) -> str:
        if self.engine == "hosted":
            response = await http.post("/threads")
        else:
            async with httpx2.AsyncClient(base_url=self.fake_base, timeout=10) as fake:
                response = await fake.post("/_fake/threads")
        key = "thread_id" if self.engine == "hosted" else "id"
        return str(response.json()[key])

    async def _count(self, http: httpx2.AsyncClient) -> None:
        for key, thread_id in self.answered.items():
            posted = (await self._user_messages(http, thread_id)).count(key)
            self.outcome.duplicates += max(0, posted - 1)
            self.outcome.lost += posted == 0

    async def _user_messages(self, http: httpx2.AsyncClient, thread_id: str) -> list[str]:
        if self.engine == "hosted":
            page = (await http.get(f"/threads/{thread_id}/messages", params={"limit": 100})).json()
            return [message["text"] for message in page["data"] if message["role"] == "user"]
        async with httpx2.AsyncClient(base_url=self.fake_base, timeout=10) as fake:
            state: dict[str, Any] = (await fake.get(f"/_fake/threads/{thread_id}")).json()
        return [m["content"][0]["text"]["value"] for m in state["messages"] if m["role"] == "user"]
