"""The embedded (SQLite) stores as tests use them: a private in-memory database, or a file two stores share."""

from __future__ import annotations

from app.storage import Stores, sqlite_stores
from app.storage.sqlite.database import SqliteDatabase
from app.storage.sqlite.threads import SqliteThreadStore

IN_MEMORY = ":memory:"


def embedded_stores(path: str = IN_MEMORY) -> Stores:
    """Every store on one SQLite database: its own in-memory one, or the file at `path`."""
    return sqlite_stores(SqliteDatabase(path))


def embedded_thread_store(path: str = IN_MEMORY) -> SqliteThreadStore:
    """The hosted engine's store on its own connection (to a fresh in-memory database, or to the file)."""
    return SqliteThreadStore(SqliteDatabase(path))
