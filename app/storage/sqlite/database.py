"""The embedded store's SQLite file: opened once per process, schema created on first start.

WAL journal with `synchronous=NORMAL`: a committed write is in the journal file, so it survives the
process being killed (`kill -9`); several processes may share the file (SQLite locks it). Statements
run on the event loop's thread: each is a few microseconds of local I/O, cheaper than a hop to a
worker thread.

Group commit: the writes made in one turn of the event loop share one transaction, committed when the
turn ends (`loop.call_soon`). A store's write method awaits that commit before it returns (`committed`),
so nothing is answered before it is durable, and many concurrent requests pay for one commit, not one
each. A `transaction()` inside the group is a savepoint: its statements land together or not at all.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Coroutine, Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from app.errors import StorageUnavailable
from app.storage.records import build, record_fields, refuse_unstorable_text
from app.storage.sqlite.schema import create_schema

logger = logging.getLogger(__name__)
T = TypeVar("T")
P = ParamSpec("P")

DATABASE_FILE = "chat-backend.sqlite3"
BUSY_TIMEOUT_MS = 5000


def to_ms(moment: datetime | None) -> int | None:
    """A datetime as UTC epoch milliseconds (the storage's precision: `app.clock.utc_now`)."""
    return round(moment.timestamp() * 1000) if moment is not None else None


def from_ms(millis: int) -> datetime:
    """Epoch milliseconds back to an aware UTC datetime."""
    return datetime.fromtimestamp(millis / 1000, UTC)


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def to_json(value: Any, field: str) -> str:
    """A JSON column's text; UnstorableValue (naming `field`) for what MongoDB would refuse."""
    text = _dumps(value)
    refuse_unstorable_text({field: value}, (text,))
    return text


def column_names(cls: type) -> str:
    """A record's table has one column per field, named like it, in the same order."""
    return ", ".join(field.name for field in record_fields(cls))


def to_row(record: Any) -> tuple[Any, ...]:
    """The record's column values: datetimes as epoch milliseconds, dicts and lists as JSON."""
    values = (getattr(record, field.name) for field in record_fields(type(record)))
    row = tuple(_dumps(v) if isinstance(v, dict | list) else to_ms(v) if isinstance(v, datetime) else v for v in values)
    refuse_unstorable_text({"record": record}, row)
    return row


_DECODERS: dict[str, Callable[[Any], Any]] = {"time": from_ms, "json": json.loads, "bool": bool}


def from_row(cls: type[T], row: tuple[Any, ...]) -> T:
    decoders = (_DECODERS.get(field.kind) for field in record_fields(cls))
    return cls(*(dec(v) if dec is not None and v is not None else v for dec, v in zip(decoders, row, strict=True)))


def to_doc(record: Any, *columns: str) -> str:
    """The record's fields but `columns`, as the JSON text of a `doc` column (datetimes as epoch milliseconds)."""
    values = {field.name: getattr(record, field.name) for field in record_fields(type(record))}
    text = _dumps({k: to_ms(v) if isinstance(v, datetime) else v for k, v in values.items() if k not in columns})
    refuse_unstorable_text({"record": record}, (text,))
    return text


def from_doc(cls: type[T], doc: str, **columns: Any) -> T:
    """The record a `to_doc` made, with the `columns` it left out."""
    values = json.loads(doc)
    for field in record_fields(cls):
        if field.kind == "time" and values.get(field.name) is not None:
            values[field.name] = from_ms(values[field.name])
    return build(cls, {**values, **columns})


class SqliteDatabase:
    """One connection to the file; `transaction()` for the writes that must be atomic across processes."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._group: asyncio.Future[None] | None = None  # this turn's group transaction: its commit
        self.group_commits = 0  # group transactions committed (how many commits the writes cost)
        self.group_loop: asyncio.AbstractEventLoop | None = None  # the loop of the open group's turn
        with _translated():
            self._connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            self._connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            if path != ":memory:":
                self._connection.execute("PRAGMA journal_mode = WAL")
            self._connection.execute("PRAGMA synchronous = NORMAL")
            create_schema(self._connection)
        except sqlite3.Error as exc:
            self._connection.close()
            raise StorageUnavailable() from exc

    @classmethod
    def in_directory(cls, data_dir: str) -> SqliteDatabase:
        """The database file in `data_dir` (relative to the working directory), both created when missing."""
        directory = Path(data_dir).resolve()
        directory.mkdir(parents=True, exist_ok=True)
        return cls(str(directory / DATABASE_FILE))

    def close(self) -> None:
        if self._group is not None:
            self.commit_group()
        self._connection.close()

    def execute(self, sql: str, parameters: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        self._join_group(sql)
        with self._statement():
            return self._connection.execute(sql, parameters)

    def one(self, sql: str, parameters: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
        """The first row. The cursor is closed at once: a statement with more rows (an `UPDATE ...
        RETURNING` among them) would otherwise stay active, and keep its transaction open, until collected."""
        self._join_group(sql)
        with self._statement(), closing(self._connection.execute(sql, parameters)) as cursor:
            row: tuple[Any, ...] | None = cursor.fetchone()
        return row

    def all(self, sql: str, parameters: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        self._join_group(sql)
        with self._statement():
            rows: list[tuple[Any, ...]] = self._connection.execute(sql, parameters).fetchall()
        return rows

    def page(
        self,
        select: str,
        parameters: tuple[Any, ...],
        key: str,
        *,
        after: tuple[Any, ...] | None,
        before: tuple[Any, ...] | None,
        ascending: bool,
        limit: int,
    ) -> list[tuple[Any, ...]]:
        """Up to `limit` rows of `select` with after < (key) < before, sorted by `key` (columns, comma-separated).

        A row value, so the index seeks straight to the bound (with an OR, later pages would cost more).
        """
        sql, values = select, [*parameters]
        for bound, operator in ((after, ">"), (before, "<")):
            if bound is not None:
                sql += f" AND ({key}) {operator} ({', '.join('?' * len(bound))})"
                values += bound
        order = "ASC" if ascending else "DESC"
        sql += " ORDER BY " + ", ".join(f"{name} {order}" for name in key.split(", ")) + " LIMIT ?"
        return self.all(sql, (*values, limit))

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """The statements inside see and write one state, in any process, and land together or not at all.

        In the event loop's group a savepoint; outside a loop (start-up, scripts) BEGIN IMMEDIATE ... COMMIT.
        The body must not await: another coroutine's statements on this connection would join it. A failure
        rolls back the body's statements only, so the connection is never left inside a broken transaction.
        """
        self._join_group("BEGIN")
        grouped = self._group is not None
        self.execute("SAVEPOINT atomic" if grouped else "BEGIN IMMEDIATE")
        try:
            with _translated():
                yield
                self._connection.execute("RELEASE atomic") if grouped else self._connection.commit()
        except BaseException:
            try:
                if grouped:
                    self._connection.execute("ROLLBACK TO atomic")
                    self._connection.execute("RELEASE atomic")
                else:
                    self._connection.rollback()
            except sqlite3.Error:
                logger.warning("embedded store: rollback failed", exc_info=True)
            raise

    async def committed(self) -> None:
        """Wait until the writes of this turn of the event loop are committed; StorageUnavailable if they failed."""
        group = self._group
        if group is None:
            return
        try:
            await asyncio.shield(group)
        except StorageUnavailable:
            raise StorageUnavailable() from None

    def _join_group(self, sql: str) -> None:
        """Before a statement that may write: open this turn's group transaction if none is open."""
        if self._group is not None or sql.startswith(("SELECT", "PRAGMA")) or self._connection.in_transaction:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no event loop (start-up, scripts): each statement commits on its own
        # Another connection of this process (tests open two, as two processes would) commits its group first:
        # waiting for its lock here would block the loop that is to commit it.
        with _GROUPS_LOCK:
            others = [database for database in _GROUPS_OPEN if database is not self and database.group_loop is loop]
        for other in others:
            other.commit_group()
        with _translated():
            self._connection.execute("BEGIN IMMEDIATE")
        with _GROUPS_LOCK:
            _GROUPS_OPEN.add(self)
        self.group_loop = loop
        self._group = loop.create_future()
        self._group.add_done_callback(_retrieve)
        loop.call_soon(self.commit_group)

    @contextmanager
    def _statement(self) -> Iterator[None]:
        """One statement: a failure is StorageUnavailable; one that ended the group's transaction fails the group."""
        try:
            yield
        except sqlite3.Error as exc:
            group = self._group
            if group is not None and not self._connection.in_transaction and not group.done():
                self._group = None  # SQLite rolled it back (an I/O error, a full disk): nothing of it is stored
                with _GROUPS_LOCK:
                    _GROUPS_OPEN.discard(self)
                group.set_exception(StorageUnavailable())
            raise StorageUnavailable() from exc

    def commit_group(self) -> None:
        """Commit this turn's writes now (at the turn's end otherwise); their waiters go on."""
        group, self._group = self._group, None
        with _GROUPS_LOCK:
            _GROUPS_OPEN.discard(self)
        if group is None:
            return
        try:
            with _translated():
                self._connection.commit()
        except StorageUnavailable as exc:
            logger.warning("embedded store: a commit failed; its writes are rolled back", exc_info=True)
            try:
                self._connection.rollback()
            except sqlite3.Error:
                logger.warning("embedded store: rollback failed", exc_info=True)
            group.set_exception(exc)
        else:
            self.group_commits += 1
            group.set_result(None)


_GROUPS_OPEN: set[SqliteDatabase] = set()  # the databases of this process with a group open (on any loop)
_GROUPS_LOCK = threading.Lock()  # tests run loops on several threads


def _retrieve(group: asyncio.Future[None]) -> None:
    """A failed commit nobody waited for is logged above, not again by asyncio as never retrieved."""
    if not group.cancelled():
        group.exception()


class SqliteStore:
    """A store on the SQLite file (its tables and indexes are made with the schema)."""

    def __init__(self, database: SqliteDatabase) -> None:
        self._db = database

    @property
    def database(self) -> SqliteDatabase:
        return self._db

    async def ensure_indexes(self) -> None:
        return None

    def _insert(self, table: str, record: Any) -> None:
        """Insert the record as a row of `table`, whose columns are named like its fields."""
        values = to_row(record)
        marks = ", ".join("?" * len(values))
        self._db.execute(f"INSERT INTO {table} ({column_names(type(record))}) VALUES ({marks})", values)


S = TypeVar("S", bound="SqliteStore")


def committed(
    method: Callable[Concatenate[S, P], Coroutine[Any, Any, T]],
) -> Callable[Concatenate[S, P], Coroutine[Any, Any, T]]:
    """A store method that writes: it returns once its writes are committed (see the module's group commit)."""

    @functools.wraps(method)
    async def write(store: S, /, *args: P.args, **kwargs: P.kwargs) -> T:
        result = await method(store, *args, **kwargs)
        await store.database.committed()
        return result

    return write


@contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as exc:
        raise StorageUnavailable() from exc
