"""The lifespan: the embedded store without MONGODB_URI, MongoDB with it, for either engine."""

from __future__ import annotations

from typing import Any

import pytest

from app.main import create_app
from tests.fakes.app_support import make_settings, sdk_client_for
from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.hosted_support import hosted_settings, wait_for_run


async def test_sqlite_store_is_used_without_mongodb_uri(fake: FakeOpenAI) -> None:
    app = create_app(make_settings(), openai_client=sdk_client_for(fake))
    async with app.router.lifespan_context(app):
        assert app.state.stores.kind == "sqlite"


async def test_lifespan_uses_the_embedded_store_without_mongodb_uri(fake: FakeOpenAI) -> None:
    app = create_app(hosted_settings(), openai_client=sdk_client_for(fake))
    async with app.router.lifespan_context(app):
        engine = app.state.engine
        thread_id = await engine.create_thread()
        ref = await engine.start_run(thread_id, "hi")
        run = await wait_for_run(engine, thread_id, ref.run_id)
    assert app.state.stores.kind == "sqlite"
    assert run.status == "completed"


@pytest.mark.mongodb
async def test_real_mongodb_chat_through_the_lifespan(
    fake: FakeOpenAI, mongodb_uri: str, real_mongo_database: Any
) -> None:
    settings = hosted_settings(mongodb_uri=mongodb_uri, mongodb_db=real_mongo_database.name)
    app = create_app(settings, openai_client=sdk_client_for(fake))
    async with app.router.lifespan_context(app):
        engine = app.state.engine
        assert app.state.stores.kind == "mongodb"
        thread_id = await engine.create_thread()
        ref = await engine.start_run(thread_id, "hi")
        run = await wait_for_run(engine, thread_id, ref.run_id)
        page = await engine.list_messages(thread_id, order="asc")
    assert run.status == "completed"
    assert [m.role for m in page.data] == ["user", "assistant"]
