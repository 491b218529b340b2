"""A user's conversation history: list (newest first, paginated), read, rename, delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from app.api.deps import ConversationsDep, UserIdDep
from app.api.routing import ApiRoute
from app.api.schemas import ConversationOut, ConversationPage, ConversationRename, ThreadId, error_responses
from app.errors import ConversationNotFound, InvalidField
from app.storage.conversations import PageCursor

router = APIRouter(prefix="/conversations", tags=["conversations"], route_class=ApiRoute)


@router.get("", response_model=ConversationPage, summary="List conversations", responses=error_responses(400, 422, 503))
async def list_conversations(
    store: ConversationsDep,
    user_id: UserIdDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200, description="`next_cursor` of the previous page")] = None,
) -> ConversationPage:
    """The user's conversations, newest first; pass `next_cursor` back as `cursor` for the next page."""
    after = None
    if cursor:
        try:
            after = PageCursor.decode(cursor)
        except ValueError as exc:
            raise InvalidField("cursor", "not a cursor from this service") from exc
    items = await store.list_conversations(user_id, limit=limit + 1, after=after)
    page, has_more = items[:limit], len(items) > limit
    return ConversationPage(
        data=[ConversationOut.model_validate(c) for c in page],
        has_more=has_more,
        next_cursor=PageCursor.after(page[-1]).encode() if has_more else None,
    )


@router.get(
    "/{thread_id}",
    response_model=ConversationOut,
    summary="Read a conversation",
    responses=error_responses(404, 422, 503),
)
async def read_conversation(thread_id: ThreadId, store: ConversationsDep, user_id: UserIdDep) -> ConversationOut:
    """One conversation of the user, by its thread id."""
    conversation = await store.get_conversation(user_id, thread_id)
    if conversation is None:
        raise ConversationNotFound(thread_id)
    return ConversationOut.model_validate(conversation)


@router.patch(
    "/{thread_id}",
    response_model=ConversationOut,
    summary="Rename a conversation",
    responses=error_responses(404, 422, 503),
)
async def rename_conversation(
    thread_id: ThreadId, body: ConversationRename, store: ConversationsDep, user_id: UserIdDep
) -> ConversationOut:
    """Set the conversation's `name`."""
    conversation = await store.rename_conversation(user_id, thread_id, body.name)
    if conversation is None:
        raise ConversationNotFound(thread_id)
    return ConversationOut.model_validate(conversation)


@router.delete(
    "/{thread_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a conversation",
    responses=error_responses(404, 422, 503),
)
async def delete_conversation(thread_id: ThreadId, store: ConversationsDep, user_id: UserIdDep) -> Response:
    """Remove the conversation from the user's history (the thread itself is left as it is)."""
    if not await store.delete_conversation(user_id, thread_id):
        raise ConversationNotFound(thread_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
