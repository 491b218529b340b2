"""`/v1/threads/{thread_id}/runs`, `/v1/threads/runs`: create, retrieve, update, list, cancel, submit tool outputs."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import Field, StrictStr

from app.api.deps import IdempotencyKeyHeader, UserIdDep, request_marker
from app.api.routes.v1.common import (
    ApiDep,
    MessageCreate,
    Metadata,
    NestedThread,
    PageDep,
    StrictBody,
    ThreadCreate,
    ThreadResources,
)
from app.api.routes.v1.idempotent import STREAMED, answered_once
from app.api.routing import V1Route
from app.api.schemas import ToolOutputsBody
from app.api.wire.sse import sse_response
from app.engines.hosted.events import run_object
from app.engines.hosted.objects import list_object
from app.engines.hosted.runs import Started
from app.errors import IdempotencyNotSupported
from app.services.assistants import MAX_TOOLS, AssistantTool
from app.services.run_options import (
    ResponseFormat,
    Temperature,
    ToolChoice,
    TopP,
    TruncationStrategy,
    stored_choice,
    stored_format,
)
from app.storage.threads import RUNNING_RUN_STATUSES, RunRecord

router = APIRouter(route_class=V1Route)
# OpenAI's header on a run's answer while the run goes on (not while it waits for tool outputs): the SDKs' pollers
# (`create_and_poll`) wait this long before the next retrieve, instead of their 5 s default.
POLL_AFTER_HEADER = "openai-poll-after-ms"
POLL_AFTER_MS = "200"
# The RunSpec fields a run body gives as they are.
_PLAIN_OVERRIDES = {
    "model", "instructions", "additional_instructions", "temperature", "top_p", "parallel_tool_calls",
    "max_prompt_tokens", "max_completion_tokens",
}  # fmt: skip


class RunCreate(Metadata):
    """The run's assistant and what it overrides (None: the assistant's, or the service's)."""

    assistant_id: StrictStr
    model: str | None = Field(default=None, max_length=256)
    instructions: str | None = Field(default=None, max_length=256_000)
    additional_instructions: str | None = Field(default=None, max_length=256_000)
    additional_messages: list[MessageCreate] | None = Field(default=None, max_length=32)
    tools: list[AssistantTool] | None = Field(default=None, max_length=MAX_TOOLS)
    stream: bool | None = None
    temperature: float | None = Temperature
    top_p: float | None = TopP
    response_format: ResponseFormat | None = None
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    # They lower the service's MAX_PROMPT_TOKENS, MAX_COMPLETION_TOKENS and TRUNCATION_LAST_MESSAGES.
    max_prompt_tokens: int | None = Field(default=None, ge=256)
    max_completion_tokens: int | None = Field(default=None, ge=256)
    truncation_strategy: TruncationStrategy | None = None

    def overrides(self) -> dict[str, Any]:
        """The RunSpec fields this body sets."""
        truncation = self.truncation_strategy
        return {
            **self.model_dump(include=_PLAIN_OVERRIDES),
            "tools": tuple(tool.as_object() for tool in self.tools) if self.tools is not None else None,
            "metadata": dict(self.metadata) if self.metadata else None,
            "additional_messages": tuple(message.new_message() for message in self.additional_messages or ()),
            "response_format": stored_format(self.response_format),
            "tool_choice": stored_choice(self.tool_choice),
            "truncation_type": truncation.type if truncation else None,
            "truncation_last_messages": truncation.last_messages if truncation else None,
        }


class ThreadAndRunCreate(RunCreate):
    thread: NestedThread | None = None
    # The run's resources: kept as the new thread's, beside the thread's own (which win for a tool both name).
    tool_resources: ThreadResources | None = None

    def thread_resources(self) -> dict[str, Any] | None:
        own = self.thread.tool_resources.stored() if self.thread and self.thread.tool_resources else {}
        given = self.tool_resources.stored() if self.tool_resources else {}
        return {**given, **own} or None


class StreamableToolOutputs(ToolOutputsBody, StrictBody):
    stream: bool | None = None


def _hint_polling(response: Response, status: object) -> None:
    if status in RUNNING_RUN_STATUSES:
        response.headers[POLL_AFTER_HEADER] = POLL_AFTER_MS


def _run_answer(response: Response, run: RunRecord) -> dict[str, Any]:
    """The run's object, with the poll hint while it goes on."""
    _hint_polling(response, run.status)
    return run_object(run)


