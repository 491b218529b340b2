"""A long thread on a model server with a small context keeps working: `python -m app` (ENGINE=hosted) against
the fake upstream as a process, strict as llama-server, with a 1,024-token context counted as a byte-level
tokenizer counts (three times the service's bytes/3 estimate). Twenty messages: the prompt overflows once,
the run is retried cut to the server's counts, and every later run fits before it is sent.

The transcript (each message, its run, the model calls it took) is written to `transcript.txt` in the
test's directory and printed (`pytest -s`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2

from tests.fakes.processes import Server, fake_upstream_process

WAIT_S = 20.0
TERMINAL = {"completed", "failed", "cancelled", "expired", "incomplete"}
CONTEXT_TOKENS = 1024
WORDS = "the quick brown fox jumps over the lazy dog while the river runs past the old mill and on to the sea"


def _wait_for(read: Callable[[], dict[str, Any]], done: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
    """Poll `read` until `done` holds; fail after WAIT_S (a deadline, not a measurement)."""
    deadline = time.monotonic() + WAIT_S
    while not done(value := read()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {value}"
        time.sleep(0.05)
    return value


def _send(client: httpx2.Client, thread_id: str, text: str) -> dict[str, Any]:
    started = client.post("/chat", json={"content": text, "threadId": thread_id})
    assert started.status_code == 200, started.text
    run_id = started.json()["run_id"]

    def read() -> dict[str, Any]:
        body: dict[str, Any] = client.get(f"/threads/{thread_id}/runs/{run_id}").json()
        return body

    return _wait_for(read, lambda run: run["status"] in TERMINAL, f"run {run_id}")


def test_a_twenty_message_thread_overflows_once_and_keeps_working(tmp_path: Path) -> None:
    flavour = ("--model-flavour", "llama-server", "--context-tokens", str(CONTEXT_TOKENS))
    transcript: list[str] = [f"model server: llama-server rules, context {CONTEXT_TOKENS} tokens (byte-level)"]
    with fake_upstream_process(*flavour) as fake:
        server = Server(
            tmp_path,
            ENGINE="hosted",
            HOSTED_MODEL_API="chat_completions",
            OPENAI_API_KEY="sk-overflow-test",
            OPENAI_BASE_URL=f"{fake}/v1",
            OPENAI_MAX_RETRIES="0",
            DATA_DIR="data",
            MAX_COMPLETION_TOKENS="256",
            TRUNCATION_LAST_MESSAGES="20",
        )
        try:
            with httpx2.Client(base_url=server.start(), timeout=10) as client, httpx2.Client(base_url=fake) as control:
                thread_id = client.post("/threads").json()["thread_id"]
                runs, seen = [], 0
                for n in range(1, 21):
                    text = f"Message {n}: {WORDS[: 60 + 4 * n]}"
                    run = _send(client, thread_id, text)
                    calls = control.get("/_fake/models/calls").json()
                    runs.append((run, calls[seen:]))
                    seen = len(calls)
                    made = ", ".join(f"{c['outcome']} ({c['tokens']} tokens, {c['turns']} turns)" for c in runs[-1][1])
                    reply = (run.get("reply") or "")[:40]
                    transcript.append(f"{n:2} user {len(text):3} chars -> run {run['status']}: {made}; reply {reply!r}")
                messages = client.get(f"/threads/{thread_id}/messages", params={"order": "asc", "limit": 100}).json()
            log = server.log()
        finally:
            server.stop()
    transcript.append(f"thread: {len(messages['data'])} messages stored")
    (tmp_path / "transcript.txt").write_text("\n".join(transcript) + "\n")
    print("\n".join(transcript))

    assert [run["status"] for run, _ in runs] == ["completed"] * 20
    outcomes = [call["outcome"] for _, calls in runs for call in calls]
    assert outcomes.count("http_400") == 1  # the context overflowed once
    [overflowed] = [run for run, calls in runs if len(calls) == 2]  # that run, retried once
    assert overflowed["reply"].startswith("Echo: Message")
    assert all(call["tokens"] < CONTEXT_TOKENS for _, calls in runs for call in calls if call["outcome"] == "completed")
    assert len(messages["data"]) == 40
    assert "exceeds the available context size (1024 tokens)" in log  # the server's text: in the log only
    assert "retrying with" in log
