"""POST /chat: post a user's message to a thread and start a run; answer with the run id at once."""

from __future__ import annotations

from fastapi import APIRouter

from app.deps import ChatServiceDep, UserIdDep
from app.schemas import ChatRequest, ChatStarted, error_responses

router = APIRouter(tags=["chat"])


@router.post(
    "/chat",
    response_model=ChatStarted,
    summary="Send a message and start a run",
    responses=error_responses(400, 401, 404, 422, 429, 502, 503, 504),
)
async def create_chat_run(body: ChatRequest, chat: ChatServiceDep, user_id: UserIdDep) -> ChatStarted:
    """Post `content` to thread `threadId`, start the assistant run and record the conversation.

    Answers as soon as the run has started; follow it by polling or streaming its `run_id`.
    """
    run = await chat.post_message(user_id, body.thread_id, body.content)
    return ChatStarted(run_id=run.run_id, thread_id=run.thread_id)
