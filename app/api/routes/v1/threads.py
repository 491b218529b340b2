"""`/v1/threads`: create (with first `messages` and `metadata`), retrieve, update (metadata), delete."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import Field

from app.api.deps import UserIdDep
from app.api.routes.v1.common import ApiDep, MessageCreate, Metadata, thread_object

router = APIRouter(prefix="/threads")


class ThreadCreate(Metadata):
    messages: list[MessageCreate] = Field(default_factory=list, max_length=32)
    tool_resources: dict[str, Any] | None = Field(default=None, description="Accepted and ignored.")


@router.post("")
async def create_thread(api: ApiDep, user_id: UserIdDep, body: ThreadCreate | None = None) -> Any:
    body = body or ThreadCreate()
    thread = await api.create_thread(
        user_id, metadata=body.metadata, messages=[message.new_message() for message in body.messages]
    )
    return thread_object(thread)


@router.get("/{thread_id}")
async def retrieve_thread(thread_id: str, api: ApiDep, user_id: UserIdDep) -> Any:
    return thread_object(await api.thread(user_id, thread_id))


@router.post("/{thread_id}")
async def update_thread(thread_id: str, body: ThreadCreate, api: ApiDep, user_id: UserIdDep) -> Any:
    if "metadata" not in body.model_fields_set:
        return thread_object(await api.thread(user_id, thread_id))
    return thread_object(await api.set_thread_metadata(user_id, thread_id, dict(body.metadata or {})))


@router.delete("/{thread_id}")
async def delete_thread(thread_id: str, api: ApiDep, user_id: UserIdDep) -> Any:
    await api.delete_thread(user_id, thread_id)
    return {"id": thread_id, "object": "thread.deleted", "deleted": True}
