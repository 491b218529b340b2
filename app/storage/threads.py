"""The hosted engine's threads, messages and runs: the stored records and the store protocol.

Implemented on MongoDB and on SQLite. Every method that changes a run or a thread's active run
is conditional, and atomic on its own: the engine composes them into the one-active-run rule
without transactions.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from app.storage.records import IndexedStore

RunKey = tuple[datetime, str]  # (created_at, id): the order runs are listed in

# A thread is busy while one of its runs has one of these statuses.
ACTIVE_RUN_STATUSES = frozenset({"queued", "in_progress", "requires_action", "cancelling"})
# Active runs a process works on (and renews the lease of); a `requires_action` run waits for
# tool outputs with no process: its lease is its `expires_at`.
RUNNING_RUN_STATUSES = ACTIVE_RUN_STATUSES - {"requires_action"}


def is_active(status: str) -> bool:
    return status in ACTIVE_RUN_STATUSES


@dataclass(frozen=True)
class ThreadRecord:
    """A thread. `active_run_id` is the run holding it: one active run per thread.

    `claim_expires_at` counts only until the holder's run is stored (the process may die right after
    claiming); then the run's own lease counts. `message_count` hands out message positions (`seq`).
    """

    id: str
    created_at: datetime
    active_run_id: str | None = None
    claim_expires_at: datetime | None = None
    message_count: int = 0
    # Set through the OpenAI-compatible API (/v1): at most 16 string pairs; None: none.
    metadata: dict[str, str] | None = None
    # The Assistants API's `tool_resources` (file_search's vector_store_ids, code_interpreter's file_ids),
    # searched and offered besides the assistant's; None: none.
    tool_resources: dict[str, Any] | None = None


@dataclass(frozen=True)
class MessageRecord:
    id: str
    thread_id: str
    seq: int
    role: str
    text: str
    created_at: datetime
    run_id: str | None = None
    # The text's annotations, in the Assistants API's shape (`file_citation`: `text`, `start_index`,
    # `end_index`, `file_citation: {"file_id"}`); None: none.
    annotations: list[dict[str, Any]] | None = None
    # Set through the OpenAI-compatible API (/v1); None: none.
    metadata: dict[str, str] | None = None
    # Files attached with the tools they were added to: `[{"file_id", "tools": [{"type"}]}]`; None: none.
    attachments: list[dict[str, Any]] | None = None
    # The request that posted it, when it came with an Idempotency-Key (`api/deps.py:request_marker`): a retry
    # of a request whose first attempt never answered finds it by this; None: none.
    marker: str | None = None


@dataclass(frozen=True)
class RunRecord:
    """A run: one model call over the thread's last messages, executed in the background."""

    id: str
    thread_id: str
    status: str
    created_at: datetime
    model: str
    instructions: str
    # Tool type names (`file_search`) or tool objects (`{"type": "function", "function": {...}}`).
    tools: tuple[str | dict[str, Any], ...]
    max_completion_tokens: int
    truncation_last_messages: int
    lease_expires_at: datetime | None
    expires_at: datetime | None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    cancelled_at: datetime | None = None
    failed_at: datetime | None = None
    last_error: dict[str, str] | None = None
    # An `incomplete` run's `{"reason"}` (max_completion_tokens, max_prompt_tokens); None: not incomplete.
    incomplete_details: dict[str, str] | None = None
    usage: dict[str, int] | None = None
    reply: str | None = None
    reply_message_id: str | None = None
    # The assistant the run uses (its model, instructions and tools were copied onto the run).
    assistant_id: str | None = None
    # While `requires_action`: the calls awaiting outputs (`{"id", "type", "function": {"name", "arguments"}}`).
    required_tool_calls: list[dict[str, Any]] | None = None
    # Answered rounds of calls, in order: `{"calls": [...], "outputs": [{"tool_call_id", "output"}]}`.
    tool_rounds: list[dict[str, Any]] | None = None
    # The prompt's token budget (estimated; None: a run stored before there was one, see history.py).
    max_prompt_tokens: int | None = None
    # The vector stores its file_search searches (its assistant's at the start); None (older runs): the configured.
    vector_store_ids: list[str] | None = None
    # Set through the OpenAI-compatible API (/v1); None: none.
    metadata: dict[str, str] | None = None
    # The files its code_interpreter starts with (its assistant's and thread's `tool_resources`); None: none.
    code_file_ids: list[str] | None = None
    # Sampling and shaping, in the Assistants API's shapes (run_options.py); None: the model's default
    # (`tool_choice` "auto", `response_format` "auto", `parallel_tool_calls` true).
    temperature: float | None = None
    top_p: float | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    response_format: str | dict[str, Any] | None = None
    # "auto" (the service's TRUNCATION_LAST_MESSAGES) or None: "last_messages", `truncation_last_messages`.
    truncation_type: str | None = None
    # Whether its objects show `instructions`: a user's own assistant's run; never the operator's (the default).
    instructions_shown: bool = False
    # The request that started it, when it came with an Idempotency-Key (as on its message); None: none.
    marker: str | None = None


