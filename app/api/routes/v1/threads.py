"""`/v1/threads`: create (with first `messages`, `metadata`, `tool_resources`), retrieve, update, delete."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from app.api.deps import IdempotencyKeyHeader, UserIdDep
from app.api.routes.v1.common import ApiDep, Metadata, ThreadCreate, ThreadResources, thread_object
from app.api.routes.v1.idempotent import answered_once
from app.api.routing import V1Route

router = APIRouter(prefix="/threads", route_class=V1Route)


class ThreadUpdate(Metadata):
    tool_resources: ThreadResources | None = None


@router.post("")
async def create_thread(
    request: Request,
    api: ApiDep,
    user_id: UserIdDep,
    body: ThreadCreate | None = None,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Any:
    given = body or ThreadCreate()

    async def create() -> dict[str, Any]:
        thread, _ = await api.create_thread(
            user_id,
            metadata=given.metadata,
            messages=[message.new_message() for message in given.messages],
            tool_resources=given.tool_resources.stored() if given.tool_resources else None,
        )
        return thread_object(thread)

    return await answered_once(request, user_id, idempotency_key, given, create)


@router.get("/{thread_id}")
async def retrieve_thread(thread_id: str, api: ApiDep, user_id: UserIdDep) -> Any:
    return thread_object(await api.thread(user_id, thread_id))


@router.post("/{thread_id}")
async def update_thread(thread_id: str, body: ThreadUpdate, api: ApiDep, user_id: UserIdDep) -> Any:
    given = body.model_fields_set
    resources = body.tool_resources.stored() if body.tool_resources else {}
    await api.check(user_id, thread_id)
    await api.objects.check_resources(user_id, resources)
    thread = await api.hosted.threads.update(
        thread_id,
        metadata=dict(body.metadata or {}) if "metadata" in given else None,
        tool_resources=resources if "tool_resources" in given else None,
    )
    return thread_object(thread)


@router.delete("/{thread_id}")
async def delete_thread(thread_id: str, api: ApiDep, user_id: UserIdDep) -> Any:
    await api.delete_thread(user_id, thread_id)
    return {"id": thread_id, "object": "thread.deleted", "deleted": True}
