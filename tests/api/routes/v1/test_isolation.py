"""/v1 isolates users: with alice's ids, bob gets 404 on every route that takes one, and alice's data stays as it was.

Alice owns an assistant (with a function tool), a thread with two messages, and a run stopped in
`requires_action` (so it has a pending tool call and a `tool_calls` step that cancel, submit_tool_outputs
and the steps routes can act on). Bob owns a thread of his own. Every bob request below answers 404 in
OpenAI's error shape; afterwards alice reads everything back unchanged, and can still finish her run.
Without a key or with a wrong key, a sample of each route family answers 401 `invalid_api_key`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx2
import pytest

from tests.api.routes.v1.sdk_support import WEATHER
from tests.fakes.access import ALICE_KEY, API_KEYS, BOB_KEY
from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.hosted_support import hosted_app, wait_until

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

AS_ALICE = {"Authorization": f"Bearer {ALICE_KEY}"}
AS_BOB = {"Authorization": f"Bearer {BOB_KEY}"}
WRONG_KEY = "wrong-key-0123456789abcdef"
CALL_ID = "call_alice_1"
OUTPUTS = {"tool_outputs": [{"tool_call_id": CALL_ID, "output": "sunny"}]}


@dataclass(frozen=True)
class World:
    """Alice's ids, and bob's own thread."""

    assistant: str
    thread: str
    messages: tuple[str, ...]
    run: str
    step: str
    bobs_thread: str

    def url(self, template: str) -> str:
        return template.format(
            asst=self.assistant,
            thread=self.thread,
            msg=self.messages[0],
            run=self.run,
            step=self.step,
            bobs_thread=self.bobs_thread,
        )


@dataclass(frozen=True)
class Attempt:
    """One request of bob's, and the resource its 404 names (`kind`, and which of alice's ids)."""

    method: str
    path: str
    body: dict[str, Any] | None
    kind: str  # assistant, thread, message, run, step
    names: str  # the World field whose id the message names


def _attempt(method: str, path: str, body: dict[str, Any] | None = None, *, kind: str, names: str) -> Attempt:
    return Attempt(method, path, body, kind, names)


T = "/v1/threads/{thread}"
BT = "/v1/threads/{bobs_thread}"
ATTEMPTS: dict[str, Attempt] = {
    # assistants
    "assistants.retrieve": _attempt("GET", "/v1/assistants/{asst}", kind="assistant", names="assistant"),
    "assistants.update": _attempt(
        "POST",
        "/v1/assistants/{asst}",
        {"name": "bob's now", "metadata": {"x": "y"}},
        kind="assistant",
        names="assistant",
    ),
    "assistants.delete": _attempt("DELETE", "/v1/assistants/{asst}", kind="assistant", names="assistant"),
    # threads
    "threads.retrieve": _attempt("GET", T, kind="thread", names="thread"),
    "threads.update": _attempt("POST", T, {"metadata": {"x": "y"}}, kind="thread", names="thread"),
    "threads.delete": _attempt("DELETE", T, kind="thread", names="thread"),
    # messages, through alice's thread
    "messages.create": _attempt(
        "POST", T + "/messages", {"role": "user", "content": "from bob"}, kind="thread", names="thread"
    ),
    "messages.list": _attempt("GET", T + "/messages", kind="thread", names="thread"),
    "messages.retrieve": _attempt("GET", T + "/messages/{msg}", kind="thread", names="thread"),
    "messages.update": _attempt("POST", T + "/messages/{msg}", {"metadata": {"x": "y"}}, kind="thread", names="thread"),
    "messages.delete": _attempt("DELETE", T + "/messages/{msg}", kind="thread", names="thread"),
    # messages, alice's message ids through bob's own thread
    "messages.retrieve via bob's thread": _attempt("GET", BT + "/messages/{msg}", kind="message", names="messages"),
    "messages.update via bob's thread": _attempt(
        "POST", BT + "/messages/{msg}", {"metadata": {"x": "y"}}, kind="message", names="messages"
    ),
    "messages.delete via bob's thread": _attempt("DELETE", BT + "/messages/{msg}", kind="message", names="messages"),
    # runs, through alice's thread
    "runs.create": _attempt("POST", T + "/runs", {"assistant_id": "{asst}"}, kind="thread", names="thread"),
    "runs.create (stream)": _attempt(
        "POST", T + "/runs", {"assistant_id": "{asst}", "stream": True}, kind="thread", names="thread"
    ),
    "runs.create on bob's thread with alice's assistant": _attempt(
        "POST", BT + "/runs", {"assistant_id": "{asst}"}, kind="assistant", names="assistant"
    ),
    "threads.create_and_run with alice's assistant": _attempt(
        "POST",
        "/v1/threads/runs",
        {"assistant_id": "{asst}", "thread": {"messages": [{"role": "user", "content": "hi"}]}},
        kind="assistant",
        names="assistant",
    ),
    "threads.create_and_run (stream) with alice's assistant": _attempt(
        "POST", "/v1/threads/runs", {"assistant_id": "{asst}", "stream": True}, kind="assistant", names="assistant"
    ),
    "runs.list": _attempt("GET", T + "/runs", kind="thread", names="thread"),
    "runs.retrieve": _attempt("GET", T + "/runs/{run}", kind="thread", names="thread"),
    "runs.update": _attempt("POST", T + "/runs/{run}", {"metadata": {"x": "y"}}, kind="thread", names="thread"),
    "runs.update without metadata": _attempt("POST", T + "/runs/{run}", {}, kind="thread", names="thread"),
    "runs.cancel": _attempt("POST", T + "/runs/{run}/cancel", kind="thread", names="thread"),
    "runs.submit_tool_outputs": _attempt(
        "POST", T + "/runs/{run}/submit_tool_outputs", OUTPUTS, kind="thread", names="thread"
    ),
    "runs.submit_tool_outputs (stream)": _attempt(
        "POST", T + "/runs/{run}/submit_tool_outputs", {**OUTPUTS, "stream": True}, kind="thread", names="thread"
    ),
    # runs, alice's run id through bob's own thread
    "runs.retrieve via bob's thread": _attempt("GET", BT + "/runs/{run}", kind="run", names="run"),
    "runs.update via bob's thread": _attempt(
        "POST", BT + "/runs/{run}", {"metadata": {"x": "y"}}, kind="run", names="run"
    ),
    "runs.cancel via bob's thread": _attempt("POST", BT + "/runs/{run}/cancel", kind="run", names="run"),
    "runs.submit_tool_outputs via bob's thread": _attempt(
        "POST", BT + "/runs/{run}/submit_tool_outputs", OUTPUTS, kind="run", names="run"
    ),
    # run steps
    "steps.list": _attempt("GET", T + "/runs/{run}/steps", kind="thread", names="thread"),
    "steps.retrieve": _attempt("GET", T + "/runs/{run}/steps/{step}", kind="thread", names="thread"),
    "steps.list via bob's thread": _attempt("GET", BT + "/runs/{run}/steps", kind="run", names="run"),
    "steps.retrieve via bob's thread": _attempt("GET", BT + "/runs/{run}/steps/{step}", kind="run", names="run"),
}


def _filled(value: Any, world: World) -> Any:
    """The body with `{asst}`-style placeholders replaced by the world's ids."""
    if isinstance(value, str):
        return world.url(value)
    if isinstance(value, dict):
        return {key: _filled(item, world) for key, item in value.items()}
    if isinstance(value, list):
        return [_filled(item, world) for item in value]
    return value


