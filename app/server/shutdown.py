"""The server's shutdown, as the app sees it: open streams end a second before SHUTDOWN_TIMEOUT_S.

They end with their format's closing words, so a client sees the end of the stream, not a cut connection.
"""

from __future__ import annotations

import asyncio

STREAM_END_MARGIN_S = 1.0


class Shutdown:
    """Set once by the server when it starts shutting down."""

    def __init__(self, timeout_s: float) -> None:
        self._timeout_s = timeout_s
        self._began = asyncio.Event()

    def begin(self) -> None:
        self._began.set()

    async def streams_must_end(self) -> None:
        """Return when an open stream must end: shortly before the shutdown timeout runs out."""
        await self._began.wait()
        await asyncio.sleep(max(0.0, self._timeout_s - STREAM_END_MARGIN_S))
