"""The hosted engine's storage: one contract on mongomock, a real MongoDB and SQLite; indexes; SQLite claims
across processes."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from app.clock import utc_now
from app.engines.hosted.objects import new_id
from app.storage import Stores
from app.storage.sqlite.database import SqliteDatabase
from app.storage.sqlite.threads import SqliteThreadStore
from app.storage.threads import ClaimResult, MessageRecord, RunRecord, ThreadRecord


async def test_mongo_store_reads_a_threads_messages_through_an_index(real_mongo_database: Any) -> None:
    from app.storage.mongo.threads import MongoThreadStore

    database = real_mongo_database
    await MongoThreadStore(database).ensure_indexes()
    indexes = await database["messages"].index_information()
    assert indexes["thread_position_unique"]["key"] == [("threadId", 1), ("seq", 1)]
    assert indexes["thread_position_unique"]["unique"] is True
    run_indexes = await database["runs"].index_information()
    assert run_indexes["status_lease"]["key"] == [("status", 1), ("leaseExpiresAt", 1)]
    assert run_indexes["thread_created"]["key"] == [("threadId", 1), ("createdAt", 1), ("_id", 1)]
    assert indexes["run_messages"]["key"] == [("runId", 1), ("threadId", 1), ("seq", 1)]
    assert indexes["thread_marker_unique"]["unique"] is True


async def _runs(store: Stores, thread_id: str) -> list[RunRecord]:
    """The thread's runs, oldest first."""
    return await store.threads.runs_page(thread_id, key_after=None, key_before=None, ascending=True, limit=100)


def _run(thread_id: str, run_id: str, *, status: str = "queued", lease_s: float = 30) -> RunRecord:
    now = utc_now()
    return RunRecord(
        id=run_id,
        thread_id=thread_id,
        status=status,
        created_at=now,
        model="gpt-4o-mini",
        instructions="Be brief.",
        tools=("file_search",),
        max_completion_tokens=100,
        truncation_last_messages=10,
        lease_expires_at=now + timedelta(seconds=lease_s),
        expires_at=now + timedelta(minutes=10),
    )


async def _thread(store: Stores) -> str:
    thread_id = new_id("thread_")
    await store.threads.create_thread(ThreadRecord(id=thread_id, created_at=utc_now()))
    return thread_id


async def test_a_claim_takes_the_thread_from_its_holder_only_and_counts_the_message(store: Stores) -> None:
    await store.ensure_indexes(threads=True)
    thread_id = await _thread(store)
    until = utc_now() + timedelta(seconds=30)

    first = await store.threads.claim_active_run(thread_id, "run_1", holder=None, claim_expires_at=until)
    refused = await store.threads.claim_active_run(thread_id, "run_2", holder=None, claim_expires_at=until)
    taken_over = await store.threads.claim_active_run(thread_id, "run_3", holder="run_1", claim_expires_at=until)
    unknown = await store.threads.claim_active_run("thread_none", "run_4", holder=None, claim_expires_at=until)

    assert first.granted
    assert first.thread is not None
    assert (first.thread.active_run_id, first.thread.claim_expires_at, first.thread.message_count) == (
        "run_1",
        until,
        1,
    )
    assert not refused.granted
    assert refused.thread is not None
    assert refused.thread.active_run_id == "run_1"
    assert taken_over.granted
    assert taken_over.thread is not None
    assert taken_over.thread.message_count == 2
    assert unknown == ClaimResult(granted=False, thread=None)
    assert await store.threads.next_message_seq(thread_id, "run_1") is None
    assert await store.threads.next_message_seq(thread_id, "run_3") == 3
    assert await store.threads.release_active_run(thread_id, "run_1") is False
    assert await store.threads.release_active_run(thread_id, "run_3") is True
    thread = await store.threads.get_thread(thread_id)
    assert thread is not None
    assert (thread.active_run_id, thread.claim_expires_at, thread.message_count) == (None, None, 3)