def _ok(response: httpx2.Response, what: str) -> dict[str, Any]:
    assert response.status_code == 200, f"{what}: {response.status_code} {response.text}"
    body = response.json()
    assert isinstance(body, dict)
    return body


def _openai_error(response: httpx2.Response, status: int, what: str) -> dict[str, Any]:
    """The `error` object of an answer in OpenAI's shape, after checking the status."""
    assert response.status_code == status, f"{what}: expected {status}, got {response.status_code}: {response.text}"
    assert response.headers["content-type"].startswith("application/json"), f"{what}: {response.headers}"
    body = response.json()
    assert set(body) == {"error"}, f"{what}: {body}"
    error: dict[str, Any] = body["error"]
    assert set(error) == {"message", "type", "param", "code"}, f"{what}: {error}"
    assert error["type"] == "invalid_request_error", f"{what}: {error}"
    return error


async def _run_status(client: httpx2.AsyncClient, run_url: str) -> str:
    return str(_ok(await client.get(run_url, headers=AS_ALICE), "alice polls her run")["status"])


async def _alices_world(client: httpx2.AsyncClient, fake: FakeOpenAI) -> World:
    """Alice's assistant, thread, messages and a run waiting for her tool output; bob's own thread."""
    fake.models.plan(calls=[{"name": "get_weather", "arguments": "{}", "call_id": CALL_ID}])
    fake.models.plan(reply="Sunny, says alice's run.")
    assistant = _ok(
        await client.post(
            "/v1/assistants",
            headers=AS_ALICE,
            json={"model": "gpt-4o-mini", "name": "alice's", "tools": [WEATHER], "metadata": {"owner": "alice"}},
        ),
        "alice creates her assistant",
    )
    thread = _ok(
        await client.post(
            "/v1/threads",
            headers=AS_ALICE,
            json={
                "metadata": {"owner": "alice"},
                "messages": [
                    {"role": "user", "content": "first", "metadata": {"n": "1"}},
                    {"role": "user", "content": "weather?"},
                ],
            },
        ),
        "alice creates her thread",
    )
    messages = _ok(
        await client.get(f"/v1/threads/{thread['id']}/messages?order=asc", headers=AS_ALICE), "alice lists messages"
    )["data"]
    run = _ok(
        await client.post(
            f"/v1/threads/{thread['id']}/runs",
            headers=AS_ALICE,
            json={"assistant_id": assistant["id"], "metadata": {"owner": "alice"}},
        ),
        "alice starts a run",
    )
    run_url = f"/v1/threads/{thread['id']}/runs/{run['id']}"

    async def waiting() -> bool:
        return await _run_status(client, run_url) == "requires_action"

    await wait_until(waiting, "alice's run to require action")
    steps = _ok(await client.get(run_url + "/steps", headers=AS_ALICE), "alice lists steps")["data"]
    assert [s["type"] for s in steps] == ["tool_calls"]
    bobs_thread = _ok(await client.post("/v1/threads", headers=AS_BOB, json={}), "bob creates his thread")
    return World(
        assistant=assistant["id"],
        thread=thread["id"],
        messages=tuple(m["id"] for m in messages),
        run=run["id"],
        step=steps[0]["id"],
        bobs_thread=bobs_thread["id"],
    )


