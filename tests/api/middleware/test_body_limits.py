"""Body size caps (by header and by counting), JSON-only routes (415), without breaking the Next.js routes."""

from __future__ import annotations

import json

import pytest

from app.api import routing
from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.node_decoder import decode_like_chat_tsx


def _run_requests(fake: FakeOpenAI) -> list:
    return [r for r in fake.requests if r.path.endswith("/runs")]


async def test_body_over_the_cap_by_content_length_is_413_before_anything_runs(app_client, fake: FakeOpenAI) -> None:
    thread_id = fake.add_thread()
    async with app_client(max_body_bytes=2048) as client:
        response = await client.post("/chat", json={"content": "x" * 3000, "threadId": thread_id})
    assert response.status_code == 413
    assert response.json()["success"] is False
    assert response.json()["error"]["code"] == "payload_too_large"
    assert "2048" in response.json()["error"]["message"]
    assert _run_requests(fake) == []


async def test_chunked_body_without_length_is_counted_and_cut_at_the_cap(app_client, fake: FakeOpenAI) -> None:
    thread_id = fake.add_thread()
    sent = {"chunks": 0}

    async def endless_json():
        yield b'{"threadId": "' + thread_id.encode() + b'", "content": "'
        for _ in range(10_000):  # would be 10 MB: reading stops long before
            sent["chunks"] += 1
            yield b"y" * 1024
        yield b'"}'

    async with app_client(max_body_bytes=4096) as client:
        response = await client.post("/chat", content=endless_json(), headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert sent["chunks"] < 100
    assert _run_requests(fake) == []


async def test_nextjs_message_route_shows_the_size_error_in_its_stream(app_client, fake: FakeOpenAI) -> None:
    thread_id = fake.add_thread()
    body = json.dumps({"content": "z" * 5000}).encode()
    async with app_client(max_body_bytes=2048) as client:
        by_header = await client.post(f"/api/assistants/threads/{thread_id}/messages", content=body)

        async def chunks():
            yield body

        counted = await client.post(f"/api/assistants/threads/{thread_id}/messages", content=chunks())
    for response in (by_header, counted):
        assert response.status_code == 413
        decoded = decode_like_chat_tsx(response.content)
        assert decoded["inputDisabled"] is False
        assert "larger than 2048 bytes" in decoded["messages"][-1]["text"]


async def test_upload_route_has_its_own_larger_cap(
    app_client, fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.vector_stores["vs_docs"] = []
    monkeypatch.setattr(routing, "MAX_UPLOAD_BYTES", 8192)
    async with app_client(openai_vector_store_id="vs_docs", max_body_bytes=1024) as client:
        fits = await client.post("/api/assistants/files", files={"file": ("a.txt", b"a" * 6000, "text/plain")})
        over_file_cap = await client.post("/api/assistants/files", files={"file": ("b.txt", b"b" * 9000, "text/plain")})
        over_body_cap = await client.post(
            "/api/assistants/files", files={"file": ("c.txt", b"c" * 200_000, "text/plain")}
        )
        json_cap = await client.patch("/conversations/thread_abc", json={"name": "n" * 2000})
    assert fits.status_code == 200
    assert over_file_cap.status_code == 422
    assert over_file_cap.json()["error"]["fields"][0]["field"] == "file"
    assert over_body_cap.status_code == 413
    assert json_cap.status_code == 413


@pytest.mark.parametrize(
    ("method", "path", "content_type"),
    [
        ("POST", "/chat", "text/plain"),
        ("POST", "/chat", "application/x-www-form-urlencoded"),
        ("POST", "/chat/stream", "text/plain;charset=UTF-8"),
        ("PATCH", "/conversations/thread_abc", "text/plain"),
        ("POST", "/chat", "multipart/form-data; boundary=x"),
    ],
)
async def test_json_routes_refuse_other_content_types_with_415(
    app_client, fake: FakeOpenAI, method: str, path: str, content_type: str
) -> None:
    thread_id = fake.add_thread()
    body = json.dumps({"content": "hi", "threadId": thread_id, "name": "n"}).encode()
    async with app_client() as client:
        response = await client.request(method, path, content=body, headers={"content-type": content_type})
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"
    assert response.json()["error"]["expected"] == "application/json"
    assert _run_requests(fake) == []


async def test_json_with_charset_or_a_json_suffix_is_accepted(app_client, fake: FakeOpenAI) -> None:
    thread_id = fake.add_thread()
    body = json.dumps({"content": "hi", "threadId": thread_id}).encode()
    async with app_client() as client:
        charset = await client.post("/chat", content=body, headers={"content-type": "application/json; charset=utf-8"})
        fake.runs[thread_id][0]["status"] = "completed"
        suffix = await client.post("/chat", content=body, headers={"content-type": "application/vnd.chat+json"})
        no_body = await client.post("/chat")
    assert charset.status_code == 200
    assert suffix.status_code == 200
    assert no_body.status_code == 422, "no body at all: validation names the missing fields"


async def test_upload_needs_multipart_and_nextjs_routes_keep_taking_text_plain(app_client, fake: FakeOpenAI) -> None:
    thread_id = fake.add_thread()
    async with app_client() as client:
        upload = await client.post("/api/assistants/files", content=b"raw", headers={"content-type": "text/plain"})
        message = await client.post(
            f"/api/assistants/threads/{thread_id}/messages",
            content=json.dumps({"content": "hi"}).encode(),
            headers={"content-type": "text/plain;charset=UTF-8"},
        )
        xml = await client.post(
            f"/api/assistants/threads/{thread_id}/messages", content=b"<x/>", headers={"content-type": "text/xml"}
        )
    assert upload.status_code == 415
    assert upload.json()["error"]["expected"] == "multipart/form-data"
    assert message.status_code == 200
    assert decode_like_chat_tsx(message.content)["messages"][-1]["text"] == "Echo: hi"
    assert xml.status_code == 415
    assert decode_like_chat_tsx(xml.content)["inputDisabled"] is False
