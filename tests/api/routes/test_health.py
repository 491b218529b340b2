"""Health: GET / reports the setup; readiness follows the database, liveness does not."""

from __future__ import annotations

from tests.fakes.flaky_stores import FlakyStore, stores_with


async def test_health_reports_engine_storage_and_configuration(app_client) -> None:
    async with app_client() as client:
        response = await client.get("/")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["engine"] == "assistants"
    assert body["storage"] == "mongodb"
    assert body["chat_configured"] is True


async def test_readiness_is_unavailable_when_the_database_does_not_answer(app_client) -> None:
    store = FlakyStore()
    store.ping_fails = True
    async with app_client(stores=stores_with(store)) as client:
        ready = await client.get("/readyz")
        live = await client.get("/livez")
    assert ready.status_code == 503
    assert ready.json()["error"]["status"] == "unavailable"
    assert live.status_code == 200
    assert live.json() == {"status": "ok"}
