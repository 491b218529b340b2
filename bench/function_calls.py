"""CPU of a hosted function-call round trip, beside a plain streamed run, measured in one run.

    .venv/bin/python -m bench.function_calls [--rounds 100]

Starts the fake upstream and `python -m app` (ENGINE=hosted, the quickstart's assistant from
assistants.example.json), then, one request at a time: a streamed run with no tools, and the
weather round trip (a streamed run the model answers with a get_weather call, then the tool
output submitted and the reply streamed). Prints the service's CPU per plain run and per round
trip (user + system time of the server process, over all rounds).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.procs import ROOT, ProcGroup, post_json, start_fake, start_server


def post_stream(url: str, payload: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """POST and read a whole SSE body: its (event, data) frames."""
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        text = response.read().decode()
    frames = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        if fields.get("data", "").startswith("{"):
            frames.append((fields["event"], json.loads(fields["data"])))
    return frames


def plain_run(base: str, thread_id: str) -> None:
    frames = post_stream(f"{base}/chat/stream", {"content": "hello", "threadId": thread_id})
    assert frames[-1][0] == "thread.run.completed", frames[-1]


def round_trip(base: str, fake: str, thread_id: str) -> None:
    call = {"name": "get_weather", "arguments": json.dumps({"location": "Paris, France", "unit": "c"})}
    post_json(f"{fake}/_fake/models/plan", {"calls": [call]})
    frames = post_stream(f"{base}/chat/stream", {"content": "What's the weather in Paris?", "threadId": thread_id})
    event, run = frames[-1]
    assert event == "thread.run.requires_action", event
    call_id = run["required_action"]["submit_tool_outputs"]["tool_calls"][0]["id"]
    outputs = {"tool_outputs": [{"tool_call_id": call_id, "output": '{"temperature": 18, "unit": "c"}'}]}
    frames = post_stream(f"{base}/threads/{thread_id}/runs/{run['id']}/submit_tool_outputs", outputs)
    assert frames[-1][0] == "thread.run.completed", frames[-1]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=100)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as workdir, ProcGroup() as group:
        log_dir = Path(workdir)
        fake = start_fake(group, log_dir, latency_s=0.0, threads=0)
        server = start_server(
            group,
            log_dir,
            fake,
            "service",
            ENGINE="hosted",
            ASSISTANTS_FILE=str(ROOT / "assistants.example.json"),
            OPENAI_ASSISTANT_ID="asst_quickstart",
            DATA_DIR=str(log_dir / "data"),
        )
        kinds: dict[str, Callable[[str], None]] = {
            "plain streamed run": lambda thread_id: plain_run(server.url, thread_id),
            "function-call round trip": lambda thread_id: round_trip(server.url, fake.url, thread_id),
        }
        figures = {}
        for name, one in kinds.items():
            threads = [post_json(f"{server.url}/threads", {})[1]["thread_id"] for _ in range(args.rounds + 5)]
            for thread_id in threads[:5]:  # warm-up
                one(thread_id)
            before = server.cpu_seconds()
            for thread_id in threads[5:]:
                one(thread_id)
            figures[name] = (server.cpu_seconds() - before) / args.rounds * 1000
        for name, ms in figures.items():
            print(f"{name:<26} {ms:6.2f} ms of server CPU")
        print(f"ratio {figures['function-call round trip'] / figures['plain streamed run']:.2f}x")


if __name__ == "__main__":
    main()
