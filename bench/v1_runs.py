"""CPU of a `/v1` run creation beside a hosted `POST /chat`, measured in one run.

    .venv/bin/python -m bench.v1_runs [--rounds 200]

Starts the fake upstream and `python -m app` (ENGINE=hosted), then, one request at a time and
alternating: `POST /chat` on one thread, and `POST /v1/threads/{id}/runs` (with the message in
`additional_messages`, as Assistants code does) on another, each waiting for its run to end before
the next. Prints the server's CPU per request of each kind (user + system time of the process).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench.procs import ProcGroup, get_json, post_json, start_fake, start_server

TERMINAL = {"completed", "failed", "cancelled", "expired", "incomplete", "requires_action"}


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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as workdir, ProcGroup() as group:
        log_dir = Path(workdir)
        fake = start_fake(group, log_dir, latency_s=0.0, threads=0)
        server = start_server(
            group, log_dir, fake, "service", ENGINE="hosted", OPENAI_ASSISTANT_ID="", DATA_DIR=str(log_dir / "data")
        )
        chat_thread = post_json(f"{server.url}/threads", {})[1]["thread_id"]
        v1_thread = post_json(f"{server.url}/v1/threads", {})[1]["id"]
        for _ in range(5):  # warm-up
            chat(server.url, chat_thread)
            v1_run(server.url, v1_thread)
        cpu = {"POST /chat": 0.0, "POST /v1/threads/{id}/runs": 0.0}
        for _ in range(args.rounds):
            for name, one, thread_id in (
                ("POST /chat", chat, chat_thread),
                ("POST /v1/threads/{id}/runs", v1_run, v1_thread),
            ):
                before = server.cpu_seconds()
                one(server.url, thread_id)
                cpu[name] += server.cpu_seconds() - before
        for name, seconds in cpu.items():
            print(f"{name:<28} {seconds / args.rounds * 1000:6.2f} ms of server CPU per run (request and run)")
        ratio = cpu["POST /v1/threads/{id}/runs"] / cpu["POST /chat"]
        print(f"ratio {ratio:.2f}x")


if __name__ == "__main__":
    main()