async def _alices_view(client: httpx2.AsyncClient, world: World) -> dict[str, Any]:
    """Everything of alice's, read back through the API as alice."""
    t, r = f"/v1/threads/{world.thread}", f"/v1/threads/{world.thread}/runs/{world.run}"
    reads = {
        "assistant": f"/v1/assistants/{world.assistant}",
        "assistants": "/v1/assistants",
        "thread": t,
        "messages": t + "/messages?order=asc",
        **{f"message {m}": f"{t}/messages/{m}" for m in world.messages},
        "runs": t + "/runs",
        "run": r,
        "steps": r + "/steps",
        "step": f"{r}/steps/{world.step}",
    }
    return {name: _ok(await client.get(url, headers=AS_ALICE), f"alice reads {name}") for name, url in reads.items()}


def _check_alices_view(view: dict[str, Any], world: World) -> None:
    """What alice's view holds before bob tries anything (so equality afterwards means "as she made it")."""
    assert view["assistant"]["name"] == "alice's"
    assert view["assistant"]["metadata"] == {"owner": "alice"}
    assert [a["id"] for a in view["assistants"]["data"]] == [world.assistant]
    assert view["thread"]["metadata"] == {"owner": "alice"}
    assert [m["id"] for m in view["messages"]["data"]] == list(world.messages)
    assert [m["content"][0]["text"]["value"] for m in view["messages"]["data"]] == ["first", "weather?"]
    assert view[f"message {world.messages[0]}"]["metadata"] == {"n": "1"}
    assert [run["id"] for run in view["runs"]["data"]] == [world.run]
    assert (view["run"]["status"], view["run"]["metadata"]) == ("requires_action", {"owner": "alice"})
    calls = view["run"]["required_action"]["submit_tool_outputs"]["tool_calls"]
    assert [(c["id"], c["function"]["name"]) for c in calls] == [(CALL_ID, "get_weather")]
    assert [s["id"] for s in view["steps"]["data"]] == [world.step]


