"""Records as MongoDB documents: camelCase field names, like the Next.js app's; keyset pages."""

from __future__ import annotations

from typing import Any, TypeVar

from pymongo import ASCENDING, DESCENDING

from app.storage.records import build, record_fields

T = TypeVar("T")
# A record's id is the document's `_id`; an assistant's owner is its `userId`, like a conversation's user.
_RENAMED = {"id": "_id", "owner": "userId"}
_NAMES: dict[str, str] = {}


def doc_name(field: str) -> str:
    """The document field that holds a record field."""
    if field not in _NAMES:
        head, *rest = field.split("_")
        _NAMES[field] = _RENAMED.get(field, head + "".join(part.title() for part in rest))
    return _NAMES[field]


def to_doc(record: Any) -> dict[str, Any]:
    values = ((field.name, getattr(record, field.name)) for field in record_fields(type(record)))
    return {doc_name(name): list(value) if isinstance(value, tuple) else value for name, value in values}


def from_doc(cls: type[T], doc: dict[str, Any] | None) -> T | None:
    """The record a `to_doc` made (None for no document); fields it lacks take their defaults."""
    if not doc:
        return None
    return build(cls, {f.name: doc[doc_name(f.name)] for f in record_fields(cls) if doc_name(f.name) in doc})


def from_docs(cls: type[T], docs: list[dict[str, Any]]) -> list[T]:
    return [record for doc in docs if (record := from_doc(cls, doc)) is not None]


async def keyset_page(
    collection: Any,
    query: dict[str, Any],
    keys: tuple[str, str],
    *,
    after: tuple[Any, Any] | None,
    before: tuple[Any, Any] | None,
    ascending: bool,
    limit: int,
) -> list[dict[str, Any]]:
    """Up to `limit` documents of `query` with after < (keys) < before, sorted by `keys` (a compound index)."""
    conditions = [query]
    for bound, operator in ((after, "$gt"), (before, "$lt")):
        if bound is not None:
            (first, second), (value, tiebreak) = keys, bound
            conditions.append({"$or": [{first: {operator: value}}, {first: value, second: {operator: tiebreak}}]})
    direction = ASCENDING if ascending else DESCENDING
    cursor = collection.find({"$and": conditions}).sort([(key, direction) for key in keys])
    docs: list[dict[str, Any]] = await cursor.limit(limit).to_list(None)
    return docs
