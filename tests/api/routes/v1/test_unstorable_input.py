"""Same bad input, same answer on both stores: a key with U+0000 and an object over 16 MiB are a 400
`invalid_request_error` naming the field, on SQLite and on a real MongoDB server, and nothing is stored."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from app.storage import Stores, mongo_stores
from tests.fakes.embedded_stores import embedded_stores
from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.hosted_support import hosted_app

NUL_KEY = "a\u0000b"
MIB = 1024 * 1024


@pytest.fixture(params=["sqlite", "mongodb"])
def both_stores(request: pytest.FixtureRequest) -> Stores:
    if request.param == "mongodb":
        return mongo_stores(request.getfixturevalue("real_mongo_database"))
    return embedded_stores()


def _function_tool(properties: dict[str, Any], description: str = "Look it up.") -> dict[str, Any]:
    parameters = {"type": "object", "properties": properties}
    return {"type": "function", "function": {"name": "lookup", "description": description, "parameters": parameters}}


def _refused(response: Any, param: str | None) -> None:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert "U+0000" in error["message"] or "16 MiB" in error["message"]


async def test_a_nul_in_a_metadata_key_is_a_400_on_both_stores(fake: FakeOpenAI, both_stores: Stores) -> None:
    async with hosted_app(fake, stores=both_stores, hosted_store=both_stores.threads) as client:
        _refused(await client.post("/v1/threads", json={"metadata": {NUL_KEY: "x"}}), "metadata")
        thread = (await client.post("/v1/threads", json={})).json()
        _refused(await client.post(f"/v1/threads/{thread['id']}", json={"metadata": {NUL_KEY: "x"}}), "metadata")
        message = {"role": "user", "content": "hi", "metadata": {NUL_KEY: "x"}}
        _refused(await client.post(f"/v1/threads/{thread['id']}/messages", json=message), "metadata")
        _refused(await client.post("/v1/assistants", json={"model": "m", "metadata": {NUL_KEY: "x"}}), "metadata")
        listed = await client.get(f"/v1/threads/{thread['id']}/messages")
        assistants = await client.get("/v1/assistants")
        kept = await client.get(f"/v1/threads/{thread['id']}")
        a_nul_in_a_value = await client.post("/v1/threads", json={"metadata": {"key": "a\u0000b"}})
    assert listed.json()["data"] == []
    assert [a["id"] for a in assistants.json()["data"] if a["metadata"]] == []
    assert kept.json()["metadata"] == {}
    assert a_nul_in_a_value.status_code == 200, "values may hold U+0000 (MongoDB keeps them too)"


async def test_a_nul_in_a_function_property_name_is_a_400_on_both_stores(fake: FakeOpenAI, both_stores: Stores) -> None:
    tools = [_function_tool({NUL_KEY: {"type": "string"}})]
    async with hosted_app(fake, stores=both_stores, hosted_store=both_stores.threads) as client:
        refused = await client.post("/v1/assistants", json={"model": "m", "tools": tools})
        thread = (await client.post("/v1/threads", json={})).json()
        assistant = (await client.post("/v1/assistants", json={"model": "m"})).json()
        run = {"assistant_id": assistant["id"], "tools": tools}
        refused_run = await client.post(f"/v1/threads/{thread['id']}/runs", json=run)
        runs = await client.get(f"/v1/threads/{thread['id']}/runs")
        again = await client.post(f"/v1/threads/{thread['id']}/messages", json={"role": "user", "content": "hi"})
    _refused(refused, "tools")
    _refused(refused_run, "tools")
    assert runs.json()["data"] == []
    assert again.status_code == 200, "the refused run left the thread free"


async def test_an_object_over_16_mib_is_a_400_on_both_stores(fake: FakeOpenAI, both_stores: Stores) -> None:
    huge = _function_tool({"q": {"type": "string", "description": "x" * (17 * MIB)}})
    async with hosted_app(
        fake, stores=both_stores, hosted_store=both_stores.threads, max_body_bytes=20 * MIB
    ) as client:
        refused = await client.post("/v1/assistants", json={"model": "m", "tools": [huge]})
        assistants = await client.get("/v1/assistants")
    _refused(refused, "tools")
    assert [a["id"] for a in assistants.json()["data"] if a["tools"]] == []


async def test_the_stores_refuse_alike_below_the_http_layer(both_stores: Stores) -> None:
    from app.clock import utc_now
    from app.errors import UnstorableValue
    from app.storage.threads import MessageRecord, ThreadRecord

    await both_stores.ensure_indexes(threads=True)
    await both_stores.threads.create_thread(ThreadRecord(id="thread_u", created_at=utc_now()))
    message = MessageRecord("msg_u", "thread_u", 1, "user", "x" * (17 * MIB), utc_now())
    with pytest.raises(UnstorableValue) as too_large:
        await both_stores.threads.insert_message(message)
    with pytest.raises(UnstorableValue) as nul:
        await both_stores.threads.insert_message(replace(message, text="hi", metadata={NUL_KEY: "x"}))
    with pytest.raises(UnstorableValue) as nul_update:
        await both_stores.threads.set_thread_metadata("thread_u", {NUL_KEY: "x"})
    assert (too_large.value.extra["field"], nul.value.extra["field"], nul_update.value.extra["field"]) == (
        "text",
        "metadata",
        "metadata",
    )
    assert await both_stores.threads.get_message("msg_u") is None


async def test_metadata_keys_with_dots_and_dollars_are_kept_on_both_stores(
    fake: FakeOpenAI, both_stores: Stores
) -> None:
    """MongoDB 5.0+ stores such field names as they are (the README's minimum version)."""
    metadata = {"a.b": "dotted", "$c": "dollar", "plain": "x"}
    async with hosted_app(fake, stores=both_stores, hosted_store=both_stores.threads) as client:
        created = await client.post("/v1/threads", json={"metadata": metadata})
        assert created.status_code == 200, created.text
        thread_id = created.json()["id"]
        updated = await client.post(f"/v1/threads/{thread_id}", json={"metadata": {**metadata, "e.f": "y"}})
        message = {"role": "user", "content": "hi", "metadata": metadata}
        posted = await client.post(f"/v1/threads/{thread_id}/messages", json=message)
        assistant = await client.post("/v1/assistants", json={"model": "m", "metadata": metadata})
        read = await client.get(f"/v1/threads/{thread_id}")
        messages = await client.get(f"/v1/threads/{thread_id}/messages")
        assistant_read = await client.get(f"/v1/assistants/{assistant.json()['id']}")
    assert updated.status_code == posted.status_code == assistant.status_code == 200
    assert read.json()["metadata"] == {**metadata, "e.f": "y"}
    assert messages.json()["data"][0]["metadata"] == metadata
    assert assistant_read.json()["metadata"] == metadata
