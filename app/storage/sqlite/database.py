"""The embedded store's SQLite file: opened once per process, schema created on first start.

WAL journal with `synchronous=NORMAL`: a committed write is in the journal file before the call
returns, so it survives the process being killed (`kill -9`); several processes may share the file
(SQLite locks it; each write is one short transaction). Statements run on the event loop's
thread: each is a few microseconds of local I/O, cheaper than a hop to a worker thread.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from app.errors import StorageUnavailable
from app.storage.records import build, record_fields

logger = logging.getLogger(__name__)
T = TypeVar("T")

DATABASE_FILE = "chat-backend.sqlite3"
BUSY_TIMEOUT_MS = 5000

SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (user_id TEXT NOT NULL, thread_id TEXT NOT NULL, name TEXT NOT NULL,
    is_group INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, thread_id));
CREATE INDEX IF NOT EXISTS conversations_newest ON conversations (user_id, created_at DESC, thread_id DESC);
CREATE TABLE IF NOT EXISTS thread_owners (thread_id TEXT PRIMARY KEY, user_id TEXT NOT NULL,
    created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS user_thread_counts (user_id TEXT PRIMARY KEY, threads INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS idempotency_keys (user_id TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL,
    state TEXT NOT NULL, expires_at INTEGER NOT NULL, status_code INTEGER, response TEXT, PRIMARY KEY (user_id, key));
CREATE INDEX IF NOT EXISTS idempotency_expiry ON idempotency_keys (expires_at);
CREATE TABLE IF NOT EXISTS threads (id TEXT PRIMARY KEY, created_at INTEGER NOT NULL, active_run_id TEXT,
    claim_expires_at INTEGER, message_count INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS messages (id TEXT PRIMARY KEY, thread_id TEXT NOT NULL, seq INTEGER NOT NULL,
    role TEXT NOT NULL, text TEXT NOT NULL, created_at INTEGER NOT NULL, run_id TEXT, annotations TEXT,
    UNIQUE (thread_id, seq));
CREATE TABLE IF NOT EXISTS runs (id TEXT PRIMARY KEY, thread_id TEXT NOT NULL, status TEXT NOT NULL,
    lease_expires_at INTEGER, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS runs_lease ON runs (status, lease_expires_at);
CREATE INDEX IF NOT EXISTS runs_thread ON runs (thread_id);
CREATE TABLE IF NOT EXISTS run_steps (id TEXT PRIMARY KEY, run_id TEXT NOT NULL, seq INTEGER NOT NULL,
    doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS run_steps_position ON run_steps (run_id, seq);
CREATE TABLE IF NOT EXISTS assistants (id TEXT PRIMARY KEY, user_id TEXT NOT NULL, created_at INTEGER NOT NULL,
    doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS assistants_newest ON assistants (user_id, created_at DESC, id DESC);
"""


def to_ms(moment: datetime | None) -> int | None:
    """A datetime as UTC epoch milliseconds (the storage's precision: `app.clock.utc_now`)."""
    return round(moment.timestamp() * 1000) if moment is not None else None


def from_ms(millis: int) -> datetime:
    """Epoch milliseconds back to an aware UTC datetime."""
    return datetime.fromtimestamp(millis / 1000, UTC)


def to_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def column_names(cls: type) -> str:
    """A record's table has one column per field, named like it, in the same order."""
    return ", ".join(field.name for field in record_fields(cls))


def to_row(record: Any) -> tuple[Any, ...]:
    """The record's column values: datetimes as epoch milliseconds, dicts and lists as JSON."""
    values = (getattr(record, field.name) for field in record_fields(type(record)))
    return tuple(
        to_json(v) if isinstance(v, dict | list) else to_ms(v) if isinstance(v, datetime) else v for v in values
    )


_DECODERS: dict[str, Callable[[Any], Any]] = {"time": from_ms, "json": json.loads, "bool": bool}


def from_row(cls: type[T], row: tuple[Any, ...]) -> T:
    decoders = (_DECODERS.get(field.kind) for field in record_fields(cls))
    return cls(*(dec(v) if dec is not None and v is not None else v for dec, v in zip(decoders, row, strict=True)))


def to_doc(record: Any, *columns: str) -> str:
    """The record's fields but `columns`, as the JSON text of a `doc` column (datetimes as epoch milliseconds)."""
    values = {field.name: getattr(record, field.name) for field in record_fields(type(record))}
    return to_json({k: to_ms(v) if isinstance(v, datetime) else v for k, v in values.items() if k not in columns})


