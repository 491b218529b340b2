"""Assistants-style cursor pages over a few records held in memory (a run's messages, runs, steps)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal, Protocol, TypeVar

from app.errors import InvalidRequest

MAX_PAGE = 100


class _Identified(Protocol):
    @property
    def id(self) -> str: ...


R = TypeVar("R", bound=_Identified)


def page_in_memory(
    oldest_first: Sequence[R],
    *,
    order: Literal["asc", "desc"],
    after: str | None,
    before: str | None,
    limit: int,
    unknown_cursor: Callable[[str], str],
) -> tuple[list[R], bool]:
    """The page between the cursors in `order`, and whether there are more (`before` alone: the page right
    before it). A cursor that is not among the records is an InvalidRequest saying `unknown_cursor(id)`."""
    items = list(oldest_first) if order == "asc" else list(reversed(oldest_first))
    ids = [item.id for item in items]
    for name, cursor in (("after", after), ("before", before)):
        if cursor is not None and cursor not in ids:
            raise InvalidRequest(f"{name}: {unknown_cursor(cursor)}", field=name)
    window = items[
        ids.index(after) + 1 if after is not None else 0 : ids.index(before) if before is not None else len(items)
    ]
    limit = max(1, min(limit, MAX_PAGE))
    page = window[-limit:] if before is not None and after is None else window[:limit]
    return page, len(window) > len(page)
