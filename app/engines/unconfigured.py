"""The engine in use when a required setting is missing: every chat call answers 503."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, NoReturn

from app.errors import ChatNotConfigured


class UnconfiguredEngine:
    """Stands in for a real engine so the server starts: every AssistantEngine call but `check_setup` and
    `aclose` raises ChatNotConfigured naming the missing variable."""

    def __init__(self, name: str, missing_variable: str) -> None:
        self.name = name
        self.missing_variable = missing_variable

    def hosted(self) -> NoReturn:
        raise ChatNotConfigured(self.missing_variable)

    def __getattr__(self, method: str) -> Callable[..., Coroutine[Any, Any, NoReturn]]:
        async def refuse(*args: object, **kwargs: object) -> NoReturn:
            raise ChatNotConfigured(self.missing_variable)

        return refuse

    async def check_setup(self) -> None:
        return None

    async def aclose(self) -> None:
        return None
