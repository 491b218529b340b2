"""The MongoDB side of the stores: the one client of a process, records as documents with camelCase field
names (like the Next.js app's), and pymongo's errors raised as `StorageUnavailable` at the store boundary."""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, ParamSpec, TypeVar

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, ReturnDocument
from pymongo.errors import PyMongoError

from app.config import Settings
from app.errors import StorageUnavailable
from app.storage.records import build, record_fields

T = TypeVar("T")
P = ParamSpec("P")
R = TypeVar("R")
C = TypeVar("C", bound=type)

# Enough pooled connections for 1,000 requests in flight: each holds one only for a single operation.
MAX_POOL_SIZE = 200


@asynccontextmanager
async def open_database(settings: Settings) -> AsyncGenerator[Any, None]:
    """Connect to MONGODB_URI and yield the database the settings name; close on exit."""
    assert settings.mongodb_uri is not None
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        settings.mongodb_uri.get_secret_value(),
        tz_aware=True,
        maxPoolSize=MAX_POOL_SIZE,
        serverSelectionTimeoutMS=5000,
        appname="chat-backend",
    )
    try:
        yield client[settings.database_name]
    finally:
        await client.close()


# A record's id is the document's `_id`; an assistant's owner is its `userId`, like a conversation's user.
_RENAMED = {"id": "_id", "owner": "userId"}


@functools.cache
def doc_name(field: str) -> str:
    """The document field that holds a record field."""
    head, *rest = field.split("_")
    return _RENAMED.get(field, head + "".join(part.title() for part in rest))


def to_doc(record: Any) -> dict[str, Any]:
    values = ((field.name, getattr(record, field.name)) for field in record_fields(type(record)))
    return {doc_name(name): list(value) if isinstance(value, tuple) else value for name, value in values}


def from_doc(cls: type[T], doc: dict[str, Any] | None) -> T | None:
    """The record a `to_doc` made (None for no document); fields it lacks take their defaults."""
    if not doc:
        return None
    return build(cls, {f.name: doc[doc_name(f.name)] for f in record_fields(cls) if doc_name(f.name) in doc})


async def updated(collection: Any, cls: type[T], query: dict[str, Any], update: dict[str, Any]) -> T | None:
    """Apply `update` to the document `query` finds: the record afterwards, or None when none matched."""
    return from_doc(cls, await collection.find_one_and_update(query, update, return_document=ReturnDocument.AFTER))


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


def _translated(method: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    @functools.wraps(method)
    async def call(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await method(*args, **kwargs)
        except PyMongoError as exc:
            raise StorageUnavailable() from exc

    return call


def storage_errors_translated(cls: C) -> C:
    """Class decorator: every public coroutine method raises StorageUnavailable for a pymongo error."""
    for name, member in list(vars(cls).items()):
        if not name.startswith("_") and inspect.iscoroutinefunction(member):
            setattr(cls, name, _translated(member))
    return cls
