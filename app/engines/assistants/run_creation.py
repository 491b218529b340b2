"""Creating a run (and with it the user's message) at most once, with the caller told what happened.

A run creation is never blindly re-sent. Each one carries a marker in its metadata; when an
attempt fails in a way that may have taken effect (a timeout, a 5xx, a connection lost mid-way),
the thread's latest runs are searched for the marker first:

- found: the attempt did take effect, and the request succeeds with that run;
- not found after a 5xx or a lost connection: nothing was posted, and the creation is sent again
  (up to OPENAI_MAX_RETRIES times), or the error says the message was not posted;
- not found after a timeout: the upstream may still be working on it, so the search is repeated
  for a while; still nothing, and the error says the message may have been posted (never a
  retry: a late first attempt and a retry would post the message twice).

A streamed creation whose run was found this way cannot re-attach to the run's own stream:
the run is followed by polling instead, and its outcome streamed as the same events.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any
from urllib.parse import quote

from app.engines.base import TERMINAL_RUN_STATUSES
from app.errors import RunAlreadyActive, StreamBrokeOff, UpstreamError, UpstreamTimeout
from app.upstream.client import Upstream
from app.upstream.json_calls import ASSISTANTS_BETA, backoff_s

logger = logging.getLogger(__name__)

MARKER_KEY = "chat_backend_request"
_SEARCHED_RUNS = 20


class RunCreation:
    """Creates runs at most once on one upstream; `settle_s`: how long a timed-out creation is looked for."""

    def __init__(self, upstream: Upstream, *, settle_s: float, follow_timeout_s: float, poll_s: float = 0.5) -> None:
        self._upstream = upstream
        self._settle_s = settle_s
        self._follow_timeout_s = follow_timeout_s
        self._poll_s = poll_s

    async def create(self, thread_id: str, body: dict[str, Any], marker: str) -> dict[str, Any]:
        """The created run's JSON (sent once, or found by its marker after a failure)."""
        marked = _marked(body, marker)
        path = _runs_path(thread_id)
        for attempt in range(self._upstream.sdk.max_retries + 1):
            try:
                return await self._upstream.request("POST", path, marked, ids=("id",), once=True, attempt=attempt)
            except UpstreamError as exc:
                found = await self._look_after_failure(thread_id, marker, exc, attempt)
                if found is not None:
                    return found
                await self._wait_before_retry(exc, attempt)
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def create_streamed(
        self, thread_id: str, body: dict[str, Any], marker: str
    ) -> AsyncGenerator[dict[str, Any], None]:
        """The run's events as the upstream streams them (or, when found by its marker, as followed by polling)."""
        marked = {**_marked(body, marker), "stream": True}
        path = _runs_path(thread_id)
        for attempt in range(self._upstream.sdk.max_retries + 1):
            try:
                # Until its first event arrives, a stream's failure is a failure of the creation itself.
                events = await self._upstream.stream(path, marked, headers=ASSISTANTS_BETA, once=True)
                first = await _first(events)
            except UpstreamError as exc:
                found = await self._look_after_failure(thread_id, marker, exc, attempt)
                if found is not None:
                    return self.follow(thread_id, found)
                await self._wait_before_retry(exc, attempt)
            else:
                return _prepended(first, events)
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def find(self, thread_id: str, marker: str) -> dict[str, Any] | None:
        """The thread's run made with this marker, if it is among the latest runs."""
        page = await self._upstream.request("GET", _runs_path(thread_id), params={"limit": _SEARCHED_RUNS})
        for run in page.get("data") or []:
            metadata = run.get("metadata") if isinstance(run, dict) else None
            if isinstance(metadata, dict) and metadata.get(MARKER_KEY) == marker and isinstance(run.get("id"), str):
                return dict(run)
        return None

    async def _look_after_failure(
        self, thread_id: str, marker: str, exc: UpstreamError, attempt: int
    ) -> dict[str, Any] | None:
        """After a failed attempt: the run if it was created after all; None to retry; raises when none may follow."""
        refused_as_busy = attempt > 0 and exc.upstream_status == 400 and "active run" in exc.upstream_message
        if exc.outcome_unknown or refused_as_busy:
            found = await self._search(thread_id, marker, exc)
            if found is not None:
                return found
            if refused_as_busy:
                # A retry met another run (not ours): the thread is busy, and this message was not posted.
                raise RunAlreadyActive(thread_id, None) from exc
            if isinstance(exc, UpstreamTimeout):
                raise exc.with_posting_outcome(None)  # the upstream may still be working on it: no retry
        elif not exc.retryable:
            raise exc  # refused: nothing was posted (the engine says why: unknown thread, active run, ...)
        if not exc.retryable or attempt >= self._upstream.sdk.max_retries:
            raise exc.with_posting_outcome(False)
        return None

    async def _search(self, thread_id: str, marker: str, exc: UpstreamError) -> dict[str, Any] | None:
        """Look for the marked run (for a while after a timeout); raises `exc` (outcome unknown) if it cannot."""
        deadline = time.monotonic() + (self._settle_s if isinstance(exc, UpstreamTimeout) else 0.0)
        while True:
            try:
                found = await self.find(thread_id, marker)
            except UpstreamError as lookup_failed:
                logger.warning("could not check whether run creation took effect: %s", lookup_failed.upstream_type)
                raise exc.with_posting_outcome(None) from lookup_failed
            if found is not None:
                logger.info("run creation on thread %s took effect despite %s", thread_id, exc.upstream_type)
                return found
            if time.monotonic() >= deadline:
                return None
            await asyncio.sleep(min(self._poll_s, max(0.0, deadline - time.monotonic())))

    async def _wait_before_retry(self, exc: UpstreamError, attempt: int) -> None:
        retry_after = exc.headers.get("Retry-After")
        seconds = float(retry_after) if retry_after and retry_after.isdigit() else None
        await asyncio.sleep(backoff_s(attempt, seconds))

    async def follow(self, thread_id: str, run: dict[str, Any]) -> AsyncGenerator[dict[str, Any], None]:
        """A run's events rebuilt by polling: created, then its messages, then its final status."""
        yield {"event": "thread.run.created", "data": run}
        run_path = f"{_runs_path(thread_id)}/{quote(str(run['id']), safe='')}"
        deadline = time.monotonic() + self._follow_timeout_s
        while run.get("status") not in TERMINAL_RUN_STATUSES:
            if time.monotonic() >= deadline:
                raise StreamBrokeOff()
            await asyncio.sleep(self._poll_s)
            run = await self._upstream.request("GET", run_path, ids=("id",))
        params: dict[str, str | int] = {"run_id": str(run["id"]), "order": "asc", "limit": 100}
        page = await self._upstream.request("GET", f"/threads/{quote(thread_id, safe='')}/messages", params=params)
        for message in page.get("data") or []:
            if isinstance(message, dict) and message.get("role") == "assistant":
                for event in _message_events(message):
                    yield event
        yield {"event": f"thread.run.{run['status']}", "data": run}


