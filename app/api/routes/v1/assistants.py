"""`/v1/assistants`: the caller's stored assistants (create, list, retrieve, update, delete)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from app.api.deps import AssistantsDep, IdempotencyKeyHeader, UserIdDep
from app.api.routes.v1.common import PageDep
from app.api.routes.v1.idempotent import answered_once
from app.api.routing import V1Route
from app.engines.hosted.objects import epoch, list_object
from app.services.assistants import AssistantCreate, AssistantUpdate
from app.storage.assistants import AssistantRecord

router = APIRouter(prefix="/assistants", route_class=V1Route)


def _object(record: AssistantRecord) -> dict[str, Any]:
    """A stored assistant, as the Assistants API shows one."""
    return {
        "id": record.id,
        "object": "assistant",
        "created_at": epoch(record.created_at),
        "name": record.name,
        "description": record.description,
        "model": record.model,
        "instructions": record.instructions,
        "tools": [dict(tool) for tool in record.tools],
        "tool_resources": dict(record.tool_resources),
        "metadata": dict(record.metadata),
        "response_format": record.response_format or "auto",
        "temperature": record.temperature,
        "top_p": record.top_p,
    }


@router.post("")
async def create_assistant(
    request: Request,
    body: AssistantCreate,
    assistants: AssistantsDep,
    user_id: UserIdDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Any:
    async def create() -> dict[str, Any]:
        return _object(await assistants.create(user_id, body))

    return await answered_once(request, user_id, idempotency_key, body, create)


@router.get("")
async def list_assistants(assistants: AssistantsDep, user_id: UserIdDep, query: PageDep) -> Any:
    found = await assistants.list(user_id, **query.model_dump())
    return list_object([_object(record) for record in found.data], found.has_more)


@router.get("/{assistant_id}")
async def retrieve_assistant(assistant_id: str, assistants: AssistantsDep, user_id: UserIdDep) -> Any:
    return _object(await assistants.get(user_id, assistant_id))


@router.post("/{assistant_id}")
async def update_assistant(
    assistant_id: str, body: AssistantUpdate, assistants: AssistantsDep, user_id: UserIdDep
) -> Any:
    return _object(await assistants.update(user_id, assistant_id, body))


@router.delete("/{assistant_id}")
async def delete_assistant(assistant_id: str, assistants: AssistantsDep, user_id: UserIdDep) -> Any:
    await assistants.delete(user_id, assistant_id)
    return {"id": assistant_id, "object": "assistant.deleted", "deleted": True}
