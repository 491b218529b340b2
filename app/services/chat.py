"""Posting a user's message: start the run and record the conversation, side by side."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from datetime import datetime
from typing import TypeVar

from app.clock import utc_now
from app.engines import UnconfiguredEngine
from app.engines.base import AssistantEngine, RunRef, StreamEvent
from app.errors import ChatNotConfigured, InvalidField, ThreadNotFound
from app.observability.metrics import Metrics
from app.services.conversation_retry import UpsertRetryQueue
from app.services.thread_owners import ThreadAccess
from app.storage.conversations import ConversationStore

logger = logging.getLogger(__name__)

T = TypeVar("T")


class ChatService:
    """The `/chat` use case, shared by every route that posts a message."""

    def __init__(
        self,
        engine: AssistantEngine,
        store: ConversationStore,
        *,
        access: ThreadAccess,
        upsert_retries: UpsertRetryQueue,
        metrics: Metrics,
        max_content_chars: int,
    ) -> None:
        self._engine = engine
        self._max_content_chars = max_content_chars
        self._store = store
        self._access = access
        self._upsert_retries = upsert_retries
        self._metrics = metrics

    async def create_thread(self, user_id: str) -> str:
        """A new, empty thread, owned by the user (none is created above the user's thread limit)."""
        return await self.new_thread(user_id, self._engine.create_thread)

    async def new_thread(self, user_id: str, create: Callable[[], Awaitable[str]]) -> str:
        """The thread `create()` makes, owned by the user; refused first above the user's thread limit."""
        await self._access.ensure_room_for_a_thread(user_id)
        thread_id = await create()
        await self._access.record_new_thread(user_id, thread_id)
        return thread_id

    async def post_message(self, user_id: str, thread_id: str, content: str, *, marker: str | None) -> RunRef:
        """Start a run with the message and upsert the conversation, overlapping; `marker` identifies the request."""
        run = await self._posted(user_id, thread_id, self._engine.start_run, content, marker)
        self._count_run("run")
        return run

    async def find_posted_run(self, user_id: str, thread_id: str, marker: str) -> RunRef | None:
        """The run an earlier request with this marker started on the user's thread, if it can be found."""
        await self._access.check(user_id, thread_id)
        return await self._engine.find_run(thread_id, marker)

    async def stream_message(
        self, user_id: str, thread_id: str, content: str, *, marker: str | None
    ) -> AsyncGenerator[StreamEvent, None]:
        """Like post_message, but the run is streamed: returns its events once it has started."""
        events = await self._posted(user_id, thread_id, self._engine.stream_run, content, marker)
        self._count_run("stream")
        return events

    async def _posted(
        self,
        user_id: str,
        thread_id: str,
        start: Callable[[str, str, str | None], Awaitable[T]],
        content: str,
        marker: str | None,
    ) -> T:
        self.check_content(content)
        return await self.posted(user_id, thread_id, lambda: start(thread_id, content, marker))

    def check_content(self, content: str, field: str = "content") -> None:
        """The one rule for a message's text, on every route: 1 to MAX_CONTENT_CHARS characters (InvalidField naming
        `field`). A hosted run whose message cannot fit MAX_PROMPT_TOKENS fails at once saying so (history.py)."""
        if not content:
            raise InvalidField(field, "String should have at least 1 character")
        if len(content) > self._max_content_chars:
            raise InvalidField(field, f"String should have at most {self._max_content_chars} characters")

    async def posted(self, user_id: str, thread_id: str, post: Callable[[], Awaitable[T]]) -> T:
        """`post()` once the user may post to the thread (claiming an unowned one), the conversation beside it."""
        if isinstance(self._engine, UnconfiguredEngine):  # refused before anything is written
            raise ChatNotConfigured(self._engine.missing_variable)
        claimed = await self._access.claim_for_posting(user_id, thread_id)
        try:
            return await self._recorded(user_id, thread_id, post())
        except ThreadNotFound:
            if claimed:
                await self._access.release(user_id, thread_id)
            raise

    async def record_conversation(self, user_id: str, thread_id: str) -> None:
        """Record (or touch) the user's conversation for a thread posted to by another route (/v1)."""
        at = utc_now()
        try:
            await self._store.touch_conversation(user_id, thread_id)
        except Exception as exc:
            self._retry_upsert(user_id, thread_id, at, exc)

    def _count_run(self, mode: str) -> None:
        self._metrics.runs_started.labels(self._engine.name, mode).inc()

    async def _recorded(self, user_id: str, thread_id: str, start: Awaitable[T]) -> T:
        at = utc_now()
        started, touched = await asyncio.gather(
            start, self._store.touch_conversation(user_id, thread_id), return_exceptions=True
        )
        if isinstance(started, BaseException):
            if touched is True and isinstance(started, ThreadNotFound):
                # The thread does not exist: forget the conversation just created for it. Any other
                # failure leaves it: the message may have been posted, or another one was.
                await self.forget_conversation(user_id, thread_id)
            raise started
        if isinstance(touched, BaseException):
            self._retry_upsert(user_id, thread_id, at, touched)
        return started

    def _retry_upsert(self, user_id: str, thread_id: str, at: datetime, exc: BaseException) -> None:
        logger.error("conversation upsert failed for thread %s: %s", thread_id, type(exc).__name__)
        self._upsert_retries.submit(user_id, thread_id, at)

    async def forget_conversation(self, user_id: str, thread_id: str) -> None:
        """Remove the user's conversation of a deleted (or refused) thread; a failure is only logged."""
        try:
            await self._store.delete_conversation(user_id, thread_id)
        except Exception as exc:  # the original error matters more than this clean-up
            logger.warning("could not remove conversation for refused thread %s: %s", thread_id, type(exc).__name__)
