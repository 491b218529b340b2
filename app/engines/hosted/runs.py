"""A hosted thread's runs and their steps as records: start (in the background or streamed), read, update, cancel,
list, and continue with tool outputs. `/chat`, the polling routes, the Next.js routes and `/v1` all come here."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from dataclasses import replace
from datetime import timedelta
from typing import Any

from app.clock import utc_now
from app.config import RUN_TIMEOUT_S, Settings
from app.engines.base import StreamEvent, ToolOutput
from app.engines.hosted.claims import ThreadClaims
from app.engines.hosted.objects import new_id
from app.engines.hosted.pages import KeyRange, PageQuery, keyset_page
from app.engines.hosted.run_spec import RunSpec, check_tool_choice_can_run, message_record, run_settings
from app.engines.hosted.runner import RunRunner
from app.engines.hosted.thread_files import ThreadFiles, code_files, log_dropped_tools, searched_stores
from app.engines.hosted.threads import Threads
from app.engines.hosted.tool_calls import answers_for
from app.errors import (
    InvalidRequest,
    NotFound,
    NoToolCallPending,
    RunAlreadyActive,
    RunNotActive,
    RunNotFound,
    ThreadNotFound,
)
from app.storage.threads import (
    MessageRecord,
    RunKey,
    RunRecord,
    RunStepRecord,
    ThreadRecord,
    ThreadStore,
    is_active,
)

logger = logging.getLogger(__name__)

Started = RunRecord | AsyncGenerator[StreamEvent, None]
# How many of a thread's runs (from a marked message's time on, or its latest) are looked through for a marker.
_MARKED_RUN_SEARCH = 20


class Runs:
    def __init__(
        self,
        settings: Settings,
        store: ThreadStore,
        threads: Threads,
        files: ThreadFiles,
        claims: ThreadClaims,
        runner: RunRunner,
    ) -> None:
        self._settings = settings
        self._store = store
        self._threads = threads
        self._files = files
        self._claims = claims
        self._runner = runner
        # Function tools (`{"type": "function", "function": {...}}`) offered to every run besides its assistant's.
        self.function_tools: tuple[dict[str, Any], ...] = ()

    async def start(self, thread_id: str, spec: RunSpec, *, stream: bool = False) -> Started:
        """Store the spec's messages and a queued run, and execute it: the run, or (`stream`) its events."""
        return self._runner.start(await self._begin(thread_id, spec), stream=stream)

    async def find_marked(self, thread_id: str, spec: RunSpec) -> RunRecord | None:
        """The run a request with the spec's marker started (None: it wrote nothing): found after the message it
        stored first, or among the thread's latest runs when it had no message. A start that stopped between its
        message and its run (its process died) is completed now: the run starts for the stored message, and
        nothing is posted again."""
        assert spec.marker is not None
        message = await self._store.marked_message(thread_id, spec.marker) if spec.additional_messages else None
        if spec.additional_messages and message is None:
            return None  # the message is stored before the run: neither was
        # The run is stored with its message's creation time, right after it.
        runs = await self._store.runs_page(
            thread_id,
            key_after=(message.created_at, "") if message is not None else None,
            key_before=None,
            ascending=message is not None,
            limit=_MARKED_RUN_SEARCH,
        )
        for run in runs:
            if run.marker == spec.marker:
                return await self._unlapsed(run)
        if message is None:
            return None
        logger.warning("thread %s: a message's run was never stored (its start was cut off): starting it", thread_id)
        started = await self.start(thread_id, replace(spec, additional_messages=()))
        assert isinstance(started, RunRecord)
        return started

    async def get(self, thread_id: str, run_id: str) -> RunRecord:
        """The stored run; an active run whose lease lapsed (its process died) shows as expired."""
        return await self._unlapsed(await self._find(thread_id, run_id))

    async def update(self, thread_id: str, run_id: str, metadata: dict[str, str]) -> RunRecord:
        await self._find(thread_id, run_id)
        run = await self._store.set_run_metadata(run_id, metadata)
        if run is None:
            raise RunNotFound(thread_id, run_id)
        return await self._unlapsed(run)

    async def cancel(self, thread_id: str, run_id: str) -> RunRecord:
        """Cancel an active run and stop its model call; a finished run is 409 `run_not_active`, as upstream."""
        run = await self._find(thread_id, run_id)
        if not is_active(run.status):
            raise RunNotActive(thread_id, run_id)
        changes = {"status": "cancelled", "cancelled_at": utc_now(), "lease_expires_at": None}
        cancelled = await self._store.update_active_run(run_id, changes)
        if cancelled is None:  # it finished meanwhile
            raise RunNotActive(thread_id, run_id)
        await self._store.release_active_run(thread_id, run_id)
        logger.info("run cancelled engine=hosted thread_id=%s run_id=%s", thread_id, run_id)
        await self._runner.stop(run_id)  # another process notices at its next lease renewal
        return cancelled

    async def page(self, thread_id: str, query: PageQuery) -> tuple[list[RunRecord], bool]:
        """A page of the thread's runs, read on an index; one whose process died shows as expired."""
        await self._threads.get(thread_id)

        async def key_of(name: str, run_id: str) -> RunKey:
            run = await self._store.get_run(run_id)
            if run is None or run.thread_id != thread_id:
                raise InvalidRequest(f"{name}: no run '{run_id}' on thread {thread_id}.", field=name)
            return run.created_at, run.id

        async def read(keys: KeyRange[RunKey]) -> list[RunRecord]:
            return await self._store.runs_page(
                thread_id, key_after=keys.low, key_before=keys.high, ascending=keys.ascending, limit=keys.limit
            )

        runs, has_more = await keyset_page(query, key_of, read)
        return [await self._unlapsed(run) if is_active(run.status) else run for run in runs], has_more

    async def submit_tool_outputs(
        self, thread_id: str, run_id: str, outputs: list[ToolOutput], *, stream: bool = False
    ) -> Started:
        """Answer every call the run waits for and continue it; any process may take the submit."""
        run = await self.get(thread_id, run_id)
        if run.status != "requires_action" or not run.required_tool_calls:
            raise NoToolCallPending(thread_id, run_id)
        answers = answers_for(run.required_tool_calls, outputs)
        now = utc_now()
        changes = {
            "status": "queued",
            "required_tool_calls": None,
            "tool_rounds": [*(run.tool_rounds or []), {"calls": run.required_tool_calls, "outputs": answers}],
            "lease_expires_at": self._claims.lease_from(now),
            "expires_at": now + timedelta(seconds=RUN_TIMEOUT_S),
        }
        resumed = await self._store.update_active_run(run_id, changes, status="requires_action")
        if resumed is None:  # another submit, a cancel or the expiry came first
            raise NoToolCallPending(thread_id, run_id)
        answered = await self._record_outputs(run_id, answers)
        logger.info("tool outputs submitted engine=hosted thread_id=%s run_id=%s", thread_id, run_id)
        return self._runner.start(resumed, stream=stream, answered=answered, resumed=True)

    async def _begin(self, thread_id: str, spec: RunSpec) -> RunRecord:
        assistant = spec.assistant
        settings = run_settings(self._settings, assistant, spec, self.function_tools)  # refused before the claim
        for index, extra in enumerate(spec.additional_messages):
            await self._files.verify(extra.attachments or [], f"additional_messages[{index}].attachments")
        run_id = new_id("run_")
        thread = claimed = await self._claims.claim(thread_id, run_id)
        now = utc_now()
        messages: list[MessageRecord] = []
        made_stores: list[str] = []
        run = RunRecord(
            id=run_id,
            thread_id=thread_id,
            status="queued",
            created_at=now,
            lease_expires_at=self._claims.lease_from(now),
            expires_at=now + timedelta(seconds=RUN_TIMEOUT_S),
            assistant_id=assistant.id,
            marker=spec.marker,
            **settings,
        )
        try:
            for index, extra in enumerate(spec.additional_messages):
                # The claim counted one message: the first takes its position, the others new ones.
                position = thread.message_count if index == 0 else await self._store.next_message_seq(thread_id, run_id)
                if position is None:
                    raise RunAlreadyActive(thread_id, None)
                if extra.attachments:
                    field = f"additional_messages[{index}].attachments"
                    made_stores.extend(await self._files.attach(thread, extra.attachments, field))
                    thread = await self._threads.get(thread_id)
                messages.append(message_record(extra, thread_id, position, now, spec.marker if index == 0 else None))
            run = replace(
                run,
                vector_store_ids=searched_stores(run.tools, assistant, thread, self._configured_stores(spec)),
                code_file_ids=code_files(assistant, thread) or None,
            )
            log_dropped_tools(run, self._settings)
            check_tool_choice_can_run(run, self._settings)
            for message in messages:
                await self._store.insert_message(message)
            await self._store.insert_run(run)
        except BaseException:
            await self._undo_begin(claimed, run_id, [message.id for message in messages], made_stores)
            raise
        logger.info("run started engine=hosted thread_id=%s run_id=%s", thread_id, run_id)
        return run

    def _configured_stores(self, spec: RunSpec) -> list[str]:
        """OPENAI_VECTOR_STORE_ID and OPENAI_KNOWLEDGE_STORE_ID, searched by the operator's assistants' runs."""
        return self._settings.file_search_store_ids if spec.operator_assistant else []

    async def _undo_begin(
        self, thread: ThreadRecord, run_id: str, message_ids: list[str], made_stores: list[str]
    ) -> None:
        """Delete what the start stored, put back the thread's tool_resources (nothing else changed them: the
        start held the thread), free the thread."""
        try:
            for message_id in message_ids:
                await self._store.delete_message(message_id)
            await self._files.restore(thread, made_stores)
            await self._store.release_active_run(thread.id, run_id)
        except Exception as exc:  # the original error matters more; the claim's lease frees the thread
            logger.warning("could not undo the start of run %s: %s", run_id, type(exc).__name__)

    async def _find(self, thread_id: str, run_id: str) -> RunRecord:
        run = await self._store.get_run(run_id)
        if run is None or run.thread_id != thread_id:
            if await self._store.get_thread(thread_id) is None:
                raise ThreadNotFound(thread_id)
            raise RunNotFound(thread_id, run_id)
        return run

    async def _unlapsed(self, run: RunRecord) -> RunRecord:
        return await self._claims.expire_if_lapsed(run) or run  # an ended run has no lease

    async def _record_outputs(self, run_id: str, answers: list[dict[str, str]]) -> RunStepRecord | None:
        """Write the outputs into the run's last tool_calls step and complete it, as the Assistants API does."""
        outputs = {answer["tool_call_id"]: answer["output"] for answer in answers}
        steps = [step for step in await self._store.run_steps(run_id) if step.type == "tool_calls"]
        if not steps:
            return None
        step = steps[-1]
        calls = [
            {**call, "function": {**call["function"], "output": outputs.get(call["id"])}}
            for call in step.details.get("tool_calls", [])
        ]
        completed = replace(
            step, status="completed", completed_at=utc_now(), details={**step.details, "tool_calls": calls}
        )
        await self._store.save_run_step(completed)
        return completed


