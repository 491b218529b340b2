"""Helpers for the hosted engine's tests: engines and apps wired to the fake, bounded waits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import httpx2
from mongomock_motor import AsyncMongoMockClient
from openai import AsyncOpenAI

from app.clock import utc_now
from app.config import Settings
from app.engines import build_engine
from app.engines.base import RunState
from app.engines.hosted.engine import HostedEngine
from app.engines.hosted.events import step_object
from app.engines.hosted.objects import list_object
from app.engines.hosted.pages import PageQuery
from app.main import create_app
from app.observability.metrics import Metrics
from app.storage import Stores
from app.storage.mongo.threads import MongoThreadStore
from app.storage.threads import RunRecord, ThreadStore
from app.upstream.client import Upstream
from tests.fakes.app_support import make_settings, sdk_client_for
from tests.fakes.embedded_stores import IN_MEMORY, embedded_stores, embedded_thread_store
from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.servers import closed_port

WAIT_S = 10.0
POLL_S = 0.005
TERMINAL = {"completed", "failed", "cancelled", "expired", "incomplete"}
# file_search as OpenAI reports it when given without settings.
FILE_SEARCH_REPORTED = {
    "type": "file_search",
    "file_search": {"ranking_options": {"ranker": "auto", "score_threshold": 0.0}},
}


def as_reported(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tools given without OpenAI's defaults, as it reports them: a function's `strict` false, file_search's ranking."""
    return [
        FILE_SEARCH_REPORTED
        if tool == {"type": "file_search"}
        else {**tool, "function": {"strict": False, **tool["function"]}}
        if tool["type"] == "function"
        else tool
        for tool in tools
    ]


def hosted_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"engine": "hosted", "openai_assistant_id": None}
    values.update(overrides)
    return make_settings(**values)


def new_store(kind: str, database: Any = None) -> ThreadStore:
    """`sqlite`, `mongomock`, `mongodb`, or any with `-interleaved` (see InterleavingStore).

    `database`: for `sqlite` the file (a new connection to it), for `mongomock` and `mongodb` (a real server's,
    required) the database; None: a fresh in-memory one.
    """
    base, _, interleaved = kind.partition("-")
    store: ThreadStore
    if base == "sqlite":
        store = embedded_thread_store(database if database is not None else IN_MEMORY)
    else:
        store = MongoThreadStore(database if database is not None else AsyncMongoMockClient(tz_aware=True)["hosted"])
    return InterleavingStore(store) if interleaved else store


@asynccontextmanager
async def hosted_engine(
    fake: FakeOpenAI, store: ThreadStore | None = None, client: AsyncOpenAI | None = None, **overrides: Any
) -> AsyncIterator[HostedEngine]:
    """The hosted engine as build_engine makes it, talking to the fake; closed on exit."""
    store = store if store is not None else embedded_thread_store()
    await store.ensure_indexes()
    upstream = Upstream.over_client(client or sdk_client_for(fake), metrics=Metrics())
    engine = build_engine(hosted_settings(**overrides), upstream, store)
    assert isinstance(engine, HostedEngine)
    try:
        yield engine
    finally:
        await engine.aclose()


@asynccontextmanager
async def hosted_app(
    fake: FakeOpenAI,
    *,
    hosted_store: ThreadStore | None = None,
    stores: Stores | None = None,
    openai_client: AsyncOpenAI | None = None,
    **overrides: Any,
) -> AsyncIterator[httpx2.AsyncClient]:
    """Our app with ENGINE=hosted, lifespan run, over ASGI; `client.app.state.engine` is the engine."""
    app = create_app(
        hosted_settings(**overrides),
        openai_client=openai_client or sdk_client_for(fake),
        stores=replace(stores or embedded_stores(), threads=hosted_store or embedded_thread_store()),
    )
    async with app.router.lifespan_context(app):
        transport = httpx2.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as http:
            http.app = app  # type: ignore[attr-defined]
            yield http


def engine_of(client: httpx2.AsyncClient) -> HostedEngine:
    engine = client.app.state.engine  # type: ignore[attr-defined]
    assert isinstance(engine, HostedEngine)
    return engine


async def list_run_steps(engine: HostedEngine, thread_id: str, run_id: str, **page: Any) -> dict[str, Any]:
    """The run's steps as the run steps routes answer them (an Assistants list page)."""
    steps, has_more = await engine.steps.page(thread_id, run_id, PageQuery(**page))
    return list_object([step_object(step) for step in steps], has_more)


async def wait_until(condition: Callable[[], Awaitable[bool] | bool], what: str) -> None:
    """Poll until `condition` holds; fail after WAIT_S (a deadline, not a measurement)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while True:
        result = condition()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(POLL_S)


async def wait_for_run(engine: HostedEngine, thread_id: str, run_id: str) -> RunState:
    """The run once it reached a terminal status."""
    state: RunState | None = None

    async def finished() -> bool:
        nonlocal state
        state = await engine.get_run(thread_id, run_id)
        return state.status in TERMINAL

    await wait_until(finished, f"run {run_id} to finish")
    assert state is not None
    return state


def closed_port_url() -> str:
    """A loopback URL where nothing listens: connections are refused."""
    return f"http://127.0.0.1:{closed_port()}/v1"


def crashed_run(thread_id: str, run_id: str, *, lease_expires_at: datetime, status: str = "in_progress") -> RunRecord:
    """A run as a process that died mid-run leaves it: active, lease no longer renewed."""
    created = utc_now() - timedelta(minutes=5)
    return RunRecord(
        id=run_id,
        thread_id=thread_id,
        status=status,
        created_at=created,
        model="gpt-4o-mini",
        instructions="You are a helpful assistant.",
        tools=(),
        max_completion_tokens=1000,
        truncation_last_messages=10,
        lease_expires_at=lease_expires_at,
        expires_at=created + timedelta(minutes=10),
        started_at=created,
    )


async def wait_for_free_thread(store: ThreadStore, thread_id: str) -> None:
    """Wait until no run holds the thread: a run's end writes its status first, then frees the thread."""

    async def free() -> bool:
        thread = await store.get_thread(thread_id)
        return thread is not None and thread.active_run_id is None

    await wait_until(free, f"thread {thread_id} to be free")


async def leave_crashed_run(store: ThreadStore, thread_id: str, run_id: str, *, lease_expires_at: datetime) -> None:
    """Claim the thread and write an active run, as a process does right before it dies."""
    result = await store.claim_active_run(thread_id, run_id, holder=None, claim_expires_at=lease_expires_at)
    assert result.granted
    await store.insert_run(crashed_run(thread_id, run_id, lease_expires_at=lease_expires_at))


def hosted_run_tasks() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("hosted-run-") and not t.done()]


class InterleavingStore:
    """A store whose every call yields to the event loop before and after, as a network round trip does.

    Each call stays atomic (as one MongoDB operation is); what it exercises is every interleaving
    of the steps *between* calls, where check-then-act races would show.
    """

    def __init__(self, inner: ThreadStore) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if not asyncio.iscoroutinefunction(attribute):
            return attribute

        async def call(*args: Any, **kwargs: Any) -> Any:
            await asyncio.sleep(0)
            result = await attribute(*args, **kwargs)
            await asyncio.sleep(0)
            return result

        return call
