"""Streams at scale: thousands of streamed runs on ONE service process (ENGINE=hosted), opened at once.

    .venv/bin/python -m bench.streams                      # 2,000 streams, 20 deltas over 20 s each
    .venv/bin/python -m bench.streams --find-max           # then step the number of streams (see below)
    .venv/bin/python -m bench.streams --streams 500 --seconds 10 --deltas 10
    ./bench/run.sh --streams                               # the first, with its defaults
    .venv/bin/python -m bench.streams --profile /tmp/streams.pyisession   # the service under pyinstrument

Half the streams are `POST /chat/stream` (SSE), half the Next.js route
`POST /api/assistants/threads/{threadId}/messages` (NDJSON), each on a thread of its own, all sent
at the same moment on connections opened beforehand. The fake model (tests/fakes/fake_openai.py,
its own process on the same cores) streams `--deltas` text deltas, one every `--seconds / --deltas`
(its `delay_s`). A small ASGI wrapper around the fake writes the send time into each delta's text
(`bench-t<perf_counter_ns>`, just before the chunk goes to the socket), so the client, which
reads the same CLOCK_MONOTONIC, gets each delta's lag: its receive time minus the model's send.

Measured: streams that ended with their final event (`thread.run.completed`, with every delta and
no error event), errors by kind, time from the request to the first delta, delta lag, the service's
peak RSS (sampled, and the kernel's high-water mark), and `GET /livez` latency sampled every 100 ms
from the start of the streams to their end (a fresh connection each time, from this process; the
client runs in a process of its own, so its own work does not delay the probe).

`--find-max` then runs shorter steps on fresh processes (`--step-seconds`, one delta a second),
doubling the number of streams until a step fails (p99 lag at or above 250 ms, or a stream
incomplete), then halving the gap twice, and reports the most events per second (streams x
deltas per second) relayed with p99 lag under 250 ms.

Every connection goes to 127.0.0.1; every loop has a deadline; the processes stop at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.load import Connection, build_request, percentile
from bench.procs import (
    SERVICE,
    ProcGroup,
    RssSampler,
    Sampler,
    base_env,
    free_port,
    start_server,
)

HOST = "127.0.0.1"
STAMP = re.compile(rb"bench-t(\d{20})")
PLACEHOLDER = b"bench-t" + b"0" * 20
TEXT_DELTA = b"response.output_text.delta"
FINAL_EVENT = b"thread.run.completed"
# An error event: SSE `event: error`; NDJSON: the visible error message carries `error_code` in its metadata.
ERROR_MARKS = (b"event: error", b'"error_code"')
SSE, NDJSON = "POST /chat/stream (SSE)", "POST /api/assistants/threads/{id}/messages (NDJSON)"
LAG_TARGET_MS = 250.0
MB = 1024 * 1024


def raise_open_files(wanted: int = 16_384) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


# ---- the fake model, stamping each delta ------------------------------------------------------


class DeltaStamper:
    """ASGI wrapper around the fake: each text delta's placeholder becomes the time it is written."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != "/v1/responses":
            await self.app(scope, receive, send)
            return

        async def send_stamped(message: dict[str, Any]) -> None:
            body = message.get("body", b"")
            if message["type"] == "http.response.body" and TEXT_DELTA in body:
                # Just before the write: uvicorn hands the chunk to the socket before `send` returns.
                message = {**message, "body": body.replace(PLACEHOLDER, b"bench-t%020d" % time.perf_counter_ns())}
            await send(message)

        await self.app(scope, receive, send_stamped)


def serve_fake(port: int, deltas: int, interval_s: float) -> None:
    import uvicorn

    from tests.fakes.fake_models import ModelBehaviour
    from tests.fakes.fake_openai import FakeOpenAI

    raise_open_files()
    fake = FakeOpenAI(latency_s=0.0, run_seconds=0.0, record=False)
    reply = " ".join([PLACEHOLDER.decode()] * deltas)
    fake.models.default = ModelBehaviour(reply=reply, delay_s=interval_s)
    fake.models.calls = _Forgetful()
    uvicorn.run(DeltaStamper(fake.app), host=HOST, port=port, log_level="warning", backlog=4096)


