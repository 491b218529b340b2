"""POST /chat: post a user's message to a thread and start a run; answer with the run id at once."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, StreamingResponse

from app.api.deps import ChatServiceDep, IdempotencyDep, IdempotencyKeyHeader, UserIdDep, request_marker
from app.api.routing import ApiRoute
from app.api.schemas import ChatRequest, ChatStarted, error_responses
from app.api.wire.sse import sse_response
from app.errors import IdempotencyNotSupported
from app.services.idempotency import fingerprint

REPLAYED_HEADER = "Idempotent-Replayed"

router = APIRouter(tags=["chat"], route_class=ApiRoute)


@router.post(
    "/chat",
    response_model=ChatStarted,
    summary="Send a message and start a run",
    responses=error_responses(400, 401, 404, 409, 422, 429, 502, 503, 504),
)
async def create_chat_run(
    body: ChatRequest,
    chat: ChatServiceDep,
    user_id: UserIdDep,
    idempotency: IdempotencyDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Any:
    """Post `content` to thread `threadId`, start the assistant run and record the conversation; answers as soon as
    the run has started (poll or stream its `run_id`). With an `Idempotency-Key`, a retry gets the first answer."""

    async def start() -> dict[str, Any]:
        run = await chat.post_message(user_id, body.thread_id, body.content, marker=marker)
        return ChatStarted(run_id=run.run_id, thread_id=run.thread_id).model_dump()

    async def find_posted() -> dict[str, Any] | None:
        assert marker is not None  # a key's
        run = await chat.find_posted_run(user_id, body.thread_id, marker)
        return ChatStarted(run_id=run.run_id, thread_id=run.thread_id).model_dump() if run is not None else None

    marker = request_marker(user_id, idempotency_key)

    if idempotency_key is None:
        return await start()
    payload = {"threadId": body.thread_id, "content": body.content}
    answer = await idempotency.run(user_id, idempotency_key, fingerprint("POST /chat", payload), start, find_posted)
    headers = {REPLAYED_HEADER: "true"} if answer.replayed else None
    return JSONResponse(answer.body, status_code=answer.status_code, headers=headers)


@router.post(
    "/chat/stream",
    summary="Send a message and stream the run (Server-Sent Events)",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "`text/event-stream`: one event per Assistants event (`event: thread.message.delta`, "
            "`data: {...}`), then `event: done` / `data: [DONE]`; `event: error` if the run breaks off.",
            "content": {"text/event-stream": {}},
        },
        **error_responses(400, 401, 404, 422, 429, 502, 503, 504),
    },
)
async def stream_chat_run(
    body: ChatRequest, chat: ChatServiceDep, user_id: UserIdDep, idempotency_key: IdempotencyKeyHeader = None
) -> StreamingResponse:
    """Like `POST /chat`, but the answer streams the run's events as they happen (`curl -N`, EventSource);
    `Idempotency-Key` is refused here (422 `idempotency_not_supported`): a stream cannot be replayed."""
    if idempotency_key is not None:
        raise IdempotencyNotSupported()
    events = await chat.stream_message(user_id, body.thread_id, body.content, marker=request_marker(user_id, None))
    return sse_response(events)
