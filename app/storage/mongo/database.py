"""The MongoDB side of the stores: the one client of a process, records as documents with camelCase field
names (like the Next.js app's), and pymongo's errors raised as `StorageUnavailable` at the store boundary."""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, ParamSpec, TypeVar

from bson.errors import InvalidDocument
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, ReturnDocument
from pymongo.errors import (
    ConnectionFailure,
    DocumentTooLarge,
    DuplicateKeyError,
    OperationFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
)

from app.config import Settings
from app.errors import DuplicateStoredKey, StorageUnavailable, UnsupportedDatabase
from app.storage.records import MAX_RECORD_BYTES, build, record_fields, refuse_unstorable

T = TypeVar("T")
P = ParamSpec("P")
R = TypeVar("R")
C = TypeVar("C", bound=type)

logger = logging.getLogger(__name__)

# The oldest MongoDB served: 5.0 stores field names with '.' or '$' (metadata keys) as they are.
MINIMUM_VERSION = (5, 0)

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
        await check_server_version(client)
        yield client[settings.database_name]
    finally:
        await client.close()


async def check_server_version(client: Any) -> None:
    """Refuse a server older than MINIMUM_VERSION, by its buildInfo (one command at start-up)."""
    try:
        info = await client.admin.command("buildInfo")
    except PyMongoError as exc:
        raise StorageUnavailable() from exc
    version = str(info.get("version", "?"))
    numbers = tuple(int(part) for part in info.get("versionArray", [])[:2])
    if numbers < MINIMUM_VERSION:
        raise UnsupportedDatabase(version, ".".join(map(str, MINIMUM_VERSION)))
    logger.info("MongoDB %s (the oldest supported: %s)", version, ".".join(map(str, MINIMUM_VERSION)))


async def create_unique_index(collection: Any, keys: list[tuple[str, int]], name: str) -> None:
    """A unique index; on data that already breaks it (the Next.js app's, written without it), DuplicateStoredKey
    naming a duplicated key, rather than the database being "unavailable"."""
    try:
        await collection.create_index(keys, unique=True, name=name)
    except DuplicateKeyError as exc:
        duplicate = (exc.details or {}).get("keyValue") or "a duplicated key"
        raise DuplicateStoredKey(collection.name, name, duplicate) from exc


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


async def once_more_if_reply_lost(write: Callable[P, Awaitable[R]], *args: P.args, **kwargs: P.kwargs) -> R:
    """Run `write`; if its connection broke after it was sent (the write may have been applied and its reply lost),
    run it once more. A replica set's driver already retries a write so (retryable writes); a standalone server
    has no such retries. Only for writes that carry the caller's marker, so that the second attempt recognises a
    first one that was applied (a thread claim: the run id; a key reservation: its `attempt`)."""
    try:
        return await write(*args, **kwargs)
    except ServerSelectionTimeoutError:
        raise  # no server was reached: nothing was sent
    except ConnectionFailure:
        return await write(*args, **kwargs)


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


# The server's codes for a document that an update would make too large (BSONObjectTooLarge and kin).
_TOO_LARGE_CODES = frozenset({10334, 17419, 17420})
# A store method's argument named so holds the record field named so; `changes` holds record fields by name.
_ARGUMENT_FIELDS = {"resources": "tool_resources"}


def _refuse_unstorable(method: Callable[..., Any], exc: Exception, args: Any, kwargs: Any) -> None:
    """The UnstorableValue the stores agree on for what BSON refused (a NUL in a key, a document over 16 MiB),
    naming the field from the method's arguments; other encoding errors are bugs and stay as they are."""
    bound = inspect.signature(method).bind(*args, **kwargs).arguments
    values: dict[str, Any] = {}
    for name, value in list(bound.items())[1:]:  # not `self`
        values.update(value if name == "changes" else {_ARGUMENT_FIELDS.get(name, name): value})
    too_large = isinstance(exc, DocumentTooLarge) or getattr(exc, "code", None) in _TOO_LARGE_CODES
    refuse_unstorable(values, MAX_RECORD_BYTES + 1 if too_large else 0)


def _translated(method: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    @functools.wraps(method)
    async def call(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await method(*args, **kwargs)
        except PyMongoError as exc:
            if isinstance(exc, OperationFailure) and exc.code in _TOO_LARGE_CODES:
                _refuse_unstorable(method, exc, args, kwargs)
            raise StorageUnavailable() from exc
        except InvalidDocument as exc:
            _refuse_unstorable(method, exc, args, kwargs)
            raise

    return call


def storage_errors_translated(cls: C) -> C:
    """Class decorator: every public coroutine method raises StorageUnavailable for a pymongo error, and
    UnstorableValue for a value BSON cannot hold (`app.storage.records.refuse_unstorable`)."""
    for name, member in list(vars(cls).items()):
        if not name.startswith("_") and inspect.iscoroutinefunction(member):
            setattr(cls, name, _translated(member))
    return cls
