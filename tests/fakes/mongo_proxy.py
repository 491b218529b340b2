"""A TCP proxy on 127.0.0.1 between a MongoDB driver and its server, for the faults the driver hides.

It forwards wire-protocol messages whole (each starts with its int32 length) and can be told, for the next client
message that contains given bytes (a command name, a collection name):
- `lose_reply`: forward it, then drop the server's reply and cut the connection (the write is applied, its
  acknowledgement lost), optionally going down at that moment (an outage);
- `cut_write`: forward only its first half and cut the connection (the server never gets the whole write).
`down()` closes every connection and refuses new ones until `up()`. Everything ends at `close()`.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Literal

_MAX_CONNECTIONS = 64  # the driver's pool for one test, and its monitors


@dataclass
class Fault:
    kind: Literal["lose_reply", "cut_write"]
    needles: tuple[bytes, ...]
    then_down: bool = False
    happened: asyncio.Event = field(default_factory=asyncio.Event)


class _Link:
    """One client connection and its server connection."""

    def __init__(self, client: asyncio.StreamWriter, server: asyncio.StreamWriter) -> None:
        self.client = client
        self.server = server
        self.lose_next_reply: Fault | None = None

    def cut(self) -> None:
        for writer in (self.client, self.server):
            writer.close()


class MongoProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._server: asyncio.Server | None = None
        self._links: set[_Link] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._faults: list[Fault] = []
        self._down = False
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    @property
    def uri(self) -> str:
        """The proxy's address as a driver connects to it: directly, or a replica set member's `hello` would send
        the driver to the real server's address (a direct connection to a member keeps retryable writes)."""
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"

    def lose_reply(self, *needles: bytes, then_down: bool = False) -> Fault:
        fault = Fault("lose_reply", needles, then_down)
        self._faults.append(fault)
        return fault

    def cut_write(self, *needles: bytes) -> Fault:
        fault = Fault("cut_write", needles)
        self._faults.append(fault)
        return fault

    def down(self) -> None:
        self._down = True
        for link in list(self._links):
            link.cut()

    def up(self) -> None:
        self._down = False

    async def close(self) -> None:
        self.down()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._down or len(self._links) >= _MAX_CONNECTIONS:
            writer.close()
            return
        try:
            server_reader, server_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.close()
            return
        link = _Link(writer, server_writer)
        self._links.add(link)
        pumps = [self._pump(reader, link, to_server=True), self._pump(server_reader, link, to_server=False)]
        for pump in pumps:
            task = asyncio.create_task(pump)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _planned(self, message: bytes) -> Fault | None:
        for fault in self._faults:
            if all(needle in message for needle in fault.needles):
                self._faults.remove(fault)
                return fault
        return None

    async def _pump(self, reader: asyncio.StreamReader, link: _Link, *, to_server: bool) -> None:
        try:
            while message := await _read_message(reader):
                if not self._passes(message, link, to_server=to_server):
                    return
                writer = link.server if to_server else link.client
                writer.write(message)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            self._drop(link)

    def _passes(self, message: bytes, link: _Link, *, to_server: bool) -> bool:
        """Whether to forward `message` whole; else the planned fault is done and the link cut."""
        if to_server:
            fault = self._planned(message)
            if fault is None or fault.kind == "lose_reply":
                link.lose_next_reply = fault
                return True
            link.server.write(message[: len(message) // 2])  # cut_write: half of it, then the cut
        elif (fault := link.lose_next_reply) is None:
            return True
        elif fault.then_down:
            self.down()
        link.cut()
        fault.happened.set()
        return False

    def _drop(self, link: _Link) -> None:
        link.cut()
        self._links.discard(link)


async def _read_message(reader: asyncio.StreamReader) -> bytes:
    """One wire-protocol message (int32 little-endian length first, itself included); b"" at the end."""
    with contextlib.suppress(asyncio.IncompleteReadError):
        header = await reader.readexactly(4)
        return header + await reader.readexactly(int.from_bytes(header, "little") - 4)
    return b""