async def _alice_finishes_her_run(client: httpx2.AsyncClient, world: World) -> None:
    """Her pending tool call is still hers to answer, and the run completes with her planned reply."""
    run_url = f"/v1/threads/{world.thread}/runs/{world.run}"
    submitted = await client.post(run_url + "/submit_tool_outputs", headers=AS_ALICE, json=OUTPUTS)
    assert _ok(submitted, "alice submits her tool output")["id"] == world.run

    async def completed() -> bool:
        return await _run_status(client, run_url) == "completed"

    await wait_until(completed, "alice's run to complete")
    messages = _ok(await client.get(f"/v1/threads/{world.thread}/messages?order=asc", headers=AS_ALICE), "messages")
    texts = [m["content"][0]["text"]["value"] for m in messages["data"]]
    assert texts == ["first", "weather?", "Sunny, says alice's run."]


async def _bobs_threads(client: httpx2.AsyncClient) -> list[str]:
    listed = _ok(await client.get("/conversations", headers=AS_BOB), "bob lists his conversations")
    return sorted(c["threadId"] for c in listed["data"])


@pytest.mark.parametrize("name", list(ATTEMPTS))
async def test_bob_gets_404_with_alices_ids_and_alice_keeps_her_data(fake: FakeOpenAI, name: str) -> None:
    attempt = ATTEMPTS[name]
    async with hosted_app(fake, api_keys=API_KEYS) as client:
        world = await _alices_world(client, fake)
        before = await _alices_view(client, world)
        _check_alices_view(before, world)
        bobs_threads = await _bobs_threads(client)
        model_calls = len(fake.models.calls)

        body = _filled(attempt.body, world) if attempt.body is not None else None
        response = await client.request(attempt.method, world.url(attempt.path), headers=AS_BOB, json=body)

        error = _openai_error(response, 404, f"bob: {name} ({attempt.method} {attempt.path})")
        named = getattr(world, attempt.names)
        named_id = named[0] if isinstance(named, tuple) else named
        assert error["message"] == f"No {attempt.kind} found with id '{named_id}'.", f"{name}: {error}"
        assert (await _alices_view(client, world)) == before, f"{name}: alice's data changed after bob's request"
        assert await _bobs_threads(client) == bobs_threads, f"{name}: bob's request left a thread behind"
        assert len(fake.models.calls) == model_calls, f"{name}: bob's request reached the model"
        await _alice_finishes_her_run(client, world)


