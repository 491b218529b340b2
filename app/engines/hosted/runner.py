"""Background execution of hosted runs: one task per run, owned here, cancelled at shutdown.

A model that calls functions leaves the run `requires_action`, with no task: submitted outputs start a new
task on it, in whichever process takes the submit. Every write is conditional on the run still being active
and holding its thread, so a run cancelled or expired elsewhere cannot write afterwards.

A subscriber (a streaming request) that goes away only drops its queue: the run goes on, as upstream runs
do. A subscriber that reads too slowly is dropped the same way once SUBSCRIBER_EVENTS events wait for it, so
a client that never reads cannot grow the process's memory; its stream ends with `StreamFellBehind`. One lease
keeper task renews the leases of this process's runs, and stops those ended elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from app.clock import utc_now
from app.config import RUN_TIMEOUT_S, Settings
from app.engines.base import StreamEvent
from app.engines.hosted import events
from app.engines.hosted.answer import AnswerWriter
from app.engines.hosted.claims import ThreadClaims
from app.engines.hosted.history import fit_history
from app.engines.hosted.model_client import ModelClient
from app.engines.hosted.model_errors import ModelCallFailed
from app.engines.hosted.tool_calls import call_object
from app.errors import SERVER_ERROR, StreamFellBehind
from app.storage.threads import MessageRecord, RunRecord, RunStepRecord, ThreadStore

logger = logging.getLogger(__name__)

STOP_WAIT_S = 5.0  # for a stopped run's task, and at shutdown
SUBSCRIBER_EVENTS = 1000  # events waiting for one subscriber; past that it is dropped (the run goes on)
_FELL_BEHIND = StreamEvent("", {})  # a dropped subscriber's last item (never sent)
_STOPPED = "stopped"  # its status was changed elsewhere (cancelled, expired)
_SHUTDOWN = "shutdown"


@dataclass
class _LocalRun:
    run: RunRecord
    task: asyncio.Task[None] = field(init=False)
    subscribers: list[asyncio.Queue[StreamEvent | None]] = field(default_factory=list)
    started: bool = False
    stoppable: bool = True  # False once the model call is over and its outcome is being stored
    stop_reason: str | None = None
    resumed: bool = False  # continued after tool outputs: no `thread.run.created`
    answered: RunStepRecord | None = None  # the tool_calls step those outputs completed
    writer: AnswerWriter | None = None  # the answer being streamed (what a failure keeps of it)
    step_count: int = 0  # steps the run has stored (the next step's position)


class _Stopped(Exception):
    """The run is no longer active in storage: it was cancelled or expired elsewhere."""


def _added_usage(first: dict[str, int] | None, second: dict[str, int] | None) -> dict[str, int] | None:
    if first is None or second is None:
        return second or first
    return {key: first.get(key, 0) + second.get(key, 0) for key in {*first, *second}}


class RunRunner:
    def __init__(self, store: ThreadStore, model: ModelClient, settings: Settings, claims: ThreadClaims) -> None:
        self._store = store
        self._model = model
        self._settings = settings
        self._claims = claims
        self._local: dict[str, _LocalRun] = {}
        self._keeper: asyncio.Task[None] | None = None

    @property
    def running(self) -> int:
        """How many runs of this process are still executing."""
        return len(self._local)

    def start(
        self, run: RunRecord, *, stream: bool = False, answered: RunStepRecord | None = None, resumed: bool = False
    ) -> RunRecord | AsyncGenerator[StreamEvent, None]:
        """Execute the run in the background; the run, or (`stream`) its events (`resumed`: continued with tool
        outputs, from `thread.run.queued` and the `answered` step's completion on)."""
        local = _LocalRun(run, resumed=resumed, answered=answered)
        self._local[run.id] = local
        local.task = asyncio.create_task(self._execute(local), name=f"hosted-run-{run.id}")
        local.task.add_done_callback(lambda task: self._forget(local, task))
        if self._keeper is None or self._keeper.done():
            self._keeper = asyncio.create_task(self._keep_leases(), name="hosted-lease-keeper")
        if not stream:
            return run
        # One slot past the bound: for the end (None) or _FELL_BEHIND.
        queue: asyncio.Queue[StreamEvent | None] = asyncio.Queue(SUBSCRIBER_EVENTS + 1)
        local.subscribers.append(queue)
        return self._events(local, queue)

    async def stop(self, run_id: str) -> None:
        """Stop this process's work on a run whose status was just changed (cancelled); wait for it."""
        if (local := self._local.get(run_id)) is not None:
            self._request_stop(local, _STOPPED)
            await asyncio.wait({local.task}, timeout=STOP_WAIT_S)

    async def aclose(self) -> None:
        tasks = [local.task for local in self._local.values()]
        for local in list(self._local.values()):
            self._request_stop(local, _SHUTDOWN)
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=STOP_WAIT_S)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=STOP_WAIT_S)
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
            self._keeper = None

    def _request_stop(self, local: _LocalRun, reason: str) -> None:
        if not local.stoppable or local.stop_reason is not None:
            return
        local.stop_reason = reason
        if local.started:
            local.task.cancel()
        # A task that has not started yet sees stop_reason when it does (cancelling it now would
        # skip its body, and with it the terminal event its subscribers wait for).

    async def _events(
        self, local: _LocalRun, queue: asyncio.Queue[StreamEvent | None]
    ) -> AsyncGenerator[StreamEvent, None]:
        try:
            while (event := await queue.get()) is not None:
                if event is _FELL_BEHIND:
                    raise StreamFellBehind()
                yield event
        finally:
            with contextlib.suppress(ValueError):
                local.subscribers.remove(queue)

    def _publish(self, local: _LocalRun, *items: StreamEvent) -> None:
        for queue in list(local.subscribers):
            for item in items:
                if queue.qsize() >= SUBSCRIBER_EVENTS:
                    local.subscribers.remove(queue)
                    queue.put_nowait(_FELL_BEHIND)
                    logger.warning(
                        "run %s: a subscriber fell %d events behind; its stream ends", local.run.id, SUBSCRIBER_EVENTS
                    )
                    break
                queue.put_nowait(item)

    async def _execute(self, local: _LocalRun) -> None:
        local.started = True
        run = local.run
        began = time.monotonic()
        if local.resumed:
            self._publish(local, events.run_status_event(run))
            if local.answered is not None:
                self._publish(local, events.step_completed(local.answered))
        else:
            self._publish(local, events.run_status_event(run, "thread.run.created"), events.run_status_event(run))
        final = await self._run_to_end(local)
        self._publish(local, events.run_status_event(final))
        logger.info(
            "run finished engine=hosted thread_id=%s run_id=%s status=%s duration_s=%.2f",
            run.thread_id,
            run.id,
            final.status,
            time.monotonic() - began,
        )

    async def _run_to_end(self, local: _LocalRun) -> RunRecord:
        run = local.run
        try:
            if local.stop_reason is not None:
                raise _Stopped
            deadline = asyncio.timeout(RUN_TIMEOUT_S)
            try:
                async with deadline:
                    writer = await self._answer(local)
            except TimeoutError:
                if not deadline.expired():
                    raise
                local.stoppable = False
                logger.warning("run %s expired: no answer within RUN_TIMEOUT_S", run.id)
                return await self._end(run, "expired", {})
            local.stoppable = False
            return await self._commit(local, writer)
        except ModelCallFailed as exc:
            local.stoppable = False
            status, changes = exc.run_end()  # failed, or incomplete
            kept = await local.writer.keep(self._store) if local.writer else None  # what it streamed
            ended = await self._end(run, status, changes)
            if kept is not None and ended.status != status:  # ended elsewhere meanwhile: no reply of its own
                await self._store.delete_message(kept.id)
            return ended
        except _Stopped:
            return await self._after_stop(local)
        except asyncio.CancelledError:
            if local.stop_reason is None:
                raise
            local.task.uncancel()  # the stop we asked for is handled here; the task itself goes on to the end
            return await self._after_stop(local)
        except Exception:
            local.stoppable = False
            logger.exception("run %s on thread %s crashed", run.id, run.thread_id)
            error = {"code": SERVER_ERROR, "message": "The run failed because of an internal error."}
            return await self._end(run, "failed", {"last_error": error})

    def _forget(self, local: _LocalRun, task: asyncio.Task[None]) -> None:
        """Done callback: close the subscribers' streams and drop the run, however the task ended."""
        for queue in local.subscribers:
            queue.put_nowait(None)
        self._local.pop(local.run.id, None)
        if not task.cancelled() and task.exception() is not None:
            logger.error("run task %s failed", local.run.id, exc_info=task.exception())

    async def _answer(self, local: _LocalRun) -> AnswerWriter:
        started = await self._store.update_active_run(local.run.id, {"status": "in_progress", "started_at": utc_now()})
        if started is None:
            raise _Stopped  # cancelled (or expired) before it began
        local.run = started
        self._publish(local, events.run_status_event(started))
        if local.resumed:
            local.step_count = len(await self._store.run_steps(started.id))
        history = await self._store.messages_page(
            started.thread_id, seq_after=None, seq_before=None, ascending=False, limit=started.truncation_last_messages
        )
        turns = fit_history(started, history, self._settings.max_prompt_tokens).turns  # or invalid_prompt
        writer = local.writer = AnswerWriter(started, lambda *items: self._publish(local, *items), local.step_count)
        async with contextlib.aclosing(self._model.stream(started, turns)) as stream:
            async for item in stream:
                writer.add(item)
        return writer

    async def _commit(self, local: _LocalRun, writer: AnswerWriter) -> RunRecord:
        """Store the reply, then the run's status, then free the thread (in that order, see claims)."""
        run = local.run
        writer.ensure_reply()
        answer = writer.answer
        message: MessageRecord | None = None
        now = utc_now()
        if answer.message_id is not None:
            seq = await self._store.next_message_seq(run.thread_id, run.id)
            if seq is None:
                return await self._current(run)
            annotations = answer.cited.annotations or None
            message = MessageRecord(
                answer.message_id, run.thread_id, seq, "assistant", "".join(answer.parts), now, run.id, annotations
            )
            await self._store.insert_message(message)
        usage = _added_usage(run.usage, answer.usage)
        changes: dict[str, Any]
        if answer.calls:
            expires = now + timedelta(seconds=self._settings.requires_action_timeout_s)
            # No process works on a waiting run: its lease is its deadline (claims expire it then).
            changes = {
                "status": "requires_action",
                "required_tool_calls": [call_object(call) for call in answer.calls],
                "usage": usage,
                "expires_at": expires,
                "lease_expires_at": expires,
            }
        else:
            assert message is not None
            changes = {
                "status": "completed",
                "completed_at": now,
                "usage": usage,
                "reply": message.text,
                "reply_message_id": message.id,
                "lease_expires_at": None,
            }
        # The steps before the status: whoever sees the run ended (or waiting for outputs) finds its steps.
        await writer.store_steps(self._store, run, message)
        ended = await self._store.update_active_run(run.id, changes)
        if ended is None:  # cancelled or expired while the reply was being stored
            if message is not None:
                await self._store.delete_message(message.id)
            return await self._current(run)
        if ended.status == "completed":
            await self._store.release_active_run(run.thread_id, run.id)
        return ended

    async def _end(self, run: RunRecord, status: str, changes: dict[str, Any]) -> RunRecord:
        update = {"status": status, "lease_expires_at": None, **changes}
        if status == "failed":
            update["failed_at"] = utc_now()
        ended = await self._store.update_active_run(run.id, update)
        if ended is None:
            return await self._current(run)
        await self._store.release_active_run(run.thread_id, run.id)
        return ended

    async def _after_stop(self, local: _LocalRun) -> RunRecord:
        if local.stop_reason == _SHUTDOWN:
            error = {"code": SERVER_ERROR, "message": "The service shut down before the run finished."}
            return await self._end(local.run, "failed", {"last_error": error})
        return await self._current(local.run)

    async def _current(self, run: RunRecord) -> RunRecord:
        return await self._store.get_run(run.id) or run

    async def _keep_leases(self) -> None:
        interval = self._settings.run_lease_s / 3
        while True:
            await asyncio.sleep(interval)
            if not self._local:
                continue
            ids = list(self._local)
            try:
                still_active = await self._store.renew_leases(ids, self._claims.lease_from(utc_now()))
            except Exception as exc:
                logger.warning("could not renew run leases: %s", type(exc).__name__)
                continue
            for run_id in ids:
                local = self._local.get(run_id)
                if local is not None and run_id not in still_active:
                    logger.info("run %s was ended elsewhere; stopping its model call", run_id)
                    self._request_stop(local, _STOPPED)
