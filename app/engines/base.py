"""The engine interface the routes talk to, and the engine-neutral types it returns.

Two engines implement it: `assistants` (threads and runs live upstream in the OpenAI
Assistants API) and `hosted` (threads and runs live in our MongoDB; a run is one model
call). Both return the same types, so a client cannot tell them apart.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from app.api.schemas import MessagePage, RunState

ACTIVE_RUN_STATUSES = frozenset({"queued", "in_progress", "requires_action", "cancelling"})
TERMINAL_RUN_EVENTS = frozenset(
    {
        "thread.run.completed",
        "thread.run.failed",
        "thread.run.cancelled",
        "thread.run.expired",
        "thread.run.requires_action",
        "thread.run.incomplete",
    }
)


@dataclass(frozen=True)
class RunRef:
    """A run that was started on a thread."""

    run_id: str
    thread_id: str
    status: str


@dataclass(frozen=True)
class StreamEvent:
    """One Assistants stream event, e.g. `thread.message.delta`, with its object in upstream shape.

    `data` never holds keys whose value was not set (no `"annotations": null`): openai-node's
    AssistantStream breaks on them (WIRE-FORMATS section 1b, rule 2).
    """

    event: str
    data: dict[str, Any]


@dataclass(frozen=True)
class ToolOutput:
    """An answer to one function call of a run that requires action."""

    tool_call_id: str
    output: str


MessageOrder = Literal["asc", "desc"]


class AssistantEngine(Protocol):
    """Threads and runs, wherever they live (upstream Assistants API, or our MongoDB).

    Every method raises domain errors from `app.errors` (ThreadNotFound, RunNotFound,
    RunAlreadyActive, ChatNotConfigured) or upstream errors the error handlers map.
    """

    name: str

    async def create_thread(self) -> str:
        """Create an empty thread (vector store attached when configured); return its id."""

    async def start_run(self, thread_id: str, content: str) -> RunRef:
        """Post the user's message to the thread and start a run; return at once."""

    async def stream_run(self, thread_id: str, content: str) -> AsyncIterator[StreamEvent]:
        """Post the message and start a streamed run.

        Errors that happen before the run exists (unknown thread, active run, upstream down)
        are raised by this await. The returned iterator yields the run's Assistants events and
        ends after a terminal run event (completed, failed, cancelled, expired, requires_action).
        """

    async def submit_tool_outputs(
        self, thread_id: str, run_id: str, outputs: list[ToolOutput]
    ) -> AsyncIterator[StreamEvent]:
        """Answer a run's function calls and stream the continued run (same rules as stream_run)."""

    async def get_run(self, thread_id: str, run_id: str) -> RunState:
        """The run's status; once completed, with the reply text."""

    async def cancel_run(self, thread_id: str, run_id: str) -> RunState:
        """Ask the run to stop; returns its state (cancelling or cancelled)."""

    async def list_messages(
        self,
        thread_id: str,
        *,
        limit: int = 20,
        order: MessageOrder = "desc",
        after: str | None = None,
        before: str | None = None,
    ) -> MessagePage:
        """A page of the thread's messages (cursor ids as in the Assistants API)."""

    async def check_setup(self) -> None:
        """Look at the upstream configuration once at start-up and log what is wrong."""

    async def aclose(self) -> None:
        """Stop background work the engine owns."""