async def test_message_pages_read_by_position_in_both_directions(store: Stores) -> None:
    await store.ensure_indexes(threads=True)
    thread_id, other = await _thread(store), await _thread(store)
    now = utc_now()
    for seq in range(1, 8):
        await store.threads.insert_message(MessageRecord(f"msg_{seq}", thread_id, seq, "user", f"m{seq}", now))
    await store.threads.insert_message(MessageRecord("msg_other", other, 1, "user", "elsewhere", now))
    await store.threads.delete_message("msg_4")

    async def page(**bounds: Any) -> list[int]:
        return [m.seq for m in await store.threads.messages_page(thread_id, **bounds)]

    assert await page(seq_after=None, seq_before=None, ascending=False, limit=3) == [7, 6, 5]
    assert await page(seq_after=None, seq_before=None, ascending=True, limit=3) == [1, 2, 3]
    assert await page(seq_after=2, seq_before=7, ascending=True, limit=10) == [3, 5, 6]
    assert await page(seq_after=2, seq_before=7, ascending=False, limit=2) == [6, 5]
    assert await store.threads.get_message("msg_4") is None
    assert await store.threads.get_message("msg_5") == MessageRecord("msg_5", thread_id, 5, "user", "m5", now)


async def test_a_run_reads_back_as_written_and_changes_only_while_active(store: Stores) -> None:
    await store.ensure_indexes(threads=True)
    thread_id = await _thread(store)
    run = replace(_run(thread_id, "run_a"), instructions_shown=True)  # a user's own assistant's run
    await store.threads.insert_run(run)
    assert await store.threads.get_run("run_a") == run

    later = utc_now() + timedelta(minutes=1)
    assert await store.threads.update_active_run("run_a", {"status": "in_progress"}, lapsed_before=utc_now()) is None
    started = await store.threads.update_active_run("run_a", {"status": "in_progress", "started_at": later})
    assert started == replace(run, status="in_progress", started_at=later)
    changes = {
        "status": "completed",
        "completed_at": later,
        "lease_expires_at": None,
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
        "reply": "Hi!",
        "reply_message_id": "msg_r",
    }
    completed = await store.threads.update_active_run("run_a", changes)
    assert completed == replace(started, **changes)
    assert await store.threads.get_run("run_a") == completed
    assert await store.threads.update_active_run("run_a", {"status": "cancelled"}) is None
    assert await store.threads.get_run("run_missing") is None


async def test_leases_renew_active_runs_only_and_lapsed_runs_are_found(store: Stores) -> None:
    await store.ensure_indexes(threads=True)
    thread_id = await _thread(store)
    await store.threads.insert_run(_run(thread_id, "run_live"))
    await store.threads.insert_run(_run(thread_id, "run_lapsed", status="in_progress", lease_s=-5))
    await store.threads.insert_run(_run(thread_id, "run_done", status="completed", lease_s=-5))
    now = utc_now()

    assert [r.id for r in await store.threads.lapsed_runs(now, 10)] == ["run_lapsed"]
    failed = {"status": "failed", "last_error": {"code": "server_error", "message": "gone"}}
    assert await store.threads.update_active_run("run_live", failed, lapsed_before=now) is None
    expired = await store.threads.update_active_run("run_lapsed", {"status": "expired"}, lapsed_before=now)
    assert expired is not None
    assert expired.status == "expired"

    renewed_until = now + timedelta(minutes=5)
    renewed = await store.threads.renew_leases(["run_live", "run_lapsed", "run_done", "run_none"], renewed_until)
    live = await store.threads.get_run("run_live")
    assert renewed == {"run_live"}
    assert live is not None
    assert live.lease_expires_at == renewed_until
    assert await store.threads.lapsed_runs(now + timedelta(minutes=10), 10) == [live]
    assert await store.threads.renew_leases([], renewed_until) == set()


