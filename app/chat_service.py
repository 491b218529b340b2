"""Posting a user's message: start the run and record the conversation, side by side."""

from __future__ import annotations

import asyncio
import logging

from app.engines.base import AssistantEngine, RunRef
from app.store.base import ConversationStore

logger = logging.getLogger(__name__)


class ChatService:
    """The `/chat` use case, shared by every route that posts a message."""

    def __init__(self, engine: AssistantEngine, store: ConversationStore) -> None:
        self._engine = engine
        self._store = store

    async def post_message(self, user_id: str, thread_id: str, content: str) -> RunRef:
        """Start a run with the message and upsert the conversation; the two overlap."""
        run_result, touch_result = await asyncio.gather(
            self._engine.start_run(thread_id, content),
            self._store.touch_conversation(user_id, thread_id),
            return_exceptions=True,
        )
        if isinstance(run_result, BaseException):
            if touch_result is True:
                # The run was refused (unknown thread, say): forget the conversation we just created.
                await self._forget_conversation(user_id, thread_id)
            raise run_result
        if isinstance(touch_result, BaseException):
            logger.error(
                "conversation upsert failed after run %s started on %s: %s",
                run_result.run_id,
                thread_id,
                type(touch_result).__name__,
            )
        return run_result

    async def _forget_conversation(self, user_id: str, thread_id: str) -> None:
        try:
            await self._store.delete_conversation(user_id, thread_id)
        except Exception as exc:  # the original error matters more than this clean-up
            logger.warning("could not remove conversation for refused thread %s: %s", thread_id, type(exc).__name__)
