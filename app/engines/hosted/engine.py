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
from app.engines.hosted.claims import ThreadClaims
from app.engines.hosted.events import step_object
from app.engines.hosted.model_client import ModelClient
from app.engines.hosted.objects import new_id, run_state, thread_message
from app.engines.hosted.runner import RunRunner
from app.errors import InvalidField, InvalidRequest, NoToolCallPending, RunNotActive, RunNotFound, ThreadNotFound
from app.storage.assistants import AssistantRecord, AssistantStore
from app.storage.threads import MessageRecord, RunRecord, ThreadRecord, ThreadStore, is_active

logger = logging.getLogger(__name__)

MAX_PAGE = 100
# One tool output's limit (characters); the request body limit (MAX_BODY_BYTES) applies as well.
MAX_TOOL_OUTPUT_CHARS = 512 * 1024


class HostedEngine:
    """Threads and runs in our storage; replies from the Responses API or Chat Completions."""

    name = "hosted"

    def __init__(
        self, settings: Settings, store: ThreadStore, model: ModelClient, assistants: AssistantStore | None = None
    ) -> None:
        self._settings = settings
        self._store = store
        self._model = model
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

    async def create_thread(self) -> str:
        thread = ThreadRecord(id=new_id("thread_"), created_at=utc_now())
        await self._store.create_thread(thread)
        return thread.id

    async def start_run(self, thread_id: str, content: str, marker: str | None = None) -> RunRef:
        run = await self._begin_run(thread_id, content)
        self._runner.start(run)
        return RunRef(run_id=run.id, thread_id=thread_id, status=run.status)

    async def find_run(self, thread_id: str, marker: str) -> RunRef | None:
        return None  # a hosted start is answered only once its writes are done: nothing to look for

    async def stream_run(
        self, thread_id: str, content: str, marker: str | None = None
    ) -> AsyncGenerator[StreamEvent, None]:
        run = await self._begin_run(thread_id, content)
        return self._runner.start_streamed(run)

    async def submit_tool_outputs(
        self, thread_id: str, run_id: str, outputs: list[ToolOutput]
    ) -> AsyncGenerator[StreamEvent, None]:
        """Answer every call the run waits for and stream the continued run (any process may take it)."""
        run = await self._find_run(thread_id, run_id)
        if run.status == "requires_action":
            run = await self._claims.expire_if_lapsed(run) or run
        if run.status != "requires_action" or not run.required_tool_calls:
            raise NoToolCallPending(thread_id, run_id)
        answers = _answers_for(run.required_tool_calls, outputs)
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
        await self._record_outputs(run_id, answers)
        logger.info("tool outputs submitted engine=hosted thread_id=%s run_id=%s", thread_id, run_id)
        return self._runner.start_streamed(resumed, resumed=True)

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
        await self._find_run(thread_id, run_id)
        steps = await self._store.run_steps(run_id)
        if order == "desc":
            steps.reverse()
        ids = [step.id for step in steps]
        for name, cursor in (("after", after), ("before", before)):
            if cursor is not None and cursor not in ids:
                raise InvalidRequest(f"{name}: no step '{cursor}' on run {run_id}.", field=name)
        start = ids.index(after) + 1 if after is not None else 0
        end = ids.index(before) if before is not None else len(ids)
        window = steps[start:end]
        limit = max(1, min(limit, MAX_PAGE))
        page = window[-limit:] if before is not None and after is None else window[:limit]
        data = [step_object(step) for step in page]
        return {
            "object": "list",
            "data": data,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
            "has_more": len(window) > len(page),
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
        if await self._store.get_thread(thread_id) is None:
            raise ThreadNotFound(thread_id)
        limit = max(1, min(limit, MAX_PAGE))
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
    async def _begin_run(self, thread_id: str, content: str) -> RunRecord:
        """Claim the thread, store the user's message and the queued run (with its assistant's settings)."""
        assistant = await self._assistants.current()
        run_id = new_id("run_")
        seq = await self._claims.claim(thread_id, run_id)
        now = utc_now()
        message = MessageRecord(new_id("msg_"), thread_id, seq, "user", content, now)
        run = RunRecord(
            id=run_id,
            thread_id=thread_id,
            status="queued",
            created_at=now,
            model=assistant.model,
            instructions=assistant.instructions or "",
            tools=(*assistant.tools, *self.function_tools),
            max_completion_tokens=self._settings.max_completion_tokens,
            truncation_last_messages=self._settings.truncation_last_messages,
            max_prompt_tokens=self._settings.max_prompt_tokens,
            lease_expires_at=self._claims.lease_from(now),
            expires_at=now + timedelta(seconds=self._settings.run_timeout_s),
            assistant_id=assistant.id,
            vector_store_ids=_searched_stores(assistant),
        )
        try:
            await self._store.insert_message(message)
            await self._store.insert_run(run)
        except BaseException:
            await self._undo_begin(thread_id, run_id, message.id)
            raise
        logger.info("run started engine=hosted thread_id=%s run_id=%s", thread_id, run_id)
        return run

    async def _undo_begin(self, thread_id: str, run_id: str, message_id: str) -> None:
        try:
            await self._store.delete_message(message_id)
            await self._store.release_active_run(thread_id, run_id)
        except Exception as exc:  # the original error matters more; the claim's lease frees the thread
            logger.warning("could not undo the start of run %s: %s", run_id, type(exc).__name__)

    async def _find_run(self, thread_id: str, run_id: str) -> RunRecord:
        run = await self._store.get_run(run_id)
        if run is None or run.thread_id != thread_id:
            if await self._store.get_thread(thread_id) is None:
                raise ThreadNotFound(thread_id)
            raise RunNotFound(thread_id, run_id)
        return run

    async def _record_outputs(self, run_id: str, answers: list[dict[str, str]]) -> None:
        """Write the outputs into the run's last tool_calls step, as the Assistants API shows them."""
        outputs = {answer["tool_call_id"]: answer["output"] for answer in answers}
        steps = [step for step in await self._store.run_steps(run_id) if step.type == "tool_calls"]
        if not steps:
            return
        step = steps[-1]
        calls = [
            {**call, "function": {**call["function"], "output": outputs.get(call["id"])}}
            for call in step.details.get("tool_calls", [])
        ]
        await self._store.save_run_step(replace(step, details={**step.details, "tool_calls": calls}))

    async def _cursor_seq(self, thread_id: str, name: str, message_id: str | None) -> int | None:
        if message_id is None:
            return None
        message = await self._store.get_message(message_id)
        if message is None or message.thread_id != thread_id:
            raise InvalidRequest(f"{name}: no message '{message_id}' on thread {thread_id}.", field=name)
        return message.seq


def _searched_stores(assistant: AssistantRecord) -> list[str]:
    """The vector stores the assistant's file_search searches (none without the tool)."""
    if not any(tool.get("type") == "file_search" for tool in assistant.tools):
        return []
    return assistant.vector_store_ids


def _answers_for(calls: list[dict[str, Any]], outputs: list[ToolOutput]) -> list[dict[str, str]]:
    """The outputs in the calls' order; every pending call answered exactly once (400 naming the id)."""
    pending = [str(call["id"]) for call in calls]
    given: dict[str, str] = {}
    for index, output in enumerate(outputs):
        field = f"tool_outputs[{index}]"
        if not isinstance(output.output, str):
            raise InvalidField(f"{field}.output", "must be a string")
        if len(output.output) > MAX_TOOL_OUTPUT_CHARS:
            raise InvalidField(f"{field}.output", f"longer than {MAX_TOOL_OUTPUT_CHARS} characters")
        if output.tool_call_id not in pending:
            raise InvalidRequest(
                f"{field}.tool_call_id: '{output.tool_call_id}' is not a tool call this run waits for.",
                field=f"{field}.tool_call_id",
            )
        if output.tool_call_id in given:
            raise InvalidRequest(
                f"{field}.tool_call_id: '{output.tool_call_id}' is answered more than once.",
                field=f"{field}.tool_call_id",
            )
        given[output.tool_call_id] = output.output
    missing = [call_id for call_id in pending if call_id not in given]
    if missing:
        names = ", ".join(f"'{call_id}'" for call_id in missing)
        raise InvalidRequest(f"tool_outputs: no output for tool call {names}.", field="tool_outputs")
    return [{"tool_call_id": call_id, "output": given[call_id]} for call_id in pending]
