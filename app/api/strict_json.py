"""JSON bodies as JSON is written: UTF-8, no NaN or Infinity, no lone UTF-16 surrogates (a 4xx naming where).

Python's parser, which FastAPI uses, takes all of these (`NaN`, `"\\ud800"`, UTF-16 bodies), but none
can be stored (SQLite and MongoDB keep UTF-8) nor sent on (a model request is strict JSON): let
through, they would fail later, as a 500 or a failed run. pydantic-core's parser refuses them all
(`allow_inf_nan=False`), and nesting deeper than its limit. Only when it refuses a body that Python's
parser reads is the body walked, to name the field that holds the lone surrogate.

A body nests at most MAX_JSON_DEPTH levels (a function's schema, metadata, anything): deeper ones are refused
naming the field, before they are stored, since reading them back (or sending them to a model) would fail.
"""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import Request
from pydantic_core import from_json

from app.errors import InvalidField

RULE = "JSON bodies must be UTF-8, without NaN, Infinity or lone UTF-16 surrogates"
MAX_JSON_DEPTH = 32
_NAMED_SEGMENTS = 4  # how much of a too-deep value's path names its field: `tools[0].function.parameters`
_SURROGATE = re.compile("[\ud800-\udfff]")


def _surrogate_place(value: Any, where: str) -> str | None:
    """The field of the first lone surrogate in the parsed value (the object's own name for a key), or None."""
    if isinstance(value, str):
        return (where or "body") if _SURROGATE.search(value) else None
    if isinstance(value, dict):
        if any(_SURROGATE.search(key) for key in value):
            return where or "body"
        items = [(f"{where}.{key}" if where else key, item) for key, item in value.items()]
    elif isinstance(value, list):
        items = [(f"{where}[{index}]", item) for index, item in enumerate(value)]
    else:
        return None
    return next((found for place, item in items if (found := _surrogate_place(item, place))), None)


def _refusal(body: bytes, problem: ValueError) -> InvalidField:
    """The 4xx for a body pydantic-core refused, naming the field where Python's parser can find it."""
    try:
        parsed = json.loads(body)
    except RecursionError:  # json's parser recurses once per level of nesting: too deep to name a field
        return InvalidField("body", "JSON nested too deeply")
    except ValueError:
        parsed = None
    if (path := _too_deep(parsed)) is not None:
        return _nested_too_deeply(path)
    return InvalidField(_surrogate_place(parsed, "") or "body", f"{problem} ({RULE})")


async def strict_json_body(request: Request) -> None:
    """Refuse a JSON body pydantic-core's strict parser refuses (other bodies pass)."""
    if request.method in ("GET", "HEAD", "DELETE", "OPTIONS"):
        return
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media and media != "application/json" and not media.endswith("+json"):
        return  # FastAPI reads as JSON what is declared JSON, and what is declared nothing
    body = await request.body()  # read once: the route's own parsing reuses it
    if not body:
        return
    try:
        parsed = from_json(body, allow_inf_nan=False)
    except ValueError as exc:
        raise _refusal(body, exc) from None
    if (path := _too_deep(parsed)) is not None:
        raise _nested_too_deeply(path)


def _too_deep(value: Any) -> list[str | int] | None:
    """The path to the first object or array nested deeper than MAX_JSON_DEPTH levels, or None."""
    stack: list[tuple[Any, list[str | int]]] = [(value, [])]
    while stack:
        item, path = stack.pop()
        if isinstance(item, dict):
            children: Any = item.items()
        elif isinstance(item, list):
            children = enumerate(item)
        else:
            continue
        if len(path) >= MAX_JSON_DEPTH:
            return path
        stack.extend((child, [*path, key]) for key, child in children if isinstance(child, dict | list))
    return None


def _nested_too_deeply(path: list[str | int]) -> InvalidField:
    name = ""
    for part in path[:_NAMED_SEGMENTS]:
        name += f"[{part}]" if isinstance(part, int) else f".{part}" if name else str(part)
    return InvalidField(name or "body", f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
