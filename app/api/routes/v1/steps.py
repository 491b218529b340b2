"""`/v1/threads/{thread_id}/runs/{run_id}/steps`: list and retrieve a run's steps."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from app.api.deps import UserIdDep
from app.api.routes.v1.common import ApiDep, Limit, Order
from app.api.routing import V1Route
from app.engines.hosted.events import step_object

router = APIRouter(prefix="/threads/{thread_id}/runs/{run_id}/steps", route_class=V1Route)


@router.get("")
async def list_run_steps(
    thread_id: str,
    run_id: str,
    api: ApiDep,
    user_id: UserIdDep,
    limit: Limit = 20,
    order: Order = "desc",
    after: str | None = None,
    before: str | None = None,
) -> Any:
    await api.thread(user_id, thread_id)
    return await api.engine.list_run_steps(thread_id, run_id, limit=limit, order=order, after=after, before=before)


@router.get("/{step_id}")
async def retrieve_run_step(thread_id: str, run_id: str, step_id: str, api: ApiDep, user_id: UserIdDep) -> Any:
    await api.thread(user_id, thread_id)
    return step_object(await api.engine.run_step_record(thread_id, run_id, step_id))
