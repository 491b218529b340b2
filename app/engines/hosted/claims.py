"""One active run per thread, and leases: the rule that keeps two runs off one thread.

A run becomes the thread's `activeRunId` with one conditional update that only matches while the thread
holds the run we expect (normally none), so of two simultaneous messages exactly one wins, in one process
or many. The loser looks at the holder: one that has finished, or whose lease ended (its process died), is
replaced with the same conditional update; any other is reported as the active run.

A run's lease is pushed forward while a process works on it. A run whose lease lapsed is marked `expired`
(conditionally on it still being lapsed, so a run renewed meanwhile survives) at start-up, when a new
message arrives on its thread, and when it is read.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from app.clock import utc_now
from app.errors import RunAlreadyActive, ThreadBusy, ThreadNotFound
from app.storage.threads import RunRecord, ThreadRecord, ThreadStore, is_active

logger = logging.getLogger(__name__)

_CLAIM_ATTEMPTS = 4
_SWEEP_BATCH = 500
# Holders of one short write (a message stored, with its files attached, or deleted through /v1), not
# runs: waited for, with pauses from 5 ms growing to 100 ms, for up to about 15 s.
SHORT_WRITE_PREFIXES = ("add_", "del_")
_SHORT_WRITE_PAUSES_S = tuple(min(0.005 * 1.5**n, 0.1) for n in range(160))


class ThreadClaims:
    def __init__(self, store: ThreadStore, lease_s: float) -> None:
        self._store = store
        self._lease = timedelta(seconds=lease_s)

    def lease_from(self, moment: datetime) -> datetime:
        return moment + self._lease

    async def claim(self, thread_id: str, run_id: str) -> ThreadRecord:
        """Make `run_id` the thread's active run; the thread as claimed (`message_count`: the position of the
        user's message). Raises ThreadNotFound, or RunAlreadyActive naming the run that holds the thread."""
        holder: str | None = None
        attempts = 0
        waited = 0
        while attempts < _CLAIM_ATTEMPTS:
            expires = self.lease_from(utc_now())
            result = await self._store.claim_active_run(thread_id, run_id, holder=holder, claim_expires_at=expires)
            thread = result.thread
            if thread is None:
                raise ThreadNotFound(thread_id)
            if result.granted:
                if holder is not None:
                    logger.info("thread %s: run %s replaces finished or lapsed run %s", thread_id, run_id, holder)
                return thread
            holder = thread.active_run_id
            if holder is not None and holder.startswith(SHORT_WRITE_PREFIXES) and waited < len(_SHORT_WRITE_PAUSES_S):
                # A message being stored or deleted holds the thread for one write: wait for it.
                await asyncio.sleep(_SHORT_WRITE_PAUSES_S[waited])
                waited += 1
                holder = None
                continue
            attempts += 1
            if holder is not None and not await self._holder_is_gone(thread, holder):
                break
        if holder is not None and holder.startswith(SHORT_WRITE_PREFIXES):
            raise ThreadBusy(thread_id)
        raise RunAlreadyActive(thread_id, holder)

    async def _holder_is_gone(self, thread: ThreadRecord, holder: str) -> bool:
        now = utc_now()
        run = await self._store.get_run(holder)
        if run is None:
            # Claimed but not yet written, or its process died in between: the claim's own lease decides.
            return thread.claim_expires_at is not None and thread.claim_expires_at < now
        if not is_active(run.status):
            return True
        if run.lease_expires_at is None or run.lease_expires_at >= now:
            return False
        if await self.expire_if_lapsed(run, now) is not None:
            return True
        # Lapsed, but our conditional update came second: another process expired (or ended) it meanwhile.
        again = await self._store.get_run(holder)
        return again is None or not is_active(again.status)

    async def expire_if_lapsed(self, run: RunRecord, now: datetime | None = None) -> RunRecord | None:
        """Mark the run `expired` if its lease ended before now; the expired run, or None."""
        now = now or utc_now()
        if run.lease_expires_at is None or run.lease_expires_at >= now:
            return None
        expired = await self._store.update_active_run(
            run.id, {"status": "expired", "lease_expires_at": None}, lapsed_before=now
        )
        if expired is not None:
            logger.warning(
                "run %s on thread %s expired: its lease lapsed (the process running it stopped)", run.id, run.thread_id
            )
            await self._store.release_active_run(run.thread_id, run.id)
        return expired

    async def expire_lapsed_runs(self) -> int:
        """At start-up; how many were expired."""
        count = 0
        while True:
            now = utc_now()
            lapsed = await self._store.lapsed_runs(now, _SWEEP_BATCH)
            expired = [run for run in lapsed if await self.expire_if_lapsed(run, now) is not None]
            count += len(expired)
            if len(lapsed) < _SWEEP_BATCH or not expired:
                return count
