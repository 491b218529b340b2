"""The engine in use when a required setting is missing: every chat call answers 503."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import NoReturn

from app.engines.base import MessageOrder, MessagePage, RunRef, RunState, StreamEvent, ToolOutput
from app.errors import ChatNotConfigured


class UnconfiguredEngine:
    """Stands in for a real engine so the server starts; names the missing variable."""

    def __init__(self, name: str, missing_variable: str) -> None:
        self.name = name
        self.missing_variable = missing_variable

    def _refuse(self) -> NoReturn:
        raise ChatNotConfigured(self.missing_variable)

    def hosted(self) -> NoReturn:
        self._refuse()

    async def create_thread(self) -> str:
        self._refuse()

    async def start_run(self, thread_id: str, content: str, marker: str | None = None) -> RunRef:
        self._refuse()

    async def find_run(self, thread_id: str, marker: str) -> RunRef | None:
        self._refuse()

    async def stream_run(
        self, thread_id: str, content: str, marker: str | None = None
    ) -> AsyncGenerator[StreamEvent, None]:
        self._refuse()

    async def submit_tool_outputs(
        self, thread_id: str, run_id: str, outputs: list[ToolOutput]
    ) -> AsyncGenerator[StreamEvent, None]:
        self._refuse()

    async def get_run(self, thread_id: str, run_id: str) -> RunState:
        self._refuse()

    async def cancel_run(self, thread_id: str, run_id: str) -> RunState:
        self._refuse()

    async def list_messages(
        self,
        thread_id: str,
        *,
        limit: int = 20,
        order: MessageOrder = "desc",
        after: str | None = None,
        before: str | None = None,
    ) -> MessagePage:
        self._refuse()

    async def check_setup(self) -> None:
        return None

    async def aclose(self) -> None:
        return None
