"""Stored assistants (ENGINE=hosted), shaped like the Assistants API's `/assistants` routes.

Each caller sees only their own assistants (another user's is a 404 like an unknown one). With
ENGINE=assistants the assistants live upstream: these routes answer 400 `hosted_engine_required`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from app.api.deps import AssistantsDep, UserIdDep
from app.api.routing import ApiRoute
from app.api.schemas import AssistantDeleted, AssistantList, AssistantObject, error_responses
from app.services.assistants import ASSISTANT_ID_PATTERN, AssistantCreate, AssistantUpdate

router = APIRouter(prefix="/assistants", tags=["assistants"], route_class=ApiRoute)

AssistantId = Annotated[str, Path(pattern=ASSISTANT_ID_PATTERN, examples=["asst_abc123"])]
Cursor = Annotated[str | None, Query(pattern=ASSISTANT_ID_PATTERN, description="An assistant id of the last page")]

_RULES = (
    " Rules (422 naming the field): at most 128 `tools`, each `code_interpreter`, `file_search` or "
    "`function`; a function needs a `name` of 1-64 `a-zA-Z0-9_-`, and `parameters`, when given, must be a "
    'JSON schema object (`{"type": "object", ...}`); `metadata` has at most 16 keys. `tool_resources.'
    "file_search.vector_store_ids` names the vector store file_search searches (at most one)."
)


@router.post(
    "",
    response_model=AssistantObject,
    summary="Create an assistant",
    responses=error_responses(400, 415, 422, 503),
    description="Store an assistant owned by the caller (the Assistants API's create body)." + _RULES,
)
async def create_assistant(body: AssistantCreate, assistants: AssistantsDep, user_id: UserIdDep) -> AssistantObject:
    return AssistantObject.of(await assistants.create(user_id, body))


@router.get(
    "",
    response_model=AssistantList,
    summary="List assistants",
    responses=error_responses(400, 422, 503),
)
async def list_assistants(
    assistants: AssistantsDep,
    user_id: UserIdDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    order: Literal["asc", "desc"] = "desc",
    after: Cursor = None,
    before: Cursor = None,
) -> AssistantList:
    """The caller's assistants, newest first (`order=asc`: oldest first), `limit` per page."""
    page = await assistants.list(user_id, limit=limit, order=order, after=after, before=before)
    return AssistantList(
        data=[AssistantObject.of(a) for a in page.data],
        first_id=page.first_id,
        last_id=page.last_id,
        has_more=page.has_more,
    )


@router.get(
    "/{assistant_id}",
    response_model=AssistantObject,
    summary="Read an assistant",
    responses=error_responses(400, 404, 422, 503),
)
async def read_assistant(assistant_id: AssistantId, assistants: AssistantsDep, user_id: UserIdDep) -> AssistantObject:
    """One of the caller's assistants."""
    return AssistantObject.of(await assistants.get(user_id, assistant_id))


@router.post(
    "/{assistant_id}",
    response_model=AssistantObject,
    summary="Update an assistant",
    responses=error_responses(400, 404, 415, 422, 503),
    description="Change the fields given (`tools` and `metadata` are replaced whole); the others keep their "
    "value. Runs started afterwards use the new values." + _RULES,
)
async def update_assistant(
    assistant_id: AssistantId, body: AssistantUpdate, assistants: AssistantsDep, user_id: UserIdDep
) -> AssistantObject:
    return AssistantObject.of(await assistants.update(user_id, assistant_id, body))


@router.delete(
    "/{assistant_id}",
    response_model=AssistantDeleted,
    summary="Delete an assistant",
    responses=error_responses(400, 404, 409, 422, 503),
)
async def delete_assistant(
    assistant_id: AssistantId, assistants: AssistantsDep, user_id: UserIdDep
) -> AssistantDeleted:
    """Remove one of the caller's assistants; the one runs use (409 `assistant_in_use`) stays."""
    await assistants.delete(user_id, assistant_id)
    return AssistantDeleted(id=assistant_id)
