"""The load generator: a separate process that drives POST requests at a server and prints JSON results.

A small wrk-like client on raw asyncio streams (HTTP/1.1 keep-alive, one connection per virtual
client), so the generator spends little CPU per request and the server under test gets the cores:
a full HTTP client library costs several times more CPU per request than this, and on a 2-core
machine that CPU comes out of the server's share.

Every loop is bounded by a request count and a deadline; it only ever connects to 127.0.0.1.

    python -m bench.load --port 8000 --concurrency 64 --duration 5 --threads 256 --thread-prefix b
    python -m bench.load --port 8000 --mode burst --concurrency 1000 --threads 1000 --thread-prefix b
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from dataclasses import dataclass, field
from typing import Any

HOST = "127.0.0.1"
REQUEST_TIMEOUT_S = 30.0


class ConnectionClosed(Exception):
    """The server closed a kept-alive connection before answering (safe to resend once)."""


@dataclass
class Result:
    status: int  # 0: no HTTP answer (connection error or timeout)
    latency_s: float
    done_at: float
    active_run: bool = False
    first_event_s: float | None = None
    error: str | None = None


@dataclass
class Totals:
    results: list[Result] = field(default_factory=list)
    started_at: float = 0.0
    ended_at: float = 0.0


class Connection:
    """One keep-alive HTTP/1.1 connection to 127.0.0.1:port."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(HOST, self.port, limit=1 << 20)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()
        self.reader = self.writer = None

    async def _read_chunked(self, *, stream: bool, t0: float) -> tuple[bytes, float | None]:
        """A chunked body, and when its first streamed event arrived."""
        assert self.reader is not None
        chunks = []
        first_event: float | None = None
        while True:
            size_line = await self.reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0], 16)
            data = await self.reader.readexactly(size + 2)
            if size == 0:
                return b"".join(chunks), first_event
            if stream and first_event is None and _has_event(data):
                first_event = time.perf_counter() - t0
            chunks.append(data[:-2])

    async def request(self, raw: bytes, *, stream: bool, t0: float) -> tuple[int, bytes, float | None]:
        """Send one request; return (status, body, seconds to the first streamed event or None)."""
        if self.writer is None:
            await self.open()
        assert self.reader is not None
        assert self.writer is not None
        self.writer.write(raw)
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if not exc.partial:
                raise ConnectionClosed from exc
            raise
        status, headers = _parse_head(head)
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body, first_event = await self._read_chunked(stream=stream, t0=t0)
        else:
            body = await self.reader.readexactly(int(headers.get("content-length", "0")))
            first_event = time.perf_counter() - t0 if stream and _has_event(body) else None
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return status, body, first_event


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return int(lines[0].split(" ", 2)[1]), headers


def _has_event(data: bytes) -> bool:
    return b"event:" in data or b"data:" in data


