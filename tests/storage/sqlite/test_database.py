"""The embedded store's SQLite file: where it is made, how it is opened and closed, transactions, failures."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from app.clock import utc_now
from app.errors import StorageUnavailable
from app.storage import open_stores
from app.storage.sqlite.database import DATABASE_FILE, SqliteDatabase
from app.storage.sqlite.threads import SqliteThreadStore
from app.storage.threads import MessageRecord
from tests.fakes.app_support import make_settings


def test_the_file_is_made_in_data_dir_relative_to_the_working_directory(tmp_path: Path) -> None:
    database = SqliteDatabase.in_directory("nested/data")  # the tests run in tmp_path
    try:
        assert database.path == str(tmp_path / "nested" / "data" / DATABASE_FILE)
        assert (tmp_path / "nested" / "data" / DATABASE_FILE).is_file()
        assert database.one("PRAGMA journal_mode") == ("wal",)
    finally:
        database.close()


def test_a_blank_data_dir_is_the_default() -> None:
    assert make_settings(data_dir=" ").data_dir == "data"
    assert make_settings().data_dir == "data"


async def test_open_stores_opens_the_file_and_the_exit_stack_closes_it(tmp_path: Path) -> None:
    async with AsyncExitStack() as stack:
        stores = await open_stores(make_settings(data_dir=str(tmp_path / "d")), stack)
        await stores.ping()
        assert stores.kind == "sqlite"
        assert await stores.conversations.touch_conversation("u1", "thread_a") is True
    with pytest.raises(StorageUnavailable):
        await stores.ping()
    reopened = SqliteDatabase.in_directory(str(tmp_path / "d"))
    try:
        assert reopened.one("SELECT thread_id FROM conversations") == ("thread_a",)
    finally:
        reopened.close()


def _insert_then(database: SqliteDatabase, thread_id: str, failure: str) -> None:
    with database.transaction():
        database.execute("INSERT INTO thread_owners (thread_id, user_id, created_at) VALUES (?, 'u1', 0)", (thread_id,))
        if failure == "raise":
            raise ValueError("boom")
        database.execute("INSERT INTO no_such_table VALUES (1)")


def test_a_transaction_that_raises_is_rolled_back_and_the_connection_goes_on() -> None:
    database = SqliteDatabase(":memory:")
    with pytest.raises(ValueError, match="boom"):
        _insert_then(database, "t1", "raise")
    with pytest.raises(StorageUnavailable):
        _insert_then(database, "t2", "bad statement")
    with database.transaction():
        database.execute("INSERT INTO thread_owners (thread_id, user_id, created_at) VALUES ('t3', 'u1', 0)")
    assert database.all("SELECT thread_id FROM thread_owners") == [("t3",)]
    database.close()


def test_a_file_that_is_not_a_database_is_storage_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "broken.sqlite3"
    path.write_bytes(b"this is not a SQLite database, not even its header" * 100)
    with pytest.raises(StorageUnavailable) as refused:
        SqliteDatabase(str(path))
    assert isinstance(refused.value.__cause__, sqlite3.DatabaseError)


def test_a_write_waits_for_another_connections_transaction_then_fails_as_storage_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process holding the write lock past the busy timeout: a 503, and both connections go on."""
    import app.storage.sqlite.database as database_module

    monkeypatch.setattr(database_module, "BUSY_TIMEOUT_MS", 50)
    path = str(tmp_path / "shared.sqlite3")
    holder, waiter = SqliteDatabase(path), SqliteDatabase(path)
    try:
        with holder.transaction():
            holder.execute("INSERT INTO thread_owners (thread_id, user_id, created_at) VALUES ('t1', 'u1', 0)")
            with pytest.raises(StorageUnavailable), waiter.transaction():
                pass
        with waiter.transaction():
            waiter.execute("INSERT INTO thread_owners (thread_id, user_id, created_at) VALUES ('t2', 'u2', 0)")
        assert holder.all("SELECT thread_id FROM thread_owners ORDER BY thread_id") == [("t1",), ("t2",)]
    finally:
        holder.close()
        waiter.close()