def test_two_connections_to_one_file_racing_for_a_thread_let_exactly_one_claim_win(tmp_path: Path) -> None:
    """Two "processes" (a connection each, on its own OS thread) claim the same threads at the same moment."""
    path = str(tmp_path / "shared.sqlite3")
    databases = [SqliteDatabase(path) for _ in range(2)]
    stores = [SqliteThreadStore(database) for database in databases]
    thread_ids = [new_id("thread_") for _ in range(50)]
    for thread_id in thread_ids:
        asyncio.run(stores[0].create_thread(ThreadRecord(id=thread_id, created_at=utc_now())))
    start = threading.Barrier(2, timeout=10)
    until = utc_now() + timedelta(seconds=30)

    def claim_all(n: int) -> list[bool]:
        async def claims() -> list[bool]:
            granted = []
            for thread_id in thread_ids:
                start.wait()  # both claims of a thread begin together
                result = await stores[n].claim_active_run(thread_id, f"run_p{n}", holder=None, claim_expires_at=until)
                granted.append(result.granted)
            return granted

        return asyncio.run(claims())

    try:
        with ThreadPoolExecutor(2) as pool:
            first, second = pool.map(claim_all, range(2))
        threads = [asyncio.run(stores[1].get_thread(thread_id)) for thread_id in thread_ids]
    finally:
        for database in databases:
            database.close()
    assert [a + b for a, b in zip(first, second, strict=True)] == [1] * len(thread_ids)
    winners = ["run_p0" if won else "run_p1" for won in first]
    assert [(t.active_run_id, t.message_count) for t in threads if t] == [(w, 1) for w in winners]


async def test_run_steps_are_saved_replaced_and_listed_by_position(store: Stores) -> None:
    from app.storage.threads import RunStepRecord

    await store.ensure_indexes(threads=True)
    now = utc_now()
    calls = RunStepRecord("step_b", "thread_1", "run_1", 1, "tool_calls", "in_progress", now, {"type": "tool_calls"})
    message = RunStepRecord(
        "step_a", "thread_1", "run_1", 0, "message_creation", "completed", now, {"type": "message_creation"}, now
    )
    await store.threads.save_run_step(calls)
    await store.threads.save_run_step(message)
    await store.threads.save_run_step(replace(calls, status="completed", completed_at=now))
    await store.threads.save_run_step(replace(message, id="step_c", run_id="run_2"))

    steps = await store.threads.run_steps("run_1")
    assert [step.id for step in steps] == ["step_a", "step_b"]
    assert steps[0] == message
    assert steps[1] == replace(calls, status="completed", completed_at=now)
    assert await store.threads.run_steps("run_none") == []


async def test_a_status_condition_and_waiting_runs_keep_their_lease(store: Stores) -> None:
    await store.ensure_indexes(threads=True)
    thread_id = await _thread(store)
    waiting = replace(_run(thread_id, "run_w"), status="requires_action", required_tool_calls=[{"id": "call_1"}])
    await store.threads.insert_run(waiting)
    assert await store.threads.update_active_run("run_w", {"status": "queued"}, status="in_progress") is None
    assert await store.threads.renew_leases(["run_w"], utc_now() + timedelta(hours=1)) == set()
    resumed = await store.threads.update_active_run(
        "run_w", {"status": "queued", "required_tool_calls": None}, status="requires_action"
    )
    assert resumed is not None
    assert resumed.required_tool_calls is None
    assert resumed.lease_expires_at == waiting.lease_expires_at
    assert await store.threads.update_active_run("run_w", {"status": "queued"}, status="requires_action") is None


