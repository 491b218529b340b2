"""Fixtures for the upstream tests: our app with the OpenAI client its lifespan builds from the settings."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def upstream_app(app_client, live_fake: str):
    """Our app whose OpenAI client is built by the lifespan from settings, against the live fake."""

    def factory(**overrides: Any):
        values: dict[str, Any] = {"openai_base_url": live_fake, "openai_max_retries": 0, "openai_timeout_s": 5}
        values.update(overrides)
        return app_client(client_from_settings=True, **values)

    return factory
