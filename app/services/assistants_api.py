"""The OpenAI-compatible Assistants API (/v1, ENGINE=hosted): threads, messages and runs per user.

Threads made here are ordinary threads of the service: owned by their creator (ThreadAccess), and
recorded in `conversations` when a message is posted, so `/chat` and the Next.js routes work on them.
Another user's thread, run or assistant is answered like an unknown one (404).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from typing import Any

from app.engines.base import StreamEvent, ToolOutput
from app.engines.hosted.engine import HostedEngine
from app.engines.hosted.run_spec import NewMessage, RunSpec
from app.services.assistants import AssistantService
from app.services.chat import ChatService
from app.services.thread_owners import ThreadAccess
from app.storage.threads import MessageRecord, RunRecord, ThreadRecord

logger = logging.getLogger(__name__)


class AssistantsApi:
    """Ownership and conversations around the hosted engine's threads, messages and runs."""

    def __init__(
        self, engine: HostedEngine, assistants: AssistantService, access: ThreadAccess, chat: ChatService
    ) -> None:
        self.engine = engine
        self.assistants = assistants
        self._access = access
        self._chat = chat

    # ---- threads -------------------------------------------------------------------------
    async def create_thread(
        self,
        user_id: str,
        *,
        metadata: dict[str, str] | None,
        messages: list[NewMessage],
        tool_resources: dict[str, Any] | None = None,
    ) -> ThreadRecord:
        thread, _ = await self._create_thread(user_id, metadata, messages, tool_resources)
        return thread

    async def _create_thread(
        self,
        user_id: str,
        metadata: dict[str, str] | None,
        messages: list[NewMessage],
        tool_resources: dict[str, Any] | None,
    ) -> tuple[ThreadRecord, list[str]]:
        """The new thread, and the vector stores made for it (to delete if it is discarded)."""
        for index, message in enumerate(messages):  # refused before anything is made
            await self.engine.verify_attachments(message.attachments or [], f"messages[{index}].attachments")
        await self._access.ensure_room_for_a_thread(user_id)
        resources, made = await self.engine.made_resources(tool_resources)
        try:
            thread_id = await self.engine.create_thread(metadata=metadata, tool_resources=resources)
        except BaseException:
            await self.engine.delete_stores(made)
            raise
        await self._access.record_new_thread(user_id, thread_id)
        try:
            for message in messages:
                await self.engine.add_message(thread_id, message, verified=True)
        except BaseException:
            await self._discard(user_id, thread_id, made)
            raise
        if messages:
            await self._chat.record_conversation(user_id, thread_id)
        return await self.engine.get_thread(thread_id), made

    async def start_on_new_thread(
        self,
        user_id: str,
        assistant_id: str,
        *,
        stream: bool,
        thread_metadata: dict[str, str] | None,
        thread_messages: list[NewMessage],
        thread_resources: dict[str, Any] | None,
        **overrides: object,
    ) -> RunRecord | AsyncGenerator[StreamEvent, None]:
        """`POST /v1/threads/runs`: a new thread (as `create_thread` makes it from the `thread_` arguments)
        and its run (`overrides`: the RunSpec's); a run that cannot start leaves no thread behind."""
        await self.assistants.get(user_id, assistant_id)  # an unknown assistant makes no thread
        new_thread, stores = await self._create_thread(user_id, thread_metadata, thread_messages, thread_resources)
        try:
            if stream:
                return await self.stream_run(user_id, new_thread.id, assistant_id, **overrides)
            return await self.start_run(user_id, new_thread.id, assistant_id, **overrides)
        except BaseException:
            await self._discard(user_id, new_thread.id, stores)
            raise

    async def _discard(self, user_id: str, thread_id: str, made_stores: list[str]) -> None:
        """Remove a thread whose creation failed half-way, and the stores made for it (its own error is
        the one to answer)."""
        try:
            await self.delete_thread(user_id, thread_id)
            await self.engine.delete_stores(made_stores)
        except Exception as exc:
            logger.warning("could not remove the half-made thread %s: %s", thread_id, type(exc).__name__)

    async def thread(self, user_id: str, thread_id: str) -> ThreadRecord:
        await self._access.check(user_id, thread_id)
        return await self.engine.get_thread(thread_id)

    async def set_thread_metadata(self, user_id: str, thread_id: str, metadata: dict[str, str]) -> ThreadRecord:
        await self._access.check(user_id, thread_id)
        return await self.engine.set_thread_metadata(thread_id, metadata)

    async def set_thread_tool_resources(self, user_id: str, thread_id: str, resources: dict[str, Any]) -> ThreadRecord:
        await self._access.check(user_id, thread_id)
        return await self.engine.set_thread_tool_resources(thread_id, resources)

    async def delete_thread(self, user_id: str, thread_id: str) -> None:
        await self._access.check(user_id, thread_id)
        await self.engine.delete_thread(thread_id)
        await self._access.release(user_id, thread_id)  # no longer counts towards the user's threads
        await self._chat.forget_conversation(user_id, thread_id)

    async def _posting(self, user_id: str, thread_id: str) -> None:
        """The user may post to the thread (an unowned thread of the default user becomes theirs)."""
        await self.engine.get_thread(thread_id)
        await self._access.claim_for_posting(user_id, thread_id)
        await self._chat.record_conversation(user_id, thread_id)

    # ---- messages ------------------------------------------------------------------------
    async def add_message(self, user_id: str, thread_id: str, message: NewMessage) -> MessageRecord:
        await self._posting(user_id, thread_id)
        return await self.engine.add_message(thread_id, message)

    async def set_message_metadata(
        self, user_id: str, thread_id: str, message_id: str, metadata: dict[str, str]
    ) -> MessageRecord:
        await self._access.check(user_id, thread_id)
        return await self.engine.set_message_metadata(thread_id, message_id, metadata)

    async def delete_message(self, user_id: str, thread_id: str, message_id: str) -> None:
        await self._access.check(user_id, thread_id)
        await self.engine.delete_message(thread_id, message_id)

    # ---- runs ----------------------------------------------------------------------------
    async def _spec(self, user_id: str, assistant_id: str, **overrides: object) -> RunSpec:
        assistant = await self.assistants.get(user_id, assistant_id)
        return RunSpec(assistant=assistant, **overrides)  # type: ignore[arg-type]

    async def start_run(self, user_id: str, thread_id: str, assistant_id: str, **overrides: object) -> RunRecord:
        await self._access.check(user_id, thread_id)
        spec = await self._spec(user_id, assistant_id, **overrides)
        await self._posting(user_id, thread_id)
        return await self.engine.start_spec_run(thread_id, spec)

    async def stream_run(
        self, user_id: str, thread_id: str, assistant_id: str, **overrides: object
    ) -> AsyncGenerator[StreamEvent, None]:
        await self._access.check(user_id, thread_id)
        spec = await self._spec(user_id, assistant_id, **overrides)
        await self._posting(user_id, thread_id)
        return await self.engine.stream_spec_run(thread_id, spec)

    async def set_run_metadata(self, user_id: str, thread_id: str, run_id: str, metadata: dict[str, str]) -> RunRecord:
        await self._access.check(user_id, thread_id)
        return await self.engine.set_run_metadata(thread_id, run_id, metadata)

    async def submit_tool_outputs(
        self, user_id: str, thread_id: str, run_id: str, outputs: list[ToolOutput], *, stream: bool
    ) -> RunRecord | AsyncGenerator[StreamEvent, None]:
        await self._access.check(user_id, thread_id)
        if stream:
            return await self.engine.submit_tool_outputs(thread_id, run_id, outputs)
        return await self.engine.continue_run(thread_id, run_id, outputs)
