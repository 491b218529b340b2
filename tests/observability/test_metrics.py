"""Prometheus metrics: requests by route template and status, runs started, upstream calls by endpoint and outcome."""

from __future__ import annotations

from tests.fakes.access import API_KEYS, BOB_KEY, DEFAULT_USER
from tests.fakes.fake_openai import FakeOpenAI


async def test_metrics_count_requests_by_route_template_status_and_runs(app_client, fake: FakeOpenAI) -> None:
    thread_id = fake.add_thread()
    async with app_client(api_keys=API_KEYS) as client:
        headers = {"X-API-Key": BOB_KEY}
        shared = DEFAULT_USER  # the default user owns threads made elsewhere
        await client.post("/chat", json={"content": "hi", "threadId": thread_id}, headers=shared)
        await client.get(f"/threads/{thread_id}/messages", headers=headers)  # bob: not his thread
        await client.get(f"/threads/{thread_id}/messages")  # no key
        await client.request("BREW", "/chat", headers=headers)
        refused = await client.get("/metrics")
        response = await client.get("/metrics", headers=headers)
    text = response.text
    assert refused.status_code == 401
    assert response.headers["content-type"].startswith("text/plain")
    assert 'chat_backend_http_requests_total{method="POST",route="/chat",status="200"} 1.0' in text
    assert 'route="/threads/{thread_id}/messages",status="404"} 1.0' in text
    assert 'route="/threads/{thread_id}/messages",status="401"} 1.0' in text, "labelled by template before routing"
    assert 'chat_backend_http_request_duration_seconds_bucket{le="0.5",method="POST",route="/chat"}' in text
    assert 'chat_backend_runs_started_total{engine="assistants",mode="run"} 1.0' in text
    assert 'method="other",route="/chat",status="405"} 1.0' in text
    assert thread_id not in text
    assert "BREW" not in text


async def test_upstream_calls_are_measured_through_the_configured_client(
    app_client, fake: FakeOpenAI, live_fake: str
) -> None:
    thread_id = fake.add_thread()
    async with app_client(client_from_settings=True, openai_base_url=live_fake, openai_max_retries=0) as client:
        await client.post("/chat", json={"content": "hi", "threadId": thread_id})
        await client.get(f"/threads/{thread_id}/runs/run_missing")
        text = (await client.get("/metrics")).text
    assert (
        'chat_backend_upstream_requests_total{endpoint="/v1/threads/{thread_id}/runs",method="POST",outcome="200"}'
        in text
    )
    assert 'endpoint="/v1/threads/{thread_id}/runs/{run_id}",method="GET",outcome="404"} 1.0' in text
    assert "chat_backend_upstream_request_duration_seconds_count" in text
