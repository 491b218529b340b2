"""The engine in use when a required setting is missing: every chat call answers 503."""

from __future__ import annotations

from app.engines.base import RunRef
from app.errors import ChatNotConfigured


class UnconfiguredEngine:
    """Stands in for a real engine so the server starts; names the missing variable."""

    def __init__(self, name: str, missing_variable: str) -> None:
        self.name = name
        self.missing_variable = missing_variable

    async def start_run(self, thread_id: str, content: str) -> RunRef:
        raise ChatNotConfigured(self.missing_variable)

    async def check_setup(self) -> None:
        return None

    async def aclose(self) -> None:
        return None
