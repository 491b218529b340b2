"""Rate limits: per API key with Retry-After, else per client address (failed keys too); health is never limited."""

from __future__ import annotations

from tests.fakes.access import ALICE, API_KEYS, BOB
from tests.fakes.fake_openai import FakeOpenAI


async def test_rate_limit_per_key_with_retry_after(app_client, fake: FakeOpenAI) -> None:
    async with app_client(api_keys=API_KEYS, rate_limit="3/minute") as client:
        alice = [await client.get("/conversations", headers=ALICE) for _ in range(4)]
        bob = await client.get("/conversations", headers=BOB)
        health = [await client.get("/") for _ in range(5)]
    assert [r.status_code for r in alice] == [200, 200, 200, 429]
    limited = alice[-1]
    assert limited.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert limited.json()["error"]["retry_after"] == int(limited.headers["retry-after"])
    assert bob.status_code == 200, "each key has its own budget"
    assert {r.status_code for r in health} == {200}


async def test_rate_limit_per_client_address_without_keys_and_on_failed_keys(app_client) -> None:
    async with app_client(rate_limit="2/minute") as client:
        open_calls = [(await client.get("/conversations")).status_code for _ in range(3)]
    async with app_client(api_keys=API_KEYS, rate_limit="2/minute") as client:
        guesses = [
            (await client.get("/conversations", headers={"X-API-Key": f"guess-{n:020d}"})).status_code for n in range(3)
        ]
    assert open_calls == [200, 200, 429]
    assert guesses == [401, 401, 429], "key guessing is rate limited per address"