class _Forgetful(list[Any]):
    """The fake records every model call; thousands of long runs need no record."""

    def append(self, _: Any) -> None:
        return None


# ---- the client (a process of its own) --------------------------------------------------------


@dataclass
class Stream:
    kind: str
    thread_id: str
    sent_ns: int = 0
    status: int = 0
    seen: dict[int, int] = field(default_factory=dict)  # the model's send stamp -> our receive time
    final: bool = False
    error: str | None = None


async def make_threads(port: int, count: int) -> list[str]:
    """`count` threads through the service (32 keep-alive connections), before anything is measured."""
    raw = build_request(port, "/api/assistants/threads", {})
    ids: list[str] = []
    deadline = time.monotonic() + 120

    async def worker() -> None:
        conn = Connection(port)
        while len(ids) < count and time.monotonic() < deadline:
            status, body, _ = await conn.request(raw, stream=False, t0=time.perf_counter())
            if status != 200:
                raise RuntimeError(f"thread creation answered {status}: {body[:200]!r}")
            ids.append(json.loads(body)["threadId"])
        await conn.close()

    await asyncio.gather(*(worker() for _ in range(32)))
    if len(ids) < count:
        raise RuntimeError(f"made only {len(ids)} of {count} threads in time")
    return ids[:count]


def stream_request(port: int, stream: Stream) -> bytes:
    if stream.kind == SSE:
        path, payload = "/chat/stream", {"content": "hello", "threadId": stream.thread_id}
    else:
        path, payload = f"/api/assistants/threads/{stream.thread_id}/messages", {"content": "hello"}
    body = json.dumps(payload).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Type: application/json\r\n"
        f"Connection: close\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def read_stream(stream: Stream, reader: asyncio.StreamReader, deadline_s: float) -> None:
    """Read the answer to its end (the server closes: `Connection: close`), stamping each delta's arrival."""
    tail = b""
    first = True
    try:
        async with asyncio.timeout(deadline_s):
            while data := await reader.read(65536):
                now = time.perf_counter_ns()
                if first:
                    first = False
                    status_line = data[: data.find(b"\r\n")]
                    stream.status = int(status_line.split(b" ")[1]) if status_line.count(b" ") >= 1 else 0
                window = tail + data
                for match in STAMP.finditer(window):
                    stamp = int(match.group(1))
                    if stamp and stamp not in stream.seen:
                        stream.seen[stamp] = now
                stream.final = stream.final or FINAL_EVENT in window
                if stream.error is None and any(mark in window for mark in ERROR_MARKS):
                    stream.error = "error_event"
                tail = window[-64:]
    except TimeoutError:
        stream.error = stream.error or "timeout"
    except OSError as exc:
        stream.error = stream.error or type(exc).__name__


async def run_streams(port: int, count: int, deadline_s: float) -> list[Stream]:
    raise_open_files()
    thread_ids = await make_threads(port, count)
    streams = [Stream(SSE if n % 2 == 0 else NDJSON, thread_id) for n, thread_id in enumerate(thread_ids)]
    connections: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    for start in range(0, count, 200):  # slices, so the listen backlog never overflows
        opened = await asyncio.gather(
            *(asyncio.open_connection(HOST, port, limit=1 << 20) for _ in streams[start : start + 200])
        )
        connections.extend(opened)
    requests = [stream_request(port, stream) for stream in streams]
    sys.stdout.write("sending\n")  # the orchestrator starts probing /livez now
    sys.stdout.flush()
    for stream, (_, writer), raw in zip(streams, connections, requests, strict=True):  # all at the same moment
        stream.sent_ns = time.perf_counter_ns()
        writer.write(raw)
    await asyncio.gather(
        *(read_stream(s, reader, deadline_s) for s, (reader, _) in zip(streams, connections, strict=True))
    )
    for _, writer in connections:
        writer.close()
    return streams


def _stats(values_ms: list[float]) -> dict[str, float | None]:
    ordered = sorted(values_ms)
    return {
        "n": len(ordered),
        "p50_ms": percentile(ordered, 50),
        "p99_ms": percentile(ordered, 99),
        "max_ms": ordered[-1] if ordered else None,
    }