async def test_bob_lists_none_of_alices_and_she_none_of_his(fake: FakeOpenAI) -> None:
    async with hosted_app(fake, api_keys=API_KEYS) as client:
        world = await _alices_world(client, fake)
        assert _ok(await client.get("/v1/assistants", headers=AS_BOB), "bob lists assistants")["data"] == []
        bobs = _ok(
            await client.post("/v1/assistants", headers=AS_BOB, json={"model": "gpt-4o-mini", "name": "bob's"}),
            "bob creates an assistant",
        )
        listed_by_bob = _ok(await client.get("/v1/assistants", headers=AS_BOB), "bob lists assistants")["data"]
        assert [a["id"] for a in listed_by_bob] == [bobs["id"]]
        listed_by_alice = _ok(await client.get("/v1/assistants", headers=AS_ALICE), "alice lists assistants")["data"]
        assert [a["id"] for a in listed_by_alice] == [world.assistant]
        # And the other way round: bob's assistant and thread are not alice's.
        as_alice = await client.get(f"/v1/assistants/{bobs['id']}", headers=AS_ALICE)
        assert _openai_error(as_alice, 404, "alice retrieves bob's assistant")["message"] == (
            f"No assistant found with id '{bobs['id']}'."
        )
        as_alice = await client.get(f"/v1/threads/{world.bobs_thread}/messages", headers=AS_ALICE)
        assert _openai_error(as_alice, 404, "alice lists bob's messages")["message"] == (
            f"No thread found with id '{world.bobs_thread}'."
        )


UNAUTHENTICATED: dict[str, tuple[str, str, dict[str, Any] | None]] = {
    "assistants.list": ("GET", "/v1/assistants", None),
    "assistants.create": ("POST", "/v1/assistants", {"model": "gpt-4o-mini"}),
    "assistants.retrieve": ("GET", "/v1/assistants/{asst}", None),
    "assistants.update": ("POST", "/v1/assistants/{asst}", {"name": "nobody's"}),
    "assistants.delete": ("DELETE", "/v1/assistants/{asst}", None),
    "threads.create": ("POST", "/v1/threads", {}),
    "threads.retrieve": ("GET", T, None),
    "threads.update": ("POST", T, {"metadata": {"x": "y"}}),
    "threads.delete": ("DELETE", T, None),
    "messages.create": ("POST", T + "/messages", {"role": "user", "content": "nobody"}),
    "messages.list": ("GET", T + "/messages", None),
    "messages.update": ("POST", T + "/messages/{msg}", {"metadata": {"x": "y"}}),
    "messages.delete": ("DELETE", T + "/messages/{msg}", None),
    "runs.create": ("POST", T + "/runs", {"assistant_id": "{asst}"}),
    "threads.create_and_run": ("POST", "/v1/threads/runs", {"assistant_id": "{asst}"}),
    "runs.retrieve": ("GET", T + "/runs/{run}", None),
    "runs.update": ("POST", T + "/runs/{run}", {"metadata": {"x": "y"}}),
    "runs.cancel": ("POST", T + "/runs/{run}/cancel", None),
    "runs.submit_tool_outputs": ("POST", T + "/runs/{run}/submit_tool_outputs", OUTPUTS),
    "steps.list": ("GET", T + "/runs/{run}/steps", None),
    "steps.retrieve": ("GET", T + "/runs/{run}/steps/{step}", None),
}
NO_KEY: dict[str, str] = {}
KEYS = {
    "no key": NO_KEY,
    "wrong bearer key": {"Authorization": f"Bearer {WRONG_KEY}"},
    "wrong X-API-Key": {"X-API-Key": WRONG_KEY},
    "empty bearer": {"Authorization": "Bearer "},
}


@pytest.mark.parametrize("key", list(KEYS))
async def test_no_key_or_a_wrong_key_is_401_and_changes_nothing(fake: FakeOpenAI, key: str) -> None:
    async with hosted_app(fake, api_keys=API_KEYS) as client:
        world = await _alices_world(client, fake)
        before = await _alices_view(client, world)
        model_calls = len(fake.models.calls)
        for name, (method, path, body) in UNAUTHENTICATED.items():
            filled = _filled(body, world) if body is not None else None
            response = await client.request(method, world.url(path), headers=KEYS[key], json=filled)
            error = _openai_error(response, 401, f"{key}: {name} ({method} {path})")
            assert error["code"] == "invalid_api_key", f"{key}: {name}: {error}"
        assert (await _alices_view(client, world)) == before, f"{key}: alice's data changed"
        assert len(fake.models.calls) == model_calls
        assert _ok(await client.get("/v1/assistants", headers=AS_BOB), "bob lists assistants")["data"] == []
        await _alice_finishes_her_run(client, world)
