"""Health, API docs, CORS and the stored conversation as seen through POST /chat."""

from __future__ import annotations

import asyncio

from tests.fake_openai import FakeOpenAI


async def test_health_reports_engine_storage_and_configuration(app_client) -> None:
    async with app_client() as client:
        response = await client.get("/")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["engine"] == "assistants"
    assert body["storage"] == "mongodb"
    assert body["chat_configured"] is True


async def test_docs_and_openapi_with_examples(app_client) -> None:
    async with app_client() as client:
        docs = await client.get("/docs")
        redoc = await client.get("/redoc")
        spec = (await client.get("/openapi.json")).json()
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    assert redoc.status_code == 200 and "redoc" in redoc.text.lower()
    chat = spec["paths"]["/chat"]["post"]
    assert {"200", "400", "404", "422", "503"} <= set(chat["responses"])
    schemas = spec["components"]["schemas"]
    assert schemas["ChatRequest"]["examples"] == [{"content": "Hello!", "threadId": "thread_abc123"}]
    assert schemas["ChatStarted"]["examples"][0]["success"] is True


async def test_cors_preflight_from_the_nextjs_origin_passes(app_client) -> None:
    async with app_client() as client:
        response = await client.options(
            "/chat",
            headers={
                "Origin": "http://localhost:3000",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
        )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert "POST" in response.headers["access-control-allow-methods"]


async def test_cors_preflight_from_another_origin_is_refused(app_client) -> None:
    async with app_client() as client:
        response = await client.options(
            "/chat",
            headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
        )
        simple = await client.get("/", headers={"Origin": "http://evil.example"})
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-origin" not in simple.headers


async def test_cors_origins_setting_is_honoured(app_client) -> None:
    async with app_client(cors_origins="https://chat.example.com, http://localhost:3001") as client:
        allowed = await client.options(
            "/chat", headers={"Origin": "http://localhost:3001", "Access-Control-Request-Method": "POST"}
        )
        default_refused = await client.options(
            "/chat", headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST"}
        )
    assert allowed.status_code == 200
    assert default_refused.status_code == 400


async def test_chat_records_the_conversation_and_a_second_message_moves_updated_at(
    app_client, fake: FakeOpenAI, mongo_database
) -> None:
    fake.run_seconds = 0
    thread_id = fake.add_thread()
    async with app_client() as client:
        first = await client.post("/chat", json={"content": "one", "threadId": thread_id})
        doc1 = await mongo_database["conversations"].find_one({"threadId": thread_id})
        await asyncio.sleep(0.01)
        second = await client.post("/chat", json={"content": "two", "threadId": thread_id})
        doc2 = await mongo_database["conversations"].find_one({"threadId": thread_id})

    assert first.status_code == second.status_code == 200
    assert doc1["userId"] == "default-user"
    assert doc1["isGroup"] is False
    assert doc2["createdAt"] == doc1["createdAt"]
    assert doc2["name"] == doc1["name"]
    assert doc2["updatedAt"] > doc1["updatedAt"]
    assert await mongo_database["conversations"].count_documents({}) == 1


async def test_memory_store_is_used_without_mongodb_uri(fake: FakeOpenAI) -> None:
    from app.main import create_app
    from tests.conftest import make_settings, sdk_client_for

    app = create_app(make_settings(), openai_client=sdk_client_for(fake))
    async with app.router.lifespan_context(app):
        assert app.state.stores.kind == "memory"
