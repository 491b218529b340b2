"""The Next.js quickstart's assistant routes, path for path, so its frontend works unchanged.

Point the frontend's `/api` at this service. The message and action routes stream the run as
openai-node's `AssistantStream.toReadableStream()` does (NDJSON); errors come in the same
format, as a visible assistant message that unlocks the input box (see app/api/wire/ndjson.py).
"""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from app.api.deps import ChatServiceDep, EngineDep, ThreadAccessDep, UserIdDep, request_marker
from app.api.error_handlers import HttpAnswer
from app.api.routing import ApiRoute
from app.api.schemas import (
    RUN_ID_PATTERN,
    THREAD_ID_PATTERN,
    MessageContent,
    SubmittedToolOutput,
    ThreadCreatedNext,
    error_responses,
)
from app.api.wire.ndjson import NDJSON, ndjson_error_response, ndjson_response
from app.errors import IdempotencyNotSupported, InvalidField


class NdjsonRoute(ApiRoute):
    """A stream route: every answer, refusals included (raised anywhere), is an NDJSON run stream the frontend shows."""

    def render_error(self, answer: HttpAnswer) -> Response:
        return ndjson_error_response(answer)


router = APIRouter(prefix="/api/assistants", tags=["next.js frontend"], route_class=ApiRoute)
stream_router = APIRouter(prefix="/api/assistants", tags=["next.js frontend"], route_class=NdjsonRoute)


def _ndjson_doc(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The stream's 200, and its errors: as NDJSON too, an assistant message saying what went wrong."""
    documented: dict[int | str, dict[str, Any]] = {
        200: {"description": "The run's events, one JSON object per line", "content": {NDJSON: {}}}
    }
    for status, entry in error_responses(*statuses).items():
        documented[status] = {
            "description": f"{entry['description']}: an NDJSON error message (`metadata.error_code`) "
            "and `thread.run.completed`, so the frontend shows it and unlocks",
            "content": {NDJSON: {}},
        }
    return documented


class ActionsBody(BaseModel):
    run_id: str = Field(alias="runId", pattern=RUN_ID_PATTERN)
    tool_call_outputs: list[SubmittedToolOutput] = Field(alias="toolCallOutputs", min_length=1, max_length=128)


async def _parse(request: Request, model: type[BaseModel]) -> Any:
    """Parse the body as JSON whatever the Content-Type (the browser sends text/plain)."""
    raw = await request.body()
    try:
        data = json.loads(raw) if raw else None
    except ValueError as exc:
        raise InvalidField("body", "must be JSON") from exc
    except RecursionError as exc:  # json's parser recurses once per level of nesting
        raise InvalidField("body", "JSON nested too deeply") from exc
    return model.model_validate(data)


def _check_thread_id(thread_id: str) -> None:
    if not re.fullmatch(THREAD_ID_PATTERN, thread_id):
        raise InvalidField("threadId", "not a thread id (the thread may not have been created)")


@router.post(
    "/threads",
    response_model=ThreadCreatedNext,
    summary="Create a thread (Next.js)",
    responses=error_responses(401, 429, 502, 503, 504),
)
async def create_thread_next(chat: ChatServiceDep, user_id: UserIdDep) -> ThreadCreatedNext:
    """Create an empty thread, the vector store attached; answers `{"threadId": ...}`."""
    return ThreadCreatedNext(thread_id=await chat.create_thread(user_id))


@stream_router.post(
    "/threads/{thread_id}/messages",
    summary="Send a message and stream the run (Next.js)",
    response_class=StreamingResponse,
    responses=_ndjson_doc(400, 401, 404, 413, 415, 422, 429, 502, 503, 504),
    openapi_extra={
        "requestBody": {
            "content": {
                "text/plain": {"schema": {"type": "string"}, "example": '{"content": "Hello!"}'},
                "application/json": {"schema": MessageContent.model_json_schema()},
            }
        }
    },
)
async def post_message_next(thread_id: str, request: Request, chat: ChatServiceDep, user_id: UserIdDep) -> Any:
    """Post `{"content"}` (sent as text/plain by the browser) and stream the run as NDJSON events."""
    if "idempotency-key" in request.headers:
        raise IdempotencyNotSupported()
    _check_thread_id(thread_id)
    body = await _parse(request, MessageContent)
    return ndjson_response(
        await chat.stream_message(user_id, thread_id, body.content, marker=request_marker(user_id, None))
    )


@stream_router.post(
    "/threads/{thread_id}/actions",
    summary="Submit tool outputs and stream the continued run (Next.js)",
    response_class=StreamingResponse,
    responses=_ndjson_doc(400, 401, 404, 409, 413, 415, 422, 429, 502, 503, 504),
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {"schema": ActionsBody.model_json_schema()},
                "text/plain": {"schema": {"type": "string"}},
            }
        }
    },
)
async def submit_actions_next(
    thread_id: str, request: Request, engine: EngineDep, access: ThreadAccessDep, user_id: UserIdDep
) -> Any:
    """Post `{"runId", "toolCallOutputs": [{"tool_call_id", "output"}]}` and stream the continued run."""
    _check_thread_id(thread_id)
    await access.check(user_id, thread_id)
    body = await _parse(request, ActionsBody)
    outputs = [output.as_output() for output in body.tool_call_outputs]
    return ndjson_response(await engine.submit_tool_outputs(thread_id, body.run_id, outputs))