async def test_a_file_from_before_message_annotations_gets_the_column(tmp_path: Path) -> None:
    path = str(tmp_path / "old.sqlite3")
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE messages (id TEXT PRIMARY KEY, thread_id TEXT NOT NULL, seq INTEGER NOT NULL, role TEXT NOT NULL,"
        " text TEXT NOT NULL, created_at INTEGER NOT NULL, run_id TEXT, UNIQUE (thread_id, seq))"
    )
    old.execute("INSERT INTO messages VALUES ('msg_old', 'thread_1', 0, 'user', 'hi', 0, NULL)")
    old.commit()
    old.close()
    database = SqliteDatabase(path)
    store = SqliteThreadStore(database)
    cited = [
        {"type": "file_citation", "text": "x", "start_index": 0, "end_index": 1, "file_citation": {"file_id": "f"}}
    ]
    await store.insert_message(MessageRecord("msg_new", "thread_1", 1, "assistant", "x", utc_now(), "run_1", cited))
    found_old, found_new = await store.get_message("msg_old"), await store.get_message("msg_new")
    database.close()
    assert found_old is not None
    assert found_old.annotations is None
    assert found_new is not None
    assert found_new.annotations == cited


async def test_a_file_from_before_run_pages_gets_its_runs_listed_in_order(tmp_path: Path) -> None:
    """A file whose `runs` table has no `created_at` column yet: it is added and filled from each run's JSON."""
    from app.storage.sqlite.database import from_ms, to_doc
    from app.storage.threads import RunRecord

    path = str(tmp_path / "old.sqlite3")
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE runs (id TEXT PRIMARY KEY, thread_id TEXT NOT NULL, status TEXT NOT NULL, "
        "lease_expires_at INTEGER, doc TEXT NOT NULL)"
    )
    for run_id, millis in (("run_b", 2000), ("run_a", 1000), ("run_c", 3000)):
        run = RunRecord(run_id, "t1", "completed", from_ms(millis), "m", "", (), 10, 10, None, None)
        doc = to_doc(run)
        old.execute("INSERT INTO runs VALUES (?, 't1', 'completed', NULL, ?)", (run_id, doc))
    old.commit()
    old.close()
    database = SqliteDatabase(path)
    try:
        rows = database.all("SELECT id FROM runs WHERE thread_id = 't1' ORDER BY created_at, id")
        store = SqliteThreadStore(database)
        newest = await store.runs_page("t1", key_after=None, key_before=None, ascending=False, limit=2)
    finally:
        database.close()
    assert rows == [("run_a",), ("run_b",), ("run_c",)]
    assert [run.id for run in newest] == ["run_c", "run_b"]


async def test_the_writes_of_one_turn_of_the_loop_share_one_commit_and_are_durable_when_answered(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "group.sqlite3")
    database, other_process = SqliteDatabase(path), SqliteDatabase(path)
    store = SqliteThreadStore(database)
    try:
        now = utc_now()
        await asyncio.gather(
            *(store.insert_message(MessageRecord(f"msg_{i}", "thread_1", i, "user", "hi", now)) for i in range(20))
        )
        # Every call returned after its write was committed: another connection sees all of them.
        assert other_process.one("SELECT COUNT(*) FROM messages") == (20,)
    finally:
        database.close()
        other_process.close()
    assert database.group_commits == 1


async def test_a_failed_group_commit_fails_every_write_in_it_and_stores_none(tmp_path: Path) -> None:
    database = SqliteDatabase(str(tmp_path / "failing.sqlite3"))
    database.execute("PRAGMA foreign_keys = ON")
    database.execute("CREATE TABLE parents (id TEXT PRIMARY KEY)")
    database.execute("CREATE TABLE children (parent_id TEXT REFERENCES parents (id) DEFERRABLE INITIALLY DEFERRED)")
    store = SqliteThreadStore(database)

    async def orphan() -> None:
        database.execute("INSERT INTO children VALUES ('no such parent')")  # fails only at COMMIT
        await database.committed()

    try:
        results = await asyncio.gather(
            store.insert_message(MessageRecord("msg_1", "thread_1", 1, "user", "hi", utc_now())),
            orphan(),
            return_exceptions=True,
        )
        assert [type(result) for result in results] == [StorageUnavailable, StorageUnavailable]
        assert database.all("SELECT id FROM messages") == []
        await store.insert_message(MessageRecord("msg_2", "thread_1", 2, "user", "again", utc_now()))
        assert database.all("SELECT id FROM messages") == [("msg_2",)]  # the connection goes on
    finally:
        database.close()
