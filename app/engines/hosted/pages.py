"""Assistants-style cursor pages over a few records held in memory (a run's messages, runs, steps)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal, TypeVar

from pydantic import BaseModel, Field

from app.errors import InvalidRequest
from app.storage.threads import MessageRecord, RunRecord, RunStepRecord

MAX_PAGE = 100


class PageQuery(BaseModel):
    limit: int = Field(default=20, ge=1, le=MAX_PAGE)
    order: Literal["asc", "desc"] = "desc"
    after: str | None = None
    before: str | None = None


R = TypeVar("R", MessageRecord, RunRecord, RunStepRecord)


def page_in_memory(
    oldest_first: Sequence[R], query: PageQuery, unknown_cursor: Callable[[str], str]
) -> tuple[list[R], bool]:
    """The page between the cursors in `order`, and whether there are more (`before` alone: the page right
    before it). A cursor that is not among the records is an InvalidRequest saying `unknown_cursor(id)`."""
    after, before = query.after, query.before
    items = list(oldest_first) if query.order == "asc" else list(reversed(oldest_first))
    ids = [item.id for item in items]
    for name, cursor in (("after", after), ("before", before)):
        if cursor is not None and cursor not in ids:
            raise InvalidRequest(f"{name}: {unknown_cursor(cursor)}", field=name)
    window = items[
        ids.index(after) + 1 if after is not None else 0 : ids.index(before) if before is not None else len(items)
    ]
    page = window[-query.limit :] if before is not None and after is None else window[: query.limit]
    return page, len(window) > len(page)
