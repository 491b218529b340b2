"""A bounded, seeded fuzz of every /v1 route (left out of the OpenAPI schema, so schemathesis never sees them).

The app runs ENGINE=hosted in process on the fake upstream. Valid objects are made first (assistants, threads
with messages, a run waiting on `get_weather`, a file, a vector store) so that ids exist; then every route gets
requests made by mutating a valid one: fields dropped, of the wrong type, too long, unknown, nested too deep,
wrong enum values, non-JSON and empty bodies, wrong content types, bad query parameters and bad path ids.

The rule checked on every answer: no 5xx (unless the fake upstream itself crashed on what files and vector
stores relayed to it: counted in the summary line, not a violation), every 4xx in OpenAI's shape
`{"error": {"message", "type", "param", "code"}}`, and no traceback in any body. A run a 2xx accepted must not
then fail with a `server_error` (bad input let through, crashing the run in the background). Every violation
is collected and listed at the end, one line per distinct problem with an example, so one run shows them all.
Run with -s to see the summary line (requests, routes, seconds, status counts).
"""

from __future__ import annotations

import asyncio
import json
import random
import string
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx2
import pytest
from openai import AsyncOpenAI

from tests.fakes.app_support import TEST_API_KEY
from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.hosted_support import hosted_app, wait_until

SEED = 20240611
REQUEST_TIMEOUT_S = 15.0
WEIRD_PER_FIELD = 4
NESTED_MUTATIONS = 16
BODY_LIMIT = 1024 * 1024  # the default MAX_BODY_BYTES
EXCERPT = 240
TRACEBACK_MARKS = ("Traceback", 'File "')
ERROR_FIELDS = {"message", "type", "param", "code"}

WEATHER: dict[str, Any] = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}},
}
WEATHER_CALL = {"name": "get_weather", "arguments": '{"city":"Oslo"}', "call_id": "call_w1"}


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth):
        value = {"a": value}
    return value


def _nested_json(depth: int) -> bytes:
    """`{"a":{"a":...}}` `depth` deep, written out (json.dumps would hit the recursion limit)."""
    return b'{"a":' * depth + b"1" + b"}" * depth


NAN = float("nan")
SURROGATE = "\ud800"  # a lone surrogate: valid JSON (written escaped), not encodable as UTF-8
# Values of the wrong type, size or sign, for any field.
WEIRD: list[Any] = [
    None,
    0,
    -1,
    1.5,
    -(2**70),
    2**70,
    True,
    NAN,
    float("inf"),
    "",
    " ",
    "NaN",
    "Infinity",
    "-1e309",
    "x" * 300_000,
    "ünïcødé 🦄 \u202e\u0000",
    SURROGATE,
    "../../etc/passwd",
    "%s%n{0}",
    [],
    [None],
    ["a", 1, {}],
    {},
    {"a": 1},
    _nested(60),
]
# Applied to every top-level field (the others: a seeded sample of WEIRD_PER_FIELD).
ALWAYS: list[Any] = [None, SURROGATE, NAN]
OTHER_WEIRD = [w for w in WEIRD if not any(w is a for a in ALWAYS)]
WRONG_ENUMS = ["sideways", "", "none of these", 7]
BAD_IDS = [
    "x" * 3000,
    "..",
    "%2e%2e",
    "a%2Fb",
    "%2F",
    "ünïcødé-🦄",
    "%00",
    "%20",
    "%ED%A0%80",  # a UTF-8-encoded lone surrogate
    "%FF",
    "null",
    "-1",
    "0" * 40,
    "%25",
    "a;b,c",
    "'\"<>",
    "{id}",
    "",
]
BAD_QUERIES: list[list[tuple[str, str]]] = [
    [("limit", "0")],
    [("limit", "1000")],
    [("limit", "abc")],
    [("limit", "-1")],
    [("limit", "1.5")],
    [("limit", "")],
    [("limit", "9" * 400)],
    [("limit", "NaN")],
    [("order", "sideways")],
    [("order", "")],
    [("order", "ASC")],
    [("after", "unknown")],
    [("after", "x" * 3000)],
    [("before", "msg_nope")],
    [("after", "ünïcødé 🦄")],
    [("after", "\x00")],
    [("limit", "1"), ("limit", "2")],
    [("run_id", "run_nope")],
    [("unknown", "1")],
]
RAW_QUERIES = ["?after=%ED%A0%80", "?limit=%FF", "?order=%00", "?after=%", "?&&==&limit"]
JSON = "application/json"


