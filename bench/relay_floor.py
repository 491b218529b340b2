"""The relay floor: `POST /chat` as a raw ASGI app, the plain way, for bench/run.py to measure against.

One upstream call (aiohttp, to the Assistants endpoint the service's assistants engine uses: the
message rides in the run's `additional_messages`, and the upstream's refusal of a second run is the
active-run check), then the conversation upsert by (userId, threadId) in SQLite (stdlib sqlite3,
one file in DATA_DIR). No framework, no middleware. It is served by the service's own server with
the service's options (bench/procs.py: asgi_server_args; bench/run.py starts it).
"""

from __future__ import annotations

import json
import os

import aiohttp

from bench.floor_asgi import Floor, Send, answer, upsert_conversation, upstream_headers, upstream_url

ENGINE = "relay floor"


class RelayFloor(Floor):
    engine = ENGINE
    database_file = "relay-floor.sqlite3"

    async def chat(self, content: str, thread_id: str, send: Send) -> None:
        assert self.session is not None
        assert self.db is not None
        body = {
            "model": os.environ.get("OPENAI_MODEL", "gpt-4o-mini"),
            "assistant_id": os.environ.get("OPENAI_ASSISTANT_ID", ""),
            "additional_messages": [{"role": "user", "content": content}],
            "max_completion_tokens": 1000,
            "truncation_strategy": {"type": "last_messages", "last_messages": 10},
        }
        url = upstream_url(f"/threads/{thread_id}/runs")
        headers = upstream_headers(**{"OpenAI-Beta": "assistants=v2"})
        for attempt in (1, 2):  # once more if the upstream closed a kept-alive connection as it was reused
            try:
                async with self.session.post(url, json=body, headers=headers) as response:
                    status, run = response.status, json.loads(await response.read())
                break
            except aiohttp.ServerDisconnectedError:
                if attempt == 2:
                    await answer(send, 502, {"detail": "upstream unreachable"})
                    return
        if status == 400:
            await answer(send, 400, {"code": "active_run", "detail": "the thread has an active run"})
            return
        if status != 200:
            await answer(send, 404 if status == 404 else 502, {"detail": f"upstream answered {status}"})
            return
        upsert_conversation(self.db, thread_id)
        await answer(send, 200, {"success": True, "run_id": run["id"], "thread_id": thread_id})


app = RelayFloor()
