"""`/v1` runs against hosted `/chat`, in one run: CPU per run creation, and a streamed run's first-event delay.

    .venv/bin/python -m bench.v1_runs [--rounds 200] [--stream-rounds 200] [--concurrency 8] [--waves 25]
    ./bench/run.sh --v1                 # the same, with the default options

Starts the fake upstream and `python -m app` (ENGINE=hosted, the model called through the fake's
`POST /v1/responses`, or `/v1/chat/completions` with `--model-api chat_completions`). Then:

1. CPU: one request at a time, alternating, `POST /chat` on one thread and `POST /v1/threads/{id}/runs`
   (the message in `additional_messages`, as Assistants code does) on another, each waiting for its
   run to end before the next. Prints the server's CPU per request of each kind (user + system time).
2. First-event delay: streamed runs, `POST /v1/threads/{id}/runs` with `"stream": true` beside the
   hosted `POST /chat/stream`, alternating, each on a fresh thread; first one at a time, then in waves
   of `--concurrency` at once. The fake model stamps the moment it writes its first text delta to
   the socket; the client stamps the moment it reads the first `event: thread.message.delta`. Both
   stamps are `time.perf_counter_ns()` (CLOCK_MONOTONIC on Linux: one clock for every process on the
   machine). Each run's message carries a mark that the fake finds in the model request, so stamps
   pair up under concurrency too. Prints median, p90 and max of the delay (target: at most 5 ms).

Everything runs on 127.0.0.1; every loop is bounded; the processes are stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench.procs import SERVICE, Proc, ProcGroup, base_env, free_port, get_json, post_json, start_server

TERMINAL = {"completed", "failed", "cancelled", "expired", "incomplete", "requires_action"}
V1_STREAM = "POST /v1/threads/{id}/runs (stream)"
CHAT_STREAM = "POST /chat/stream"
FIRST_EVENT = b"event: thread.message.delta"
STREAM_TIMEOUT_S = 30.0
TARGET_S = 0.005


# ---- the fake upstream, with a clock on the model's first text delta --------------------------

MARK = re.compile(rb"bench-mark-(\d+)")
MODEL_PATHS = ("/v1/responses", "/v1/chat/completions")
# The first text delta: a Responses event, or a Chat Completions chunk whose delta has some content.
TEXT_DELTA = re.compile(rb'event: response\.output_text\.delta|"delta": \{"content": "[^"]')


class FirstDeltaClock:
    """ASGI wrapper around the fake: when each model call's first text delta was written to the socket.

    The calls are told apart by the last `bench-mark-<n>` in the request (the newest user message).
    `GET /_bench/first-deltas` answers `{mark: perf_counter_ns}`.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.stamps: dict[str, int] = {}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/_bench/first-deltas":
            body = json.dumps(self.stamps).encode()
            await send(
                {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]}
            )
            await send({"type": "http.response.body", "body": body})
            return
        if scope["type"] != "http" or scope["path"] not in MODEL_PATHS:
            await self.app(scope, receive, send)
            return
        request = bytearray()
        stamped = False

        async def receive_recording() -> dict[str, Any]:
            message = await receive()
            request.extend(message.get("body", b""))
            return message

        async def send_stamping(message: dict[str, Any]) -> None:
            nonlocal stamped
            if not stamped and message["type"] == "http.response.body" and TEXT_DELTA.search(message.get("body", b"")):
                stamped = True
                marks = MARK.findall(request)
                if marks:
                    # Stamped just before the write: a stamp taken after it could come late, as the fake
                    # may lose its core to the processes the write wakes (seen: a client read before it).
                    self.stamps[marks[-1].decode()] = time.perf_counter_ns()
            await send(message)  # uvicorn hands the bytes to the socket before this returns

        await self.app(scope, receive_recording, send_stamping)


def serve_fake(port: int) -> None:
    """The fake upstream (tests/fakes/fake_openai.py) as a process, behind FirstDeltaClock."""
    import uvicorn

    from tests.fakes.fake_openai import FakeOpenAI

    fake = FakeOpenAI(latency_s=0.0, run_seconds=0.0, record=False)
    uvicorn.run(FirstDeltaClock(fake.app), host="127.0.0.1", port=port, log_level="warning")


def start_clocked_fake(group: ProcGroup, log_dir: Path) -> Proc:
    port = free_port()
    fake = group.start("fake_openai", ["-m", "bench.v1_runs", "--serve-fake", str(port)], base_env(), port, log_dir)
    fake.wait_until_up("/_bench/first-deltas")
    return fake


# ---- 1. CPU per run creation ------------------------------------------------------------------


