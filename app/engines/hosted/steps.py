"""A hosted run's steps as records (`message_creation`, `tool_calls`): list and read."""

from __future__ import annotations

from dataclasses import replace

from app.engines.hosted.pages import PageQuery, page_in_memory
from app.engines.hosted.runs import Runs
from app.errors import NotFound
from app.storage.threads import RunStepRecord, ThreadStore


class Steps:
    def __init__(self, store: ThreadStore, runs: Runs) -> None:
        self._store = store
        self._runs = runs

    async def page(self, thread_id: str, run_id: str, query: PageQuery) -> tuple[list[RunStepRecord], bool]:
        return page_in_memory(
            await self._settled(thread_id, run_id), query, lambda cursor: f"no step '{cursor}' on run {run_id}."
        )

    async def get(self, thread_id: str, run_id: str, step_id: str) -> RunStepRecord:
        for step in await self._settled(thread_id, run_id):
            if step.id == step_id:
                return step
        raise NotFound(f"No run step found with id '{step_id}'.")

    async def _settled(self, thread_id: str, run_id: str) -> list[RunStepRecord]:
        """The run's steps; one left in progress (a tool_calls step waiting for outputs) ends as its run did."""
        run = await self._runs.get(thread_id, run_id)
        ended = run.status in ("cancelled", "expired", "failed")
        steps = await self._store.run_steps(run_id)
        return [replace(step, status=run.status) if ended and step.status == "in_progress" else step for step in steps]
