"""Hosted threads as records: create, read, update (metadata, tool_resources), delete."""

from __future__ import annotations

import logging
from typing import Any

from app.clock import utc_now
from app.engines.hosted.claims import SHORT_WRITE_PREFIXES, ThreadClaims
from app.engines.hosted.objects import new_id
from app.errors import RunAlreadyActive, ThreadNotFound
from app.storage.threads import ThreadRecord, ThreadStore, is_active

logger = logging.getLogger(__name__)


class Threads:
    def __init__(self, store: ThreadStore, claims: ThreadClaims) -> None:
        self._store = store
        self._claims = claims

    async def create(
        self, *, metadata: dict[str, str] | None = None, tool_resources: dict[str, Any] | None = None
    ) -> ThreadRecord:
        thread = ThreadRecord(
            id=new_id("thread_"), created_at=utc_now(), metadata=metadata or None, tool_resources=tool_resources or None
        )
        await self._store.create_thread(thread)
        return thread

    async def get(self, thread_id: str) -> ThreadRecord:
        thread = await self._store.get_thread(thread_id)
        if thread is None:
            raise ThreadNotFound(thread_id)
        return thread

    async def update(
        self, thread_id: str, *, metadata: dict[str, str] | None = None, tool_resources: dict[str, Any] | None = None
    ) -> ThreadRecord:
        """Replace what is given (None: kept); the thread as it is then."""
        thread: ThreadRecord | None = None
        if tool_resources is not None:
            thread = await self._store.set_thread_tool_resources(thread_id, tool_resources)
            if thread is None:
                raise ThreadNotFound(thread_id)
        if metadata is not None:
            thread = await self._store.set_thread_metadata(thread_id, metadata)
            if thread is None:
                raise ThreadNotFound(thread_id)
        return thread or await self.get(thread_id)

    async def delete(self, thread_id: str) -> None:
        """Delete the thread and everything on it; not while a run is active on it (400 active_run)."""
        thread = await self.get(thread_id)
        holder = thread.active_run_id
        if holder is not None and not holder.startswith(SHORT_WRITE_PREFIXES):
            run = await self._store.get_run(holder)
            # One whose lease lapsed is expired instead.
            if run is not None and is_active(run.status) and await self._claims.expire_if_lapsed(run) is None:
                raise RunAlreadyActive(thread.id, run.id)
        if not await self._store.delete_thread(thread_id):
            raise ThreadNotFound(thread_id)
        logger.info("thread deleted engine=hosted thread_id=%s", thread_id)
