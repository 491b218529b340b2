"""/v1 as OpenAI answers, through the real openai SDK: `Invalid URL`, SDK objects as params, `usage` only once a run
has ended, the `openai-poll-after-ms` hint, and the defaults OpenAI reports (issue 20, items 11 and 13-16)."""

from __future__ import annotations

import openai
import pytest

from tests.api.routes.v1.sdk_support import openai_error_body, openai_sdk
from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.hosted_support import hosted_app

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


async def test_an_unknown_path_or_method_is_openais_invalid_url(fake: FakeOpenAI) -> None:
    async with hosted_app(fake) as client, openai_sdk(client) as sdk:
        thread = await sdk.beta.threads.create()
        with pytest.raises(openai.NotFoundError) as unknown_path:
            await sdk.post(f"/threads/{thread.id}/nowhere", cast_to=object, body={})
        with pytest.raises(openai.NotFoundError) as wrong_method:
            await sdk.get("/threads", cast_to=object)  # POST only
        raw = await client.patch("/v1/assistants", json={})
    assert openai_error_body(unknown_path.value) == {
        "message": f"Invalid URL (POST /v1/threads/{thread.id}/nowhere)",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
    assert openai_error_body(wrong_method.value)["message"] == "Invalid URL (GET /v1/threads)"
    assert raw.status_code == 404
    assert raw.json() == {
        "error": {
            "message": "Invalid URL (PATCH /v1/assistants)",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    }
