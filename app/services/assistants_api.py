"""The Assistants API (/v1, ENGINE=hosted): who may touch a thread, and its conversation.

Threads made here are ordinary threads (owned by their creator, recorded in `conversations` when
posted to), so `/chat` and the Next.js routes work on them. Another user's thread, run or assistant
is answered like an unknown one (404).
"""

from __future__ import annotations

import logging
from typing import Any

from app.engines.hosted.engine import HostedEngine
from app.engines.hosted.run_spec import NewMessage, RunSpec
from app.engines.hosted.runs import Started
from app.services.assistants import AssistantService
from app.services.chat import ChatService
from app.services.thread_owners import ThreadAccess
from app.services.upstream_objects import UpstreamObjects
from app.storage.threads import MessageRecord, RunRecord, ThreadRecord

logger = logging.getLogger(__name__)


class AssistantsApi:
    """Ownership and conversations around the hosted engine's threads, messages and runs."""

    def __init__(
        self,
        hosted: HostedEngine,
        assistants: AssistantService,
        access: ThreadAccess,
        chat: ChatService,
        objects: UpstreamObjects,
    ) -> None:
        self.hosted = hosted
        self.assistants = assistants
        self.objects = objects
        self._access = access
        self._chat = chat

    async def check(self, user_id: str, thread_id: str) -> None:
        """ThreadNotFound unless the user may use the thread."""
        await self._access.check(user_id, thread_id)

    async def thread(self, user_id: str, thread_id: str) -> ThreadRecord:
        await self._access.check(user_id, thread_id)
        return await self.hosted.threads.get(thread_id)

    async def create_thread(
        self,
        user_id: str,
        *,
        metadata: dict[str, str] | None,
        messages: list[NewMessage],
        tool_resources: dict[str, Any] | None = None,
    ) -> tuple[ThreadRecord, list[str]]:
        """The new thread, and the vector stores made for it (to delete if it is discarded)."""
        self.check_messages(messages, "messages")
        files = self.hosted.files
        await self.objects.check_resources(user_id, tool_resources)
        for index, message in enumerate(messages):  # refused before anything is made
            await self.objects.check_attachments(user_id, message.attachments, f"messages[{index}].attachments")
            await files.verify(message.attachments or [], f"messages[{index}].attachments")
        made: list[str] = []

        async def create() -> str:
            resources, stores = await files.made_resources(tool_resources, user_id)
            made.extend(stores)
            try:
                return (await self.hosted.threads.create(metadata=metadata, tool_resources=resources)).id
            except BaseException:
                await files.delete_stores(made)
                raise

        thread_id = await self._chat.new_thread(user_id, create)
        try:
            for message in messages:
                await self.hosted.messages.add(thread_id, message, verified=True)
        except BaseException:
            await self._discard(user_id, thread_id, made)
            raise
        if messages:
            await self._chat.record_conversation(user_id, thread_id)
        return await self.hosted.threads.get(thread_id), made

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
    ) -> Started:
        """`POST /v1/threads/runs`: a new thread (`thread_` arguments) and its run; a failed start leaves none."""
        self.check_messages(thread_messages, "thread.messages")
        await self.assistants.get(user_id, assistant_id)  # an unknown assistant makes no thread
        new_thread, stores = await self.create_thread(
            user_id, metadata=thread_metadata, messages=thread_messages, tool_resources=thread_resources
        )
        try:
            return await self.start_run(user_id, new_thread.id, assistant_id, stream=stream, **overrides)
        except BaseException:
            await self._discard(user_id, new_thread.id, stores)
            raise

    async def _discard(self, user_id: str, thread_id: str, made_stores: list[str]) -> None:
        """Remove a half-made thread and the stores made for it (the failure's own error is the one to answer)."""
        try:
            await self.delete_thread(user_id, thread_id)
            await self.hosted.files.delete_stores(made_stores)
        except Exception as exc:
            logger.warning("could not remove the half-made thread %s: %s", thread_id, type(exc).__name__)

    async def delete_thread(self, user_id: str, thread_id: str) -> None:
        await self._access.check(user_id, thread_id)
        await self.hosted.threads.delete(thread_id)
        await self._access.release(user_id, thread_id)  # no longer counts towards the user's threads
        await self._chat.forget_conversation(user_id, thread_id)

    def check_messages(self, messages: list[NewMessage] | tuple[NewMessage, ...], field: str) -> None:
        """Every message's text by the one rule (`ChatService.check_content`), refused naming `field[i].content`."""
        for index, message in enumerate(messages):
            self._chat.check_content(message.text, f"{field}[{index}].content")

    async def add_message(
        self, user_id: str, thread_id: str, message: NewMessage, marker: str | None = None
    ) -> MessageRecord:
        self._chat.check_content(message.text)
        await self.objects.check_attachments(user_id, message.attachments, "attachments")
        add = self.hosted.messages.add
        return await self._chat.posted(user_id, thread_id, lambda: add(thread_id, message, marker=marker))

    async def find_message(self, user_id: str, thread_id: str, marker: str) -> MessageRecord | None:
        """The message a request with this marker stored on the user's thread, if any."""
        await self._access.check(user_id, thread_id)
        return await self.hosted.store.marked_message(thread_id, marker)

    async def find_run(
        self, user_id: str, thread_id: str, assistant_id: str, marker: str, **overrides: object
    ) -> RunRecord | None:
        """The run a request with this marker (and these `overrides`) started on the user's thread, if any."""
        await self._access.check(user_id, thread_id)
        return await self.hosted.runs.find_marked(
            thread_id, await self._spec(user_id, assistant_id, marker=marker, **overrides)
        )

    async def _spec(self, user_id: str, assistant_id: str, **overrides: object) -> RunSpec:
        """A run of this assistant (the user's own, or one of the operator's) with these RunSpec `overrides`."""
        assistant = await self.assistants.get(user_id, assistant_id)
        operator = assistant_id in self.assistants.operator_ids
        return RunSpec(assistant=assistant, operator_assistant=operator, **overrides)  # type: ignore[arg-type]

    async def start_run(
        self, user_id: str, thread_id: str, assistant_id: str, *, stream: bool, **overrides: object
    ) -> Started:
        """A run of the user's assistant (`overrides`: the RunSpec's), in the background or streamed."""
        await self._access.check(user_id, thread_id)
        spec = await self._spec(user_id, assistant_id, **overrides)
        self.check_messages(spec.additional_messages, "additional_messages")
        for index, extra in enumerate(spec.additional_messages):
            field = f"additional_messages[{index}].attachments"
            await self.objects.check_attachments(user_id, extra.attachments, field)
        return await self._chat.posted(
            user_id, thread_id, lambda: self.hosted.runs.start(thread_id, spec, stream=stream)
        )
