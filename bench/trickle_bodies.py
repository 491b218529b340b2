"""Bodies that trickle: 3,000 loopback connections each send POST /chat's headers, then one body byte every
10 s; the whole-body deadline (HTTP_READ_TIMEOUT_S, 15 s) must answer each 408 and close it.

    .venv/bin/python -m bench.trickle_bodies [--connections 3000] [--seconds 60] [--interval 10]

Reports, as JSON: how many connections were opened, answered 408, closed by the server, and still open at
the end; and the service's open file descriptors when idle, at the peak, and after `--seconds`.
Loopback only, bounded in time and connections; not part of the test suite (it takes over a minute).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from tests.fakes.processes import Server

BODY_BYTES = 1000


@dataclass
class Trickled:
    opened: int = 0
    refused: int = 0  # connections that could not be opened
    answered_408: int = 0
    other_answers: int = 0
    closed_by_server: int = 0
    open_at_end: int = 0


async def trickle(host: str, port: int, interval_s: float, stop_at: float, seen: Trickled) -> None:
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError:
        seen.refused += 1
        return
    seen.opened += 1
    head = (
        f"POST /chat HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {BODY_BYTES}\r\n\r\n"
    )
    writer.write(head.encode())
    answered = False
    try:
        while time.monotonic() < stop_at:
            writer.write(b"{" if not answered else b" ")
            await writer.drain()
            try:
                line = await asyncio.wait_for(reader.readline(), timeout=interval_s)
            except TimeoutError:
                continue
            if not line:
                seen.closed_by_server += 1
                return
            if not answered and line.startswith(b"HTTP/1.1"):
                answered = True
                if b" 408 " in line:
                    seen.answered_408 += 1
                else:
                    seen.other_answers += 1
        seen.open_at_end += 1
    except OSError:
        seen.closed_by_server += 1
    finally:
        writer.close()


def fds(pid: int) -> int:
    return psutil.Process(pid).num_fds()


async def measure(connections: int, seconds: float, interval_s: float) -> dict[str, object]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, connections + 1024)), hard))
    with tempfile.TemporaryDirectory(prefix="trickle-") as workdir:
        server = Server(Path(workdir), DATA_DIR="data", OPENAI_API_KEY="sk-trickle-0123456789", LOG_LEVEL="WARNING")
        base = server.start()
        try:
            assert server.process is not None
            pid = server.process.pid
            idle = fds(pid)
            host, port = base.removeprefix("http://").split(":")
            seen = Trickled()
            started = time.monotonic()
            stop_at = started + seconds + interval_s
            tasks = []
            for _ in range(connections):
                tasks.append(asyncio.create_task(trickle(host, int(port), interval_s, stop_at, seen)))
                await asyncio.sleep(0.001)  # about 1,000 connections a second
            peak = 0
            while time.monotonic() < started + seconds:
                peak = max(peak, fds(pid))
                await asyncio.sleep(1)
            after = fds(pid)
            await asyncio.gather(*tasks)
            return {
                "connections": connections,
                "interval_s": interval_s,
                "http_read_timeout_s": 15,
                **asdict(seen),
                "server_fds": {"idle": idle, "peak": peak, f"after_{seconds:g}_s": after},
            }
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=3000)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--interval", type=float, default=10)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(measure(args.connections, args.seconds, args.interval)), indent=2))


if __name__ == "__main__":
    main()
