"""Posting a user's message: start the run and record the conversation, side by side."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable
from typing import TypeVar

from app.engines.base import AssistantEngine, RunRef, StreamEvent
from app.store.base import ConversationStore

logger = logging.getLogger(__name__)

T = TypeVar("T")


class ChatService:
    """The `/chat` use case, shared by every route that posts a message."""

    def __init__(self, engine: AssistantEngine, store: ConversationStore) -> None:
        self._engine = engine
        self._store = store

    async def post_message(self, user_id: str, thread_id: str, content: str) -> RunRef:
        """Start a run with the message and upsert the conversation; the two overlap."""
        return await self._recorded(user_id, thread_id, self._engine.start_run(thread_id, content))

    async def stream_message(self, user_id: str, thread_id: str, content: str) -> AsyncIterator[StreamEvent]:
        """Like post_message, but the run is streamed: returns its events once it has started."""
        return await self._recorded(user_id, thread_id, self._engine.stream_run(thread_id, content))

    async def _recorded(self, user_id: str, thread_id: str, start: Awaitable[T]) -> T:
        started, touched = await asyncio.gather(
            start, self._store.touch_conversation(user_id, thread_id), return_exceptions=True
        )
        if isinstance(started, BaseException):
            if touched is True:
                # The run was refused (unknown thread, say): forget the conversation we just created.
                await self._forget_conversation(user_id, thread_id)
            raise started
        if isinstance(touched, BaseException):
            logger.error("conversation upsert failed for thread %s: %s", thread_id, type(touched).__name__)
        return started

    async def _forget_conversation(self, user_id: str, thread_id: str) -> None:
        try:
            await self._store.delete_conversation(user_id, thread_id)
        except Exception as exc:  # the original error matters more than this clean-up
            logger.warning("could not remove conversation for refused thread %s: %s", thread_id, type(exc).__name__)
