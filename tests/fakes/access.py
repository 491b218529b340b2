"""API keys for four callers (alice, bob, the default user, and a key without a user, which gets a user of its own),
and a request for every protected route."""

from __future__ import annotations

import json
from typing import Any

from app.main import create_app
from tests.fakes.app_support import make_settings

ALICE_KEY = "alice-key-0123456789abcdef"
BOB_KEY = "bob-key-0123456789abcdefgh"
SHARED_KEY = "shared-key-0123456789abcd"
DEFAULT_USER_KEY = "default-user-key-0123456789"
API_KEYS = f"{ALICE_KEY}:alice,{BOB_KEY}:bob,{SHARED_KEY},{DEFAULT_USER_KEY}:default-user"
ALICE = {"Authorization": f"Bearer {ALICE_KEY}"}
BOB = {"X-API-Key": BOB_KEY}
SHARED = {"Authorization": f"bearer {SHARED_KEY}"}
DEFAULT_USER = {"X-API-Key": DEFAULT_USER_KEY}

# Open without a key: health, liveness and readiness (and the docs, which are not in the schema).
PUBLIC_PATHS = frozenset({"/", "/livez", "/readyz"})
# Every operation the app serves (its OpenAPI schema lists them all, included routers too).
APP_ROUTES = sorted(
    (method.upper(), path)
    for path, operations in create_app(make_settings()).openapi()["paths"].items()
    if path not in PUBLIC_PATHS
    for method in operations
)


def request_for(method: str, path: str, thread_id: str, run_id: str) -> tuple[str, str, dict[str, Any]]:
    """A well-formed request for each protected route, aimed at `thread_id` where it takes one."""
    bodies: dict[tuple[str, str], dict[str, Any]] = {
        ("POST", "/chat"): {"json": {"content": "hi", "threadId": thread_id}},
        ("POST", "/chat/stream"): {"json": {"content": "hi", "threadId": thread_id}},
        ("PATCH", "/conversations/{thread_id}"): {"json": {"name": "mine now"}},
        ("POST", "/api/assistants/threads/{thread_id}/messages"): {"content": json.dumps({"content": "hi"})},
        ("POST", "/api/assistants/threads/{thread_id}/actions"): {
            "json": {"runId": run_id, "toolCallOutputs": [{"tool_call_id": "call_1", "output": "x"}]}
        },
        ("POST", "/threads/{thread_id}/runs/{run_id}/submit_tool_outputs"): {
            "json": {"tool_outputs": [{"tool_call_id": "call_1", "output": "x"}]}
        },
        ("POST", "/api/assistants/files"): {"files": {"file": ("a.txt", b"hello", "text/plain")}},
        ("DELETE", "/api/assistants/files"): {"content": json.dumps({"fileId": "file-abc"})},
        ("POST", "/assistants"): {"json": {"model": "gpt-4o-mini", "name": "mine"}},
        ("POST", "/assistants/{assistant_id}"): {"json": {"name": "mine now"}},
    }
    url = path.replace("{thread_id}", thread_id).replace("{run_id}", run_id).replace("{file_id}", "file-abc")
    url = url.replace("{assistant_id}", "asst_abc")
    return method, url, bodies.get((method, path), {})


def error_code(response: Any) -> str:
    """The error code of a JSON error, or of an NDJSON error stream (in the final run's metadata)."""
    if response.headers["content-type"].startswith("application/x-ndjson"):
        last = json.loads(response.text.strip().splitlines()[-1])
        return str(last["data"]["metadata"]["error_code"])
    return str(response.json()["error"]["code"])