async def test_thread_metadata_message_metadata_runs_of_a_thread_and_deleting_it(store: Stores) -> None:
    await store.ensure_indexes(threads=True)
    thread_id = await _thread(store)
    assert (await store.threads.get_thread(thread_id)).metadata is None  # type: ignore[union-attr]
    updated = await store.threads.set_thread_metadata(thread_id, {"topic": "trip"})
    assert updated is not None
    assert updated.metadata == {"topic": "trip"}
    assert (await store.threads.get_thread(thread_id)).metadata == {"topic": "trip"}  # type: ignore[union-attr]
    assert await store.threads.set_thread_metadata("thread_unknown", {}) is None
    resources = {"file_search": {"vector_store_ids": ["vs_1"]}, "code_interpreter": {"file_ids": ["file-1"]}}
    with_resources = await store.threads.set_thread_tool_resources(thread_id, resources)
    assert with_resources is not None
    assert (with_resources.tool_resources, with_resources.metadata) == (resources, {"topic": "trip"})
    assert (await store.threads.get_thread(thread_id)).tool_resources == resources  # type: ignore[union-attr]
    assert await store.threads.set_thread_tool_resources("thread_unknown", {}) is None
    # Compare-and-swap: only over what was read.
    fresh = await _thread(store)
    assert await store.threads.swap_thread_tool_resources(fresh, resources, expected={"other": {}}) is False
    assert await store.threads.swap_thread_tool_resources(fresh, resources, expected=None) is True
    assert await store.threads.swap_thread_tool_resources(fresh, {}, expected=None) is False
    swapped = {**resources, "code_interpreter": {"file_ids": ["file-1", "file-2"]}}
    assert await store.threads.swap_thread_tool_resources(fresh, swapped, expected=resources) is True
    assert (await store.threads.get_thread(fresh)).tool_resources == swapped  # type: ignore[union-attr]
    assert await store.threads.swap_thread_tool_resources("thread_unknown", {}, expected=None) is False
    attached = [{"file_id": "file-1", "tools": [{"type": "file_search"}]}]
    message = MessageRecord(
        new_id("msg_"), thread_id, 1, "user", "hi", utc_now(), metadata={"m": "1"}, attachments=attached
    )
    await store.threads.insert_message(message)
    assert await store.threads.get_message(message.id) == message
    first, second = _run(thread_id, new_id("run_")), _run(thread_id, new_id("run_"))
    await store.threads.insert_run(first)
    await store.threads.insert_run(replace(second, created_at=first.created_at + timedelta(seconds=1)))
    assert [run.id for run in await _runs(store, thread_id)] == [first.id, second.id]
    assert await store.threads.delete_thread(thread_id) is True
    assert await store.threads.get_thread(thread_id) is None
    assert await store.threads.get_message(message.id) is None
    assert await store.threads.get_run(first.id) is None
    assert await _runs(store, thread_id) == []
    assert await store.threads.delete_thread(thread_id) is False


async def test_message_and_run_metadata_replace_and_deleting_a_message(store: Stores) -> None:
    await store.ensure_indexes(threads=True)
    thread_id = await _thread(store)
    now = utc_now()
    message = MessageRecord(new_id("msg_"), thread_id, 1, "user", "hi", now, metadata={"a": "1"})
    await store.threads.insert_message(message)

    updated = await store.threads.set_message_metadata(message.id, {"b": "2"})
    assert updated == replace(message, metadata={"b": "2"})
    assert await store.threads.get_message(message.id) == updated
    cleared = await store.threads.set_message_metadata(message.id, {})
    assert cleared is not None
    assert cleared.metadata == {}
    assert await store.threads.set_message_metadata("msg_unknown", {"b": "2"}) is None

    run = _run(thread_id, new_id("run_"))
    await store.threads.insert_run(run)
    tagged = await store.threads.set_run_metadata(run.id, {"k": "v"})
    assert tagged == replace(run, metadata={"k": "v"})
    assert await store.threads.get_run(run.id) == tagged
    # Whatever the run's status; and a later change of the run keeps it.
    done = await store.threads.update_active_run(run.id, {"status": "completed", "lease_expires_at": None})
    assert done is not None
    assert done.metadata == {"k": "v"}
    retagged = await store.threads.set_run_metadata(run.id, {"k": "w"})
    assert retagged == replace(done, metadata={"k": "w"})
    assert await store.threads.set_run_metadata("run_unknown", {}) is None

    assert await store.threads.delete_message(message.id) is True
    assert await store.threads.get_message(message.id) is None
    assert await store.threads.delete_message(message.id) is False
    assert await store.threads.get_run(run.id) == retagged
    assert await store.threads.get_thread(thread_id) is not None


