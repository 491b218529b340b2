"""Assistants-style cursor pages (`limit`, `order`, `after`, `before`), read from storage on an index.

Every list (messages, a run's messages, runs, run steps, assistants) pages the same way: the cursors' ids
are turned into their sort keys, and the store reads the `limit + 1` records between them in order, so a
page costs the same whatever the list's length.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, Field

MAX_PAGE = 100

K = TypeVar("K")
R = TypeVar("R")


class PageQuery(BaseModel):
    limit: int = Field(default=20, ge=1, le=MAX_PAGE)
    order: Literal["asc", "desc"] = "desc"
    after: str | None = None
    before: str | None = None


@dataclass(frozen=True)
class KeyRange(Generic[K]):
    """What a store reads: up to `limit` records with low < key < high, sorted by key (`ascending` or not)."""

    low: K | None
    high: K | None
    ascending: bool
    limit: int


async def keyset_page(
    query: PageQuery,
    key_of: Callable[[str, str], Awaitable[K]],
    read: Callable[[KeyRange[K]], Awaitable[list[R]]],
) -> tuple[list[R], bool]:
    """The page between the cursors in `order`, and whether there are more (`before` alone: the page right
    before it). `key_of(name, id)` is a cursor's sort key (or raises naming the parameter); `read` reads a range.
    """
    ascending = query.order == "asc"
    after = await key_of("after", query.after) if query.after is not None else None
    before = await key_of("before", query.before) if query.before is not None else None
    # Keys grow with time: "after" in descending order means older, i.e. smaller.
    low, high = (after, before) if ascending else (before, after)
    # With only `before`, the page is the one right before the cursor: read towards it, then flip.
    backwards = query.before is not None and query.after is None
    found = await read(KeyRange(low, high, ascending != backwards, query.limit + 1))
    page = found[: query.limit]
    if backwards:
        page.reverse()
    return page, len(found) > query.limit
