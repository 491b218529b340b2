"""Background execution of hosted runs: one task per run, owned here, cancelled at shutdown.

A run task moves the run to `in_progress`, reads the thread's last N messages (and the run's
answered function calls), streams one model call, stores the reply as an assistant message and
marks the run `completed` (or `failed`, `expired`). A model that calls functions leaves the run
`requires_action`, with no task: submitted outputs start a new task on it (`start_streamed(resumed=True)`), in
whichever process takes the submit. Each reply and each batch of calls is a stored run step.
Every write is conditional on the run still being active and holding its thread, so
a run cancelled or expired elsewhere (another request, another process) cannot write afterwards.

Events go to subscribers (streaming requests) through one queue each. A subscriber that goes
away only drops its queue: the run goes on, as upstream runs do. One lease keeper task renews
the leases of every run of this process, and stops local runs whose status was changed elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from app.clock import utc_now
from app.config import Settings
from app.engines.base import StreamEvent
from app.engines.hosted import events
from app.engines.hosted.citations import Citation, CitedText, Piece
from app.engines.hosted.claims import ThreadClaims
from app.engines.hosted.history import fit_history
from app.engines.hosted.model_client import (
    CodeCallDelta,
    CodeCallDone,
    ModelCallFailed,
    ModelClient,
    ModelDone,
    ModelEvent,
    ModelRequest,
    TextDelta,
)
from app.engines.hosted.objects import epoch, new_id
from app.engines.hosted.tool_calls import (
    FunctionCall,
    FunctionCallDelta,
    call_object,
    function_tools,
)
from app.errors import SERVER_ERROR
from app.storage.threads import MessageRecord, RunRecord, RunStepRecord, ThreadStore

logger = logging.getLogger(__name__)

STOP_WAIT_S = 5.0
SHUTDOWN_WAIT_S = 5.0
_STOPPED = "stopped"  # its status was changed elsewhere (cancelled, expired)
_SHUTDOWN = "shutdown"


@dataclass
class _LocalRun:
    run: RunRecord
    task: asyncio.Task[None] | None = None
    subscribers: list[asyncio.Queue[StreamEvent | None]] = field(default_factory=list)
    started: bool = False
    stoppable: bool = True  # False once the model call is over and its outcome is being stored
    stop_reason: str | None = None
    resumed: bool = False  # continued after tool outputs: no `thread.run.created`
    answered: RunStepRecord | None = None  # the tool_calls step those outputs completed
    step_count: int = 0  # steps the run has stored (the next step's position)


class _Stopped(Exception):
    """The run is no longer active in storage: it was cancelled or expired elsewhere."""


@dataclass
class _Answer:
    message_id: str | None = None
    created_at: int = 0
    parts: list[str] = field(default_factory=list)
    usage: dict[str, int] | None = None
    message_step: RunStepRecord | None = None
    calls_step: RunStepRecord | None = None
    calls: tuple[FunctionCall, ...] = ()
    cited: CitedText = field(default_factory=CitedText)
    code_calls: list[_CodeCall] = field(default_factory=list)


@dataclass
class _CodeCall:
    """A code_interpreter call of the answer, and its step."""

    step: RunStepRecord
    call_id: str
    code: list[str]
    done: bool = False


def _added_usage(first: dict[str, int] | None, second: dict[str, int] | None) -> dict[str, int] | None:
    """The usage of a run's model calls together."""
    if first is None or second is None:
        return second or first
    return {key: first.get(key, 0) + second.get(key, 0) for key in {*first, *second}}