class Steps:
    def __init__(self, store: ThreadStore, runs: Runs) -> None:
        self._store = store
        self._runs = runs

    async def page(self, thread_id: str, run_id: str, query: PageQuery) -> tuple[list[RunStepRecord], bool]:
        """A page of the run's steps, read on an index."""
        run = await self._runs.get(thread_id, run_id)

        async def key_of(name: str, step_id: str) -> int:
            step = await self._store.get_run_step(step_id)
            if step is None or step.run_id != run_id:
                raise InvalidRequest(f"{name}: no step '{step_id}' on run {run_id}.", field=name)
            return step.seq

        async def read(keys: KeyRange[int]) -> list[RunStepRecord]:
            return await self._store.steps_page(
                run_id, seq_after=keys.low, seq_before=keys.high, ascending=keys.ascending, limit=keys.limit
            )

        steps, has_more = await keyset_page(query, key_of, read)
        return [_settled(step, run) for step in steps], has_more

    async def get(self, thread_id: str, run_id: str, step_id: str) -> RunStepRecord:
        run = await self._runs.get(thread_id, run_id)
        step = await self._store.get_run_step(step_id)
        if step is None or step.run_id != run_id:
            raise NotFound(f"No run step found with id '{step_id}'.")
        return _settled(step, run)


def _settled(step: RunStepRecord, run: RunRecord) -> RunStepRecord:
    """The step; one left in progress (a tool_calls step waiting for outputs) ends as its run did."""
    ended = run.status in ("cancelled", "expired", "failed")
    return replace(step, status=run.status) if ended and step.status == "in_progress" else step
