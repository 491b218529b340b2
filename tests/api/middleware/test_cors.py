"""CORS: the Next.js origin (or the configured ones) may call the API; other origins are refused."""

from __future__ import annotations


async def test_cors_preflight_from_the_nextjs_origin_passes(app_client) -> None:
    async with app_client() as client:
        response = await client.options(
            "/chat",
            headers={
                "Origin": "http://localhost:3000",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
        )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert "POST" in response.headers["access-control-allow-methods"]


async def test_cors_preflight_from_another_origin_is_refused(app_client) -> None:
    async with app_client() as client:
        response = await client.options(
            "/chat",
            headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
        )
        simple = await client.get("/", headers={"Origin": "http://evil.example"})
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-origin" not in simple.headers


async def test_cors_origins_setting_is_honoured(app_client) -> None:
    async with app_client(cors_origins="https://chat.example.com, http://localhost:3001") as client:
        allowed = await client.options(
            "/chat", headers={"Origin": "http://localhost:3001", "Access-Control-Request-Method": "POST"}
        )
        default_refused = await client.options(
            "/chat", headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST"}
        )
    assert allowed.status_code == 200
    assert default_refused.status_code == 400