@dataclass(frozen=True)
class RunStepRecord:
    """A run's step (ordered by `seq`): `message_creation` (a reply) or `tool_calls` (one batch of calls)."""

    id: str
    thread_id: str
    run_id: str
    seq: int
    type: str
    status: str
    created_at: datetime
    details: dict[str, Any]  # the Assistants `step_details` object
    completed_at: datetime | None = None
    assistant_id: str | None = None  # its run's assistant (None: a step stored before steps recorded it)
    # The tokens of the model call the step ended (shown once it is completed); None: the server counted none.
    usage: dict[str, int] | None = None


@dataclass(frozen=True)
class ClaimResult:
    """A claim's outcome: the thread after the claim when `granted`, else as it is (None: no such thread)."""

    granted: bool
    thread: ThreadRecord | None


class ThreadStore(IndexedStore, Protocol):
    async def create_thread(self, thread: ThreadRecord) -> None: ...

    async def get_thread(self, thread_id: str) -> ThreadRecord | None: ...

    async def set_thread_metadata(self, thread_id: str, metadata: dict[str, str]) -> ThreadRecord | None:
        """Replace the thread's metadata; the updated thread, or None if there is no such thread."""

    async def set_thread_tool_resources(self, thread_id: str, resources: dict[str, Any]) -> ThreadRecord | None:
        """Replace the thread's tool_resources; the updated thread, or None if there is no such thread."""

    async def swap_thread_tool_resources(
        self, thread_id: str, resources: dict[str, Any], *, expected: dict[str, Any] | None
    ) -> bool:
        """Atomically: replace the thread's tool_resources if they still equal `expected` (None: unset)."""

    async def delete_thread(self, thread_id: str) -> bool:
        """Delete the thread with its messages, runs and run steps; False if there was no such thread."""

    async def claim_active_run(
        self, thread_id: str, run_id: str, *, holder: str | None, claim_expires_at: datetime
    ) -> ClaimResult:
        """Atomically: if the thread's active run is `holder` (None: none), make it `run_id` and count
        one more message (the user's, at position `message_count`)."""

    async def release_active_run(self, thread_id: str, run_id: str) -> bool:
        """Clear the thread's active run if it is still `run_id`."""

    async def next_message_seq(self, thread_id: str, run_id: str) -> int | None:
        """The next message position, if `run_id` still holds the thread; else None."""

    async def insert_message(self, message: MessageRecord) -> None: ...

    async def get_message(self, message_id: str) -> MessageRecord | None: ...

    async def set_message_metadata(self, message_id: str, metadata: dict[str, str]) -> MessageRecord | None:
        """Replace the message's metadata; the updated message, or None if there is no such message."""

    async def delete_message(self, message_id: str) -> bool:
        """Delete the message; False if there was no such message."""

    async def messages_page(
        self,
        thread_id: str,
        *,
        seq_after: int | None,
        seq_before: int | None,
        ascending: bool,
        limit: int,
        run_id: str | None = None,
    ) -> list[MessageRecord]:
        """Up to `limit` messages with seq_after < seq < seq_before, sorted by position (an index scan);
        `run_id`: only the messages that run wrote (another index)."""

    async def marked_message(self, thread_id: str, marker: str) -> MessageRecord | None:
        """The thread's message stored with this request marker (an index lookup)."""

    async def insert_run(self, run: RunRecord) -> None: ...

    async def get_run(self, run_id: str) -> RunRecord | None: ...

    async def runs_page(
        self, thread_id: str, *, key_after: RunKey | None, key_before: RunKey | None, ascending: bool, limit: int
    ) -> list[RunRecord]:
        """Up to `limit` of the thread's runs with key_after < (created_at, id) < key_before, sorted by it (an index
        scan)."""

    async def set_run_metadata(self, run_id: str, metadata: dict[str, str]) -> RunRecord | None:
        """Replace the run's metadata, whatever its status (nothing else changes); the updated run, or None."""

    async def update_active_run(
        self, run_id: str, changes: dict[str, Any], *, lapsed_before: datetime | None = None, status: str | None = None
    ) -> RunRecord | None:
        """Apply `changes` (RunRecord field names) if the run is active (with `lapsed_before`: its lease
        ended before then; with `status`: it has that status); the updated run, or None."""

    async def renew_leases(self, run_ids: Collection[str], lease_expires_at: datetime) -> set[str]:
        """Extend the leases of those runs that are still running (RUNNING_RUN_STATUSES); return their ids."""

    async def lapsed_runs(self, now: datetime, limit: int) -> list[RunRecord]:
        """Active runs whose lease ended before `now` (their process died or stalled)."""

    async def save_run_step(self, step: RunStepRecord) -> None:
        """Insert the step, or replace the stored step with the same id."""

    async def run_steps(self, run_id: str) -> list[RunStepRecord]:
        """The run's steps, by position (a run has a handful)."""

    async def get_run_step(self, step_id: str) -> RunStepRecord | None: ...

    async def steps_page(
        self, run_id: str, *, seq_after: int | None, seq_before: int | None, ascending: bool, limit: int
    ) -> list[RunStepRecord]:
        """Up to `limit` of the run's steps with seq_after < seq < seq_before, sorted by position (an index scan)."""
