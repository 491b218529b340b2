"""`/v1/threads/{thread_id}/runs/{run_id}/steps`: list and retrieve a run's steps."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from app.api.deps import UserIdDep
from app.api.routes.v1.common import ApiDep, PageDep
from app.api.routing import V1Route
from app.engines.hosted.events import step_object
from app.engines.hosted.objects import list_object

router = APIRouter(prefix="/threads/{thread_id}/runs/{run_id}/steps", route_class=V1Route)


@router.get("")
async def list_run_steps(thread_id: str, run_id: str, api: ApiDep, user_id: UserIdDep, query: PageDep) -> Any:
    await api.check(user_id, thread_id)
    steps, has_more = await api.hosted.steps.page(thread_id, run_id, query)
    return list_object([step_object(step) for step in steps], has_more)


@router.get("/{step_id}")
async def retrieve_run_step(thread_id: str, run_id: str, step_id: str, api: ApiDep, user_id: UserIdDep) -> Any:
    await api.check(user_id, thread_id)
    return step_object(await api.hosted.steps.get(thread_id, run_id, step_id))
