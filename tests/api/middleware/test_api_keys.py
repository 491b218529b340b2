"""API keys: every route but health and docs refuses a missing or wrong key; without keys everything is open."""

from __future__ import annotations

import hashlib
import logging

import pytest

from app.config import key_user_id
from tests.fakes.access import (
    ALICE_KEY,
    API_KEYS,
    APP_ROUTES,
    DEFAULT_USER,
    DEFAULT_USER_KEY,
    SHARED,
    SHARED_KEY,
    error_code,
    request_for,
)
from tests.fakes.app_support import make_settings
from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.node_decoder import decode_like_chat_tsx


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


async def test_nextjs_stream_routes_answer_access_errors_as_a_visible_message(app_client, fake: FakeOpenAI) -> None:
    thread_id = fake.add_thread()
    async with app_client(api_keys=API_KEYS) as client:
        response = await client.post(f"/api/assistants/threads/{thread_id}/messages", content=b'{"content": "hi"}')
    assert response.status_code == 401
    decoded = decode_like_chat_tsx(response.content)
    assert decoded["inputDisabled"] is False
    assert "API key" in decoded["messages"][-1]["text"]


def test_a_key_without_a_user_gets_a_stable_user_of_its_own() -> None:
    users = make_settings(api_keys=API_KEYS).api_key_users
    again = make_settings(api_keys=f"{SHARED_KEY},{ALICE_KEY}:alice").api_key_users
    expected = "key-" + hashlib.sha256(SHARED_KEY.encode()).hexdigest()[:16]
    assert users[SHARED_KEY] == again[SHARED_KEY] == expected
    assert users[DEFAULT_USER_KEY] == "default-user"
    other = make_settings(api_keys="another-key-0123456789abc").api_key_users
    assert set(other.values()) != {expected}
    assert SHARED_KEY not in expected


async def test_a_userless_key_sees_only_its_own_conversations_across_restarts(app_client) -> None:
    async with app_client(api_keys=API_KEYS) as client:
        thread_id = (await client.post("/threads", headers=SHARED)).json()["thread_id"]
        posted = await client.post("/chat", json={"content": "hi", "threadId": thread_id}, headers=SHARED)
        as_default_user = (await client.get("/conversations", headers=DEFAULT_USER)).json()["data"]
    async with app_client(api_keys=API_KEYS) as restarted:
        mine = (await restarted.get("/conversations", headers=SHARED)).json()["data"]
        read = await restarted.get(f"/threads/{thread_id}/messages", headers=DEFAULT_USER)
    assert posted.status_code == 200
    assert as_default_user == []
    assert [(c["threadId"], c["userId"]) for c in mine] == [(thread_id, key_user_id(SHARED_KEY))]
    assert read.status_code == 404
