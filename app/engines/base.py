"""The engine interface the routes talk to, and the engine-neutral types it returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class RunRef:
    """A run that was started on a thread."""

    run_id: str
    thread_id: str
    status: str


class AssistantEngine(Protocol):
    """Threads and runs, wherever they live (upstream Assistants API, or our MongoDB)."""

    name: str

    async def start_run(self, thread_id: str, content: str) -> RunRef:
        """Post the user's message to the thread and start a run; return at once.

        Raises ThreadNotFound, RunAlreadyActive, ChatNotConfigured or an upstream error.
        """

    async def check_setup(self) -> None:
        """Look at the upstream configuration once at start-up and log what is wrong."""

    async def aclose(self) -> None:
        """Stop background work the engine owns."""