class RunRunner:
    """Owns the tasks of the runs started in this process."""

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

    def start(self, run: RunRecord) -> None:
        """Execute the run in the background."""
        self._launch(run)

    def start_streamed(
        self, run: RunRecord, *, resumed: bool = False, answered: RunStepRecord | None = None
    ) -> AsyncGenerator[StreamEvent, None]:
        """Execute the run in the background and return its events, from `thread.run.created` on
        (`resumed`: a run continued with tool outputs, from `thread.run.queued` on, then the
        `answered` tool_calls step's `thread.run.step.completed`)."""
        local = self._launch(run, resumed=resumed, answered=answered)
        queue: asyncio.Queue[StreamEvent | None] = asyncio.Queue()
        local.subscribers.append(queue)
        return self._events(local, queue)

    async def stop(self, run_id: str) -> None:
        """Stop this process's work on a run whose status was just changed (cancelled); wait for it."""
        local = self._local.get(run_id)
        if local is None or local.task is None:
            return
        self._request_stop(local, _STOPPED)
        await asyncio.wait({local.task}, timeout=STOP_WAIT_S)

    async def aclose(self) -> None:
        """Stop every run (they end `failed`), then the lease keeper."""
        tasks = []
        for local in list(self._local.values()):
            self._request_stop(local, _SHUTDOWN)
            if local.task is not None:
                tasks.append(local.task)
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=SHUTDOWN_WAIT_S)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=SHUTDOWN_WAIT_S)
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
            self._keeper = None

    # ---- tasks -------------------------------------------------------------------------
    def _launch(self, run: RunRecord, *, resumed: bool = False, answered: RunStepRecord | None = None) -> _LocalRun:
        local = _LocalRun(run, resumed=resumed, answered=answered)
        self._local[run.id] = local
        local.task = asyncio.create_task(self._execute(local), name=f"hosted-run-{run.id}")
        local.task.add_done_callback(lambda task: self._forget(local, task))
        if self._keeper is None or self._keeper.done():
            self._keeper = asyncio.create_task(self._keep_leases(), name="hosted-lease-keeper")
        return local

    def _request_stop(self, local: _LocalRun, reason: str) -> None:
        if local.task is None or not local.stoppable or local.stop_reason is not None:
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
                yield event
        finally:
            with contextlib.suppress(ValueError):
                local.subscribers.remove(queue)

    def _publish(self, local: _LocalRun, *items: StreamEvent) -> None:
        for queue in local.subscribers:
            for item in items:
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
            self._publish(local, events.run_event("thread.run.created", run), events.run_status_event(run))
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
        """Answer, store the reply and complete the run; or end it failed, expired, cancelled."""
        run = local.run
        try:
            if local.stop_reason is not None:
                raise _Stopped
            deadline = asyncio.timeout(self._settings.run_timeout_s)
            try:
                async with deadline:
                    answer = await self._answer(local)
            except TimeoutError:
                if not deadline.expired():
                    raise
                local.stoppable = False
                logger.warning("run %s expired: no answer within RUN_TIMEOUT_S", run.id)
                return await self._end(run, "expired", {})
            local.stoppable = False
            return await self._commit(local, answer)
        except ModelCallFailed as exc:
            local.stoppable = False
            return await self._end(run, "failed", {"last_error": {"code": exc.code, "message": exc.message}})
        except _Stopped:
            return await self._after_stop(local)
        except asyncio.CancelledError:
            if local.stop_reason is None:
                raise
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()  # the stop we asked for is handled here; the task itself goes on to the end
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

    async def _answer(self, local: _LocalRun) -> _Answer:
        started = await self._store.update_active_run(local.run.id, {"status": "in_progress", "started_at": utc_now()})
        if started is None:
            raise _Stopped  # cancelled (or expired) before it began
        local.run = started
        self._publish(local, events.run_status_event(started))
        if local.resumed:
            local.step_count = len(await self._store.run_steps(started.id))
        history = await self._store.messages_page(
            started.thread_id,
            seq_after=None,
            seq_before=None,
            ascending=False,
            limit=started.truncation_last_messages,
        )
        turns = fit_history(started, history, self._settings.max_prompt_tokens).turns  # or invalid_prompt
        request = ModelRequest(
            model=started.model,
            instructions=started.instructions,
            turns=turns,
            max_output_tokens=started.max_completion_tokens,
            tools=function_tools(started.tools),
            vector_store_ids=started.vector_store_ids,
            code_interpreter=any(isinstance(t, dict) and t.get("type") == "code_interpreter" for t in started.tools),
            code_file_ids=started.code_file_ids or (),
            temperature=started.temperature,
            top_p=started.top_p,
            tool_choice=_choice_for_round(started),
            parallel_tool_calls=started.parallel_tool_calls,
            response_format=started.response_format,
        )
        answer = _Answer()
        async with contextlib.aclosing(self._model.stream(request)) as stream:
            async for item in stream:
                if isinstance(item, ModelDone):
                    answer.usage = item.usage
                    answer.calls = item.calls
                    if not answer.parts and item.text:
                        self._add_text(local, answer, item.text)
                    for citation in item.citations:
                        self._add_pieces(local, answer, answer.cited.cite(citation))
                    self._add_pieces(local, answer, answer.cited.finish())
                elif isinstance(item, FunctionCallDelta):
                    self._add_call_piece(local, answer, item)
                elif isinstance(item, TextDelta) and item.text:
                    self._add_text(local, answer, item.text)
                else:
                    self._add_hosted_tool_event(local, answer, item)
        return answer

    def _add_hosted_tool_event(self, local: _LocalRun, answer: _Answer, item: ModelEvent) -> None:
        """A citation, or a piece of a code_interpreter call (each call is a tool_calls step of its own)."""
        if isinstance(item, Citation):
            self._add_pieces(local, answer, answer.cited.cite(item))
        elif isinstance(item, CodeCallDelta) and item.call_id is not None:
            step = self._new_step(local, "tool_calls", {"type": "tool_calls", "tool_calls": []})
            answer.code_calls.append(_CodeCall(step, item.call_id, [item.code]))
            self._publish(local, events.code_call_delta(step.id, 0, call_id=item.call_id, code=item.code))
        elif isinstance(item, CodeCallDelta) and item.index < len(answer.code_calls):
            call = answer.code_calls[item.index]
            call.code.append(item.code)
            self._publish(local, events.code_call_delta(call.step.id, 0, code=item.code))
        elif isinstance(item, CodeCallDone) and item.index < len(answer.code_calls):
            call = answer.code_calls[item.index]
            if item.logs:
                self._publish(local, events.code_call_delta(call.step.id, 0, logs=item.logs))
            self._finish_code_call(local, call, item.code, item.logs)

    def _finish_code_call(self, local: _LocalRun, call: _CodeCall, code: str, logs: str) -> None:
        outputs = [{"type": "logs", "logs": logs}] if logs else []
        details = {
            "type": "tool_calls",
            "tool_calls": [
                {
                    "id": call.call_id,
                    "type": "code_interpreter",
                    "code_interpreter": {"input": code, "outputs": outputs},
                }
            ],
        }
        call.step = replace(call.step, status="completed", completed_at=utc_now(), details=details)
        call.done = True
        self._publish(local, events.step_completed(call.step))

    def _new_step(self, local: _LocalRun, kind: str, details: dict[str, Any]) -> RunStepRecord:
        run = local.run
        step = RunStepRecord(
            new_id("step_"),
            run.thread_id,
            run.id,
            local.step_count,
            kind,
            "in_progress",
            utc_now(),
            details,
            assistant_id=run.assistant_id,
        )
        local.step_count += 1
        self._publish(local, *events.step_opened(step))
        return step

    def _add_call_piece(self, local: _LocalRun, answer: _Answer, piece: FunctionCallDelta) -> None:
        if answer.calls_step is None:
            answer.calls_step = self._new_step(local, "tool_calls", {"type": "tool_calls", "tool_calls": []})
        step_id = answer.calls_step.id
        self._publish(local, events.tool_call_delta(step_id, piece.index, piece.arguments, piece.call_id, piece.name))

    def _add_text(self, local: _LocalRun, answer: _Answer, text: str) -> None:
        self._add_pieces(local, answer, answer.cited.text(text))

    def _add_pieces(self, local: _LocalRun, answer: _Answer, pieces: list[Piece]) -> None:
        """Stream pieces of the text, each citation marker with its annotation."""
        for text, annotation in pieces:
            if answer.message_id is None:
                self._open_message(local, answer)
            assert answer.message_id is not None
            annotations = [annotation] if annotation is not None else None
            delta = events.message_delta(answer.message_id, text, first=not answer.parts, annotations=annotations)
            self._publish(local, delta)
            answer.parts.append(text)

    def _open_message(self, local: _LocalRun, answer: _Answer) -> None:
        answer.message_id = new_id("msg_")
        answer.created_at = epoch(utc_now()) or 0
        details = {"type": "message_creation", "message_creation": {"message_id": answer.message_id}}
        answer.message_step = self._new_step(local, "message_creation", details)
        self._publish(local, *events.message_created(answer.message_id, local.run, answer.created_at))

    async def _commit(self, local: _LocalRun, answer: _Answer) -> RunRecord:
        """Store the reply (and its step), then complete the run or leave it waiting for tool outputs,
        then free the thread when it completed (in that order, see claims)."""
        run = local.run
        if answer.message_id is None and not answer.calls:
            self._open_message(local, answer)
        message: MessageRecord | None = None
        now = utc_now()
        if answer.message_id is not None:
            seq = await self._store.next_message_seq(run.thread_id, run.id)
            if seq is None:
                return await self._current(run)
            text = "".join(answer.parts)
            annotations = answer.cited.annotations or None
            message = MessageRecord(answer.message_id, run.thread_id, seq, "assistant", text, now, run.id, annotations)
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
        ended = await self._store.update_active_run(run.id, changes)
        if ended is None:  # cancelled or expired while the reply was being stored
            if message is not None:
                await self._store.delete_message(message.id)
            return await self._current(run)
        if ended.status == "completed":
            await self._store.release_active_run(run.thread_id, run.id)
        await self._complete_steps(local, ended, answer, message)
        return ended

    async def _complete_steps(
        self, local: _LocalRun, run: RunRecord, answer: _Answer, message: MessageRecord | None
    ) -> None:
        for code_call in answer.code_calls:
            if not code_call.done:  # the answer ended without the call's final item
                self._finish_code_call(local, code_call, "".join(code_call.code), "")
            await self._store.save_run_step(code_call.step)
        now = utc_now()
        if message is not None and answer.message_step is not None:
            completed = events.message_completed(message.id, run, answer.created_at, message.text, message.annotations)
            self._publish(local, completed)
            step = replace(answer.message_step, status="completed", completed_at=now)
            await self._store.save_run_step(step)
            self._publish(local, events.step_completed(step))
        if answer.calls:
            if answer.calls_step is None:  # the provider sent the calls whole, at the end
                for index, call in enumerate(answer.calls):
                    self._add_call_piece(
                        local, answer, FunctionCallDelta(index, call.arguments, call.call_id, call.name)
                    )
            assert answer.calls_step is not None
            calls = [
                {**call_object(call), "function": {**call_object(call)["function"], "output": None}}
                for call in answer.calls
            ]
            # The step stays in progress while the run waits: submitting the outputs completes it (engine).
            await self._store.save_run_step(
                replace(answer.calls_step, details={"type": "tool_calls", "tool_calls": calls})
            )

    async def _end(self, run: RunRecord, status: str, changes: dict[str, Any]) -> RunRecord:
        now = utc_now()
        stamp = {"failed": "failed_at", "cancelled": "cancelled_at"}.get(status)
        update = {"status": status, "lease_expires_at": None, **changes}
        if stamp:
            update[stamp] = now
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
        """The run as stored now (someone else ended it)."""
        return await self._store.get_run(run.id) or run

    # ---- leases ------------------------------------------------------------------------
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


def _choice_for_round(run: RunRecord) -> str | dict[str, Any] | None:
    """The tool choice of this model call: a forced one (`required`, a named tool) binds the run's first
    call only; once outputs were submitted the model may answer (else it would call again and again)."""
    if run.tool_rounds and run.tool_choice != "none":
        return None
    return run.tool_choice