def wait_done(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status, run = get_json(url)
        if status == 200 and run["status"] in TERMINAL:
            return
        time.sleep(0.005)
    raise RuntimeError(f"{url} did not finish")


def chat(base: str, thread_id: str) -> float:
    before = time.perf_counter()
    status, body = post_json(f"{base}/chat", {"content": "hello", "threadId": thread_id})
    assert status == 200, body
    took = time.perf_counter() - before
    wait_done(f"{base}/threads/{thread_id}/runs/{body['run_id']}")
    return took


def v1_run(base: str, thread_id: str) -> float:
    before = time.perf_counter()
    payload = {"assistant_id": "asst_default", "additional_messages": [{"role": "user", "content": "hello"}]}
    status, run = post_json(f"{base}/v1/threads/{thread_id}/runs", payload)
    assert status == 200, run
    took = time.perf_counter() - before
    wait_done(f"{base}/v1/threads/{thread_id}/runs/{run['id']}")
    return took


def measure_cpu(server: Proc, rounds: int) -> dict[str, float]:
    """Server CPU seconds per run of each kind (`chat`, `v1`), request and run until it ended, alternated."""
    chat_thread = post_json(f"{server.url}/threads", {})[1]["thread_id"]
    v1_thread = post_json(f"{server.url}/v1/threads", {})[1]["id"]
    for _ in range(5):  # warm-up
        chat(server.url, chat_thread)
        v1_run(server.url, v1_thread)
    cpu = {"POST /chat": 0.0, "POST /v1/threads/{id}/runs": 0.0}
    for _ in range(rounds):
        for name, one, thread_id in (
            ("POST /chat", chat, chat_thread),
            ("POST /v1/threads/{id}/runs", v1_run, v1_thread),
        ):
            before = server.cpu_seconds()
            one(server.url, thread_id)
            cpu[name] += server.cpu_seconds() - before
    for name, seconds in cpu.items():
        print(f"{name:<28} {seconds / rounds * 1000:6.2f} ms of server CPU per run (request and run)")
    ratio = cpu["POST /v1/threads/{id}/runs"] / cpu["POST /chat"]
    print(f"ratio {ratio:.2f}x (target <= 1.2x)", flush=True)
    return {"chat": cpu["POST /chat"] / rounds, "v1": cpu["POST /v1/threads/{id}/runs"] / rounds}


# ---- 2. first-event delay of a streamed run ---------------------------------------------------


async def stream_first_event(port: int, path: str, payload: dict[str, Any]) -> int:
    """POST on a fresh connection, read the SSE answer to its end; when the first message delta arrived."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        body = json.dumps(payload).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"Accept: text/event-stream\r\nConnection: close\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        writer.write(head.encode() + body)
        received = bytearray()
        first: int | None = None
        while True:  # until the server closes the connection (Connection: close), bounded by the timeout
            data = await reader.read(65536)
            now = time.perf_counter_ns()
            if not data:
                break
            # Search the new bytes with a little of the old: the event's name may straddle two reads.
            window_start = max(0, len(received) - len(FIRST_EVENT))
            received.extend(data)
            if first is None and FIRST_EVENT in received[window_start:]:
                first = now
    finally:
        writer.close()
    status_line = bytes(received[: received.find(b"\r\n")])
    if b" 200 " not in status_line or first is None or b"thread.run.completed" not in received:
        raise RuntimeError(f"{path}: no complete streamed run ({status_line!r}): {bytes(received[-500:])!r}")
    return first


def new_thread(base: str, kind: str) -> str:
    if kind == V1_STREAM:
        return str(post_json(f"{base}/v1/threads", {})[1]["id"])
    return str(post_json(f"{base}/threads", {})[1]["thread_id"])


def stream_request(server: Proc, kind: str, thread_id: str, mark: int) -> Awaitable[int]:
    content = f"hello bench-mark-{mark}"
    if kind == V1_STREAM:
        payload = {
            "assistant_id": "asst_default",
            "stream": True,
            "additional_messages": [{"role": "user", "content": content}],
        }
        return stream_first_event(server.port, f"/v1/threads/{thread_id}/runs", payload)
    return stream_first_event(server.port, "/chat/stream", {"content": content, "threadId": thread_id})


async def streamed_waves(server: Proc, waves: int, at_once: int, marks: Callable[[], int]) -> dict[str, dict[int, int]]:
    """`waves` rounds; in each, `at_once` streamed runs of one kind, then of the other (the order swapping)."""
    received: dict[str, dict[int, int]] = {V1_STREAM: {}, CHAT_STREAM: {}}
    for wave in range(waves):
        kinds = (V1_STREAM, CHAT_STREAM) if wave % 2 == 0 else (CHAT_STREAM, V1_STREAM)
        for kind in kinds:
            threads = [new_thread(server.url, kind) for _ in range(at_once)]  # made before the clock matters
            numbers = [marks() for _ in threads]
            requests = [stream_request(server, kind, t, n) for t, n in zip(threads, numbers, strict=True)]
            stamps = await asyncio.wait_for(asyncio.gather(*requests), STREAM_TIMEOUT_S)
            received[kind].update(zip(numbers, stamps, strict=True))
    return received


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def summary(delays_ms: list[float]) -> str:
    median, p90 = statistics.median(delays_ms), percentile(delays_ms, 0.9)
    return (
        f"n {len(delays_ms):>4}  median {median:6.2f} ms  p90 {p90:6.2f} ms  max {max(delays_ms):7.2f} ms"
        f"  (min {min(delays_ms):5.2f})"
    )


def measure_first_event(server: Proc, fake: Proc, rounds: int, at_once: int, waves: int) -> None:
    counter = iter(range(1_000_000))

    def mark() -> int:
        return next(counter)

    asyncio.run(streamed_waves(server, 5, 1, mark))  # warm-up
    shapes = [("1 at a time", rounds, 1)]
    if at_once > 1 and waves > 0:
        shapes.append((f"{at_once} at once", waves, at_once))
    results = []
    for label, count, width in shapes:
        received = asyncio.run(streamed_waves(server, count, width, mark))
        results.append((label, received))
    status, sent = get_json(f"{fake.url}/_bench/first-deltas")
    assert status == 200, status
    print("first text event, delay after the model's first text delta (client read - fake model's write):")
    v1_medians = []
    for label, received in results:
        for kind in (V1_STREAM, CHAT_STREAM):
            delays = [(at - sent[str(n)]) / 1e6 for n, at in received[kind].items()]
            print(f"  {label:<12} {kind:<36} {summary(delays)}", flush=True)
            if kind == V1_STREAM:
                v1_medians.append(f"{statistics.median(delays):.2f} ms {label}")
    one_at_a_time = [(at - sent[str(n)]) / 1e6 for n, at in results[0][1][V1_STREAM].items()]
    verdict = "PASS" if statistics.median(one_at_a_time) <= TARGET_S * 1000 else "FAIL"
    print(
        f"{verdict} /v1 streamed run: first event {', '.join(v1_medians)} (median) after the model's (target <= 5 ms)"
    )


# ---- main -------------------------------------------------------------------------------------


def start_hosted(group: ProcGroup, log_dir: Path, model_api: str) -> tuple[Proc, Proc]:
    """The clocked fake and `python -m app` with ENGINE=hosted on it."""
    fake = start_clocked_fake(group, log_dir)
    server = start_server(
        group,
        log_dir,
        fake,
        SERVICE,
        ENGINE="hosted",
        HOSTED_MODEL_API=model_api,
        OPENAI_ASSISTANT_ID="",
        DATA_DIR=str(log_dir / "data"),
    )
    return fake, server


def v1_cpu_per_run(rounds: int) -> dict[str, float]:
    """For bench/run.py: the CPU comparison alone (`chat`, `v1`: server seconds per run), its own processes."""
    with tempfile.TemporaryDirectory() as workdir, ProcGroup() as group:
        _, server = start_hosted(group, Path(workdir), "responses")
        return measure_cpu(server, rounds)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=200, help="CPU: runs of each kind (0: skip)")
    parser.add_argument("--stream-rounds", type=int, default=200, help="streamed runs of each kind, one at a time")
    parser.add_argument("--concurrency", type=int, default=8, help="streamed runs at once in the waves (<= 1: none)")
    parser.add_argument("--waves", type=int, default=25, help="waves of concurrent streamed runs of each kind")
    parser.add_argument("--model-api", choices=("responses", "chat_completions"), default="responses")
    parser.add_argument("--serve-fake", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_fake:
        serve_fake(args.serve_fake)
        return
    with tempfile.TemporaryDirectory() as workdir, ProcGroup() as group:
        fake, server = start_hosted(group, Path(workdir), args.model_api)
        print(f"ENGINE=hosted, HOSTED_MODEL_API={args.model_api}, fake model on 127.0.0.1, 0 ms latency", flush=True)
        if args.rounds > 0:
            measure_cpu(server, args.rounds)
        if args.stream_rounds > 0:
            measure_first_event(server, fake, args.stream_rounds, args.concurrency, args.waves)


if __name__ == "__main__":
    main(sys.argv[1:])
