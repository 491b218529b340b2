"""`/v1/threads/{thread_id}/messages`: create, list (`limit`, `order`, `after`, `before`, `run_id`), retrieve,
update (metadata), delete."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from app.api.deps import IdempotencyKeyHeader, UserIdDep
from app.api.routes.v1.common import ApiDep, Limit, MessageCreate, Metadata, Order, message_object, page
from app.api.routes.v1.idempotent import answered_once
from app.api.routing import V1Route
from app.services.assistants_api import AssistantsApi
from app.storage.threads import MessageRecord

router = APIRouter(prefix="/threads/{thread_id}/messages", route_class=V1Route)


async def _objects(api: AssistantsApi, thread_id: str, messages: list[MessageRecord]) -> list[dict[str, Any]]:
    """The messages, each assistant message with the assistant of the run that wrote it."""
    assistants: dict[str, str | None] = {}
    data = []
    for message in messages:
        if message.run_id is not None and message.run_id not in assistants:
            run = await api.engine.store.get_run(message.run_id)
            assistants[message.run_id] = run.assistant_id if run is not None else None
        data.append(message_object(message, assistants.get(message.run_id or "")))
    return data


@router.post("")
async def create_message(
    request: Request,
    thread_id: str,
    body: MessageCreate,
    api: ApiDep,
    user_id: UserIdDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Any:
    async def create() -> dict[str, Any]:
        return message_object(await api.add_message(user_id, thread_id, body.new_message()))

    return await answered_once(request, user_id, idempotency_key, body, create)


@router.get("")
async def list_messages(
    thread_id: str,
    api: ApiDep,
    user_id: UserIdDep,
    limit: Limit = 20,
    order: Order = "desc",
    after: str | None = None,
    before: str | None = None,
    run_id: str | None = None,
) -> Any:
    await api.thread(user_id, thread_id)
    found, has_more = await api.engine.message_records(
        thread_id, limit=limit, order=order, after=after, before=before, run_id=run_id
    )
    return page(await _objects(api, thread_id, found), has_more)


@router.get("/{message_id}")
async def retrieve_message(thread_id: str, message_id: str, api: ApiDep, user_id: UserIdDep) -> Any:
    await api.thread(user_id, thread_id)
    message = await api.engine.get_message(thread_id, message_id)
    return (await _objects(api, thread_id, [message]))[0]


@router.post("/{message_id}")
async def update_message(thread_id: str, message_id: str, body: Metadata, api: ApiDep, user_id: UserIdDep) -> Any:
    if "metadata" not in body.model_fields_set:
        await api.thread(user_id, thread_id)
        message = await api.engine.get_message(thread_id, message_id)
    else:
        message = await api.set_message_metadata(user_id, thread_id, message_id, dict(body.metadata or {}))
    return (await _objects(api, thread_id, [message]))[0]


@router.delete("/{message_id}")
async def delete_message(thread_id: str, message_id: str, api: ApiDep, user_id: UserIdDep) -> Any:
    await api.delete_message(user_id, thread_id, message_id)
    return {"id": message_id, "object": "thread.message.deleted", "deleted": True}
