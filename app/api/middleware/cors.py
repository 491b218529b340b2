"""CORS from the CORS_ORIGINS setting, which is only read once the lifespan has run."""

from __future__ import annotations

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send


class SettingsCORSMiddleware:
    """Starlette's CORSMiddleware, built on first use from `app.state.settings.cors_origins`."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        self._cors: CORSMiddleware | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        if self._cors is None:
            settings = scope["app"].state.settings
            self._cors = CORSMiddleware(
                self._app,
                allow_origins=settings.cors_origins,
                allow_methods=["GET", "POST", "PATCH", "PUT", "DELETE", "OPTIONS"],
                allow_headers=["*"],
                expose_headers=["X-Request-ID", "Retry-After", "Idempotent-Replayed"],
                max_age=600,
            )
        await self._cors(scope, receive, send)