def from_doc(cls: type[T], doc: str, **columns: Any) -> T:
    """The record a `to_doc` made, with the `columns` it left out."""
    values = json.loads(doc)
    for field in record_fields(cls):
        if field.kind == "time" and values.get(field.name) is not None:
            values[field.name] = from_ms(values[field.name])
    return build(cls, {**values, **columns})


# Columns added after a table's first version: (table, column, declaration), added to older files at start.
ADDED_COLUMNS = (
    ("messages", "annotations", "TEXT"),
    ("messages", "metadata", "TEXT"),
    ("threads", "metadata", "TEXT"),
    ("threads", "tool_resources", "TEXT"),
    ("messages", "attachments", "TEXT"),
    ("messages", "marker", "TEXT"),
    ("idempotency_keys", "lease_expires_at", "INTEGER"),
    # A run's creation time beside its JSON, for the thread's run list's index (written once, at insert).
    ("runs", "created_at", "INTEGER"),
)
# What fills an added column in the rows an older version wrote (run once, when the column is added).
BACKFILLS = {("runs", "created_at"): "UPDATE runs SET created_at = json_extract(doc, '$.created_at')"}
# Indexes on added columns, made once the columns are there.
ADDED_INDEXES = """
CREATE INDEX IF NOT EXISTS runs_thread_created ON runs (thread_id, created_at, id);
CREATE UNIQUE INDEX IF NOT EXISTS messages_marker ON messages (thread_id, marker) WHERE marker IS NOT NULL;
CREATE INDEX IF NOT EXISTS messages_of_run ON messages (run_id, thread_id, seq) WHERE run_id IS NOT NULL;
"""


def _add_missing_columns(connection: sqlite3.Connection) -> None:
    for table, column, declaration in ADDED_COLUMNS:
        present = {row[1] for row in connection.execute(f"PRAGMA table_info({table})")}
        if column not in present:
            connection.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
            if (backfill := BACKFILLS.get((table, column))) is not None:
                connection.execute(backfill)


class SqliteDatabase:
    """One connection to the file; `transaction()` for the writes that must be atomic across processes."""

    def __init__(self, path: str) -> None:
        self.path = path
        with _translated():
            self._connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            self._connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            if path != ":memory:":
                self._connection.execute("PRAGMA journal_mode = WAL")
            self._connection.execute("PRAGMA synchronous = NORMAL")
            self._connection.executescript(SCHEMA)
            _add_missing_columns(self._connection)
            self._connection.executescript(ADDED_INDEXES)
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
        self._connection.close()

    def execute(self, sql: str, parameters: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        with _translated():
            return self._connection.execute(sql, parameters)

    def one(self, sql: str, parameters: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
        """The first row. The cursor is closed at once: a statement with more rows (an `UPDATE ...
        RETURNING` among them) would otherwise stay active, and keep its transaction open, until collected."""
        with _translated(), closing(self._connection.execute(sql, parameters)) as cursor:
            row: tuple[Any, ...] | None = cursor.fetchone()
        return row

    def all(self, sql: str, parameters: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with _translated():
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
        """BEGIN IMMEDIATE ... COMMIT: the statements inside see and write one state, in any process.

        The body must not await: another coroutine's statements on this connection would join the
        transaction. A failed COMMIT is rolled back, so the connection is never left inside one.
        """
        self.execute("BEGIN IMMEDIATE")
        try:
            with _translated():
                yield
                self._connection.commit()
        except BaseException:
            try:
                self._connection.rollback()
            except sqlite3.Error:
                logger.warning("embedded store: rollback failed", exc_info=True)
            raise


class SqliteStore:
    """A store on the SQLite file (its tables and indexes are made with the schema)."""

    def __init__(self, database: SqliteDatabase) -> None:
        self._db = database

    async def ensure_indexes(self) -> None:
        return None

    def _insert(self, table: str, record: Any) -> None:
        """Insert the record as a row of `table`, whose columns are named like its fields."""
        values = to_row(record)
        marks = ", ".join("?" * len(values))
        self._db.execute(f"INSERT INTO {table} ({column_names(type(record))}) VALUES ({marks})", values)


@contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as exc:
        raise StorageUnavailable() from exc
