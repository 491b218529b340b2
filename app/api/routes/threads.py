"""Threads and runs for clients that poll: create a thread, read a run, list messages and run steps,
cancel, submit tool outputs (streamed like /chat/stream)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, status
from fastapi.responses import StreamingResponse

from app.api.deps import ChatServiceDep, EngineDep, ThreadAccessDep, UserIdDep
from app.api.routing import ApiRoute
from app.api.schemas import (
    MESSAGE_ID_PATTERN,
    STEP_ID_PATTERN,
    RunId,
    ThreadCreated,
    ThreadId,
    ToolOutputsBody,
    error_responses,
)
from app.api.wire.sse import sse_response
from app.engines.base import MessagePage, RunState
from app.engines.hosted.events import step_object
from app.engines.hosted.objects import list_object
from app.engines.hosted.pages import PageQuery

router = APIRouter(prefix="/threads", tags=["threads and runs"], route_class=ApiRoute)

MessageCursor = Annotated[str | None, Query(pattern=MESSAGE_ID_PATTERN)]
StepCursor = Annotated[str | None, Query(pattern=STEP_ID_PATTERN)]
# A thread route can meet: another user's or unknown thread, bad ids, and every upstream or storage failure.
THREAD_ERRORS = (401, 404, 422, 429, 502, 503, 504)


@router.post(
    "",
    response_model=ThreadCreated,
    status_code=status.HTTP_201_CREATED,
    summary="Create a thread",
    responses=error_responses(401, 429, 502, 503, 504),
)
async def create_thread(chat: ChatServiceDep, user_id: UserIdDep) -> ThreadCreated:
    """Create an empty thread (the vector store attached when configured); send messages with `POST /chat`."""
    return ThreadCreated(thread_id=await chat.create_thread(user_id))


@router.get(
    "/{thread_id}/runs/{run_id}",
    response_model=RunState,
    summary="Read a run",
    responses=error_responses(*THREAD_ERRORS),
)
async def read_run(
    thread_id: ThreadId, run_id: RunId, engine: EngineDep, access: ThreadAccessDep, user_id: UserIdDep
) -> RunState:
    """The run's status; once `completed`, `reply` holds the assistant's answer. Poll until the status is final."""
    await access.check(user_id, thread_id)
    return await engine.get_run(thread_id, run_id)


@router.post(
    "/{thread_id}/runs/{run_id}/cancel",
    response_model=RunState,
    summary="Cancel a run",
    responses=error_responses(409, *THREAD_ERRORS),
)
async def cancel_run(
    thread_id: ThreadId, run_id: RunId, engine: EngineDep, access: ThreadAccessDep, user_id: UserIdDep
) -> RunState:
    """Ask an active run to stop; answers its state (`cancelling` or `cancelled`). 409 if it already ended."""
    await access.check(user_id, thread_id)
    return await engine.cancel_run(thread_id, run_id)


@router.get(
    "/{thread_id}/messages",
    response_model=MessagePage,
    summary="List a thread's messages",
    responses=error_responses(*THREAD_ERRORS),
)
async def list_messages(
    thread_id: ThreadId,
    engine: EngineDep,
    access: ThreadAccessDep,
    user_id: UserIdDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    order: Literal["asc", "desc"] = "desc",
    after: MessageCursor = None,
    before: MessageCursor = None,
) -> MessagePage:
    """Newest first by default; pass the page's `last_id` as `after` for the next page."""
    await access.check(user_id, thread_id)
    return await engine.list_messages(thread_id, limit=limit, order=order, after=after, before=before)


@router.post(
    "/{thread_id}/runs/{run_id}/submit_tool_outputs",
    summary="Submit tool outputs and stream the continued run (Server-Sent Events)",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "`text/event-stream`, as `POST /chat/stream`: the continued run's events.",
            "content": {"text/event-stream": {}},
        },
        **error_responses(400, *THREAD_ERRORS),
    },
)
async def submit_tool_outputs(
    thread_id: ThreadId,
    run_id: RunId,
    body: ToolOutputsBody,
    engine: EngineDep,
    access: ThreadAccessDep,
    user_id: UserIdDep,
) -> StreamingResponse:
    """Answer every call of a run in `requires_action` (one output per call id; 400 naming a missing,
    unknown or repeated id; `no_tool_call_pending` if the run is not waiting)."""
    await access.check(user_id, thread_id)
    return sse_response(await engine.submit_tool_outputs(thread_id, run_id, body.outputs()))


@router.get(
    "/{thread_id}/runs/{run_id}/steps", summary="List a run's steps", responses=error_responses(400, *THREAD_ERRORS)
)
async def list_run_steps(
    thread_id: ThreadId,
    run_id: RunId,
    engine: EngineDep,
    access: ThreadAccessDep,
    user_id: UserIdDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    order: Literal["asc", "desc"] = "desc",
    after: StepCursor = None,
    before: StepCursor = None,
) -> dict[str, Any]:
    """`thread.run.step` objects (`message_creation`, `tool_calls`) in an Assistants list page (ENGINE=hosted)."""
    await access.check(user_id, thread_id)
    query = PageQuery(limit=limit, order=order, after=after, before=before)
    steps, has_more = await engine.hosted().steps.page(thread_id, run_id, query)
    return list_object([step_object(step) for step in steps], has_more)
