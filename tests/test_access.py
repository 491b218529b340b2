"""Access control: API keys on every route but health and docs, users kept apart, rate limits."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from app.api.middleware.api_keys import PUBLIC_PATHS
from app.main import create_app
from tests.fake_openai import FakeOpenAI

ALICE_KEY = "alice-key-0123456789abcdef"
BOB_KEY = "bob-key-0123456789abcdefgh"
SHARED_KEY = "shared-key-0123456789abcd"
API_KEYS = f"{ALICE_KEY}:alice,{BOB_KEY}:bob,{SHARED_KEY}"
ALICE = {"Authorization": f"Bearer {ALICE_KEY}"}
BOB = {"X-API-Key": BOB_KEY}
SHARED = {"Authorization": f"bearer {SHARED_KEY}"}

# Every operation the app serves (its OpenAPI schema lists them all, included routers too).
APP_ROUTES = sorted(
    (method.upper(), path)
    for path, operations in create_app().openapi()["paths"].items()
    if path not in PUBLIC_PATHS
    for method in operations
)


def request_for(method: str, path: str, thread_id: str, run_id: str) -> tuple[str, str, dict[str, Any]]:
    """A well-formed request for each protected route, aimed at `thread_id` where it takes one."""
    bodies: dict[tuple[str, str], dict[str, Any]] = {
        ("POST", "/chat"): {"json": {"content": "hi", "threadId": thread_id}},
        ("POST", "/chat/stream"): {"json": {"content": "hi", "threadId": thread_id}},
        ("PATCH", "/conversations/{thread_id}"): {"json": {"name": "mine now"}},
        ("POST", "/api/assistants/threads/{thread_id}/messages"): {"content": json.dumps({"content": "hi"})},
        ("POST", "/api/assistants/threads/{thread_id}/actions"): {
            "json": {"runId": run_id, "toolCallOutputs": [{"tool_call_id": "call_1", "output": "x"}]}
        },
        ("POST", "/api/assistants/files"): {"files": {"file": ("a.txt", b"hello", "text/plain")}},
        ("DELETE", "/api/assistants/files"): {"content": json.dumps({"fileId": "file-abc"})},
    }
    url = path.replace("{thread_id}", thread_id).replace("{run_id}", run_id).replace("{file_id}", "file-abc")
    return method, url, bodies.get((method, path), {})


def error_code(response: Any) -> str:
    """The error code of a JSON error, or of an NDJSON error stream (in the final run's metadata)."""
    if response.headers["content-type"].startswith("application/x-ndjson"):
        last = json.loads(response.text.strip().splitlines()[-1])
        return str(last["data"]["metadata"]["error_code"])
    return str(response.json()["error"]["code"])


def test_every_protected_route_has_a_request_in_this_table() -> None:
    assert len(APP_ROUTES) >= 19
    for method, path in APP_ROUTES:
        _, url, _ = request_for(method, path, "thread_t", "run_r")
        assert "{" not in url, f"{method} {path} needs a request in request_for()"


WRONG_KEYS = [
    {},
    {"Authorization": "Bearer wrong-key-0123456789abc"},
    {"X-API-Key": "nope"},
    {"Authorization": ALICE_KEY},  # no Bearer scheme
    {"Authorization": f"Basic {ALICE_KEY}"},
]


@pytest.mark.parametrize(("method", "path"), APP_ROUTES)
async def test_every_route_refuses_a_missing_or_wrong_key(app_client, fake: FakeOpenAI, method: str, path: str) -> None:
    thread_id = fake.add_thread()
    async with app_client(api_keys=API_KEYS) as client:
        m, url, kwargs = request_for(method, path, thread_id, "run_abc")
        responses = [await client.request(m, url, headers=headers, **kwargs) for headers in WRONG_KEYS]
    for response in responses:
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert error_code(response) == "unauthorized"
    assert fake.requests == [r for r in fake.requests if r.path.startswith("/v1/assistants/")], "no upstream call"


@pytest.mark.parametrize("path", ["/", "/livez", "/readyz", "/docs", "/redoc", "/openapi.json"])
async def test_health_and_docs_need_no_key(app_client, path: str) -> None:
    async with app_client(api_keys=API_KEYS) as client:
        response = await client.get(path)
    assert response.status_code == 200


async def test_cors_preflight_passes_without_a_key(app_client) -> None:
    async with app_client(api_keys=API_KEYS) as client:
        response = await client.options(
            "/chat",
            headers={
                "Origin": "http://localhost:3000",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type, idempotency-key",
            },
        )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "http://localhost:3000"


THREAD_ROUTES = [(m, p) for m, p in APP_ROUTES if "{thread_id}" in p or p in ("/chat", "/chat/stream")]


@pytest.mark.parametrize(("method", "path"), THREAD_ROUTES)
async def test_another_users_thread_is_answered_like_an_unknown_one(
    app_client, fake: FakeOpenAI, mongo_stores, method: str, path: str
) -> None:
    fake.run_seconds = 60
    async with app_client(api_keys=API_KEYS) as client:
        thread_id = (await client.post("/threads", headers=ALICE)).json()["thread_id"]
        started = await client.post("/chat", json={"content": "alice's", "threadId": thread_id}, headers=ALICE)
        run_id = started.json()["run_id"]
        upstream_before = len(fake.requests)
        m, url, kwargs = request_for(method, path, thread_id, run_id)
        response = await client.request(m, url, headers=BOB, **kwargs)
        alice_still_sees = await client.get(f"/conversations/{thread_id}", headers=ALICE)

    assert started.status_code == 200
    assert response.status_code == 404
    expected = "conversation_not_found" if path.startswith("/conversations") else "thread_not_found"
    assert error_code(response) == expected
    assert len(fake.requests) == upstream_before, "nothing of bob's reached the upstream"
    assert [m["role"] for m in fake.messages[thread_id]] == ["user"]
    assert alice_still_sees.status_code == 200 and alice_still_sees.json()["name"] != "mine now"
    assert await mongo_stores.conversations.get_conversation("bob", thread_id) is None


async def test_users_list_only_their_own_conversations(app_client, fake: FakeOpenAI) -> None:
    fake.run_seconds = 0
    async with app_client(api_keys=API_KEYS) as client:
        alice_thread = (await client.post("/api/assistants/threads", headers=ALICE)).json()["threadId"]
        bob_thread = (await client.post("/threads", headers=BOB)).json()["thread_id"]
        await client.post("/chat", json={"content": "a", "threadId": alice_thread}, headers=ALICE)
        await client.post("/chat", json={"content": "b", "threadId": bob_thread}, headers=BOB)
        alice = (await client.get("/conversations", headers=ALICE)).json()
        bob = (await client.get("/conversations", headers=BOB)).json()
    assert [(c["threadId"], c["userId"]) for c in alice["data"]] == [(alice_thread, "alice")]
    assert [(c["threadId"], c["userId"]) for c in bob["data"]] == [(bob_thread, "bob")]


async def test_threads_made_elsewhere_belong_to_the_default_user(app_client, fake: FakeOpenAI, mongo_stores) -> None:
    legacy = fake.add_thread()  # created upstream, never seen by this service
    async with app_client(api_keys=API_KEYS) as client:
        alice = await client.post("/chat", json={"content": "hi", "threadId": legacy}, headers=ALICE)
        shared = await client.post("/chat", json={"content": "hi", "threadId": legacy}, headers=SHARED)
        alice_after = await client.get(f"/threads/{legacy}/messages", headers=ALICE)
    assert alice.status_code == 404
    assert shared.status_code == 200
    assert alice_after.status_code == 404
    assert await mongo_stores.thread_owners.owner_of(legacy) == "default-user"
    assert await mongo_stores.conversations.get_conversation("default-user", legacy) is not None


async def test_posting_to_an_unknown_thread_leaves_no_claim(app_client, mongo_stores) -> None:
    async with app_client(api_keys=API_KEYS) as client:
        response = await client.post("/chat", json={"content": "hi", "threadId": "thread_ghost"}, headers=SHARED)
    assert response.status_code == 404
    assert await mongo_stores.thread_owners.owner_of("thread_ghost") is None


async def test_without_keys_everything_is_open_and_start_up_says_so(app_client, fake, caplog) -> None:
    thread_id = fake.add_thread()
    with caplog.at_level(logging.INFO):
        async with app_client() as client:
            response = await client.post("/chat", json={"content": "hi", "threadId": thread_id})
            spec = (await client.get("/openapi.json")).json()
    assert response.status_code == 200
    assert any("API_KEYS is not set" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)
    assert "securitySchemes" not in spec.get("components", {})
    assert "401" not in spec["paths"]["/conversations"]["get"]["responses"]


async def test_openapi_offers_both_key_schemes_to_swagger(app_client) -> None:
    async with app_client(api_keys=API_KEYS, rate_limit="100/minute") as client:
        spec = (await client.get("/openapi.json")).json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schemes["bearerAuth"]["description"],
    }
    assert schemes["apiKeyHeader"]["name"] == "X-API-Key"
    chat = spec["paths"]["/chat"]["post"]
    assert chat["security"] == [{"bearerAuth": []}, {"apiKeyHeader": []}]
    assert {"401", "413", "415", "429"} <= set(chat["responses"])
    assert "security" not in spec["paths"]["/"]["get"]
    assert "429" not in spec["paths"]["/metrics"]["get"]["responses"]


