"""`/v1/threads/{thread_id}/runs` and `/v1/threads/runs`: create (polled or streamed), retrieve, update
(metadata), list, cancel, submit tool outputs (polled or streamed)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, StrictStr

from app.api.deps import IdempotencyKeyHeader, UserIdDep
from app.api.routes.v1.common import (
    ApiDep,
    Limit,
    MessageCreate,
    Metadata,
    Order,
    ThreadResources,
    api_run_object,
    page,
)
from app.api.routes.v1.idempotent import answered_once, refuse_with_stream
from app.api.wire.event_stream import EventStreamResponse
from app.api.wire.sse import SSE_FAREWELL, SSE_HEADERS, sse_body
from app.engines.base import StreamEvent, ToolOutput
from app.engines.hosted.engine import MAX_TOOL_OUTPUT_CHARS
from app.services.assistants import MAX_TOOLS, AssistantTool
from app.services.assistants_api import AssistantsApi
from app.services.run_options import (
    ResponseFormat,
    Temperature,
    ToolChoice,
    TopP,
    TruncationStrategy,
    stored_choice,
    stored_format,
)
from app.storage.threads import RunRecord

router = APIRouter()


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
            "model": self.model,
            "instructions": self.instructions,
            "additional_instructions": self.additional_instructions,
            "tools": tuple(tool.as_object() for tool in self.tools) if self.tools is not None else None,
            "metadata": dict(self.metadata) if self.metadata else None,
            "additional_messages": tuple(message.new_message() for message in self.additional_messages or ()),
            "temperature": self.temperature,
            "top_p": self.top_p,
            "response_format": stored_format(self.response_format) or self.response_format,
            "tool_choice": stored_choice(self.tool_choice),
            "parallel_tool_calls": self.parallel_tool_calls,
            "max_prompt_tokens": self.max_prompt_tokens,
            "max_completion_tokens": self.max_completion_tokens,
            "truncation_type": truncation.type if truncation else None,
            "truncation_last_messages": truncation.last_messages if truncation else None,
        }


class ThreadCreateBody(Metadata):
    messages: list[MessageCreate] = Field(default_factory=list, max_length=32)
    tool_resources: ThreadResources | None = None


class ThreadAndRunCreate(RunCreate):
    thread: ThreadCreateBody | None = None
    # The run's resources: kept as the new thread's (beside the thread's own, which come first).
    tool_resources: ThreadResources | None = None

    def thread_resources(self) -> dict[str, Any] | None:
        own = self.thread.tool_resources if self.thread else None
        return (own or self.tool_resources or ThreadResources()).stored() or None


class SubmittedToolOutput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tool_call_id: StrictStr = Field(min_length=1, max_length=200)
    output: StrictStr = Field(max_length=MAX_TOOL_OUTPUT_CHARS)


class ToolOutputsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tool_outputs: list[SubmittedToolOutput] = Field(min_length=1, max_length=128)
    stream: bool | None = None


def _stream(events: AsyncGenerator[StreamEvent, None]) -> EventStreamResponse:
    """OpenAI's SSE: `event: thread.run.created` / `data: {...}` ... `event: done` / `data: [DONE]`."""
    return EventStreamResponse(
        sse_body(events), media_type="text/event-stream", headers=SSE_HEADERS, farewell=SSE_FAREWELL
    )


async def _start(
    request: Request,
    api: AssistantsApi,
    user_id: str,
    body: RunCreate,
    key: str | None,
    thread_id: Callable[[], Awaitable[str]],
) -> Any:
    """Start the run on the thread `thread_id()` names (or makes): streamed, or its object (once per key)."""
    overrides = body.overrides()
    if body.stream:
        refuse_with_stream(key)
        return _stream(await api.stream_run(user_id, await thread_id(), body.assistant_id, **overrides))

    async def start() -> dict[str, Any]:
        return api_run_object(await api.start_run(user_id, await thread_id(), body.assistant_id, **overrides))

    return await answered_once(request, user_id, key, body, start)


@router.post("/threads/runs")
async def create_thread_and_run(
    request: Request,
    body: ThreadAndRunCreate,
    api: ApiDep,
    user_id: UserIdDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Any:
    async def new_thread() -> str:
        await api.assistants.get(user_id, body.assistant_id)  # an unknown assistant leaves no thread behind
        thread_body = body.thread or ThreadCreateBody()
        thread = await api.create_thread(
            user_id,
            metadata=thread_body.metadata,
            messages=[message.new_message() for message in thread_body.messages],
            tool_resources=body.thread_resources(),
        )
        return thread.id

    return await _start(request, api, user_id, body, idempotency_key, new_thread)


@router.post("/threads/{thread_id}/runs")
async def create_run(
    request: Request,
    thread_id: str,
    body: RunCreate,
    api: ApiDep,
    user_id: UserIdDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Any:
    async def existing() -> str:
        return thread_id

    return await _start(request, api, user_id, body, idempotency_key, existing)


@router.get("/threads/{thread_id}/runs")
async def list_runs(
    thread_id: str,
    api: ApiDep,
    user_id: UserIdDep,
    limit: Limit = 20,
    order: Order = "desc",
    after: str | None = None,
    before: str | None = None,
) -> Any:
    await api.thread(user_id, thread_id)
    runs, has_more = await api.engine.run_records(thread_id, limit=limit, order=order, after=after, before=before)
    return page([api_run_object(run) for run in runs], has_more)


@router.get("/threads/{thread_id}/runs/{run_id}")
async def retrieve_run(thread_id: str, run_id: str, api: ApiDep, user_id: UserIdDep) -> Any:
    await api.thread(user_id, thread_id)
    return api_run_object(await api.engine.run_record(thread_id, run_id))


@router.post("/threads/{thread_id}/runs/{run_id}")
async def update_run(thread_id: str, run_id: str, body: Metadata, api: ApiDep, user_id: UserIdDep) -> Any:
    if "metadata" not in body.model_fields_set:
        await api.thread(user_id, thread_id)
        return api_run_object(await api.engine.run_record(thread_id, run_id))
    return api_run_object(await api.set_run_metadata(user_id, thread_id, run_id, dict(body.metadata or {})))


@router.post("/threads/{thread_id}/runs/{run_id}/cancel")
async def cancel_run(thread_id: str, run_id: str, api: ApiDep, user_id: UserIdDep) -> Any:
    await api.thread(user_id, thread_id)
    return api_run_object(await api.engine.cancel_run_record(thread_id, run_id))


@router.post("/threads/{thread_id}/runs/{run_id}/submit_tool_outputs")
async def submit_tool_outputs(
    request: Request,
    thread_id: str,
    run_id: str,
    body: ToolOutputsBody,
    api: ApiDep,
    user_id: UserIdDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Any:
    outputs = [ToolOutput(tool_call_id=o.tool_call_id, output=o.output) for o in body.tool_outputs]
    if body.stream:
        refuse_with_stream(idempotency_key)
        continued = await api.submit_tool_outputs(user_id, thread_id, run_id, outputs, stream=True)
        assert not isinstance(continued, RunRecord)
        return _stream(continued)

    async def submit() -> dict[str, Any]:
        resumed = await api.submit_tool_outputs(user_id, thread_id, run_id, outputs, stream=False)
        assert isinstance(resumed, RunRecord)
        return api_run_object(resumed)

    return await answered_once(request, user_id, idempotency_key, body, submit)
