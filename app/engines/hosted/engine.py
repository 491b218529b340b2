"""Engine `hosted`: threads, messages and runs live in this service's storage; a run is one model call.

Same ids, statuses and event streams as the `assistants` engine, so a client cannot tell them
apart. Function calls put the run in `requires_action`; `submit_tool_outputs` continues it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from dataclasses import replace
from datetime import timedelta
from typing import Any

from app.clock import utc_now
from app.config import Settings
from app.engines.base import MessageOrder, MessagePage, RunRef, RunState, StreamEvent, ToolOutput
from app.engines.hosted.assistants import RunAssistants
from app.engines.hosted.claims import SHORT_WRITE_PREFIXES, ThreadClaims
from app.engines.hosted.events import step_object
from app.engines.hosted.model_client import ModelClient
from app.engines.hosted.objects import new_id, run_state, thread_message
from app.engines.hosted.pages import MAX_PAGE, page_in_memory
from app.engines.hosted.run_spec import NewMessage, RunSpec, check_tool_choice_can_run, message_record, run_settings
from app.engines.hosted.runner import RunRunner
from app.engines.hosted.thread_files import ThreadFiles, code_files, searched_stores
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
from app.storage.assistants import AssistantStore
from app.storage.threads import MessageRecord, RunRecord, RunStepRecord, ThreadRecord, ThreadStore, is_active
from app.upstream.files import UpstreamFiles

logger = logging.getLogger(__name__)

_ALL_MESSAGES_BATCH = 100


class HostedEngine:
    """Threads and runs in our storage; replies from the Responses API or Chat Completions."""

    name = "hosted"

    def __init__(
        self,
        settings: Settings,
        store: ThreadStore,
        model: ModelClient,
        assistants: AssistantStore | None = None,
        files: UpstreamFiles | None = None,
    ) -> None:
        self._settings = settings
        self._store = store
        self._model = model
        self._files = ThreadFiles(settings, store, files)
        self._assistants = RunAssistants(settings, assistants)
        self._claims = ThreadClaims(store, settings.run_lease_s)
        self._runner = RunRunner(store, model, settings, self._claims)
        # Function tools (`{"type": "function", "function": {...}}`) offered to every run besides its assistant's.
        self.function_tools: tuple[dict[str, Any], ...] = ()

    @property
    def store(self) -> ThreadStore:
        return self._store

    @property
    def runner(self) -> RunRunner:
        return self._runner

    async def create_thread(
        self, *, metadata: dict[str, str] | None = None, tool_resources: dict[str, Any] | None = None
    ) -> str:
        thread = ThreadRecord(
            id=new_id("thread_"), created_at=utc_now(), metadata=metadata or None, tool_resources=tool_resources or None
        )
        await self._store.create_thread(thread)
        return thread.id

    # ---- the OpenAI-compatible API's threads, messages and runs (/v1) -------------------
    async def get_thread(self, thread_id: str) -> ThreadRecord:
        thread = await self._store.get_thread(thread_id)
        if thread is None:
            raise ThreadNotFound(thread_id)
        return thread

    async def set_thread_metadata(self, thread_id: str, metadata: dict[str, str]) -> ThreadRecord:
        thread = await self._store.set_thread_metadata(thread_id, metadata)
        if thread is None:
            raise ThreadNotFound(thread_id)
        return thread

    async def set_thread_tool_resources(self, thread_id: str, resources: dict[str, Any]) -> ThreadRecord:
        thread = await self._store.set_thread_tool_resources(thread_id, resources)
        if thread is None:
            raise ThreadNotFound(thread_id)
        return thread

    async def delete_thread(self, thread_id: str) -> None:
        """Delete the thread and everything on it; not while a run is active on it (400 active_run)."""
        await self._refuse_while_a_run_is_active(await self.get_thread(thread_id))
        if not await self._store.delete_thread(thread_id):
            raise ThreadNotFound(thread_id)
        logger.info("thread deleted engine=hosted thread_id=%s", thread_id)

    async def made_resources(self, resources: dict[str, Any] | None) -> tuple[dict[str, Any] | None, list[str]]:
        """A new thread's tool_resources with the vector store its `file_search.vector_stores` asks for made
        upstream; and the stores made (for `delete_stores` if the thread is not made after all)."""
        return await self._files.made_resources(resources)

    async def delete_stores(self, store_ids: list[str]) -> None:
        await self._files.delete_stores(store_ids)

    async def verify_attachments(self, attachments: list[dict[str, Any]], field: str) -> None:
        """400 naming `field` unless this setup serves attachments and every attached file exists."""
        await self._files.verify(attachments, field)

    async def add_message(self, thread_id: str, new: NewMessage, *, verified: bool = False) -> MessageRecord:
        """Store a message on a thread without starting a run (400 active_run while a run holds it); its
        attached files join the thread's tools first, while the message holds the thread (`verified`:
        their files were checked already)."""
        if new.attachments and not verified:
            await self._files.verify(new.attachments)
        holder = new_id("add_")  # holds the thread for this one write, as a run would
        thread = await self._claims.claim(thread_id, holder)
        try:
            if new.attachments:
                await self._files.attach(thread, new.attachments)
            message = message_record(new, thread_id, thread.message_count, utc_now())
            await self._store.insert_message(message)
        finally:
            await self._store.release_active_run(thread_id, holder)
        return message

    async def get_message(self, thread_id: str, message_id: str) -> MessageRecord:
        message = await self._store.get_message(message_id)
        if message is None or message.thread_id != thread_id:
            await self.get_thread(thread_id)
            raise NotFound(f"No message found with id '{message_id}'.")
        return message

    async def set_message_metadata(self, thread_id: str, message_id: str, metadata: dict[str, str]) -> MessageRecord:
        await self.get_message(thread_id, message_id)
        message = await self._store.set_message_metadata(message_id, metadata)
        if message is None:
            raise NotFound(f"No message found with id '{message_id}'.")
        return message

    async def delete_message(self, thread_id: str, message_id: str) -> None:
        """Delete a message of the thread; not while a run is active on it (400 active_run).

        The thread is held for the deletion as for a new message, so no run can start (and read the
        thread's messages) meanwhile; the position that claim hands out stays unused.
        """
        await self.get_message(thread_id, message_id)
        holder = new_id("del_")
        await self._claims.claim(thread_id, holder)  # the position it hands out stays unused
        try:
            deleted = await self._store.delete_message(message_id)
        finally:
            await self._store.release_active_run(thread_id, holder)
        if not deleted:
            raise NotFound(f"No message found with id '{message_id}'.")
        logger.info("message deleted engine=hosted thread_id=%s message_id=%s", thread_id, message_id)

    async def message_records(
        self,
        thread_id: str,
        *,
        limit: int = 20,
        order: MessageOrder = "desc",
        after: str | None = None,
        before: str | None = None,
        run_id: str | None = None,
    ) -> tuple[list[MessageRecord], bool]:
        """A page of the thread's stored messages, and whether there are more (`run_id`: that run's only)."""
        await self.get_thread(thread_id)
        limit = max(1, min(limit, MAX_PAGE))
        if run_id is not None:
            return await self._run_messages(thread_id, run_id, limit=limit, order=order, after=after, before=before)
        ascending = order == "asc"
        after_seq = await self._cursor_seq(thread_id, "after", after)
        before_seq = await self._cursor_seq(thread_id, "before", before)
        # Positions grow with time: "after" in descending order means older, i.e. smaller.
        low, high = (after_seq, before_seq) if ascending else (before_seq, after_seq)
        # With only `before`, the page is the one right before the cursor: read towards it, then flip.
        backwards = before is not None and after is None
        found = await self._store.messages_page(
            thread_id, seq_after=low, seq_before=high, ascending=ascending != backwards, limit=limit + 1
        )
        has_more = len(found) > limit
        page = found[:limit]
        if backwards:
            page.reverse()
        return page, has_more

    async def _run_messages(
        self, thread_id: str, run_id: str, *, limit: int, order: MessageOrder, after: str | None, before: str | None
    ) -> tuple[list[MessageRecord], bool]:
        """The messages a run wrote (a handful): read through the thread, paged in memory."""
        found: list[MessageRecord] = []
        seq_after: int | None = None
        while True:
            batch = await self._store.messages_page(
                thread_id, seq_after=seq_after, seq_before=None, ascending=True, limit=_ALL_MESSAGES_BATCH
            )
            found.extend(message for message in batch if message.run_id == run_id)
            if len(batch) < _ALL_MESSAGES_BATCH:
                break
            seq_after = batch[-1].seq
        return page_in_memory(
            found,
            order=order,
            after=after,
            before=before,
            limit=limit,
            unknown_cursor=lambda cursor: f"no message '{cursor}' of run {run_id}.",
        )

    async def start_spec_run(self, thread_id: str, spec: RunSpec) -> RunRecord:
        """Start a run of `spec.assistant` on the thread's messages (after storing `additional_messages`)."""
        run = await self._begin_run(thread_id, None, spec)
        self._runner.start(run)
        return run

    async def stream_spec_run(self, thread_id: str, spec: RunSpec) -> AsyncGenerator[StreamEvent, None]:
        run = await self._begin_run(thread_id, None, spec)
        return self._runner.start_streamed(run)

    async def run_record(self, thread_id: str, run_id: str) -> RunRecord:
        """The stored run (an active run whose lease lapsed shows as expired)."""
        run = await self._find_run(thread_id, run_id)
        if is_active(run.status):
            run = await self._claims.expire_if_lapsed(run) or run
        return run

    async def set_run_metadata(self, thread_id: str, run_id: str, metadata: dict[str, str]) -> RunRecord:
        await self._find_run(thread_id, run_id)
        run = await self._store.set_run_metadata(run_id, metadata)
        if run is None:
            raise RunNotFound(thread_id, run_id)
        if is_active(run.status):
            run = await self._claims.expire_if_lapsed(run) or run
        return run

    async def cancel_run_record(self, thread_id: str, run_id: str) -> RunRecord:
        await self.cancel_run(thread_id, run_id)
        return await self._find_run(thread_id, run_id)

    async def run_records(
        self,
        thread_id: str,
        *,
        limit: int = 20,
        order: MessageOrder = "desc",
        after: str | None = None,
        before: str | None = None,
    ) -> tuple[list[RunRecord], bool]:
        """A page of the thread's runs, and whether there are more."""
        await self.get_thread(thread_id)
        return page_in_memory(
            await self._store.thread_runs(thread_id),
            order=order,
            after=after,
            before=before,
            limit=limit,
            unknown_cursor=lambda cursor: f"no run '{cursor}' on thread {thread_id}.",
        )

    async def run_step_record(self, thread_id: str, run_id: str, step_id: str) -> RunStepRecord:
        run = await self.run_record(thread_id, run_id)
        for step in await self._store.run_steps(run_id):
            if step.id == step_id:
                return _settled(step, run)
        raise NotFound(f"No run step found with id '{step_id}'.")

    async def start_run(self, thread_id: str, content: str, marker: str | None = None) -> RunRef:
        run = await self._begin_run(thread_id, content, None)
        self._runner.start(run)
        return RunRef(run_id=run.id, thread_id=thread_id, status=run.status)

    async def find_run(self, thread_id: str, marker: str) -> RunRef | None:
        return None  # a hosted start is answered only once its writes are done: nothing to look for

    async def stream_run(
        self, thread_id: str, content: str, marker: str | None = None
    ) -> AsyncGenerator[StreamEvent, None]:
        run = await self._begin_run(thread_id, content, None)
        return self._runner.start_streamed(run)

    async def submit_tool_outputs(
        self, thread_id: str, run_id: str, outputs: list[ToolOutput]
    ) -> AsyncGenerator[StreamEvent, None]:
        """Answer every call the run waits for and stream the continued run (any process may take it)."""
        resumed, answered = await self.resume_with_outputs(thread_id, run_id, outputs)
        return self._runner.start_streamed(resumed, resumed=True, answered=answered)

    async def resume_with_outputs(
        self, thread_id: str, run_id: str, outputs: list[ToolOutput]
    ) -> tuple[RunRecord, RunStepRecord | None]:
        """Record the outputs and queue the run again (not yet executing: start it, or stream it); the
        run, and its tool_calls step the outputs completed."""
        run = await self._find_run(thread_id, run_id)
        if run.status == "requires_action":
            run = await self._claims.expire_if_lapsed(run) or run
        if run.status != "requires_action" or not run.required_tool_calls:
            raise NoToolCallPending(thread_id, run_id)
        answers = answers_for(run.required_tool_calls, outputs)
        now = utc_now()
        answered = {"calls": run.required_tool_calls, "outputs": answers}
        changes = {
            "status": "queued",
            "required_tool_calls": None,
            "tool_rounds": [*(run.tool_rounds or []), answered],
            "lease_expires_at": self._claims.lease_from(now),
            "expires_at": now + timedelta(seconds=self._settings.run_timeout_s),
        }
        resumed = await self._store.update_active_run(run_id, changes, status="requires_action")
        if resumed is None:  # another submit, a cancel or the expiry came first
            raise NoToolCallPending(thread_id, run_id)
        answered_step = await self._record_outputs(run_id, answers)
        logger.info("tool outputs submitted engine=hosted thread_id=%s run_id=%s", thread_id, run_id)
        return resumed, answered_step

    async def continue_run(self, thread_id: str, run_id: str, outputs: list[ToolOutput]) -> RunRecord:
        """Like submit_tool_outputs, not streamed: the run continues in the background."""
        resumed, _ = await self.resume_with_outputs(thread_id, run_id, outputs)
        self._runner.start(resumed)
        return resumed

    async def list_run_steps(
        self,
        thread_id: str,
        run_id: str,
        *,
        limit: int = 20,
        order: MessageOrder = "desc",
        after: str | None = None,
        before: str | None = None,
    ) -> dict[str, Any]:
        """The run's steps as an Assistants list page (a run has a handful: paged in memory)."""
        run = await self.run_record(thread_id, run_id)
        page, has_more = page_in_memory(
            [_settled(step, run) for step in await self._store.run_steps(run_id)],
            order=order,
            after=after,
            before=before,
            limit=limit,
            unknown_cursor=lambda cursor: f"no step '{cursor}' on run {run_id}.",
        )
        data = [step_object(step) for step in page]
        return {
            "object": "list",
            "data": data,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
            "has_more": has_more,
        }

    async def get_run(self, thread_id: str, run_id: str) -> RunState:
        run = await self._find_run(thread_id, run_id)
        if is_active(run.status):
            # A run whose process died shows as expired to whoever polls it, not active forever.
            run = await self._claims.expire_if_lapsed(run) or run
        return run_state(run)

    async def cancel_run(self, thread_id: str, run_id: str) -> RunState:
        """Cancel an active run and stop its model call; a finished run is 409 `run_not_active`, as upstream."""
        run = await self._find_run(thread_id, run_id)
        if not is_active(run.status):
            raise RunNotActive(thread_id, run_id)
        changes = {"status": "cancelled", "cancelled_at": utc_now(), "lease_expires_at": None}
        cancelled = await self._store.update_active_run(run_id, changes)
        if cancelled is None:  # it finished meanwhile
            raise RunNotActive(thread_id, run_id)
        await self._store.release_active_run(thread_id, run_id)
        logger.info("run cancelled engine=hosted thread_id=%s run_id=%s", thread_id, run_id)
        await self._runner.stop(run_id)  # another process notices at its next lease renewal
        return run_state(cancelled)

    async def list_messages(
        self,
        thread_id: str,
        *,
        limit: int = 20,
        order: MessageOrder = "desc",
        after: str | None = None,
        before: str | None = None,
    ) -> MessagePage:
        page, has_more = await self.message_records(thread_id, limit=limit, order=order, after=after, before=before)
        data = [thread_message(message) for message in page]
        return MessagePage(
            data=data,
            first_id=data[0].id if data else None,
            last_id=data[-1].id if data else None,
            has_more=has_more,
        )

    async def check_setup(self) -> None:
        expired = await self._claims.expire_lapsed_runs()
        if expired:
            logger.warning("expired %d run(s) whose lease lapsed while no process was running them", expired)
        if self._settings.hosted_model_api == "chat_completions" and self._settings.file_search_store_ids:
            logger.warning(
                "HOSTED_MODEL_API=chat_completions has no file_search: OPENAI_VECTOR_STORE_ID and "
                "OPENAI_KNOWLEDGE_STORE_ID are not searched"
            )
        logger.info(
            "hosted engine: model=%s api=%s last_messages=%d max_prompt_tokens=%d",
            self._settings.openai_model,
            self._model.api,
            self._settings.truncation_last_messages,
            self._settings.max_prompt_tokens,
        )

    async def aclose(self) -> None:
        await self._runner.aclose()

    # ---- helpers -----------------------------------------------------------------------
    async def _begin_run(self, thread_id: str, content: str | None, spec: RunSpec | None) -> RunRecord:
        """Claim the thread, store the user's message(s) and the queued run (with its assistant's settings).

        `content`: the user's message; `spec`: a run asked for through /v1 (its assistant, overrides, messages).
        """
        assistant = spec.assistant if spec is not None else await self._assistants.current()
        spec = spec or RunSpec(assistant)
        settings = run_settings(self._settings, assistant, spec, self.function_tools)  # refused before the claim
        for index, extra in enumerate(spec.additional_messages):
            await self._files.verify(extra.attachments or [], f"additional_messages[{index}].attachments")
        run_id = new_id("run_")
        thread = claimed = await self._claims.claim(thread_id, run_id)
        seq = thread.message_count
        now = utc_now()
        messages = [] if content is None else [MessageRecord(new_id("msg_"), thread_id, seq, "user", content, now)]
        made_stores: list[str] = []
        run = RunRecord(
            id=run_id,
            thread_id=thread_id,
            status="queued",
            created_at=now,
            lease_expires_at=self._claims.lease_from(now),
            expires_at=now + timedelta(seconds=self._settings.run_timeout_s),
            assistant_id=assistant.id,
            **settings,
        )
        try:
            for index, extra in enumerate(spec.additional_messages):
                # The claim counted one message: the first extra one takes its position, the others new ones.
                position = seq if index == 0 and not messages else await self._store.next_message_seq(thread_id, run_id)
                if position is None:
                    raise RunAlreadyActive(thread_id, None)
                if extra.attachments:
                    field = f"additional_messages[{index}].attachments"
                    made_stores.extend(await self._files.attach(thread, extra.attachments, field))
                    thread = await self.get_thread(thread_id)
                messages.append(message_record(extra, thread_id, position, now))
            run = replace(
                run,
                vector_store_ids=searched_stores(run.tools, assistant, thread),
                code_file_ids=code_files(assistant, thread) or None,
            )
            check_tool_choice_can_run(run, self._settings)
            for message in messages:
                await self._store.insert_message(message)
            await self._store.insert_run(run)
        except BaseException:
            await self._undo_begin(claimed, run_id, [message.id for message in messages], made_stores)
            raise
        logger.info("run started engine=hosted thread_id=%s run_id=%s", thread_id, run_id)
        return run

    async def _undo_begin(
        self, thread: ThreadRecord, run_id: str, message_ids: list[str], made_stores: list[str]
    ) -> None:
        """Delete what the start stored (and the vector store it made), put back the thread's tool_resources
        (nothing else changed them: the start held the thread), free the thread."""
        try:
            for message_id in message_ids:
                await self._store.delete_message(message_id)
            await self._files.restore(thread, made_stores)
            await self._store.release_active_run(thread.id, run_id)
        except Exception as exc:  # the original error matters more; the claim's lease frees the thread
            logger.warning("could not undo the start of run %s: %s", run_id, type(exc).__name__)

    async def _refuse_while_a_run_is_active(self, thread: ThreadRecord) -> None:
        """400 active_run when a run holds the thread (one whose lease lapsed is expired instead)."""
        if thread.active_run_id is None or thread.active_run_id.startswith(SHORT_WRITE_PREFIXES):
            return
        run = await self._store.get_run(thread.active_run_id)
        if run is not None and is_active(run.status) and await self._claims.expire_if_lapsed(run) is None:
            raise RunAlreadyActive(thread.id, run.id)

    async def _find_run(self, thread_id: str, run_id: str) -> RunRecord:
        run = await self._store.get_run(run_id)
        if run is None or run.thread_id != thread_id:
            if await self._store.get_thread(thread_id) is None:
                raise ThreadNotFound(thread_id)
            raise RunNotFound(thread_id, run_id)
        return run

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

    async def _cursor_seq(self, thread_id: str, name: str, message_id: str | None) -> int | None:
        if message_id is None:
            return None
        message = await self._store.get_message(message_id)
        if message is None or message.thread_id != thread_id:
            raise InvalidRequest(f"{name}: no message '{message_id}' on thread {thread_id}.", field=name)
        return message.seq


def _settled(step: RunStepRecord, run: RunRecord) -> RunStepRecord:
    """A step left in progress (a tool_calls step waiting for outputs) ends as its run did: cancelled,
    expired or failed."""
    if step.status == "in_progress" and run.status in ("cancelled", "expired", "failed"):
        return replace(step, status=run.status)
    return step
