"""New ids, and how the stored records become the API's objects."""

from __future__ import annotations

import secrets
import string
from datetime import datetime
from typing import Any

_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str) -> str:
    """An id shaped like OpenAI's: `thread_` / `msg_` / `run_` and 24 letters or digits (about 143 bits).

    One read of the OS's randomness per id, not one per character (`secrets.choice` costs ten times more).
    """
    number = int.from_bytes(secrets.token_bytes(24))  # 192 bits: every character (nearly) uniform
    chars = []
    for _ in range(24):
        number, digit = divmod(number, 62)
        chars.append(_ALPHABET[digit])
    return prefix + "".join(chars)


def epoch(moment: datetime | None) -> int | None:
    return int(moment.timestamp()) if moment is not None else None


def text_content(text: str, annotations: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    return [{"type": "text", "text": {"value": text, "annotations": [dict(a) for a in annotations or []]}}]


def list_object(data: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    ends = {"first_id": data[0]["id"], "last_id": data[-1]["id"]} if data else {"first_id": None, "last_id": None}
    return {"object": "list", "data": data, **ends, "has_more": has_more}


def tool_object(tool: str | dict[str, Any]) -> dict[str, Any]:
    """A tool as OpenAI reports it, its defaults filled in: a function's `strict` (false), and file_search's
    `ranking_options` (the `auto` ranker, threshold 0.0) beside the settings given (`max_num_results`)."""
    kind = tool if isinstance(tool, str) else tool["type"]
    if kind == "function":
        assert isinstance(tool, dict)
        function = tool["function"]
        return {"type": kind, "function": function if "strict" in function else {**function, "strict": False}}
    if kind == "file_search":
        given = None if isinstance(tool, str) else tool.get("file_search")
        if not given:  # the usual case, written out: this runs for each run event
            return {"type": kind, "file_search": {"ranking_options": {"ranker": "auto", "score_threshold": 0.0}}}
        ranking = {"ranker": "auto", "score_threshold": 0.0, **(given.get("ranking_options") or {})}
        return {"type": kind, "file_search": {**given, "ranking_options": ranking}}
    return {"type": kind} if isinstance(tool, str) else dict(tool)
