"""The API docs and the OpenAPI schema: examples, and what the middleware adds (key schemes, error answers)."""

from __future__ import annotations

import re

from tests.fakes.access import API_KEYS


async def test_docs_and_openapi_with_examples(app_client) -> None:
    async with app_client() as client:
        docs = await client.get("/docs")
        redoc = await client.get("/redoc")
        spec = (await client.get("/openapi.json")).json()
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
    assert redoc.status_code == 200
    assert "redoc" in redoc.text.lower()
    chat = spec["paths"]["/chat"]["post"]
    assert {"200", "400", "404", "422", "503"} <= set(chat["responses"])
    schemas = spec["components"]["schemas"]
    assert schemas["ChatRequest"]["examples"] == [{"content": "Hello!", "threadId": "thread_abc123"}]
    assert schemas["ChatStarted"]["examples"][0]["success"] is True


async def test_openapi_offers_both_key_schemes_to_swagger(app_client) -> None:
    async with app_client(api_keys=API_KEYS, rate_limit="100/minute") as client:
        spec = (await client.get("/openapi.json")).json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schemes["bearerAuth"]["description"],
    }
    assert schemes["apiKeyHeader"]["name"] == "X-API-Key"
    chat = spec["paths"]["/chat"]["post"]
    assert chat["security"] == [{"bearerAuth": []}, {"apiKeyHeader": []}]
    assert {"401", "413", "415", "429"} <= set(chat["responses"])
    assert "security" not in spec["paths"]["/"]["get"]
    assert "429" not in spec["paths"]["/metrics"]["get"]["responses"]


async def test_docs_pages_load_only_local_assets_that_answer(app_client) -> None:
    async with app_client(api_keys=API_KEYS) as client:
        pages = {path: (await client.get(path)).text for path in ("/docs", "/redoc")}
        assets = {url for page in pages.values() for url in re.findall(r"""(?:src|href)=["']([^"']+)["']""", page)}
        answers = {url: await client.get(url) for url in assets}
    assert any(url.endswith(".js") for url in assets)
    assert any(url.endswith(".css") for url in assets)
    for url, answer in answers.items():
        assert url.startswith("/"), f"{url}: not served by this app"
        assert answer.status_code == 200, url
        assert len(answer.content) > 100, url
    assert "cdn" not in " ".join(pages.values()).lower()
