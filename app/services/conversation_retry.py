"""Conversation upserts that failed after the run started, retried in the background until they land.

The client already has its run id, so the record must not be lost: one wait per user and thread,
bounded exponential backoff, "degraded" readiness meanwhile; flushed at shutdown, the rest logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from app.observability.request_ids import request_id_var
from app.storage.conversations import ConversationStore

logger = logging.getLogger(__name__)


@dataclass
class _Pending:
    at: datetime
    request_id: str | None
    attempts: int = 0


class UpsertRetryQueue:
    """Retries `touch_conversation` for failed upserts; `close()` flushes what is left."""

    # The retries' backoff (seconds, doubled per failure up to the max), and how long `close()`
    # keeps trying at shutdown before it logs what is left.
    initial_delay_s = 0.5
    max_delay_s = 30.0
    flush_timeout_s = 10.0

    def __init__(self, store: ConversationStore, *, on_retry: Callable[[bool], None]) -> None:
        self._store = store
        self._on_retry = on_retry
        self._pending: dict[tuple[str, str], _Pending] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def pending(self) -> int:
        """How many conversations still wait to be written."""
        return len(self._pending)

    def submit(self, user_id: str, thread_id: str, at: datetime) -> None:
        """Queue the upsert of (user, thread) at time `at`; later submissions for it move `at` forward."""
        key = (user_id, thread_id)
        waiting = self._pending.get(key)
        if waiting is None:
            self._pending[key] = _Pending(at, request_id_var.get())
        else:
            waiting.at = max(waiting.at, at)
        logger.warning("conversation upsert for thread %s queued for retry (%d pending)", thread_id, self.pending)
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="conversation-upsert-retry")

    async def close(self) -> None:
        """Stop the retry task, then keep trying what is left for `flush_timeout_s`; log what could not be written."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        deadline = time.monotonic() + self.flush_timeout_s
        delay = self.initial_delay_s
        while self._pending and time.monotonic() < deadline:
            if not await self._attempt_all(deadline):
                await asyncio.sleep(min(delay, max(0.0, deadline - time.monotonic())))
                delay = min(delay * 2, self.max_delay_s)
        if self._pending:
            lost = ", ".join(f"user={user} thread={thread}" for user, thread in self._pending)
            logger.error("shutdown: %d conversation upsert(s) could not be written: %s", self.pending, lost)
        else:
            logger.info("shutdown: no conversation upserts pending")

    async def _run(self) -> None:
        delay = self.initial_delay_s
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                if await self._attempt_all(None):
                    delay = self.initial_delay_s
                else:
                    # Full jitter keeps many instances from hammering a database that comes back.
                    await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                    delay = min(delay * 2, self.max_delay_s)

    async def _attempt_all(self, deadline: float | None) -> bool:
        """Try every pending upsert once; False at the first failure (the store is still down)."""
        for key, waiting in list(self._pending.items()):
            user_id, thread_id = key
            token = request_id_var.set(waiting.request_id)
            at = waiting.at
            try:
                waiting.attempts += 1
                write = self._store.touch_conversation(user_id, thread_id, at=at)
                if deadline is None:
                    await write
                else:
                    await asyncio.wait_for(write, timeout=max(0.001, deadline - time.monotonic()))
            except Exception as exc:
                logger.warning(
                    "conversation upsert retry %d for thread %s failed: %s",
                    waiting.attempts,
                    thread_id,
                    type(exc).__name__,
                )
                self._on_retry(False)
                return False
            finally:
                request_id_var.reset(token)
            if self._pending.get(key) is waiting and waiting.at == at:  # else a newer message came in meanwhile
                del self._pending[key]
            logger.info("conversation upsert for thread %s landed after %d retries", thread_id, waiting.attempts)
            self._on_retry(True)
        return True
