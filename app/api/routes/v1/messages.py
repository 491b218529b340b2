"""`/v1/threads/{thread_id}/messages`: create, list (paged, by `run_id`), retrieve, update (metadata), delete."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from app.api.deps import IdempotencyKeyHeader, UserIdDep, request_marker
from app.api.routes.v1.common import ApiDep, MessageCreate, Metadata, PageDep, message_object
from app.api.routes.v1.idempotent import answered_once
from app.api.routing import V1Route
from app.engines.hosted.objects import list_object
from app.services.assistants_api import AssistantsApi
from app.storage.threads import MessageRecord

router = APIRouter(prefix="/threads/{thread_id}/messages", route_class=V1Route)


async def _objects(api: AssistantsApi, messages: list[MessageRecord]) -> list[dict[str, Any]]:
    """The messages, each assistant message with the assistant of the run that wrote it."""
    assistants = await api.hosted.messages.assistant_ids(messages)
    return [message_object(message, assistants.get(message.run_id or "")) for message in messages]


@router.post("")
async def create_message(
    request: Request,
    thread_id: str,
    body: MessageCreate,
    api: ApiDep,
    user_id: UserIdDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Any:
    marker = request_marker(user_id, idempotency_key)

    async def create() -> dict[str, Any]:
        return message_object(await api.add_message(user_id, thread_id, body.new_message(), marker))

    async def find_created() -> dict[str, Any] | None:
        assert marker is not None  # a key's
        found = await api.find_message(user_id, thread_id, marker)
        return message_object(found) if found is not None else None

    return await answered_once(request, user_id, idempotency_key, body, create, find_created)


@router.get("")
async def list_messages(
    thread_id: str, api: ApiDep, user_id: UserIdDep, query: PageDep, run_id: str | None = None
) -> Any:
    await api.check(user_id, thread_id)
    found, has_more = await api.hosted.messages.page(thread_id, query, run_id=run_id)
    return list_object(await _objects(api, found), has_more)


@router.get("/{message_id}")
async def retrieve_message(thread_id: str, message_id: str, api: ApiDep, user_id: UserIdDep) -> Any:
    await api.check(user_id, thread_id)
    return (await _objects(api, [await api.hosted.messages.get(thread_id, message_id)]))[0]


@router.post("/{message_id}")
async def update_message(thread_id: str, message_id: str, body: Metadata, api: ApiDep, user_id: UserIdDep) -> Any:
    await api.check(user_id, thread_id)
    if "metadata" not in body.model_fields_set:
        message = await api.hosted.messages.get(thread_id, message_id)
    else:
        message = await api.hosted.messages.update(thread_id, message_id, dict(body.metadata or {}))
    return (await _objects(api, [message]))[0]


@router.delete("/{message_id}")
async def delete_message(thread_id: str, message_id: str, api: ApiDep, user_id: UserIdDep) -> Any:
    await api.check(user_id, thread_id)
    await api.hosted.messages.delete(thread_id, message_id)
    return {"id": message_id, "object": "thread.message.deleted", "deleted": True}
