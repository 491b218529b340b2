"""ASSISTANTS_FILE and the run's assistant at start-up: loading, updating, and the errors that stop start-up."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from app.engines.hosted.assistants import DEFAULT_ASSISTANT_ID
from app.main import create_app
from app.services.assistants import AssistantsSetupError
from app.services.files import QUICKSTART_TOOLS
from app.storage import Stores
from tests.fakes.app_support import sdk_client_for
from tests.fakes.embedded_stores import embedded_stores
from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.hosted_support import as_reported, hosted_app, hosted_settings

EXAMPLE_FILE = Path(__file__).resolve().parents[2] / "assistants.example.json"


async def _start(fake: FakeOpenAI, stores: Stores | None = None, **settings: Any) -> Stores:
    """Run the hosted app's lifespan once (start-up and shutdown); the stores it used."""
    stores = stores or embedded_stores()
    app = create_app(hosted_settings(**settings), openai_client=sdk_client_for(fake), stores=stores)
    async with app.router.lifespan_context(app):
        pass
    return stores


def _write(tmp_path: Path, entries: Any) -> str:
    path = tmp_path / "assistants.json"
    path.write_text(json.dumps(entries) if not isinstance(entries, str) else entries)
    return str(path)


async def test_the_example_file_loads_the_quickstart_assistant(fake: FakeOpenAI) -> None:
    async with hosted_app(fake, assistants_file=str(EXAMPLE_FILE), openai_assistant_id="asst_quickstart") as client:
        stored = (await client.get("/v1/assistants/asst_quickstart")).json()
        record = await client.app.state.stores.assistants.get("asst_quickstart")  # type: ignore[attr-defined]
        thread_id = (await client.post("/threads")).json()["thread_id"]
        run_id = (await client.post("/chat", json={"content": "hi", "threadId": thread_id})).json()["run_id"]
        run = (await client.get(f"/threads/{thread_id}/runs/{run_id}")).json()
    assert stored["name"] == "Quickstart Assistant"
    assert stored["instructions"] == ""  # the operator's: shown to no one
    assert record.instructions == "You are a helpful assistant."
    assert stored["tools"] == as_reported(QUICKSTART_TOOLS)
    assert run["assistant_id"] == "asst_quickstart"
    assert run["tools"] == as_reported(QUICKSTART_TOOLS)


async def test_entries_are_created_then_updated_and_owned_by_the_default_user(fake: FakeOpenAI, tmp_path: Path) -> None:
    path = _write(tmp_path, [{"id": "asst_one", "model": "m1", "name": "One"}])
    stores = await _start(fake, assistants_file=path, default_user_id="ops")
    first = await stores.assistants.get("asst_one")
    _write(tmp_path, [{"id": "asst_one", "model": "m2", "name": "One v2"}, {"id": "asst_two", "model": "m1"}])
    await _start(fake, stores, assistants_file=path, default_user_id="ops")
    updated = await stores.assistants.get("asst_one")
    assert first is not None
    assert updated is not None
    assert (first.owner, first.model) == ("ops", "m1")
    assert (updated.model, updated.name) == ("m2", "One v2")
    assert updated.created_at == first.created_at
    assert await stores.assistants.get("asst_two") is not None


async def test_a_vector_store_recorded_by_the_file_routes_survives_a_reload(fake: FakeOpenAI, tmp_path: Path) -> None:
    path = _write(tmp_path, [{"id": "asst_one", "model": "m", "tools": [{"type": "file_search"}]}])
    stores = await _start(fake, assistants_file=path)
    await stores.assistants.attach_vector_store("asst_one", "vs_made")
    await _start(fake, stores, assistants_file=path)
    reloaded = await stores.assistants.get("asst_one")
    assert reloaded is not None
    assert reloaded.vector_store_ids == ["vs_made"]


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        ("[{not json", "not valid JSON"),
        ({"id": "asst_x"}, "JSON list"),
        (
            [{"id": "asst_ok", "model": "m"}, {"id": "asst_bad", "model": "m", "tools": [{"type": "retrieval"}]}],
            "entry 1 (id 'asst_bad'): tools.0.type",
        ),
        ([{"model": "m"}], "entry 0: id: Field required"),
        ([{"id": "bad id", "model": "m"}], "entry 0 (id 'bad id'): id"),
        (
            [
                {
                    "id": "asst_f",
                    "model": "m",
                    "tools": [{"type": "function", "function": {"name": "x", "parameters": {}}}],
                }
            ],
            "entry 0 (id 'asst_f'): tools.0.function.parameters",
        ),
        (
            [{"id": "asst_m", "model": "m", "metadata": {str(n): "v" for n in range(17)}}],
            "entry 0 (id 'asst_m'): metadata",
        ),
        ([{"id": "asst_d", "model": "m"}, {"id": "asst_d", "model": "m"}], "entry 1 (id 'asst_d'): id"),
        ("[1]", "entry 0: entry"),
    ],
)
async def test_a_malformed_file_stops_start_up_naming_the_entry_and_field(
    fake: FakeOpenAI, tmp_path: Path, entries: Any, expected: str
) -> None:
    path = _write(tmp_path, entries)
    stores = embedded_stores()
    with pytest.raises(AssistantsSetupError) as raised:
        await _start(fake, stores, assistants_file=path)
    assert expected in str(raised.value)
    assert path in str(raised.value)
    assert await stores.assistants.get("asst_ok") is None, "nothing is stored from a malformed file"


async def test_a_missing_file_stops_start_up(fake: FakeOpenAI, tmp_path: Path) -> None:
    with pytest.raises(AssistantsSetupError, match="cannot be read"):
        await _start(fake, assistants_file=str(tmp_path / "missing.json"))


async def test_an_unknown_openai_assistant_id_stops_start_up_naming_it(fake: FakeOpenAI) -> None:
    with pytest.raises(AssistantsSetupError, match="OPENAI_ASSISTANT_ID=asst_nowhere"):
        await _start(fake, openai_assistant_id="asst_nowhere")


async def test_the_default_assistant_follows_the_settings(fake: FakeOpenAI) -> None:
    stores = await _start(fake, openai_model="m1", assistant_instructions="One.")
    await _start(fake, stores, openai_model="m2", assistant_instructions="Two.", openai_knowledge_store_id="vs_k")
    default = await stores.assistants.get(DEFAULT_ASSISTANT_ID)
    assert default is not None
    assert (default.model, default.instructions) == ("m2", "Two.")
    assert default.tools == ({"type": "file_search"},)
    assert default.vector_store_ids == ["vs_k"]


async def test_the_assistants_engine_ignores_the_file(app_client, tmp_path: Path, mongo_stores: Stores) -> None:
    path = _write(tmp_path, "not even json")
    async with app_client(assistants_file=path) as client:
        assert (await client.get("/")).status_code == 200
    assert await mongo_stores.assistants.get(DEFAULT_ASSISTANT_ID) is None
