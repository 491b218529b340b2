"""Fixtures: a fake OpenAI server driven through the real SDK, mongomock storage, a real MongoDB server, our app.

The helpers they use (and that tests import) live in tests/fakes/.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
import pytest
from mongomock_motor import AsyncMongoMockClient
from openai import AsyncOpenAI

from app.config import Settings
from app.main import create_app
from app.storage import Stores
from app.storage import mongo_stores as make_mongo_stores
from tests.fakes.app_support import ASSISTANT_ID, AppClientFactory, make_settings, sdk_client_for
from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.mongodb import MongoServer
from tests.fakes.servers import serve_in_thread


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """Tests never see the developer's environment or .env file."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def fake() -> FakeOpenAI:
    fake = FakeOpenAI(run_seconds=0.2)
    fake.add_assistant(ASSISTANT_ID)
    return fake


@pytest.fixture
def mongo_database() -> Any:
    """A mongomock database, as pymongo's async client gives one."""
    return AsyncMongoMockClient(tz_aware=True)["chat_test"]


@pytest.fixture(scope="session")
def mongodb_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real MongoDB server for the whole session: TEST_MONGODB_URI's, else SecantusDB started here as a
    one-node replica set (and stopped at the end). If it cannot start, the tests that need it fail."""
    if uri := os.environ.get("TEST_MONGODB_URI"):
        yield uri
        return
    server = MongoServer(tmp_path_factory.mktemp("mongodb") / "data")
    server.start()
    try:
        yield server.uri
    finally:
        server.stop(keep_data=False)


@pytest.fixture(scope="session")
def standalone_mongodb_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """SecantusDB as a standalone server, as mongod runs without --replSet: no sessions' retryable writes."""
    server = MongoServer(tmp_path_factory.mktemp("mongodb-standalone") / "data", standalone=True)
    server.start()
    try:
        yield server.uri
    finally:
        server.stop(keep_data=False)


@pytest.fixture
async def real_mongo_database(mongodb_uri: str) -> AsyncIterator[Any]:
    """A database of its own on the real server (pymongo's async API), dropped afterwards."""
    from pymongo import AsyncMongoClient

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri, tz_aware=True)
    name = f"test_{uuid.uuid4().hex[:12]}"
    try:
        yield client[name]
    finally:
        await client.drop_database(name)
        await client.close()


@pytest.fixture
def mongo_stores(mongo_database: Any) -> Stores:
    """Every store on the mongomock database."""
    return make_mongo_stores(mongo_database)


@pytest.fixture
def app_client(fake: FakeOpenAI, mongo_stores: Stores) -> AppClientFactory:
    """`async with app_client(**settings) as client`: our app, lifespan run, over ASGI."""

    @asynccontextmanager
    async def factory(
        *,
        stores: Stores | None = None,
        openai_client: AsyncOpenAI | None = None,
        client_from_settings: bool = False,
        **overrides: Any,
    ) -> AsyncIterator[httpx2.AsyncClient]:
        """`client_from_settings=True`: the lifespan builds the OpenAI client (timeouts, retries, metrics)."""
        settings = make_settings(**overrides)
        client = openai_client
        if client is None and settings.openai_api_key is not None and not client_from_settings:
            client = sdk_client_for(fake)
        app = create_app(settings, openai_client=client, stores=stores or mongo_stores)
        async with app.router.lifespan_context(app):
            transport = httpx2.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as http:
                http.app = app  # type: ignore[attr-defined]
                yield http

    return factory


@pytest.fixture
def live_fake(fake: FakeOpenAI) -> Iterator[str]:
    """The fake served by uvicorn on a real 127.0.0.1 port (for timeouts and real sockets); yields its /v1 URL."""
    with serve_in_thread(fake.app) as base_url:
        yield base_url + "/v1"
