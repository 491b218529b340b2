"""Engine `assistants`: threads, messages and runs live upstream, in the OpenAI Assistants API.

`start_run` is one upstream round trip in the common case: the user message rides
in the run's `additional_messages`, and the upstream's own refusal ("already has an
active run") is the active-run check, so the check is atomic instead of check-then-act.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections import OrderedDict
from collections.abc import AsyncGenerator, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn
from urllib.parse import quote

from app.config import RUN_TIMEOUT_S, Settings
from app.engines.assistants.convert import relay_events, reply_text, to_message_page, to_run_state
from app.engines.assistants.run_creation import RunCreation
from app.engines.base import MessageOrder, MessagePage, RunRef, RunState, StreamEvent, ToolOutput
from app.errors import (
    AssistantsApiUnavailable,
    HostedEngineRequired,
    RunAlreadyActive,
    RunNotActive,
    RunNotFound,
    ThreadNotFound,
    UpstreamError,
    UpstreamNotFound,
    UpstreamRejected,
)
from app.observability.request_ids import request_id_var
from app.upstream.client import Upstream
from app.upstream.json_calls import ASSISTANTS_BETA

logger = logging.getLogger(__name__)

_RUN_ID = re.compile(r"\brun_[A-Za-z0-9]+")
_ACTIVE_RUN_PHRASES = ("already has an active run", "while a run", "is active")
_API_GONE_PHRASES = ("invalid url", "shut down", "no longer available", "has been deprecated", "not supported")
_REMEMBERED_THREADS = 100_000


@contextmanager
def translated_errors(thread_id: str, run_id: str | None = None) -> Iterator[None]:
    """The upstream's thread- and run-level refusals inside the block raised as domain errors."""
    try:
        yield
    except UpstreamError as exc:
        lowered = exc.upstream_message.lower()
        if isinstance(exc, UpstreamRejected) and exc.upstream_status == 400:
            if run_id and ("cannot cancel" in lowered or "do not accept tool outputs" in lowered):
                raise RunNotActive(thread_id, run_id) from exc
            if any(p in lowered for p in _ACTIVE_RUN_PHRASES):
                match = _RUN_ID.search(exc.upstream_message)
                raise RunAlreadyActive(thread_id, match.group(0) if match else None) from exc
        if isinstance(exc, UpstreamNotFound):
            if "thread" in lowered and "no " in lowered:
                raise ThreadNotFound(thread_id) from exc
            if run_id and "run" in lowered and "no " in lowered:
                raise RunNotFound(thread_id, run_id) from exc
            if any(p in lowered for p in _API_GONE_PHRASES):
                raise AssistantsApiUnavailable() from exc
        raise


def _marker(marker: str | None) -> str:
    """The run's marker: the request's (the same for an Idempotency-Key's retries), else the request id."""
    return marker or request_id_var.get() or uuid.uuid4().hex