async def test_runs_steps_and_a_runs_messages_are_paged_by_key_in_both_directions(store: Stores) -> None:
    from app.storage.threads import RunStepRecord

    await store.ensure_indexes(threads=True)
    thread_id, other = await _thread(store), await _thread(store)
    start = utc_now()
    runs = [replace(_run(thread_id, f"run_{n}"), created_at=start + timedelta(seconds=n)) for n in range(1, 6)]
    for run in [*runs, _run(other, "run_elsewhere")]:
        await store.threads.insert_run(run)

    async def run_page(after: int | None, before: int | None, *, ascending: bool, limit: int) -> list[str]:
        key = {n: (runs[n - 1].created_at, runs[n - 1].id) for n in (after, before) if n is not None}
        found = await store.threads.runs_page(
            thread_id, key_after=key.get(after), key_before=key.get(before), ascending=ascending, limit=limit
        )
        return [run.id for run in found]

    assert await run_page(None, None, ascending=False, limit=2) == ["run_5", "run_4"]
    assert await run_page(1, 5, ascending=True, limit=10) == ["run_2", "run_3", "run_4"]
    assert await run_page(None, 3, ascending=False, limit=10) == ["run_2", "run_1"]

    for seq in range(1, 7):
        reply = MessageRecord(f"msg_{seq}", thread_id, seq, "assistant", "r", start, run_id=f"run_{seq % 2}")
        await store.threads.insert_message(reply)
    of_run = await store.threads.messages_page(
        thread_id, seq_after=1, seq_before=None, ascending=True, limit=10, run_id="run_1"
    )
    assert [message.id for message in of_run] == ["msg_3", "msg_5"]

    for seq in range(4):
        step = RunStepRecord(f"step_{seq}", thread_id, "run_1", seq, "tool_calls", "completed", start, {})
        await store.threads.save_run_step(step)
    steps = await store.threads.steps_page("run_1", seq_after=0, seq_before=3, ascending=False, limit=10)
    assert [step.id for step in steps] == ["step_2", "step_1"]
    assert await store.threads.get_run_step("step_2") == steps[0]
    assert await store.threads.get_run_step("step_none") is None


def test_sqlite_lists_read_an_index_never_the_whole_table(tmp_path: Path) -> None:
    """A page of runs, of a run's messages, of steps, assistants or conversations seeks its index: its cost does not
    grow with the list."""
    database = SqliteDatabase(str(tmp_path / "plans.sqlite3"))
    queries = {
        "runs": "SELECT doc FROM runs WHERE thread_id = ? AND (created_at, id) > (?, ?) ORDER BY created_at, id",
        "messages": "SELECT id FROM messages WHERE thread_id = ? AND run_id = ? AND (seq) > (?) ORDER BY seq",
        "marker": "SELECT id FROM messages WHERE thread_id = ? AND marker = ?",
        "steps": "SELECT doc FROM run_steps WHERE run_id = ? AND (seq) < (?) ORDER BY seq DESC",
        "assistants": "SELECT doc FROM assistants WHERE user_id = ? AND (created_at, id) < (?, ?) "
        "ORDER BY created_at DESC, id DESC",
        "conversations": "SELECT name FROM conversations WHERE user_id = ? AND (created_at, thread_id) < (?, ?) "
        "ORDER BY created_at DESC, thread_id DESC",
    }
    plans = {
        name: " ".join(row[3] for row in database.all("EXPLAIN QUERY PLAN " + sql, (1,) * sql.count("?")))
        for name, sql in queries.items()
    }
    database.close()
    assert "runs_thread_created" in plans["runs"], plans
    assert "messages_of_run" in plans["messages"], plans
    assert "messages_marker" in plans["marker"], plans
    assert "run_steps_position" in plans["steps"], plans
    assert "assistants_newest" in plans["assistants"], plans
    assert "conversations_newest" in plans["conversations"], plans
    assert not any("TEMP B-TREE" in plan or plan.startswith("SCAN") for plan in plans.values()), plans