def summarize(streams: list[Stream], deltas: int) -> dict[str, Any]:
    errors: dict[str, int] = {}
    completed = 0
    by_kind: dict[str, dict[str, list[float]]] = {kind: {"first": [], "lag": []} for kind in (SSE, NDJSON)}
    later_lag: list[float] = []  # every delta but each stream's first (which meets the start of all the others)
    for stream in streams:
        if stream.status != 200:
            kind = f"http_{stream.status}" if stream.status else (stream.error or "no_answer")
        elif stream.error:
            kind = stream.error
        elif not stream.final:
            kind = "no_final_event"
        elif len(stream.seen) < deltas:
            kind = "missing_deltas"
        else:
            kind = None
            completed += 1
        if kind is not None:
            errors[kind] = errors.get(kind, 0) + 1
        if stream.seen:
            numbers = by_kind[stream.kind]
            numbers["first"].append((min(stream.seen.values()) - stream.sent_ns) / 1e6)
            lags = [(received - sent) / 1e6 for sent, received in sorted(stream.seen.items())]
            numbers["lag"].extend(lags)
            later_lag.extend(lags[1:])
    all_first = [v for k in by_kind.values() for v in k["first"]]
    all_lag = [v for k in by_kind.values() for v in k["lag"]]
    return {
        "streams": len(streams),
        "completed": completed,
        "errors": errors,
        "first_delta": _stats(all_first),
        "lag": _stats(all_lag),
        "later_lag": _stats(later_lag),
        "by_kind": {kind: {"first_delta": _stats(k["first"]), "lag": _stats(k["lag"])} for kind, k in by_kind.items()},
    }


def client_main(port: int, count: int, deltas: int, deadline_s: float) -> None:
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        runner = asyncio.run
    streams = runner(run_streams(port, count, deadline_s))
    json.dump(summarize(streams, deltas), sys.stdout)
    sys.stdout.write("\n")


# ---- the orchestration (this process) ---------------------------------------------------------


class LivezSampler(Sampler):
    """`GET /livez` every `interval_s` on a fresh connection; latencies in ms (a failure: no 200 within 10 s)."""

    def __init__(self, port: int, interval_s: float = 0.1) -> None:
        super().__init__(interval_s)
        self._port = port
        self.latencies_ms: list[float] = []
        self.worst = (0.0, 0.0)  # (latency ms, seconds after the first sample)
        self.failures = 0
        self._began = time.perf_counter()

    def sample(self) -> bool:
        started = time.perf_counter()
        try:
            conn = http.client.HTTPConnection(HOST, self._port, timeout=10)
            conn.request("GET", "/livez")
            ok = conn.getresponse().status == 200
            conn.close()
        except OSError:
            ok = False
        took_ms = (time.perf_counter() - started) * 1000
        self.latencies_ms.append(took_ms)
        self.worst = max(self.worst, (took_ms, started - self._began))
        self.failures += not ok
        return True