async def test_rate_limit_per_key_with_retry_after(app_client, fake: FakeOpenAI) -> None:
    async with app_client(api_keys=API_KEYS, rate_limit="3/minute") as client:
        alice = [await client.get("/conversations", headers=ALICE) for _ in range(4)]
        bob = await client.get("/conversations", headers=BOB)
        health = [await client.get("/") for _ in range(5)]
    assert [r.status_code for r in alice] == [200, 200, 200, 429]
    limited = alice[-1]
    assert limited.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert limited.json()["error"]["retry_after"] == int(limited.headers["retry-after"])
    assert bob.status_code == 200, "each key has its own budget"
    assert {r.status_code for r in health} == {200}


async def test_rate_limit_per_client_address_without_keys_and_on_failed_keys(app_client) -> None:
    async with app_client(rate_limit="2/minute") as client:
        open_calls = [(await client.get("/conversations")).status_code for _ in range(3)]
    async with app_client(api_keys=API_KEYS, rate_limit="2/minute") as client:
        guesses = [
            (await client.get("/conversations", headers={"X-API-Key": f"guess-{n:020d}"})).status_code for n in range(3)
        ]
    assert open_calls == [200, 200, 429]
    assert guesses == [401, 401, 429], "key guessing is rate limited per address"


async def test_nextjs_stream_routes_answer_access_errors_as_a_visible_message(app_client, fake: FakeOpenAI) -> None:
    from tests.node_decoder import decode_like_chat_tsx

    thread_id = fake.add_thread()
    async with app_client(api_keys=API_KEYS) as client:
        response = await client.post(f"/api/assistants/threads/{thread_id}/messages", content=b'{"content": "hi"}')
    assert response.status_code == 401
    decoded = decode_like_chat_tsx(response.content)
    assert decoded["inputDisabled"] is False
    assert "API key" in decoded["messages"][-1]["text"]