async def _first(events: AsyncGenerator[dict[str, Any], None]) -> dict[str, Any] | None:
    """The stream's first event (None: it ended at once); the stream is closed if reading it fails."""
    try:
        return await anext(events)
    except StopAsyncIteration:
        return None
    except BaseException:
        await events.aclose()
        raise


async def _prepended(
    first: dict[str, Any] | None, events: AsyncGenerator[dict[str, Any], None]
) -> AsyncGenerator[dict[str, Any], None]:
    async with aclosing(events):
        if first is None:
            return
        yield first
        async for event in events:
            yield event


def _marked(body: dict[str, Any], marker: str) -> dict[str, Any]:
    return {**body, "metadata": {**body.get("metadata", {}), MARKER_KEY: marker}}


def _runs_path(thread_id: str) -> str:
    return f"/threads/{quote(thread_id, safe='')}/runs"


def _message_events(message: dict[str, Any]) -> list[dict[str, Any]]:
    """A finished message as the stream sends one: created (empty), one delta per part, completed."""
    created = {**message, "status": "in_progress", "content": []}
    events: list[dict[str, Any]] = [{"event": "thread.message.created", "data": created}]
    for index, part in enumerate(message.get("content") or []):
        if isinstance(part, dict):
            content = [{"index": index, **part}]
            delta = {"id": message.get("id"), "object": "thread.message.delta", "delta": {"content": content}}
            events.append({"event": "thread.message.delta", "data": delta})
    events.append({"event": "thread.message.completed", "data": message})
    return events