def _json(body: Any) -> bytes:
    return json.dumps(body, allow_nan=True).encode()


@dataclass
class Route:
    """One /v1 operation: its path (slots named as the ids it is given), its valid body, its enum fields."""

    method: str
    template: str
    body: dict[str, Any] | None = None
    enums: tuple[tuple[Any, ...], ...] = ()
    listing: bool = False
    multipart: bool = False
    slots: dict[str, str] = field(default_factory=dict)  # path slot -> the id it takes (default: the slot's name)
    destructive: bool = False  # its valid request goes last (and may fail: the object may be gone by then)
    note: str = ""

    @property
    def label(self) -> str:
        return f"{self.method} {self.template}" + (f" ({self.note})" if self.note else "")

    def path(self, ids: dict[str, str], **bad: str) -> str:
        values = {slot: ids[self.slots.get(slot, slot)] for slot in self.path_slots()}
        return self.template.format(**{**values, **bad})

    def path_slots(self) -> list[str]:
        return [name for _, name, _, _ in string.Formatter().parse(self.template) if name]


@dataclass
class Case:
    route: Route
    method: str
    path: str
    what: str
    params: list[tuple[str, str]] | None = None
    content: bytes | None = None
    headers: dict[str, str | bytes] = field(default_factory=dict)
    files: dict[str, Any] | None = None
    data: dict[str, Any] | None = None
    valid: bool = False

    def summary(self) -> str:
        parts = [f"{self.method} {_excerpt(self.path, 100)}", self.what]
        if self.params:
            parts.append(f"params={_excerpt(str(self.params), 100)}")
        if self.content is not None:
            parts.append(f"body={_excerpt(self.content.decode(errors='replace'), 140)!r}")
        if self.headers:
            parts.append(f"headers={_excerpt(str(self.headers), 100)}")
        return " | ".join(parts)


def _excerpt(text: str, limit: int = EXCERPT) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} chars)"


def json_case(route: Route, ids: dict[str, str], what: str, body: Any, **extra: Any) -> Case:
    headers = {"Content-Type": JSON, **extra.pop("headers", {})}
    return Case(route, route.method, route.path(ids), what, content=_json(body), headers=headers, **extra)


# ---- mutating a valid body ---------------------------------------------------------------------------------


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every location in a JSON value (dict keys and list indices), outermost first."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        yield (*prefix, key)
        yield from _paths(item, (*prefix, key))


def _with(body: Any, path: tuple[Any, ...], value: Any, *, drop: bool = False) -> Any:
    copy = json.loads(json.dumps(body))
    target = copy
    for key in path[:-1]:
        target = target[key]
    if drop:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return copy


