"""Conversation history routes: list newest first with cursors, read, rename, delete."""

from __future__ import annotations

import pytest

from app.storage import mongo_stores as make_mongo_stores
from tests.fakes.embedded_stores import embedded_stores
from tests.fakes.fake_openai import FakeOpenAI


@pytest.fixture(params=["mongomock", "mongodb", "sqlite"])
def any_store(request: pytest.FixtureRequest, mongo_stores):
    if request.param == "mongodb":
        return make_mongo_stores(request.getfixturevalue("real_mongo_database"))
    return mongo_stores if request.param == "mongomock" else embedded_stores()


async def test_list_pages_newest_first_without_gaps_or_repeats(app_client, any_store) -> None:
    for n in range(7):
        await any_store.conversations.touch_conversation("default-user", f"thread_{n:02d}")
    await any_store.conversations.touch_conversation("someone-else", "thread_other")
    seen: list[str] = []
    async with app_client(stores=any_store) as client:
        cursor = None
        for _ in range(10):
            params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
            page = (await client.get("/conversations", params=params)).json()
            seen += [c["threadId"] for c in page["data"]]
            cursor = page["next_cursor"]
            if not page["has_more"]:
                assert cursor is None
                break
    assert seen == [f"thread_{n:02d}" for n in reversed(range(7))]


async def test_read_rename_delete(app_client, fake: FakeOpenAI, any_store) -> None:
    thread_id = fake.add_thread()
    async with app_client(stores=any_store) as client:
        await client.post("/chat", json={"content": "hi", "threadId": thread_id})
        read = await client.get(f"/conversations/{thread_id}")
        renamed = await client.patch(f"/conversations/{thread_id}", json={"name": "  Trip to Oslo "})
        reread = await client.get(f"/conversations/{thread_id}")
        deleted = await client.delete(f"/conversations/{thread_id}")
        gone = await client.get(f"/conversations/{thread_id}")
        deleted_again = await client.delete(f"/conversations/{thread_id}")

    assert read.status_code == 200
    body = read.json()
    assert set(body) == {"threadId", "userId", "name", "isGroup", "createdAt", "updatedAt"}
    assert body["userId"] == "default-user"
    assert body["isGroup"] is False
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "Trip to Oslo"
    assert reread.json()["name"] == "Trip to Oslo"
    assert reread.json()["createdAt"] == body["createdAt"]
    assert deleted.status_code == 204
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "conversation_not_found"
    assert deleted_again.status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("GET", "/conversations?cursor=garbage!", None, "cursor"),
        ("GET", "/conversations?limit=500", None, "limit"),
        ("PATCH", "/conversations/thread_abc", {"name": "   "}, "name"),
        ("PATCH", "/conversations/thread_abc", {"name": "x" * 201}, "name"),
        ("GET", "/conversations/thread_..x", None, "thread_id"),
    ],
)
async def test_bad_conversation_requests_name_the_field(app_client, method, path, body, field) -> None:
    async with app_client() as client:
        response = await client.request(method, path, json=body)
    assert response.status_code == 422
    assert field in [f["field"] for f in response.json()["error"]["fields"]]
