"""The app as the tests build it: settings with a test key, and the real SDK talking to the fake in process."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx2
from openai import AsyncOpenAI

from app.config import Settings
from tests.fakes.fake_openai import FakeOpenAI

TEST_API_KEY = "sk-test-SECRETKEY-do-not-leak-1234567890"
ASSISTANT_ID = "asst_test"

AppClientFactory = Callable[..., Any]


def make_settings(**overrides: Any) -> Settings:
    """Settings of the ENGINE=assistants app (the relay, on the fake's Assistants API); hosted_settings for hosted."""
    values: dict[str, Any] = {
        "engine": "assistants",
        "openai_api_key": TEST_API_KEY,
        "openai_assistant_id": ASSISTANT_ID,
        "openai_model": "gpt-4o-mini",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


def sdk_client_for(fake: FakeOpenAI, api_key: str = TEST_API_KEY, *, max_retries: int = 0) -> AsyncOpenAI:
    """The real openai SDK, talking to the fake over an in-process ASGI transport."""
    return AsyncOpenAI(
        api_key=api_key,
        base_url="http://fake-openai/v1",
        max_retries=max_retries,
        http_client=httpx2.AsyncClient(transport=httpx2.ASGITransport(app=fake.app)),
    )