def build_request(port: int, path: str, payload: dict[str, Any]) -> bytes:
    body = json.dumps(payload).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Type: application/json\r\n"
        f"Accept: application/json, text/event-stream\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class Load:
    """What to send: POST `path` with a JSON body, one thread of the pool per request, round-robin."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.port = args.port
        self.path = args.path
        self.stream = args.stream
        if args.thread_ids_file:
            with open(args.thread_ids_file) as ids:
                self.thread_ids = json.load(ids)[: args.threads]
        else:
            self.thread_ids = [f"thread_{args.thread_prefix}{n}" for n in range(args.threads)]
        self.thread_field = args.thread_field
        self.body = json.loads(args.body)
        self.counter = 0

    def next_request(self) -> bytes:
        thread_id = self.thread_ids[self.counter % len(self.thread_ids)]
        self.counter += 1
        path = self.path.replace("{thread}", thread_id)
        payload = dict(self.body)
        if self.thread_field:
            payload[self.thread_field] = thread_id
        return build_request(self.port, path, payload)

    async def one(self, conn: Connection, raw: bytes) -> Result:
        t0 = time.perf_counter()
        try:
            try:
                status, body, first = await asyncio.wait_for(
                    conn.request(raw, stream=self.stream, t0=t0), REQUEST_TIMEOUT_S
                )
            except ConnectionClosed:  # the server dropped an idle keep-alive connection: resend once
                await conn.close()
                status, body, first = await asyncio.wait_for(
                    conn.request(raw, stream=self.stream, t0=t0), REQUEST_TIMEOUT_S
                )
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionClosed, ValueError) as exc:
            await conn.close()
            now = time.perf_counter()
            return Result(0, now - t0, now, error=type(exc).__name__)
        except TimeoutError:
            await conn.close()
            now = time.perf_counter()
            return Result(0, now - t0, now, error="timeout")
        now = time.perf_counter()
        active = status == 400 and b'"active_run"' in body
        return Result(status, now - t0, now, active_run=active, first_event_s=first)


async def closed_loop(load: Load, concurrency: int, duration_s: float, max_requests: int) -> Totals:
    """`concurrency` clients, each sending its next request when the last one is answered."""
    totals = Totals()
    conns = [Connection(load.port) for _ in range(concurrency)]
    await asyncio.gather(*(c.open() for c in conns))
    totals.started_at = time.perf_counter()
    deadline = totals.started_at + duration_s
    sent = 0

    async def client(conn: Connection) -> None:
        nonlocal sent
        while sent < max_requests and time.perf_counter() < deadline:
            sent += 1
            totals.results.append(await load.one(conn, load.next_request()))

    await asyncio.gather(*(client(c) for c in conns))
    totals.ended_at = time.perf_counter()
    await asyncio.gather(*(c.close() for c in conns))
    return totals


async def burst(load: Load, concurrency: int) -> Totals:
    """Open `concurrency` connections, then send one request on each at the same moment."""
    totals = Totals()
    conns = [Connection(load.port) for _ in range(concurrency)]
    for start in range(0, concurrency, 100):  # connect in slices so the listen backlog never overflows
        await asyncio.gather(*(c.open() for c in conns[start : start + 100]))
    requests = [load.next_request() for _ in conns]
    totals.started_at = time.perf_counter()
    totals.results = list(await asyncio.gather(*(load.one(c, r) for c, r in zip(conns, requests, strict=True))))
    totals.ended_at = time.perf_counter()
    await asyncio.gather(*(c.close() for c in conns))
    return totals


def percentile(sorted_values: list[float], pct: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(pct / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]


def summarize(totals: Totals) -> dict[str, Any]:
    results = totals.results
    elapsed = max(totals.ended_at - totals.started_at, 1e-9)
    ok = [r for r in results if r.status == 200]
    latencies = sorted(r.latency_s for r in ok)
    first_events = sorted(r.first_event_s for r in ok if r.first_event_s is not None)
    errors = [r for r in results if r.status != 200 and not r.active_run]
    error_kinds: dict[str, int] = {}
    for r in errors:
        kind = r.error or f"http_{r.status}"
        error_kinds[kind] = error_kinds.get(kind, 0) + 1
    return {
        "requests": len(results),
        "ok": len(ok),
        "active_run_400": sum(r.active_run for r in results),
        "errors": len(errors),
        "error_kinds": error_kinds,
        "elapsed_s": elapsed,
        "rps": len(ok) / elapsed,
        "p50_s": percentile(latencies, 50),
        "p99_s": percentile(latencies, 99),
        "max_s": latencies[-1] if latencies else None,
        "min_s": latencies[0] if latencies else None,
        "p10_s": percentile(latencies, 10),
        "p25_s": percentile(latencies, 25),
        "first_event_p50_s": percentile(first_events, 50),
        "first_event_p99_s": percentile(first_events, 99),
        "last_answer_after_s": max((r.done_at for r in results), default=totals.started_at) - totals.started_at,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True, help="server port on 127.0.0.1")
    parser.add_argument("--path", default="/chat", help="request path; {thread} is replaced by the thread id")
    parser.add_argument("--body", default='{"content": "Hello from the benchmark!"}', help="JSON body")
    parser.add_argument("--thread-field", default="threadId", help="body field for the thread id ('' for none)")
    parser.add_argument("--threads", type=int, default=256, help="size of the thread pool (round-robin)")
    parser.add_argument("--thread-prefix", default="b", help="pool ids are thread_<prefix><n>")
    parser.add_argument("--thread-ids-file", help="JSON list of thread ids to use instead of the prefix")
    parser.add_argument("--mode", choices=("closed", "burst"), default="closed")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds (closed loop)")
    parser.add_argument("--max-requests", type=int, default=200_000, help="upper bound (closed loop)")
    parser.add_argument("--stream", action="store_true", help="record time to the first streamed event")
    return parser.parse_args(argv)


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    load = Load(args)
    if args.mode == "burst":
        totals = await burst(load, args.concurrency)
    else:
        totals = await closed_loop(load, args.concurrency, args.duration, args.max_requests)
    return summarize(totals)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        runner = asyncio.run
    summary = runner(main_async(args))
    json.dump(summary, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