def _at(body: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        body = body[key]
    return body


def _dotted(path: tuple[Any, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


def _weird_name(value: Any) -> str:
    return _excerpt(repr(value), 40)


def body_mutations(route: Route, ids: dict[str, str], rng: random.Random) -> list[Case]:
    body = route.body
    assert body is not None
    cases: list[Case] = []
    for key in body:
        cases.append(json_case(route, ids, f"drop {key}", _with(body, (key,), None, drop=True)))
        for value in [*ALWAYS, *rng.sample(OTHER_WEIRD, WEIRD_PER_FIELD)]:
            cases.append(json_case(route, ids, f"{key}={_weird_name(value)}", _with(body, (key,), value)))
    nested = [p for p in _paths(body) if len(p) > 1]
    for path in rng.sample(nested, min(NESTED_MUTATIONS, len(nested))):
        if rng.random() < 0.25 and isinstance(path[-1], str):
            cases.append(json_case(route, ids, f"drop {_dotted(path)}", _with(body, path, None, drop=True)))
        else:
            value = rng.choice(WEIRD)
            cases.append(json_case(route, ids, f"{_dotted(path)}={_weird_name(value)}", _with(body, path, value)))
    cases.append(json_case(route, ids, "unknown top-level field", {**body, "surprise": {"x": 1}}))
    for path in [p for p in _paths(body) if isinstance(_at(body, p), dict)]:
        # Refused by the strict objects; kept by the free-form ones (a function's `parameters`), where NaN must
        # not crash the run later.
        cases.append(json_case(route, ids, f"unknown field zz=NaN in {_dotted(path)}", _with(body, (*path, "zz"), NAN)))
    for path in [p for p in _paths(body) if isinstance(_at(body, p), str)]:
        cases.append(json_case(route, ids, f"{_dotted(path)}=lone surrogate", _with(body, path, SURROGATE)))
    for path in [p for p in _paths(body) if p[-1] == "metadata"]:
        cases.append(json_case(route, ids, f"{_dotted(path)} key lone surrogate", _with(body, path, {SURROGATE: "v"})))
    for path in route.enums:
        for value in WRONG_ENUMS:
            cases.append(json_case(route, ids, f"{_dotted(path)}={value!r}", _with(body, path, value)))
    cases.append(json_case(route, ids, "every string unicode", _unicode_everywhere(body)))
    cases.append(json_case(route, ids, "empty object", {}))
    return cases


def _unicode_everywhere(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _unicode_everywhere(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unicode_everywhere(v) for v in value]
    return "ünï 🦄 \u200b" if isinstance(value, str) else value


def raw_bodies(route: Route, ids: dict[str, str]) -> list[Case]:
    """Non-JSON, empty, wrongly typed and oversized bodies, and wrong content types."""
    valid = _json(route.body or {})
    raw: list[tuple[str, bytes, str | None]] = [
        ("empty body", b"", JSON),
        ("empty body, no content type", b"", None),
        ("truncated JSON", b"{", JSON),
        ("not JSON", b"not json", JSON),
        ("not UTF-8", b"\xff\xfe\x00\x81", JSON),
        ("JSON null", b"null", JSON),
        ("JSON list", b"[]", JSON),
        ("JSON number", b"1", JSON),
        ("JSON string", b'"body"', JSON),
        ("JSON true", b"true", JSON),
        ("NaN literal", b'{"temperature": NaN, "limit": Infinity}', JSON),
        ("duplicate keys", b'{"metadata": {}, "metadata": []}', JSON),
        ("nested 60 deep", _json(_nested(60)), JSON),
        ("nested 5000 deep", _nested_json(5000), JSON),
        ("body over the limit", b'{"x": "' + b"y" * (BODY_LIMIT + 10) + b'"}', JSON),
        ("valid JSON as text/plain", valid, "text/plain"),
        ("valid JSON as form", valid, "application/x-www-form-urlencoded"),
        ("form body", b"a=1&b=2", "application/x-www-form-urlencoded"),
        (
            "multipart body",
            b"--xyz\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--xyz--\r\n",
            "multipart/form-data; boundary=xyz",
        ),
        ("XML", b"<a>1</a>", "application/xml"),
        ("JSON, charset utf-16", valid, "application/json; charset=utf-16"),
        ("JSON, bogus content type", valid, "application/json;;;==="),
    ]
    return [
        Case(route, route.method, route.path(ids), what, content=body, headers={"Content-Type": ct} if ct else {})
        for what, body, ct in raw
    ]


def header_mutations(route: Route, ids: dict[str, str]) -> list[Case]:
    """Bad Idempotency-Key headers on the creating routes."""
    body = route.body or {}
    keys: list[str | bytes] = ["", " ", "x" * 300, "a\tb", "ключ".encode()]
    cases = [json_case(route, ids, f"Idempotency-Key={k[:20]!r}", body, headers={"Idempotency-Key": k}) for k in keys]
    if "stream" in body:
        streamed = {**body, "stream": True}
        cases.append(json_case(route, ids, "stream with Idempotency-Key", streamed, headers={"Idempotency-Key": "k1"}))
    return cases


# ---- paths, queries, multipart ------------------------------------------------------------------------------


def path_mutations(route: Route, ids: dict[str, str]) -> list[Case]:
    cases = []
    content = _json(route.body) if route.body is not None else None
    headers = {"Content-Type": JSON} if content is not None else {}
    for slot in route.path_slots():
        others = [ids[name] for name in ("assistant_id", "message_id", "thread_id", "run_id") if name != slot]
        for bad in [*BAD_IDS, f"{slot.split('_')[0]}_doesnotexist", *others[:2]]:
            path = route.path(ids, **{slot: bad})
            cases.append(
                Case(route, route.method, path, f"{slot}={_excerpt(bad, 30)!r}", content=content, headers=headers)
            )
    return cases


def query_mutations(route: Route, ids: dict[str, str], rng: random.Random) -> list[Case]:
    path = route.path(ids)
    cases = [Case(route, route.method, path, "bad query", params=params) for params in BAD_QUERIES]
    for _ in range(4):
        params = [p for group in rng.sample(BAD_QUERIES, 3) for p in group]
        cases.append(Case(route, route.method, path, "bad query mix", params=params))
    for raw in RAW_QUERIES:  # bytes httpx would escape if given as params
        cases.append(Case(route, route.method, path + raw, "raw query"))
    return cases


def multipart_mutations(route: Route, ids: dict[str, str]) -> list[Case]:
    path = route.path(ids)
    good = {"file": ("notes.txt", b"hello, files", "text/plain")}
    forms: list[tuple[str, dict[str, Any] | None, dict[str, Any] | None]] = [
        ("no file part", None, {"purpose": "assistants"}),
        ("no purpose", good, None),
        ("purpose sideways", good, {"purpose": "sideways"}),
        ("purpose empty", good, {"purpose": ""}),
        ("unicode filename", {"file": ("ünï 🦄.txt", b"x", "text/plain")}, {"purpose": "assistants"}),
        ("long filename", {"file": ("n" * 3000, b"x", "text/plain")}, {"purpose": "assistants"}),
        ("empty file", {"file": ("empty.txt", b"", "text/plain")}, {"purpose": "assistants"}),
        ("file over the limit", {"file": ("big.bin", b"b" * (BODY_LIMIT + 10))}, {"purpose": "assistants"}),
        ("file field as text", None, {"file": "not a file", "purpose": "assistants"}),
    ]
    return [Case(route, route.method, path, what, files=files, data=data) for what, files, data in forms]


def unexpected_body(route: Route, ids: dict[str, str]) -> list[Case]:
    """A body where none is read (GET, DELETE, cancel)."""
    path = route.path(ids)
    return [
        Case(route, route.method, path, "unexpected JSON body", content=b'{"x": 1}', headers={"Content-Type": JSON}),
        Case(route, route.method, path, "unexpected junk body", content=b"\xff{", headers={"Content-Type": JSON}),
    ]


def valid_case(route: Route, ids: dict[str, str]) -> Case:
    if route.multipart:
        files = {"file": ("notes.txt", b"hello, files", "text/plain")}
        return Case(
            route, route.method, route.path(ids), "valid", files=files, data={"purpose": "assistants"}, valid=True
        )
    if route.body is not None:
        return json_case(route, ids, "valid", route.body, valid=True)
    return Case(route, route.method, route.path(ids), "valid", valid=True)


def cases_for(route: Route, ids: dict[str, str], rng: random.Random) -> list[Case]:
    cases = path_mutations(route, ids)
    if route.listing:
        cases += query_mutations(route, ids, rng)
    if route.body is not None:
        cases += body_mutations(route, ids, rng) + raw_bodies(route, ids)
    if route.body is not None:
        cases += header_mutations(route, ids)
    if route.multipart:
        cases += multipart_mutations(route, ids) + raw_bodies(route, ids)
    if route.body is None and not route.multipart:
        cases += unexpected_body(route, ids)
    valid = valid_case(route, ids)
    return [*cases, valid] if route.destructive else [valid, *cases]


# ---- the routes -----------------------------------------------------------------------------------------------


def routes(ids: dict[str, str]) -> list[Route]:
    """Every /v1 operation, in the order fuzzed: reading and updating first, creating runs, then deleting."""
    file_id, vs_id, assistant_id = ids["file_id"], ids["vs_id"], ids["assistant_id"]
    message = {"role": "user", "content": "hi"}
    assistant = {
        "model": "gpt-4o-mini",
        "name": "A",
        "description": "d",
        "instructions": "Be brief.",
        "tools": [WEATHER, {"type": "code_interpreter"}],
        "tool_resources": {"file_search": {"vector_store_ids": [vs_id]}, "code_interpreter": {"file_ids": [file_id]}},
        "metadata": {"k": "v"},
        "temperature": 0.5,
        "top_p": 0.9,
        "response_format": {"type": "json_object"},
    }
    assistant_enums = (("tools", 0, "type"), ("response_format",), ("response_format", "type"))
    run = {
        "assistant_id": assistant_id,
        "model": "gpt-4o-mini",
        "instructions": "Be brief.",
        "additional_instructions": "Really.",
        "additional_messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}], "metadata": {"m": "1"}}],
        "tools": [WEATHER],
        "metadata": {"k": "v"},
        "temperature": 0.5,
        "top_p": 0.9,
        "response_format": {"type": "json_object"},
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "parallel_tool_calls": False,
        "max_prompt_tokens": 2000,
        "max_completion_tokens": 300,
        "truncation_strategy": {"type": "last_messages", "last_messages": 2},
        "stream": False,
    }
    run_enums = (
        ("tool_choice",),
        ("tool_choice", "type"),
        ("truncation_strategy", "type"),
        ("response_format", "type"),
        ("additional_messages", 0, "role"),
        ("additional_messages", 0, "content", 0, "type"),
        ("tools", 0, "type"),
    )
    thread = {
        "messages": [
            {
                "role": "user",
                "content": "hi",
                "attachments": [{"file_id": file_id, "tools": [{"type": "file_search"}]}],
            },
            {"role": "assistant", "content": [{"type": "text", "text": "hello"}]},
        ],
        "metadata": {"k": "v"},
        "tool_resources": {"code_interpreter": {"file_ids": [file_id]}},
    }
    thread_enums = (("messages", 0, "role"), ("messages", 0, "attachments", 0, "tools", 0, "type"))
    and_run = {
        "assistant_id": assistant_id,
        "thread": {"messages": [message], "metadata": {"t": "1"}},
        "tool_resources": {"code_interpreter": {"file_ids": [file_id]}},
        "metadata": {"k": "v"},
        "instructions": "Be brief.",
        "stream": False,
    }
    new_message = {
        "role": "user",
        "content": [{"type": "text", "text": "hi"}],
        "metadata": {"k": "v"},
        "attachments": [{"file_id": file_id, "tools": [{"type": "code_interpreter"}]}],
    }
    message_enums = (("role",), ("content", 0, "type"), ("attachments", 0, "tools", 0, "type"))
    outputs = {"tool_outputs": [{"tool_call_id": "call_w1", "output": "sunny"}], "stream": False}
    metadata = {"metadata": {"k": "v"}}
    threads_ = "/v1/threads/{thread_id}"
    runs_ = threads_ + "/runs/{run_id}"
    stores = "/v1/vector_stores/{vs_id}"
    on_msgs = {"thread_id": "thread_msgs"}
    return [
        Route("POST", "/v1/assistants", assistant, assistant_enums),
        Route("GET", "/v1/assistants", listing=True),
        Route("GET", "/v1/assistants/{assistant_id}"),
        Route(
            "POST",
            "/v1/assistants/{assistant_id}",
            {k: v for k, v in assistant.items() if k != "model"},
            assistant_enums,
            slots={"assistant_id": "assistant_upd"},
        ),
        Route("POST", "/v1/threads", thread, thread_enums),
        Route("GET", threads_),
        Route(
            "POST",
            threads_,
            {**metadata, "tool_resources": {"code_interpreter": {"file_ids": [file_id]}}},
            slots={"thread_id": "thread_upd"},
        ),
        Route("POST", threads_ + "/messages", new_message, message_enums, slots=on_msgs),
        Route("GET", threads_ + "/messages", listing=True, slots=on_msgs),
        Route("GET", threads_ + "/messages/{message_id}", slots=on_msgs),
        Route("POST", threads_ + "/messages/{message_id}", metadata, slots=on_msgs),
        Route("GET", threads_ + "/runs", listing=True),
        Route("GET", runs_),
        Route("POST", runs_, metadata),
        Route("GET", runs_ + "/steps", listing=True),
        Route("GET", runs_ + "/steps/{step_id}"),
        Route("POST", runs_ + "/submit_tool_outputs", outputs, destructive=True),
        Route(
            "POST",
            runs_ + "/submit_tool_outputs",
            {**outputs, "stream": True},
            destructive=True,
            slots={"thread_id": "thread_stream", "run_id": "run_stream"},
            note="stream",
        ),
        Route(
            "POST", runs_ + "/cancel", destructive=True, slots={"thread_id": "thread_cancel", "run_id": "run_cancel"}
        ),
        Route("POST", threads_ + "/runs", run, run_enums, slots={"thread_id": "thread_runs"}),
        Route(
            "POST",
            threads_ + "/runs",
            {**run, "stream": True},
            run_enums,
            slots={"thread_id": "thread_runs"},
            note="stream",
        ),
        Route("POST", "/v1/threads/runs", and_run, (("thread", "messages", 0, "role"),)),
        Route("POST", "/v1/threads/runs", {**and_run, "stream": True}, note="stream"),
        # Listing before creating: the fake upstream keeps what it is sent (NaN names included) and may then
        # fail to list it, which a real upstream, refusing such bodies, would not.
        Route("GET", "/v1/files", listing=True),
        Route("GET", "/v1/files/{file_id}"),
        Route("GET", "/v1/files/{file_id}/content"),
        Route("POST", "/v1/files", multipart=True),
        Route("GET", "/v1/vector_stores", listing=True),
        Route("GET", stores),
        Route("GET", stores + "/files", listing=True),
        Route("GET", stores + "/files/{file_id}"),
        Route("POST", "/v1/vector_stores", {"name": "docs", "file_ids": [file_id], "metadata": {"k": "v"}}),
        Route("POST", stores + "/files", {"file_id": file_id}),
        Route("DELETE", stores + "/files/{file_id}", destructive=True),
        Route("DELETE", "/v1/vector_stores/{vs_id}", destructive=True, slots={"vs_id": "vs_del"}),
        Route("DELETE", "/v1/files/{file_id}", destructive=True, slots={"file_id": "file_del"}),
        Route(
            "DELETE",
            threads_ + "/messages/{message_id}",
            destructive=True,
            slots={**on_msgs, "message_id": "message_del"},
        ),
        Route("DELETE", threads_, destructive=True, slots={"thread_id": "thread_del"}),
        Route("DELETE", "/v1/assistants/{assistant_id}", destructive=True, slots={"assistant_id": "assistant_del"}),
    ]


# ---- the valid objects ----------------------------------------------------------------------------------------


async def _made(client: httpx2.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = await client.post(path, json=body)
    assert answer.status_code == 200, f"setup: POST {path}: {answer.status_code} {answer.text}"
    made: dict[str, Any] = answer.json()
    return made


async def _waiting_run(client: httpx2.AsyncClient, fake: FakeOpenAI, assistant_id: str) -> tuple[str, str]:
    """A thread and its run in `requires_action`, waiting on `get_weather` (call_w1)."""
    fake.models.plan(calls=[WEATHER_CALL])
    thread = await _made(client, "/v1/threads", {"messages": [{"role": "user", "content": "Weather?"}]})
    run = await _made(client, f"/v1/threads/{thread['id']}/runs", {"assistant_id": assistant_id})

    async def waiting() -> bool:
        answer = await client.get(f"/v1/threads/{thread['id']}/runs/{run['id']}")
        return bool(answer.json()["status"] == "requires_action")

    await wait_until(waiting, "the run to require action")
    return thread["id"], run["id"]


async def _file(client: httpx2.AsyncClient) -> str:
    answer = await client.post(
        "/v1/files", files={"file": ("notes.txt", b"hello, files", "text/plain")}, data={"purpose": "assistants"}
    )
    assert answer.status_code == 200, answer.text
    file_id: str = answer.json()["id"]
    return file_id


async def make_objects(client: httpx2.AsyncClient, fake: FakeOpenAI) -> dict[str, str]:
    ids: dict[str, str] = {"file_id": await _file(client), "file_del": await _file(client)}
    ids["vs_id"] = (await _made(client, "/v1/vector_stores", {"name": "docs", "file_ids": [ids["file_id"]]}))["id"]
    ids["vs_del"] = (await _made(client, "/v1/vector_stores", {"name": "gone"}))["id"]
    for name in ("assistant_id", "assistant_upd", "assistant_del"):
        ids[name] = (await _made(client, "/v1/assistants", {"model": "gpt-4o-mini", "tools": [WEATHER]}))["id"]
    messages = [{"role": "user", "content": f"message {n}"} for n in range(3)]
    for name in ("thread_runs", "thread_upd", "thread_del", "thread_msgs"):
        ids[name] = (await _made(client, "/v1/threads", {"messages": messages}))["id"]
    messages_path = f"/v1/threads/{ids['thread_msgs']}/messages"
    ids["message_id"] = (await _made(client, messages_path, {"role": "user", "content": "kept"}))["id"]
    ids["message_del"] = (await _made(client, messages_path, {"role": "user", "content": "deleted"}))["id"]
    ids["thread_id"], ids["run_id"] = await _waiting_run(client, fake, ids["assistant_id"])
    ids["thread_stream"], ids["run_stream"] = await _waiting_run(client, fake, ids["assistant_id"])
    ids["thread_cancel"], ids["run_cancel"] = await _waiting_run(client, fake, ids["assistant_id"])
    steps = await client.get(f"/v1/threads/{ids['thread_id']}/runs/{ids['run_id']}/steps")
    ids["step_id"] = steps.json()["data"][0]["id"]
    return ids


# ---- sending and judging ------------------------------------------------------------------------------------


class CrashWatch:
    """The fake upstream's ASGI app, counting the requests it crashed on (answered as a plain 500)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.crashes = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await self.app(scope, receive, send)
        except Exception:
            self.crashes += 1
            raise


@dataclass
class Outcome:
    case: Case
    status: int
    body: str
    upstream_crashed: bool


async def send(client: httpx2.AsyncClient, case: Case, watch: CrashWatch) -> Outcome:
    crashes = watch.crashes
    request = client.request(
        case.method,
        case.path,
        params=case.params,
        content=case.content,
        headers=case.headers,
        files=case.files,
        data=case.data,
    )
    try:
        answer = await asyncio.wait_for(request, REQUEST_TIMEOUT_S)
    except TimeoutError:
        return Outcome(case, 0, f"no answer in {REQUEST_TIMEOUT_S} s", False)
    return Outcome(case, answer.status_code, answer.content.decode(errors="replace"), watch.crashes > crashes)


def _shape_problem(body: str) -> str | None:
    """Why `body` is not an error in OpenAI's shape, else None."""
    try:
        data = json.loads(body)
    except ValueError:
        return "not JSON"
    if not isinstance(data, dict) or set(data) != {"error"} or not isinstance(data["error"], dict):
        return "not {'error': {...}}"
    error = data["error"]
    if set(error) != ERROR_FIELDS:
        return f"error fields {sorted(error)}"
    if not (isinstance(error["message"], str) and error["message"] and isinstance(error["type"], str)):
        return "message/type not non-empty strings"
    if not all(error[name] is None or isinstance(error[name], str) for name in ("param", "code")):
        return "param/code neither string nor null"
    return None


def problems_of(outcome: Outcome) -> list[str]:
    status, body = outcome.status, outcome.body
    found = []
    if status == 0:
        found.append("hung")
    elif status >= 500 and not outcome.upstream_crashed:
        shape = _shape_problem(body)
        found.append(f"server error {status}" + (f", not in OpenAI's error shape ({shape})" if shape else ""))
    if 400 <= status < 500 and (shape := _shape_problem(body)) is not None:
        found.append(f"4xx not in OpenAI's error shape ({shape})")
    if any(mark in body for mark in TRACEBACK_MARKS):
        found.append("traceback in the body")
    if outcome.case.valid and not outcome.case.route.destructive and not 200 <= status < 300:
        found.append("the valid request failed (the setup, or state an earlier accepted request left)")
    return found


def report(violations: list[tuple[str, Outcome]]) -> str:
    """One line per distinct problem (route, kind, status, error message), with one example and a count."""
    groups: dict[tuple[str, str, int, str], list[Outcome]] = {}
    for problem, outcome in violations:
        try:
            message = str(json.loads(outcome.body)["error"]["message"])[:60]
        except (ValueError, KeyError, TypeError):
            message = outcome.body[:60] if outcome.status >= 400 else ""
        groups.setdefault((outcome.case.route.label, problem, outcome.status, message), []).append(outcome)
    lines = [f"{len(violations)} violations, {len(groups)} distinct:"]
    for (label, problem, status, _), outcomes in groups.items():
        example = outcomes[0]
        lines.append(
            f"- {label}: {problem} [{status}] x{len(outcomes)}\n"
            f"    request: {example.case.summary()}\n"
            f"    body: {_excerpt(example.body)}"
        )
    return "\n".join(lines)


def accepted_runs(outcomes: list[Outcome]) -> dict[str, tuple[str, Outcome]]:
    """run id -> (thread id, the request) of every run a 2xx answer (JSON or stream) started or continued."""
    found: dict[str, tuple[str, Outcome]] = {}
    for outcome in outcomes:
        if not 200 <= outcome.status < 300 or "thread.run" not in outcome.body:
            continue
        texts = [line.removeprefix("data: ") for line in outcome.body.splitlines() if line.startswith("data: {")]
        for text in texts or [outcome.body]:
            try:
                data = json.loads(text)
            except ValueError:
                continue
            if isinstance(data, dict) and data.get("object") == "thread.run":
                found.setdefault(data["id"], (data["thread_id"], outcome))
    return found


async def crashed_runs(client: httpx2.AsyncClient, outcomes: list[Outcome]) -> list[tuple[str, Outcome]]:
    """Runs accepted with a 2xx that then failed with a server error: bad input let through to crash the run."""
    found = []
    for run_id, (thread_id, outcome) in accepted_runs(outcomes).items():
        run: dict[str, Any] = {}

        async def settled(thread_id: str = thread_id, run_id: str = run_id) -> bool:
            nonlocal run
            run = (await client.get(f"/v1/threads/{thread_id}/runs/{run_id}")).json()
            return run.get("status") not in ("queued", "in_progress", "cancelling")

        await wait_until(settled, f"run {run_id} to settle")
        error = run.get("last_error") or {}
        if run.get("status") == "failed" and error.get("code") == "server_error":
            found.append((f"accepted (2xx), then the run crashed: last_error={error}", outcome))
    return found


def _crash_summary(outcomes: list[Outcome]) -> str:
    crashed = Counter(o.case.route.label for o in outcomes if o.upstream_crashed)
    return ", ".join(f"{label} x{count}" for label, count in crashed.items()) or "none"


async def test_v1_routes_answer_bad_input_with_openai_shaped_4xx(
    fake: FakeOpenAI, capsys: pytest.CaptureFixture[str]
) -> None:
    # llama-server's rules: a named tool_choice is ignored, so the valid run request fails its run
    # (tool_choice_not_honoured) and frees its thread; where OpenAI's would wait for the forced call's output.
    fake.models.flavour = "llama-server"
    started = time.monotonic()
    watch = CrashWatch(fake.app)
    transport = httpx2.ASGITransport(app=watch, raise_app_exceptions=False)
    async with httpx2.AsyncClient(transport=transport) as upstream_http:
        upstream = AsyncOpenAI(
            api_key=TEST_API_KEY, base_url="http://fake-openai/v1", max_retries=0, http_client=upstream_http
        )
        async with hosted_app(fake, openai_client=upstream) as client:
            ids = await make_objects(client, fake)
            rng = random.Random(SEED)
            cases = [case for route in routes(ids) for case in cases_for(route, ids, rng)]
            outcomes = [await send(client, case, watch) for case in cases]
            violations = [(problem, outcome) for outcome in outcomes for problem in problems_of(outcome)]
            violations += await crashed_runs(client, outcomes)
    elapsed = time.monotonic() - started

    statuses = Counter(outcome.status for outcome in outcomes)
    with capsys.disabled():
        print(
            f"\nv1 fuzz: {len(outcomes)} requests over {len({c.route.label for c in cases})} routes in "
            f"{elapsed:.1f} s: {dict(sorted(statuses.items()))}; "
            f"5xx because the fake upstream crashed on what was relayed: {_crash_summary(outcomes)}"
        )
    assert not violations, report(violations)
