"""What the hosted engine stores (threads, messages, runs), and how records become API schemas."""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.api.schemas import RunError, RunState, ThreadMessage
from app.engines.base import ACTIVE_RUN_STATUSES

_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str) -> str:
    """An id shaped like OpenAI's: `thread_` / `msg_` / `run_` and 24 letters or digits."""
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(24))


def epoch(moment: datetime | None) -> int | None:
    return int(moment.timestamp()) if moment is not None else None


def is_active(status: str) -> bool:
    return status in ACTIVE_RUN_STATUSES


@dataclass(frozen=True)
class ThreadRecord:
    """A thread. `active_run_id` is the run holding it: one active run per thread.

    `claim_expires_at` only matters while the holder's run document does not exist yet (or
    never will, if the process died right after claiming); after that the run's own lease counts.
    `message_count` hands out message positions (`seq`) in the thread.
    """

    id: str
    created_at: datetime
    active_run_id: str | None = None
    claim_expires_at: datetime | None = None
    message_count: int = 0


@dataclass(frozen=True)
class MessageRecord:
    id: str
    thread_id: str
    seq: int
    role: str
    text: str
    created_at: datetime
    run_id: str | None = None


@dataclass(frozen=True)
class RunRecord:
    """A run: one model call over the thread's last messages, executed in the background."""

    id: str
    thread_id: str
    status: str
    created_at: datetime
    model: str
    instructions: str
    tools: tuple[str, ...]
    max_completion_tokens: int
    truncation_last_messages: int
    lease_expires_at: datetime | None
    expires_at: datetime | None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    cancelled_at: datetime | None = None
    failed_at: datetime | None = None
    last_error: dict[str, str] | None = None
    usage: dict[str, int] | None = None
    reply: str | None = None
    reply_message_id: str | None = None


@dataclass(frozen=True)
class ClaimResult:
    """The outcome of trying to make a run the thread's active run.

    `thread` is the thread after the claim when `granted`, else as it is now (None: no such thread).
    """

    granted: bool
    thread: ThreadRecord | None


def run_state(run: RunRecord) -> RunState:
    """The API view of a run (same fields as the Assistants API's run object)."""
    return RunState(
        id=run.id,
        thread_id=run.thread_id,
        status=run.status,  # type: ignore[arg-type]
        created_at=int(run.created_at.timestamp()),
        started_at=epoch(run.started_at),
        completed_at=epoch(run.completed_at),
        cancelled_at=epoch(run.cancelled_at),
        failed_at=epoch(run.failed_at),
        expires_at=epoch(run.expires_at) if is_active(run.status) else None,
        last_error=RunError(**run.last_error) if run.last_error else None,
        model=run.model,
        usage=run.usage,
        reply=run.reply if run.status == "completed" else None,
    )


def text_content(text: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": {"value": text, "annotations": []}}]


def thread_message(message: MessageRecord) -> ThreadMessage:
    return ThreadMessage(
        id=message.id,
        thread_id=message.thread_id,
        role=message.role,  # type: ignore[arg-type]
        created_at=int(message.created_at.timestamp()),
        run_id=message.run_id,
        text=message.text,
        content=text_content(message.text),
    )
