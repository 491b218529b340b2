"""The Next.js body: NDJSON lines in order, as openai-node's AssistantStream reads them."""

from __future__ import annotations

from app.api.wire.ndjson import ndjson_body
from app.engines.base import StreamEvent
from tests.fakes.event_streams import ndjson_lines
from tests.fakes.node_decoder import decode_like_chat_tsx


async def test_ndjson_body_relays_events_in_order_and_unlocks_after_expiry() -> None:
    async def events():
        yield StreamEvent("thread.run.created", {"id": "run_1", "object": "thread.run", "status": "queued"})
        yield StreamEvent("thread.run.expired", {"id": "run_1", "object": "thread.run", "status": "expired"})

    body = b"".join([chunk async for chunk in ndjson_body(events())])
    assert [line["event"] for line in ndjson_lines(body)][:2] == ["thread.run.created", "thread.run.expired"]
    decoded = decode_like_chat_tsx(body)
    assert decoded["messages"] == [{"role": "assistant", "text": "The run expired."}]
    assert decoded["inputDisabled"] is False


def test_two_error_messages_in_the_same_second_have_different_ids() -> None:
    from app.api.wire.ndjson import error_message_events

    first, second = error_message_events("Error: one", "x"), error_message_events("Error: two", "x")
    assert first[0].data["id"] != second[0].data["id"]
    assert first[-1].data["id"] != second[-1].data["id"]
    assert first[0].data["id"].startswith("msg_")
    assert first[-1].data["id"].startswith("run_")