async def _once_unless_streamed(
    request: Request,
    response: Response,
    user_id: str,
    body: RunCreate | StreamableToolOutputs,
    key: str | None,
    start: Callable[[], Awaitable[Started]],
    find: Callable[[], Awaitable[RunRecord | None]] | None = None,
) -> Any:
    """The run streamed, or its object (at most once per Idempotency-Key; `find`: the run a first attempt that
    never settled started, if any)."""
    if body.stream:
        if key is not None:
            raise IdempotencyNotSupported(STREAMED)
        events = await start()
        assert not isinstance(events, RunRecord)
        return sse_response(events)

    async def started() -> dict[str, Any]:
        run = await start()
        assert isinstance(run, RunRecord)
        return _run_answer(response, run)

    async def found() -> dict[str, Any] | None:
        run = await find() if find is not None else None
        return _run_answer(response, run) if run is not None else None

    answer = await answered_once(request, user_id, key, body, started, found)
    if isinstance(answer, Response):  # the answer kept for the Idempotency-Key: the run as it was then
        _hint_polling(answer, json.loads(bytes(answer.body)).get("status"))
    return answer


@router.post("/threads/runs")
async def create_thread_and_run(
    request: Request,
    response: Response,
    body: ThreadAndRunCreate,
    api: ApiDep,
    user_id: UserIdDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Any:
    thread = body.thread or ThreadCreate()

    async def start() -> Started:
        return await api.start_on_new_thread(
            user_id,
            body.assistant_id,
            stream=bool(body.stream),
            thread_metadata=thread.metadata,
            thread_messages=[message.new_message() for message in thread.messages],
            thread_resources=body.thread_resources(),
            **body.overrides(),
        )

    return await _once_unless_streamed(request, response, user_id, body, idempotency_key, start)


@router.post("/threads/{thread_id}/runs")
async def create_run(
    request: Request,
    response: Response,
    thread_id: str,
    body: RunCreate,
    api: ApiDep,
    user_id: UserIdDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Any:
    marker = request_marker(user_id, idempotency_key)

    async def start() -> Started:
        stream = bool(body.stream)
        return await api.start_run(
            user_id, thread_id, body.assistant_id, stream=stream, marker=marker, **body.overrides()
        )

    async def find() -> RunRecord | None:
        assert marker is not None  # a key's
        return await api.find_run(user_id, thread_id, body.assistant_id, marker, **body.overrides())

    return await _once_unless_streamed(request, response, user_id, body, idempotency_key, start, find)


@router.get("/threads/{thread_id}/runs")
async def list_runs(thread_id: str, api: ApiDep, user_id: UserIdDep, query: PageDep) -> Any:
    await api.check(user_id, thread_id)
    runs, has_more = await api.hosted.runs.page(thread_id, query)
    return list_object([run_object(run) for run in runs], has_more)


@router.get("/threads/{thread_id}/runs/{run_id}")
async def retrieve_run(thread_id: str, run_id: str, response: Response, api: ApiDep, user_id: UserIdDep) -> Any:
    await api.check(user_id, thread_id)
    return _run_answer(response, await api.hosted.runs.get(thread_id, run_id))


@router.post("/threads/{thread_id}/runs/{run_id}")
async def update_run(thread_id: str, run_id: str, body: Metadata, api: ApiDep, user_id: UserIdDep) -> Any:
    await api.check(user_id, thread_id)
    if "metadata" not in body.model_fields_set:
        return run_object(await api.hosted.runs.get(thread_id, run_id))
    return run_object(await api.hosted.runs.update(thread_id, run_id, dict(body.metadata or {})))


@router.post("/threads/{thread_id}/runs/{run_id}/cancel")
async def cancel_run(thread_id: str, run_id: str, response: Response, api: ApiDep, user_id: UserIdDep) -> Any:
    await api.check(user_id, thread_id)
    return _run_answer(response, await api.hosted.runs.cancel(thread_id, run_id))


@router.post("/threads/{thread_id}/runs/{run_id}/submit_tool_outputs")
async def submit_tool_outputs(
    request: Request,
    response: Response,
    thread_id: str,
    run_id: str,
    body: StreamableToolOutputs,
    api: ApiDep,
    user_id: UserIdDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Any:
    async def submit() -> Started:
        await api.check(user_id, thread_id)
        return await api.hosted.runs.submit_tool_outputs(thread_id, run_id, body.outputs(), stream=bool(body.stream))

    return await _once_unless_streamed(request, response, user_id, body, idempotency_key, submit)
