"""Requests as the Next.js quickstart's frontend (chat.tsx) sends them."""

from __future__ import annotations

import json
from typing import Any


async def post_text_plain(client: Any, thread_id: str, content: str) -> Any:
    """POST a message the way chat.tsx does."""
    # The browser's fetch with a string body and no headers: text/plain;charset=UTF-8.
    return await client.post(
        f"/api/assistants/threads/{thread_id}/messages",
        content=json.dumps({"content": content}).encode(),
        headers={"content-type": "text/plain;charset=UTF-8"},
    )
