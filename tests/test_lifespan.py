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


@pytest.mark.mongodb
async def test_start_up_on_duplicate_conversations_names_the_duplicate_key(
    fake: FakeOpenAI, mongodb_uri: str, real_mongo_database: Any
) -> None:
    from app.errors import DuplicateStoredKey

    # The Next.js app wrote these before the unique index existed.
    duplicate = {"userId": "default-user", "threadId": "thread_dup", "name": "2026-01-01 00:00:00", "isGroup": False}
    await real_mongo_database["conversations"].insert_many([dict(duplicate), dict(duplicate)])
    app = create_app(
        make_settings(mongodb_uri=mongodb_uri, mongodb_db=real_mongo_database.name), openai_client=sdk_client_for(fake)
    )
    with pytest.raises(DuplicateStoredKey) as refused:
        async with app.router.lifespan_context(app):
            pass
    message = str(refused.value)
    assert "conversations" in message
    assert "'threadId': 'thread_dup'" in message
    assert "'userId': 'default-user'" in message
    assert "unavailable" not in message
