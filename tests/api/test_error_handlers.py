"""The error shape for every answer: unexpected errors, unknown routes and methods, storage errors in middleware."""

from __future__ import annotations

import logging

import httpx2
import pytest

from app.main import create_app
from tests.fakes.app_support import TEST_API_KEY, make_settings, sdk_client_for
from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.flaky_stores import DownStore, stores_with


async def test_unexpected_error_is_a_generic_500(app_client, fake: FakeOpenAI) -> None:
    from app.api.deps import get_chat_service

    class Broken:
        async def post_message(self, *args: object) -> None:
            raise RuntimeError(f"database password is hunter2 and key {TEST_API_KEY}")

    async with app_client() as client:
        client.app.dependency_overrides[get_chat_service] = lambda: Broken()
        response = await client.post("/chat", json={"content": "hi", "threadId": "thread_abc"})
    assert response.status_code == 500
    assert response.json() == {
        "success": False,
        "error": {"code": "internal_error", "message": "Internal server error."},
    }


async def test_unknown_route_and_method_use_the_error_shape(app_client) -> None:
    async with app_client() as client:
        missing = await client.get("/nope")
        wrong_method = await client.get("/chat")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"


async def test_a_storage_error_answers_503_without_a_traceback(fake: FakeOpenAI, caplog) -> None:
    app = create_app(make_settings(), openai_client=sdk_client_for(fake), stores=stores_with(DownStore()))
    with caplog.at_level(logging.INFO):
        async with app.router.lifespan_context(app):
            # raise_app_exceptions: an error answered and then re-raised (a traceback) fails the test.
            transport = httpx2.ASGITransport(app=app, raise_app_exceptions=True)
            async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as http:
                response = await http.get("/conversations", headers={"Origin": "http://localhost:3000"})
    assert response.status_code == 503
    # Answered by its exception handler, inside the middleware (so CORS still applies to the answer).
    assert response.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert response.json()["error"]["code"] == "storage_unavailable"
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and "storage" in r.getMessage()] == [
        "storage error AutoReconnect"
    ]
    assert not [r for r in caplog.records if r.exc_info]


async def test_malformed_json_names_the_body_not_a_byte_offset(app_client) -> None:
    async with app_client() as client:
        response = await client.post(
            "/chat", content=b'{"content": "hi", oops}', headers={"content-type": "application/json"}
        )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["fields"] == [{"field": "body", "message": "JSON decode error"}]
    assert error["message"] == "body: JSON decode error"


BODY_METHODS = ("post", "put", "patch", "delete")


@pytest.mark.parametrize("content_type", ["application/json", "text/plain"])
async def test_deeply_nested_json_is_never_a_500(
    app_client, fake: FakeOpenAI, caplog: pytest.LogCaptureFixture, content_type: str
) -> None:
    """Every operation that takes a body answers 4xx; one that takes none ignores it (and never fails)."""
    thread_id = fake.add_thread()
    nested = b'{"content": ' + b"[" * 3000 + b"]" * 3000 + b"}"
    statuses: dict[str, int] = {}
    async with app_client() as client:
        paths = client.app.openapi()["paths"]
        for template, operations in paths.items():
            path = template.format(thread_id=thread_id, run_id="run_abc", file_id="file_abc", assistant_id="asst_abc")
            for method in BODY_METHODS & operations.keys():
                response = await client.request(
                    method.upper(), path, content=nested, headers={"content-type": content_type}
                )
                takes_body = "requestBody" in operations[method]
                statuses[f"{method.upper()} {template}"] = response.status_code
                if takes_body:
                    assert 400 <= response.status_code < 500, (method, template, response.text)
                else:
                    assert response.status_code < 500, (method, template, response.text)
    assert len(statuses) >= 10, statuses
    assert not [r for r in caplog.records if r.exc_info or "Recursion" in r.getMessage()]
