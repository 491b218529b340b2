"""The engine interface the routes talk to, and the engine-neutral types it returns.

Two engines implement it: `assistants` (threads and runs live upstream in the OpenAI
Assistants API) and `hosted` (threads and runs live in our MongoDB; a run is one model
call). Both return the same types, so a client cannot tell them apart.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from app.engines.hosted.engine import HostedEngine

TERMINAL_RUN_STATUSES = frozenset({"completed", "failed", "cancelled", "expired", "requires_action", "incomplete"})
TERMINAL_RUN_EVENTS = frozenset(f"thread.run.{status}" for status in TERMINAL_RUN_STATUSES)


@dataclass(frozen=True)
class RunRef:
    run_id: str
    thread_id: str
    status: str


@dataclass(frozen=True)
class StreamEvent:
    """One Assistants stream event, e.g. `thread.message.delta`, with its object in upstream shape; `data` never
    holds keys whose value was not set: openai-node's AssistantStream breaks on them (docs/wire-formats.md 1b)."""

    event: str
    data: dict[str, Any]


@dataclass(frozen=True)
class ToolOutput:
    """An answer to one function call of a run that requires action."""

    tool_call_id: str
    output: str


MessageOrder = Literal["asc", "desc"]
RunStatus = Literal[
    "queued",
    "in_progress",
    "requires_action",
    "cancelling",
    "cancelled",
    "failed",
    "completed",
    "incomplete",
    "expired",
]


class RunError(BaseModel):
    code: str
    message: str


class RunState(BaseModel):
    """A run's state, as the Assistants API reports it; `reply` holds the answer once completed."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "run_abc123",
                    "thread_id": "thread_abc123",
                    "status": "completed",
                    "created_at": 1764000000,
                    "started_at": 1764000001,
                    "completed_at": 1764000003,
                    "cancelled_at": None,
                    "failed_at": None,
                    "expires_at": None,
                    "last_error": None,
                    "model": "gpt-4o-mini",
                    "assistant_id": "asst_default",
                    "tools": [{"type": "file_search"}],
                    "usage": {"prompt_tokens": 40, "completion_tokens": 12, "total_tokens": 52},
                    "reply": "Hello! How can I help?",
                }
            ]
        }
    )

    id: str
    thread_id: str
    status: RunStatus
    created_at: int
    started_at: int | None = None
    completed_at: int | None = None
    cancelled_at: int | None = None
    failed_at: int | None = None
    expires_at: int | None = None
    last_error: RunError | None = None
    model: str | None = None
    assistant_id: str | None = Field(default=None, description="The assistant the run uses.")
    tools: list[dict[str, Any]] = Field(default_factory=list, description="The assistant's tools, as on the run.")
    usage: dict[str, int] | None = None
    reply: str | None = Field(default=None, description="The assistant's reply text, once the run completed.")


class ThreadMessage(BaseModel):
    """A message of a thread: `text` is the plain text, `content` the parts in Assistants shape."""

    id: str
    thread_id: str
    role: Literal["user", "assistant"]
    created_at: int
    run_id: str | None = None
    text: str
    content: list[dict[str, Any]]


class MessagePage(BaseModel):
    """A page of messages; pass `last_id` as `after` for the next page."""

    data: list[ThreadMessage]
    first_id: str | None
    last_id: str | None
    has_more: bool

    @classmethod
    def of(cls, data: list[ThreadMessage], has_more: bool) -> MessagePage:
        first, last = (data[0].id, data[-1].id) if data else (None, None)
        return cls(data=data, first_id=first, last_id=last, has_more=has_more)


class AssistantEngine(Protocol):
    """Threads and runs, wherever they live; methods raise domain errors from `app.errors`."""

    name: str

    def hosted(self) -> HostedEngine:
        """The hosted engine (for the routes only it serves: /v1, run steps); else HostedEngineRequired."""

    async def create_thread(self) -> str:
        """Create an empty thread (vector store attached when configured); return its id."""

    async def start_run(self, thread_id: str, content: str, marker: str | None = None) -> RunRef:
        """Post the user's message and start a run, at most once (`marker`: the same for a request's retries)."""

    async def find_run(self, thread_id: str, marker: str) -> RunRef | None:
        """The run a request with this marker started, if an engine can tell (None otherwise)."""

    async def stream_run(
        self, thread_id: str, content: str, marker: str | None = None
    ) -> AsyncGenerator[StreamEvent, None]:
        """Start a streamed run: errors before the run exists raise here; then its events up to a terminal one."""

    async def submit_tool_outputs(
        self, thread_id: str, run_id: str, outputs: list[ToolOutput]
    ) -> AsyncGenerator[StreamEvent, None]:
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
