"""A hosted thread's messages as records: add (without a run), read, update (metadata), delete, list."""

from __future__ import annotations

import logging

from app.clock import utc_now
from app.engines.hosted.claims import ThreadClaims
from app.engines.hosted.objects import new_id
from app.engines.hosted.pages import KeyRange, PageQuery, keyset_page
from app.engines.hosted.run_spec import NewMessage, message_record
from app.engines.hosted.thread_files import ThreadFiles
from app.engines.hosted.threads import Threads
from app.errors import InvalidRequest, NotFound
from app.storage.threads import MessageRecord, ThreadStore

logger = logging.getLogger(__name__)


class Messages:
    def __init__(self, store: ThreadStore, threads: Threads, files: ThreadFiles, claims: ThreadClaims) -> None:
        self._store = store
        self._threads = threads
        self._files = files
        self._claims = claims

    async def add(
        self, thread_id: str, new: NewMessage, *, verified: bool = False, marker: str | None = None
    ) -> MessageRecord:
        """Store a message without a run (400 active_run while a run holds the thread); its attached files join
        the thread's tools first, while the message holds the thread (`verified`: their files were checked;
        `marker`: the request's, for a retry to find it)."""
        if new.attachments and not verified:
            await self._files.verify(new.attachments)
        holder = new_id("add_")  # holds the thread for this one write, as a run would
        thread = await self._claims.claim(thread_id, holder)
        try:
            if new.attachments:
                await self._files.attach(thread, new.attachments)
            message = message_record(new, thread_id, thread.message_count, utc_now(), marker)
            await self._store.insert_message(message)
        finally:
            await self._store.release_active_run(thread_id, holder)
        return message

    async def get(self, thread_id: str, message_id: str) -> MessageRecord:
        message = await self._store.get_message(message_id)
        if message is None or message.thread_id != thread_id:
            await self._threads.get(thread_id)
            raise NotFound(f"No message found with id '{message_id}'.")
        return message

    async def update(self, thread_id: str, message_id: str, metadata: dict[str, str]) -> MessageRecord:
        await self.get(thread_id, message_id)
        message = await self._store.set_message_metadata(message_id, metadata)
        if message is None:
            raise NotFound(f"No message found with id '{message_id}'.")
        return message

    async def delete(self, thread_id: str, message_id: str) -> None:
        """Delete a message of the thread; not while a run is active on it (400 active_run). The thread is held
        as for a new message, so no run starts (and reads the messages) meanwhile."""
        await self.get(thread_id, message_id)
        holder = new_id("del_")
        await self._claims.claim(thread_id, holder)
        try:
            deleted = await self._store.delete_message(message_id)
        finally:
            await self._store.release_active_run(thread_id, holder)
        if not deleted:
            raise NotFound(f"No message found with id '{message_id}'.")
        logger.info("message deleted engine=hosted thread_id=%s message_id=%s", thread_id, message_id)

    async def page(
        self, thread_id: str, query: PageQuery, *, run_id: str | None = None
    ) -> tuple[list[MessageRecord], bool]:
        """A page of the thread's messages, and whether there are more (`run_id`: that run's only), on an index."""
        await self._threads.get(thread_id)

        async def key_of(name: str, message_id: str) -> int:
            message = await self._store.get_message(message_id)
            if message is None or message.thread_id != thread_id or (run_id is not None and message.run_id != run_id):
                of = f"of run {run_id}" if run_id is not None else f"on thread {thread_id}"
                raise InvalidRequest(f"{name}: no message '{message_id}' {of}.", field=name)
            return message.seq

        async def read(keys: KeyRange[int]) -> list[MessageRecord]:
            return await self._store.messages_page(
                thread_id,
                seq_after=keys.low,
                seq_before=keys.high,
                ascending=keys.ascending,
                limit=keys.limit,
                run_id=run_id,
            )

        return await keyset_page(query, key_of, read)

    async def assistant_ids(self, messages: list[MessageRecord]) -> dict[str, str | None]:
        assistants: dict[str, str | None] = {}
        for run_id in {message.run_id for message in messages if message.run_id is not None}:
            run = await self._store.get_run(run_id)
            assistants[run_id] = run.assistant_id if run is not None else None
        return assistants