class AssistantsEngine:
    """Runs on the upstream Assistants API, with the seed's run settings."""

    name = "assistants"

    def __init__(self, upstream: Upstream, settings: Settings, assistant_id: str) -> None:
        self._calls = upstream
        self._settings = settings
        self._assistant_id = assistant_id
        self._assistant_path = f"/assistants/{quote(assistant_id, safe='')}"
        self._threads_with_vector_store: OrderedDict[str, None] = OrderedDict()
        self._run_tools: list[dict[str, Any]] | None = None
        self._run_tools_lock = asyncio.Lock()
        self._runs = RunCreation(
            upstream, settle_s=min(settings.openai_timeout_s, 10.0), follow_timeout_s=RUN_TIMEOUT_S
        )

    def hosted(self) -> NoReturn:
        raise HostedEngineRequired("This is served only with ENGINE=hosted; this server runs ENGINE=assistants.")

    async def create_thread(self) -> str:
        body: dict[str, Any] = {}
        if self._settings.vector_store_ids:
            body["tool_resources"] = {"file_search": {"vector_store_ids": self._settings.vector_store_ids}}
        thread = await self._calls.request("POST", "/threads", body, ids=("id",))
        thread_id: str = thread["id"]
        self._remember_vector_store(thread_id)
        logger.info("thread created engine=assistants thread_id=%s", thread_id)
        return thread_id

    async def start_run(self, thread_id: str, content: str, marker: str | None = None) -> RunRef:
        # The hot path: `runs.create`'s request, sent as plain JSON, at most once (run_creation.py).
        with translated_errors(thread_id):
            body = await self._run_body(thread_id, content)
            run = await self._runs.create(thread_id, body, _marker(marker))
        run_id: str = run["id"]
        logger.info("run started engine=assistants thread_id=%s run_id=%s", thread_id, run_id)
        return RunRef(run_id=run_id, thread_id=thread_id, status=str(run.get("status") or "queued"))

    async def find_run(self, thread_id: str, marker: str) -> RunRef | None:
        with translated_errors(thread_id):
            run = await self._runs.find(thread_id, marker)
        return None if run is None else RunRef(str(run["id"]), thread_id, str(run.get("status") or "queued"))

    async def stream_run(
        self, thread_id: str, content: str, marker: str | None = None
    ) -> AsyncGenerator[StreamEvent, None]:
        with translated_errors(thread_id):
            body = await self._run_body(thread_id, content)
            events = await self._runs.create_streamed(thread_id, body, _marker(marker))
        logger.info("streamed run started engine=assistants thread_id=%s", thread_id)
        return relay_events(events)

    async def _run_body(self, thread_id: str, content: str) -> dict[str, Any]:
        """The JSON `runs.create` sends for a non-streaming run, in its key order (omitted values left out)."""
        await self._attach_vector_store_once(thread_id)
        body: dict[str, Any] = {
            "model": self._settings.openai_model,
            "assistant_id": self._assistant_id,
            "additional_messages": [{"role": "user", "content": content}],
            "max_completion_tokens": self._settings.max_completion_tokens,
        }
        tools = await self._tools_for_runs()
        if tools is not None:
            body["tools"] = tools
        body["truncation_strategy"] = {
            "type": "last_messages",
            "last_messages": self._settings.truncation_last_messages,
        }
        return body

    async def submit_tool_outputs(
        self, thread_id: str, run_id: str, outputs: list[ToolOutput]
    ) -> AsyncGenerator[StreamEvent, None]:
        path = f"/threads/{quote(thread_id, safe='')}/runs/{quote(run_id, safe='')}/submit_tool_outputs"
        body = {"tool_outputs": [{"tool_call_id": o.tool_call_id, "output": o.output} for o in outputs], "stream": True}
        with translated_errors(thread_id, run_id):  # sent once: a repeat would be refused (the run no longer waits)
            return relay_events(await self._calls.stream(path, body, headers=ASSISTANTS_BETA, once=True))

    async def get_run(self, thread_id: str, run_id: str) -> RunState:
        run_path = f"/threads/{quote(thread_id, safe='')}/runs/{quote(run_id, safe='')}"
        with translated_errors(thread_id, run_id):
            run = await self._calls.request("GET", run_path, ids=("id",))
            reply = None
            if run.get("status") == "completed":
                params: dict[str, str | int] = {"run_id": run_id, "order": "asc", "limit": 100}
                page = await self._calls.request("GET", f"/threads/{quote(thread_id, safe='')}/messages", params=params)
                reply = reply_text(page)
        return to_run_state(run, thread_id, reply)

    async def cancel_run(self, thread_id: str, run_id: str) -> RunState:
        path = f"/threads/{quote(thread_id, safe='')}/runs/{quote(run_id, safe='')}/cancel"
        with translated_errors(thread_id, run_id):
            run = await self._calls.request("POST", path, ids=("id",))
        logger.info("run cancel requested engine=assistants thread_id=%s run_id=%s", thread_id, run_id)
        return to_run_state(run, thread_id)

    async def list_messages(
        self,
        thread_id: str,
        *,
        limit: int = 20,
        order: MessageOrder = "desc",
        after: str | None = None,
        before: str | None = None,
    ) -> MessagePage:
        params: dict[str, Any] = {"limit": limit, "order": order}
        params.update((k, v) for k, v in (("after", after), ("before", before)) if v)
        with translated_errors(thread_id):
            page = await self._calls.request("GET", f"/threads/{quote(thread_id, safe='')}/messages", params=params)
        return to_message_page(page, thread_id)

    async def _attach_vector_store_once(self, thread_id: str) -> None:
        """Make the vector store searchable on the thread; done once per thread and remembered."""
        store_ids = self._settings.vector_store_ids
        if not store_ids:
            return
        if thread_id in self._threads_with_vector_store:
            self._threads_with_vector_store.move_to_end(thread_id)
            return
        body = {"tool_resources": {"file_search": {"vector_store_ids": store_ids}}}
        await self._calls.request("POST", f"/threads/{quote(thread_id, safe='')}", body)
        self._remember_vector_store(thread_id)

    def _remember_vector_store(self, thread_id: str) -> None:
        self._threads_with_vector_store[thread_id] = None
        while len(self._threads_with_vector_store) > _REMEMBERED_THREADS:
            self._threads_with_vector_store.popitem(last=False)

    async def _tools_for_runs(self) -> list[dict[str, Any]] | None:
        """With a vector store: the assistant's own tools plus file_search (tools on a run replace them)."""
        if not self._settings.vector_store_ids:
            return None
        if self._run_tools is None:
            async with self._run_tools_lock:
                if self._run_tools is None:
                    assistant = await self._calls.request("GET", self._assistant_path)
                    self._run_tools = self._tools_with_file_search(assistant)
        return self._run_tools

    @staticmethod
    def _tools_with_file_search(assistant: dict[str, Any]) -> list[dict[str, Any]]:
        listed = assistant.get("tools")
        tools = [tool for tool in listed if isinstance(tool, dict)] if isinstance(listed, list) else []
        if not any(tool.get("type") == "file_search" for tool in tools):
            tools.append({"type": "file_search"})
        return tools

    async def check_setup(self) -> None:
        try:
            assistant = await self._calls.request("GET", self._assistant_path)
        except UpstreamError as exc:
            logger.warning(
                "could not read assistant %s at start-up (%s); runs will still be attempted",
                self._assistant_id,
                type(exc).__name__,
            )
            return
        self._run_tools = self._tools_with_file_search(assistant)
        knowledge = self._settings.openai_knowledge_store_id
        if knowledge:
            file_search = (assistant.get("tool_resources") or {}).get("file_search") or {}
            searchable = file_search.get("vector_store_ids") or []
            if knowledge not in searchable:
                logger.warning(
                    "OPENAI_KNOWLEDGE_STORE_ID %s is not attached to assistant %s: "
                    "runs will not search it (attach it to the assistant's file_search tool resources)",
                    knowledge,
                    self._assistant_id,
                )

    async def aclose(self) -> None:
        return None
