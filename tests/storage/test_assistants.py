"""Assistants: put (insert or replace), get, delete, pages per owner by (created_at, id), attaching a vector store."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from app.clock import utc_now
from app.storage import Stores
from app.storage.assistants import AssistantRecord

TOOLS = (
    {"type": "code_interpreter"},
    {"type": "function", "function": {"name": "get_weather", "description": "d", "parameters": {"type": "object"}}},
)


def _assistant(assistant_id: str, owner: str = "alice", minutes: int = 0, **fields: object) -> AssistantRecord:
    values: dict[str, object] = {
        "id": assistant_id,
        "owner": owner,
        "created_at": utc_now().replace(microsecond=0) + timedelta(minutes=minutes),
        "model": "gpt-4o-mini",
    }
    values.update(fields)
    return AssistantRecord(**values)  # type: ignore[arg-type]


async def test_put_get_replace_delete(store: Stores) -> None:
    await store.ensure_indexes(threads=True)
    assistants = store.assistants
    record = _assistant(
        "asst_a",
        name="A",
        description="about",
        instructions="Be brief.",
        tools=TOOLS,
        tool_resources={"file_search": {"vector_store_ids": ["vs_1"]}},
        metadata={"team": "x"},
        temperature=0.3,
        top_p=0.9,
        response_format={"type": "json_schema", "json_schema": {"name": "r", "schema": {"type": "object"}}},
    )
    assert await assistants.get("asst_a") is None
    await assistants.put(record)
    assert await assistants.get("asst_a") == record
    changed = _assistant("asst_a", name="B", created_at=record.created_at)
    await assistants.put(changed)
    assert await assistants.get("asst_a") == changed
    assert await assistants.delete("asst_a") is True
    assert await assistants.delete("asst_a") is False
    assert await assistants.get("asst_a") is None


async def test_pages_are_per_owner_and_ordered_by_creation_then_id(store: Stores) -> None:
    await store.ensure_indexes(threads=True)
    assistants = store.assistants
    same_time = utc_now().replace(microsecond=0)
    records = [
        _assistant("asst_1", minutes=-2),
        _assistant("asst_2", created_at=same_time),
        _assistant("asst_3", created_at=same_time),
        _assistant("asst_4", minutes=2),
    ]
    for record in records:
        await assistants.put(record)
    await assistants.put(_assistant("asst_bob", owner="bob"))

    async def ids(**kwargs: object) -> list[str]:
        found = await assistants.page("alice", **kwargs)  # type: ignore[arg-type]
        return [a.id for a in found]

    assert await ids(key_after=None, key_before=None, ascending=False, limit=10) == [
        "asst_4",
        "asst_3",
        "asst_2",
        "asst_1",
    ]
    assert await ids(key_after=None, key_before=None, ascending=True, limit=2) == ["asst_1", "asst_2"]
    key_2 = (records[1].created_at, "asst_2")
    assert await ids(key_after=key_2, key_before=None, ascending=True, limit=10) == ["asst_3", "asst_4"]
    assert await ids(key_after=None, key_before=key_2, ascending=False, limit=10) == ["asst_1"]
    key_4 = (records[3].created_at, "asst_4")
    assert await ids(key_after=key_2, key_before=key_4, ascending=True, limit=10) == ["asst_3"]
    assert [a.id for a in await assistants.page("bob", key_after=None, key_before=None, ascending=True, limit=5)] == [
        "asst_bob"
    ]


async def test_one_vector_store_is_attached_even_when_attaches_race(store: Stores) -> None:
    await store.ensure_indexes(threads=True)
    assistants = store.assistants
    await assistants.put(_assistant("asst_a", tools=({"type": "code_interpreter"},)))
    results = await asyncio.gather(*(assistants.attach_vector_store("asst_a", f"vs_{n}") for n in range(4)))
    winners = {r.vector_store_ids[0] for r in results if r is not None}
    assert len(winners) == 1
    stored = await assistants.get("asst_a")
    assert stored is not None
    assert stored.vector_store_ids == [winners.pop()]
    assert [tool["type"] for tool in stored.tools] == ["code_interpreter", "file_search"]
    assert await assistants.attach_vector_store("asst_none", "vs_x") is None


async def test_attaching_keeps_an_existing_file_search_tool_single(store: Stores) -> None:
    assistants = store.assistants
    await assistants.put(_assistant("asst_a", tools=({"type": "file_search"},)))
    attached = await assistants.attach_vector_store("asst_a", "vs_1")
    assert attached is not None
    assert attached.tools == ({"type": "file_search"},)
    assert attached.vector_store_ids == ["vs_1"]
