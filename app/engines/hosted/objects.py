"""New ids, and how the stored records become the API's objects."""

from __future__ import annotations

import secrets
import string
from datetime import datetime
from typing import Any

from app.engines.base import MessagePage, RunError, RunState, ThreadMessage
from app.storage.threads import MessageRecord, RunRecord, is_active

_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str) -> str:
    """An id shaped like OpenAI's: `thread_` / `msg_` / `run_` and 24 letters or digits."""
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(24))


def epoch(moment: datetime | None) -> int | None:
    return int(moment.timestamp()) if moment is not None else None


def run_state(run: RunRecord) -> RunState:
    """The API view of a run (same fields as the Assistants API's run object)."""
    return RunState(
        id=run.id,
        thread_id=run.thread_id,
        status=run.status,
        created_at=int(run.created_at.timestamp()),
        started_at=epoch(run.started_at),
        completed_at=epoch(run.completed_at),
        cancelled_at=epoch(run.cancelled_at),
        failed_at=epoch(run.failed_at),
        expires_at=epoch(run.expires_at) if is_active(run.status) else None,
        last_error=RunError(**run.last_error) if run.last_error else None,
        model=run.model,
        assistant_id=run.assistant_id,
        tools=[dict(tool) if isinstance(tool, dict) else {"type": tool} for tool in run.tools],
        usage=run.usage,
        reply=run.reply if run.status == "completed" else None,
    )


def text_content(text: str, annotations: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    return [{"type": "text", "text": {"value": text, "annotations": [dict(a) for a in annotations or []]}}]


def thread_message(message: MessageRecord) -> ThreadMessage:
    return ThreadMessage(
        id=message.id,
        thread_id=message.thread_id,
        role=message.role,
        created_at=int(message.created_at.timestamp()),
        run_id=message.run_id,
        text=message.text,
        content=text_content(message.text, message.annotations),
    )


def message_page(messages: list[MessageRecord], has_more: bool) -> MessagePage:
    data = [thread_message(message) for message in messages]
    return MessagePage(
        data=data, first_id=data[0].id if data else None, last_id=data[-1].id if data else None, has_more=has_more
    )


def list_object(data: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    """An Assistants list page: `{"object": "list", "data", "first_id", "last_id", "has_more"}`."""
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": has_more,
    }
