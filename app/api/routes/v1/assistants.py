"""`/v1/assistants`: the caller's stored assistants (create, list, retrieve, update, delete)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from app.api.deps import AssistantsDep, IdempotencyKeyHeader, UpstreamObjectsDep, UserIdDep
from app.api.routes.v1.common import AssistantCreateBody, PageDep
from app.api.routes.v1.idempotent import answered_once
from app.api.routing import V1Route
from app.engines.hosted.objects import epoch, list_object, tool_object
from app.services.assistants import AssistantService, AssistantUpdate, ToolResources
from app.services.upstream_objects import UpstreamObjects
from app.storage.assistants import AssistantRecord

router = APIRouter(prefix="/assistants", route_class=V1Route)


def _object(record: AssistantRecord, assistants: AssistantService) -> dict[str, Any]:
    """A stored assistant, as the Assistants API shows one: the operator's without their instructions."""
    return {
        "id": record.id,
        "object": "assistant",
        "created_at": epoch(record.created_at),
        "name": record.name,
        "description": record.description,
        "model": record.model,
        "instructions": "" if record.id in assistants.operator_ids else record.instructions,
        "tools": [tool_object(tool) for tool in record.tools],
        "tool_resources": dict(record.tool_resources),
        "metadata": dict(record.metadata),
        "response_format": record.response_format or "auto",
        # Unset: OpenAI's defaults, as it reports them.
        "temperature": 1.0 if record.temperature is None else record.temperature,
        "top_p": 1.0 if record.top_p is None else record.top_p,
    }


async def _created(
    request: Request, user_id: str, body: AssistantCreateBody, assistants: AssistantService, objects: UpstreamObjects
) -> AssistantRecord:
    """The caller's assistant: its `tool_resources` name their own files and stores only (400 naming the field),
    and a `file_search.vector_stores` request becomes a store of theirs, made upstream as OpenAI makes it."""
    resources = body.tool_resources.model_dump(exclude_none=True) if body.tool_resources else None
    await objects.check_resources(user_id, resources)
    if not (resources or {}).get("file_search", {}).get("vector_stores"):
        return await assistants.create(user_id, body)
    files = request.app.state.engine.hosted().files
    made_resources, made = await files.made_resources(
        resources, user_id, name="assistant files", expires_after_days=None
    )
    try:
        fields = body.model_copy(update={"tool_resources": ToolResources.model_validate(made_resources)})
        return await assistants.create(user_id, fields)
    except BaseException:
        await files.delete_stores(made)
        raise


@router.post("")
async def create_assistant(
    request: Request,
    body: AssistantCreateBody,
    assistants: AssistantsDep,
    objects: UpstreamObjectsDep,
    user_id: UserIdDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Any:
    async def create() -> dict[str, Any]:
        return _object(await _created(request, user_id, body, assistants, objects), assistants)

    return await answered_once(request, user_id, idempotency_key, body, create)


@router.get("")
async def list_assistants(assistants: AssistantsDep, user_id: UserIdDep, query: PageDep) -> Any:
    found = await assistants.list(user_id, **query.model_dump())
    return list_object([_object(record, assistants) for record in found.data], found.has_more)


@router.get("/{assistant_id}")
async def retrieve_assistant(assistant_id: str, assistants: AssistantsDep, user_id: UserIdDep) -> Any:
    return _object(await assistants.get(user_id, assistant_id), assistants)


@router.post("/{assistant_id}")
async def update_assistant(
    assistant_id: str, body: AssistantUpdate, assistants: AssistantsDep, objects: UpstreamObjectsDep, user_id: UserIdDep
) -> Any:
    resources = body.tool_resources.model_dump(exclude_none=True) if body.tool_resources else None
    await objects.check_resources(user_id, resources)
    return _object(await assistants.update(user_id, assistant_id, body), assistants)


@router.delete("/{assistant_id}")
async def delete_assistant(assistant_id: str, assistants: AssistantsDep, user_id: UserIdDep) -> Any:
    await assistants.delete(user_id, assistant_id)
    return {"id": assistant_id, "object": "assistant.deleted", "deleted": True}
