"""JSON bodies as JSON is written: UTF-8, no NaN or Infinity, no lone UTF-16 surrogates (400 naming where).

Python's parser takes both (`NaN`, `"\\ud800"`), but neither can be stored (SQLite and MongoDB keep
UTF-8) nor sent on (a model request is strict JSON): let through, they would fail later, as a 500 or
a failed run. The check costs a byte search per body; a body is parsed again only when the search
finds a candidate (a `\\uD8..`-`\\uDF..` escape, `NaN` or `Infinity`), e.g. an emoji written as an
escaped surrogate pair, which is fine.
"""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import Request

from app.errors import InvalidField

_CANDIDATE = re.compile(rb"\\[uU][dD][89a-fA-F]|NaN|Infinity")
_SURROGATE = re.compile("[\ud800-\udfff]")


class _NotJson(ValueError):
    pass


def _no_constant(name: str) -> Any:
    raise _NotJson(f"{name} is not a JSON number")


def _first_problem(value: Any, where: str) -> tuple[str, str] | None:
    """(field, problem) of the first lone surrogate in the parsed value, or None."""
    if isinstance(value, str):
        return (
            (where or "body", "contains a lone UTF-16 surrogate (not valid Unicode)")
            if _SURROGATE.search(value)
            else None
        )
    items: list[tuple[str, Any]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if _SURROGATE.search(key):
                return (where or "body", "a key contains a lone UTF-16 surrogate (not valid Unicode)")
            items.append((f"{where}.{key}" if where else key, item))
    elif isinstance(value, list):
        items = [(f"{where}[{index}]", item) for index, item in enumerate(value)]
    for place, item in items:
        found = _first_problem(item, place)
        if found is not None:
            return found
    return None


def _check_utf8(body: bytes) -> None:
    """Only UTF-8 (the parser would also take UTF-16 and UTF-32, and surrogates encoded in UTF-8)."""
    if b"\x00" in body:
        raise InvalidField("body", "JSON bodies must be UTF-8 (this one has NUL bytes: UTF-16 or UTF-32?)")
    if not body.isascii():
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidField("body", f"not valid UTF-8 (at byte {exc.start})") from None


async def strict_json_body(request: Request) -> None:
    """Every route: refuse a JSON body with NaN, Infinity or a lone surrogate (other bodies pass)."""
    if request.method in ("GET", "HEAD", "DELETE", "OPTIONS"):
        return
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media and media != "application/json" and not media.endswith("+json"):
        return  # FastAPI reads as JSON what is declared JSON, and what is declared nothing
    body = await request.body()  # read once: the route's own parsing reuses it
    _check_utf8(body)
    if not _CANDIDATE.search(body):
        return
    try:
        parsed = json.loads(body, parse_constant=_no_constant)
    except _NotJson as exc:
        raise InvalidField("body", str(exc)) from None
    except ValueError:
        return  # not JSON at all: the route answers that
    found = _first_problem(parsed, "")
    if found is not None:
        raise InvalidField(*found)
