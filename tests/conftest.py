"""Fixtures: a fake OpenAI server driven through the real SDK, mongomock storage, our app."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx2
import pytest
import uvicorn
from mongomock_motor import AsyncMongoMockClient
from openai import AsyncOpenAI

from app.config import Settings
from app.main import create_app
from app.storage import Stores
from app.storage import mongo_stores as make_mongo_stores
from tests.fake_openai import FakeOpenAI

TEST_API_KEY = "sk-test-SECRETKEY-do-not-leak-1234567890"
ASSISTANT_ID = "asst_test"


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


def sdk_client_for(fake: FakeOpenAI, api_key: str = TEST_API_KEY) -> AsyncOpenAI:
    """The real openai SDK, talking to the fake over an in-process ASGI transport."""
    return AsyncOpenAI(
        api_key=api_key,
        base_url="http://fake-openai/v1",
        max_retries=0,
        http_client=httpx2.AsyncClient(transport=httpx2.ASGITransport(app=fake.app)),
    )


@pytest.fixture
def mongo_database() -> Any:
    """A mongomock database, as pymongo's async client gives one."""
    return AsyncMongoMockClient(tz_aware=True)["chat_test"]


@pytest.fixture
def mongo_stores(mongo_database: Any) -> Stores:
    """Every store on the mongomock database."""
    return make_mongo_stores(mongo_database)


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "openai_api_key": TEST_API_KEY,
        "openai_assistant_id": ASSISTANT_ID,
        "openai_model": "gpt-4o-mini",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


AppClientFactory = Callable[..., Any]


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


@contextmanager
def serve_in_thread(asgi_app: Any, *, lifespan: str = "off") -> Iterator[str]:
    """Serve an ASGI app on a free loopback port from a background thread."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(asgi_app, log_level="warning", lifespan=lifespan))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
