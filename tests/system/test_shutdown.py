"""A stream still open when `python -m app` is stopped ends with its format's last words, not a cut."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import httpx2

from tests.fakes.app_support import TEST_API_KEY
from tests.fakes.processes import Server, fake_upstream_process
from tests.fakes.servers import wait_for_upstream_requests

SHUTDOWN_TIMEOUT_S = 3


def test_streams_open_at_shutdown_end_with_their_last_words(tmp_path: Path) -> None:
    bodies: dict[str, bytes] = {}
    with fake_upstream_process() as fake:
        server = Server(
            tmp_path,
            ENGINE="hosted",
            OPENAI_API_KEY=TEST_API_KEY,
            OPENAI_BASE_URL=f"{fake}/v1",
            DATA_DIR="data",
            SHUTDOWN_TIMEOUT_S=str(SHUTDOWN_TIMEOUT_S),
        )
        base = server.start()
        try:
            for _ in range(2):  # both model calls keep their streams open, answering nothing
                httpx2.post(f"{fake}/_fake/models/plan", json={"hang_s": 60}).raise_for_status()
            with httpx2.Client(base_url=base, timeout=30) as client:
                threads = [client.post("/threads").json()["thread_id"] for _ in range(2)]

            def read(name: str, path: str, body: dict[str, str]) -> None:
                with httpx2.Client(base_url=base, timeout=30) as client:
                    bodies[name] = client.post(path, json=body).read()

            readers = [
                threading.Thread(target=read, args=("sse", "/chat/stream", {"content": "hi", "threadId": threads[0]})),
                threading.Thread(
                    target=read, args=("ndjson", f"/api/assistants/threads/{threads[1]}/messages", {"content": "hi"})
                ),
            ]
            for reader in readers:
                reader.start()
            wait_for_upstream_requests(fake, "POST", "/v1/responses", count=2)  # both streams wait on the model
            exit_status = server.terminate()
            for reader in readers:
                reader.join(timeout=30)
        finally:
            server.stop()
        log = server.log()

    assert exit_status in (0, -15)  # uvicorn re-raises SIGTERM once it has shut down cleanly
    assert "Finished server process" in log
    sse = bodies["sse"].decode()
    assert sse.startswith("event: thread.run.created")
    assert sse.endswith(
        'event: error\ndata: {"code":"shutting_down","message":"The service restarted before the run\'s stream ended."}'
        "\n\nevent: done\ndata: [DONE]\n\n"
    )
    lines = [json.loads(line) for line in bodies["ndjson"].decode("ascii").splitlines()]
    assert lines[0]["event"] == "thread.run.created"
    assert lines[-1]["event"] == "thread.run.completed"
    assert lines[-1]["data"]["metadata"] == {"error_code": "shutting_down"}
    assert "Traceback" not in log
    assert "CancelledError" not in log