def one_run(count: int, deltas: int, seconds: float, log_dir: Path, profile: Path | None = None) -> dict[str, Any]:
    """Fresh fake and service, `count` streams at once; the client's summary plus RSS and /livez.

    `profile`: the service runs under pyinstrument, which writes its session there (its figures are then slower).
    """
    interval_s = seconds / deltas
    with ProcGroup() as group:
        port = free_port()
        fake_args = ["-m", "bench.streams", "--serve-fake", str(port), "--deltas", str(deltas)]
        fake_args += ["--seconds", str(seconds)]
        fake = group.start("fake_openai", fake_args, base_env(), port, log_dir)
        fake.wait_until_up("/v1/threads/thread_none")
        wrapper = None if profile is None else ["-m", "pyinstrument", "-r", "pyisession", "-o", str(profile)]
        server = start_server(
            group,
            log_dir,
            fake,
            SERVICE,
            wrapper=wrapper,
            ENGINE="hosted",
            OPENAI_ASSISTANT_ID="",
            DATA_DIR=str(log_dir / "data"),
        )
        deadline_s = 2 * seconds + 60  # half the streams may wait a whole run for an upstream connection
        client = [sys.executable, "-m", "bench.streams", "--client", str(server.port), "--streams", str(count)]
        client += ["--deltas", str(deltas), "--deadline", str(deadline_s)]
        with RssSampler(server, interval_s=0.1) as rss:
            popen = subprocess.Popen(client, env=base_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            # Thread creation first (not measured); /livez from when the client says it sends the streams.
            assert popen.stdout is not None
            popen.stdout.readline()
            cpu_before = server.cpu_seconds(), fake.cpu_seconds()
            with LivezSampler(server.port) as livez:
                out, err = popen.communicate(timeout=deadline_s + 180)
            cpu = server.cpu_seconds() - cpu_before[0], fake.cpu_seconds() - cpu_before[1]
        if popen.returncode != 0:
            raise RuntimeError(f"stream client failed: {err.decode(errors='replace')[-2000:]}")
        summary: dict[str, Any] = json.loads(out)
        summary.update(
            deltas=deltas,
            seconds=seconds,
            events_per_s=count * deltas / seconds,
            interval_s=interval_s,
            peak_rss_mb=max(rss.peak, server.peak_rss_bytes() or 0) / MB,
            cpu_s={"service": cpu[0], "fake": cpu[1]},
            livez=_stats(livez.latencies_ms) | {"failures": livez.failures, "worst_at_s": livez.worst[1]},
        )
        return summary


def _fmt(stats: dict[str, Any], key: str) -> str:
    value = stats.get(key)
    return "-" if value is None else f"{value:,.1f}"


def print_run(summary: dict[str, Any]) -> None:
    print(
        f"{summary['streams']:,} streams ({summary['deltas']} deltas over {summary['seconds']:.0f} s each, "
        f"{summary['events_per_s']:,.0f} deltas/s in all): {summary['completed']:,} ended with their final event, "
        f"errors {sum(summary['errors'].values())} {summary['errors'] or ''}"
    )
    first, lag, livez = summary["first_delta"], summary["lag"], summary["livez"]
    print(f"  first delta after the request: p50 {_fmt(first, 'p50_ms')} ms, p99 {_fmt(first, 'p99_ms')} ms")
    later = summary["later_lag"]
    print(
        f"  delta lag (client read - model send): p50 {_fmt(lag, 'p50_ms')} ms, p99 {_fmt(lag, 'p99_ms')} ms, "
        f"max {_fmt(lag, 'max_ms')} ms; each stream's first delta left out: p50 {_fmt(later, 'p50_ms')} ms, "
        f"p99 {_fmt(later, 'p99_ms')} ms"
    )
    for kind, numbers in summary["by_kind"].items():
        print(
            f"    {kind}: first delta p50 {_fmt(numbers['first_delta'], 'p50_ms')} / p99 "
            f"{_fmt(numbers['first_delta'], 'p99_ms')} ms; lag p50 {_fmt(numbers['lag'], 'p50_ms')} / p99 "
            f"{_fmt(numbers['lag'], 'p99_ms')} ms"
        )
    print(f"  peak RSS of the service: {summary['peak_rss_mb']:.0f} MB")
    print(
        f"  CPU from the send to the last stream's end: service {summary['cpu_s']['service']:.1f} s, "
        f"fake model {summary['cpu_s']['fake']:.1f} s"
    )
    print(
        f"  GET /livez (n {livez['n']}): p50 {_fmt(livez, 'p50_ms')} ms, p99 {_fmt(livez, 'p99_ms')} ms, "
        f"max {_fmt(livez, 'max_ms')} ms ({livez['worst_at_s']:.1f} s after the streams were sent), "
        f"failures {livez['failures']}",
        flush=True,
    )


def targets(summary: dict[str, Any]) -> list[str]:
    def verdict(ok: bool) -> str:
        return "PASS" if ok else "FAIL"

    first, lag, livez = summary["first_delta"], summary["lag"], summary["livez"]
    errors = sum(summary["errors"].values())
    return [
        f"{verdict(summary['completed'] == summary['streams'] and not errors)} every stream ended with its final "
        f"event, no errors ({summary['completed']:,}/{summary['streams']:,}, {errors} errors)",
        f"{verdict((first['p99_ms'] or 1e9) <= 3000)} first delta within 3 s at p99 ({_fmt(first, 'p99_ms')} ms)",
        f"{verdict((lag['p99_ms'] or 1e9) <= LAG_TARGET_MS)} delta lag <= 250 ms at p99 ({_fmt(lag, 'p99_ms')} ms)",
        f"{verdict(summary['peak_rss_mb'] < 500)} peak RSS under 500 MB ({summary['peak_rss_mb']:.0f} MB)",
        f"{verdict((livez['max_ms'] or 1e9) <= 250 and not livez['failures'])} GET /livez within 250 ms throughout "
        f"(max {_fmt(livez, 'max_ms')} ms)",
    ]


def step_passes(summary: dict[str, Any]) -> bool:
    return (
        summary["completed"] == summary["streams"]
        and not summary["errors"]
        and (summary["lag"]["p99_ms"] or 1e9) < LAG_TARGET_MS
    )


def find_max(start: int, seconds: float, log_root: Path, limit: int) -> None:
    """Double the streams from `start` until a step fails, then halve the gap twice; at most `limit` steps."""
    deltas = max(1, round(seconds))  # one delta a second per stream: events/s = streams
    results: list[dict[str, Any]] = []
    best: dict[str, Any] | None = None
    low, high, count = 0, 0, start
    for _ in range(limit):
        print(f"\nstep: {count:,} streams ...", flush=True)
        summary = one_run(count, deltas, seconds, log_root / f"step-{count}")
        print_run(summary)
        results.append(summary)
        if step_passes(summary):
            low, best = count, summary
        else:
            high = count
        if high == 0:
            count *= 2
        elif high - low <= max(50, low // 8):
            break
        else:
            count = (low + high) // 2
    print("\nsteps (one delta a second per stream; pass: every stream complete, no error, p99 lag < 250 ms):")
    for summary in results:
        print(
            f"  {summary['streams']:>6,} streams  {summary['events_per_s']:>7,.0f} events/s  "
            f"completed {summary['completed']:>6,}  errors {sum(summary['errors'].values()):>5}  "
            f"p99 lag {_fmt(summary['lag'], 'p99_ms'):>9} ms  "
            f"/livez max {_fmt(summary['livez'], 'max_ms'):>8} ms  {'pass' if step_passes(summary) else 'FAIL'}"
        )
    if best is None:
        print(f"no step passed (from {start:,} streams)")
    else:
        print(f"most events per second one process relayed with p99 lag under 250 ms: {best['events_per_s']:,.0f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", type=int, default=2000, help="streams opened at once")
    parser.add_argument("--deltas", type=int, default=20, help="text deltas per stream")
    parser.add_argument("--seconds", type=float, default=20.0, help="over how long the model streams them")
    parser.add_argument("--find-max", action="store_true", help="after the run, step the number of streams")
    parser.add_argument("--skip-run", action="store_true", help="with --find-max: only the steps")
    parser.add_argument("--step-start", type=int, default=250, help="--find-max: streams in the first step")
    parser.add_argument("--step-seconds", type=float, default=10.0, help="--find-max: seconds per step's streams")
    parser.add_argument("--max-steps", type=int, default=7, help="--find-max: at most this many steps")
    parser.add_argument("--profile", type=Path, help="run the service under pyinstrument, its session to this file")
    parser.add_argument("--serve-fake", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--client", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--deadline", type=float, default=120.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_fake:
        serve_fake(args.serve_fake, args.deltas, args.seconds / args.deltas)
        return 0
    if args.client:
        client_main(args.client, args.streams, args.deltas, args.deadline)
        return 0
    with tempfile.TemporaryDirectory() as workdir:
        log_root = Path(workdir)
        if not args.skip_run:
            print(f"{args.streams:,} streamed runs at once on one service process (ENGINE=hosted) ...", flush=True)
            summary = one_run(args.streams, args.deltas, args.seconds, log_root / "run", args.profile)
            print_run(summary)
            print("targets:")
            for line in targets(summary):
                print("  " + line)
        if args.find_max:
            find_max(args.step_start, args.step_seconds, log_root, args.max_steps)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
