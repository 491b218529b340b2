"""Stored assistants (ENGINE=hosted): /v1/assistants over HTTP, users kept apart, validation, runs using them.

Errors come in OpenAI's shape (`{"error": {"message", "type", "param", "code"}}`; a refused body is a 400
naming the field in `param`).
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx2
import pytest

from app.engines.hosted.assistants import DEFAULT_ASSISTANT_ID
from app.services.files import QUICKSTART_TOOLS
from tests.api.routes.v1.sdk_support import openai_sdk
from tests.fakes.access import ALICE, API_KEYS, BOB
from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.hosted_support import FILE_SEARCH_REPORTED, as_reported, engine_of, hosted_app, wait_for_run

WEATHER = QUICKSTART_TOOLS[2]


def _body(**fields: Any) -> dict[str, Any]:
    values: dict[str, Any] = {"model": "gpt-4o-mini", "name": "Helper", "instructions": "Be brief."}
    values.update(fields)
    return values


async def test_create_read_update_delete(fake: FakeOpenAI) -> None:
    async with hosted_app(fake) as client:
        store_id = (await client.post("/v1/vector_stores", json={"name": "docs"})).json()["id"]  # the caller's own
        created = await client.post(
            "/v1/assistants",
            json=_body(
                tools=[{"type": "code_interpreter"}, WEATHER],
                tool_resources={"file_search": {"vector_store_ids": [store_id]}},
                metadata={"team": "docs"},
            ),
        )
        assistant_id = created.json()["id"]
        read = await client.get(f"/v1/assistants/{assistant_id}")
        updated = await client.post(f"/v1/assistants/{assistant_id}", json={"name": "Renamed", "tools": []})
        deleted = await client.delete(f"/v1/assistants/{assistant_id}")
        gone = await client.get(f"/v1/assistants/{assistant_id}")

    assert created.status_code == 200
    assert re.fullmatch(r"asst_[A-Za-z0-9]{24}", assistant_id)
    body = created.json()
    assert body["object"] == "assistant"
    assert body["tools"] == as_reported([{"type": "code_interpreter"}, WEATHER])
    assert body["tool_resources"] == {"file_search": {"vector_store_ids": [store_id]}}
    assert body["metadata"] == {"team": "docs"}
    assert read.json() == body
    assert updated.json()["name"] == "Renamed"
    assert updated.json()["tools"] == []
    assert updated.json()["instructions"] == "Be brief."  # fields not given keep their value
    assert deleted.json() == {"id": assistant_id, "object": "assistant.deleted", "deleted": True}
    assert gone.status_code == 404
    assert gone.json()["error"]["message"] == f"No assistant found with id '{assistant_id}'."


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the SDK marks its Assistants API as deprecated
async def test_the_openai_sdk_manages_assistants_here(fake: FakeOpenAI) -> None:
    """The routes have the Assistants API's shape: the SDK's `beta.assistants` works against them."""
    async with hosted_app(fake) as client, openai_sdk(client) as sdk:
        created = await sdk.beta.assistants.create(model="gpt-4o-mini", name="sdk", tools=[{"type": "file_search"}])
        updated = await sdk.beta.assistants.update(created.id, instructions="Answer in French.")
        listed = [a.id async for a in sdk.beta.assistants.list(limit=1)]
        deleted = await sdk.beta.assistants.delete(created.id)
    assert updated.instructions == "Answer in French."
    assert created.id in listed
    assert deleted.deleted is True


async def test_list_is_newest_first_and_paginated(fake: FakeOpenAI) -> None:
    async with hosted_app(fake, api_keys=API_KEYS) as client:
        ids = [
            (await client.post("/v1/assistants", json=_body(name=f"a{n}"), headers=ALICE)).json()["id"]
            for n in range(5)
        ]
        first = (await client.get("/v1/assistants?limit=2", headers=ALICE)).json()
        second = (await client.get(f"/v1/assistants?limit=2&after={first['last_id']}", headers=ALICE)).json()
        back = (await client.get(f"/v1/assistants?limit=2&before={second['first_id']}", headers=ALICE)).json()
        oldest = (await client.get("/v1/assistants?order=asc&limit=10", headers=ALICE)).json()
        everything = (await client.get("/v1/assistants?limit=100", headers=ALICE)).json()
        bad_cursor = await client.get("/v1/assistants?after=asst_unknown", headers=ALICE)
    # Newest first by creation time; assistants created in the same millisecond follow their ids.
    newest = [a["id"] for a in everything["data"]]
    assert sorted(newest) == sorted(ids)
    assert [a["created_at"] for a in everything["data"]] == sorted(
        (a["created_at"] for a in everything["data"]), reverse=True
    )
    assert [a["id"] for a in first["data"]] == newest[:2]
    assert first["has_more"] is True
    assert [a["id"] for a in second["data"]] == newest[2:4]
    assert [a["id"] for a in back["data"]] == newest[:2]
    assert [a["id"] for a in oldest["data"]] == list(reversed(newest))
    assert oldest["has_more"] is False
    assert bad_cursor.status_code == 400
    assert bad_cursor.json()["error"]["param"] == "after"


async def test_users_see_only_their_own_assistants(fake: FakeOpenAI) -> None:
    async with hosted_app(fake, api_keys=API_KEYS) as client:
        alices = (await client.post("/v1/assistants", json=_body(), headers=ALICE)).json()["id"]
        bob_reads = await client.get(f"/v1/assistants/{alices}", headers=BOB)
        bob_updates = await client.post(f"/v1/assistants/{alices}", json={"name": "bob's"}, headers=BOB)
        bob_deletes = await client.delete(f"/v1/assistants/{alices}", headers=BOB)
        bob_lists = (await client.get("/v1/assistants", headers=BOB)).json()
        bob_pages_from_it = await client.get(f"/v1/assistants?after={alices}", headers=BOB)
        alice_reads = await client.get(f"/v1/assistants/{alices}", headers=ALICE)
    for response in (bob_reads, bob_updates, bob_deletes):
        assert response.status_code == 404
        assert response.json()["error"]["message"] == f"No assistant found with id '{alices}'."
    assert bob_lists["data"] == []
    assert bob_pages_from_it.status_code == 400
    assert alice_reads.json()["name"] == "Helper"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_body(tools=[{"type": "function", "function": {"description": "no name"}}]), "tools[0].function.name"),
        (_body(tools=[{"type": "function", "function": {"name": "bad name!"}}]), "tools[0].function.name"),
        (
            _body(tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "string"}}}]),
            "tools[0].function.parameters",
        ),
        (
            _body(tools=[{"type": "function", "function": {"name": "f", "parameters": ["x"]}}]),
            "tools[0].function.parameters",
        ),
        (_body(tools=[{"type": "function"}]), "tools[0]"),
        (_body(tools=[{"type": "retrieval"}]), "tools[0].type"),
        (_body(tools=[{"type": "code_interpreter"}] * 129), "tools"),
        (_body(metadata={f"k{n}": "v" for n in range(17)}), "metadata"),
        (_body(model=""), "model"),
        ({"name": "no model"}, "model"),
    ],
)
async def test_invalid_assistants_are_400_naming_the_field(fake: FakeOpenAI, body: dict[str, Any], field: str) -> None:
    async with hosted_app(fake) as client:
        response = await client.post("/v1/assistants", json=body)
        changes = {"model": ""} if field == "model" else {k: v for k, v in body.items() if k != "model"}
        update = await client.post(f"/v1/assistants/{DEFAULT_ASSISTANT_ID}", json=changes)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == field
    assert update.status_code == 400


async def test_the_run_assistant_cannot_be_deleted(fake: FakeOpenAI) -> None:
    async with hosted_app(fake) as client:
        response = await client.delete(f"/v1/assistants/{DEFAULT_ASSISTANT_ID}")
        still = await client.get(f"/v1/assistants/{DEFAULT_ASSISTANT_ID}")
    # The operator's: read-only for every caller (403), the default user included.
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "read_only"
    assert still.status_code == 200


async def test_with_the_assistants_engine_the_routes_name_engine_hosted(app_client) -> None:
    async with app_client() as client:
        responses = [
            await client.get("/v1/assistants"),
            await client.post("/v1/assistants", json=_body()),
            await client.get("/v1/assistants/asst_abc"),
        ]
    for response in responses:
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "hosted_engine_required"
        assert "ENGINE=hosted" in response.json()["error"]["message"]


async def test_quickstart_route_stores_the_assistant_on_the_hosted_engine(fake: FakeOpenAI) -> None:
    async with hosted_app(fake, api_keys=API_KEYS, openai_model="gpt-4.1-mini") as client:
        created = await client.post("/api/assistants", headers=ALICE)
        assistant_id = created.json()["assistantId"]
        stored = await client.get(f"/v1/assistants/{assistant_id}", headers=ALICE)
        for_bob = await client.get(f"/v1/assistants/{assistant_id}", headers=BOB)
    assert created.status_code == 200
    assert stored.json()["name"] == "Quickstart Assistant"
    assert stored.json()["instructions"] == "You are a helpful assistant."
    assert stored.json()["model"] == "gpt-4.1-mini"
    assert stored.json()["tools"] == as_reported(QUICKSTART_TOOLS)
    assert for_bob.status_code == 404
    assert not fake.requests_to("POST", "/v1/assistants"), "nothing created upstream"


async def _run_through_events_and_polling(client: httpx2.AsyncClient) -> tuple[dict[str, Any], dict[str, Any]]:
    thread_id = (await client.post("/threads")).json()["thread_id"]
    streamed = await client.post(f"/api/assistants/threads/{thread_id}/messages", content=json.dumps({"content": "hi"}))
    events = [json.loads(line) for line in streamed.text.splitlines() if line.strip()]
    created = next(e["data"] for e in events if e["event"] == "thread.run.created")
    polled = (await client.get(f"/threads/{thread_id}/runs/{created['id']}")).json()
    return created, polled


async def test_runs_use_the_configured_assistant_and_report_it(fake: FakeOpenAI, tmp_path: Any) -> None:
    entry = {
        "id": "asst_weather",
        "model": "gpt-4.1-mini",
        "instructions": "SECRET-PROMPT: answer about weather.",
        "tools": [WEATHER],
    }
    path = tmp_path / "assistants.json"
    path.write_text(json.dumps([entry]))
    async with hosted_app(fake, assistants_file=str(path), openai_assistant_id="asst_weather") as client:
        created, polled = await _run_through_events_and_polling(client)
        run = await wait_for_run(engine_of(client), created["thread_id"], created["id"])
    assert created["assistant_id"] == "asst_weather"
    assert created["tools"] == as_reported([WEATHER])
    assert created["model"] == "gpt-4.1-mini"
    assert created["instructions"] == ""
    assert polled["assistant_id"] == "asst_weather"
    assert polled["tools"] == as_reported([WEATHER])
    assert run.model == "gpt-4.1-mini"
    call = fake.models.calls[-1]
    assert call.instructions == "SECRET-PROMPT: answer about weather."
    assert call.body["model"] == "gpt-4.1-mini"
    assert "SECRET-PROMPT" not in json.dumps(created) + json.dumps(polled)


async def test_runs_use_the_default_assistant_without_openai_assistant_id(fake: FakeOpenAI) -> None:
    fake.vector_stores["vs_docs"] = []
    async with hosted_app(fake, openai_vector_store_id="vs_docs", assistant_instructions="Be kind.") as client:
        created, polled = await _run_through_events_and_polling(client)
        default = (await client.get(f"/v1/assistants/{DEFAULT_ASSISTANT_ID}")).json()
    assert created["assistant_id"] == polled["assistant_id"] == DEFAULT_ASSISTANT_ID
    assert created["tools"] == polled["tools"] == [FILE_SEARCH_REPORTED]
    assert default["instructions"] == ""  # the operator's prompt is never shown, not even to the default user
    assert default["tool_resources"] == {"file_search": {"vector_store_ids": ["vs_docs"]}}
    assert fake.models.calls[-1].instructions == "Be kind."


async def test_a_run_assistant_gone_from_storage_is_an_error_naming_it(fake: FakeOpenAI) -> None:
    async with hosted_app(fake) as client:
        await client.app.state.stores.assistants.delete(DEFAULT_ASSISTANT_ID)  # type: ignore[attr-defined]
        thread_id = (await client.post("/threads")).json()["thread_id"]
        response = await client.post("/chat", json={"content": "hi", "threadId": thread_id})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "assistant_not_found"
    assert DEFAULT_ASSISTANT_ID in response.json()["error"]["message"]
