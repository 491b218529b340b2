"""Engine `hosted`: the AssistantEngine methods over the per-resource services, rendering their records
as RunState and MessagePage; `/v1` renders the same records as OpenAI's objects (`hosted()`)."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator

from app.config import Settings
from app.engines.base import MessageOrder, MessagePage, RunRef, RunState, StreamEvent, ThreadMessage, ToolOutput
from app.engines.hosted.assistants import RunAssistants
from app.engines.hosted.claims import ThreadClaims
from app.engines.hosted.events import run_object
from app.engines.hosted.messages import Messages
from app.engines.hosted.model_client import ModelClient
from app.engines.hosted.objects import text_content
from app.engines.hosted.pages import PageQuery
from app.engines.hosted.run_spec import NewMessage, RunSpec
from app.engines.hosted.runner import RunRunner
from app.engines.hosted.runs import Runs, Started, Steps
from app.engines.hosted.thread_files import ThreadFiles
from app.engines.hosted.threads import Threads
from app.storage.assistants import AssistantStore
from app.storage.thread_owners import ThreadOwnerStore
from app.storage.threads import MessageRecord, RunRecord, ThreadStore
from app.storage.upstream_objects import UpstreamObjectStore
from app.upstream.files import UpstreamFiles

logger = logging.getLogger(__name__)


class HostedEngine:
    """Threads and runs in our storage; replies from the Responses API or Chat Completions."""

    name = "hosted"

    def __init__(
        self,
        settings: Settings,
        store: ThreadStore,
        model: ModelClient,
        assistants: AssistantStore | None = None,
        files: UpstreamFiles | None = None,
        file_owners: tuple[UpstreamObjectStore, ThreadOwnerStore] | None = None,
    ) -> None:
        self._settings = settings
        self._assistants = RunAssistants(settings, assistants)
        self._claims = ThreadClaims(store, settings.run_lease_s)
        self.store = store
        self.runner = RunRunner(store, model, settings, self._claims)
        self.files = ThreadFiles(settings, store, files, *(file_owners or ()))
        self.threads = Threads(store, self._claims)
        self.messages = Messages(store, self.threads, self.files, self._claims)
        self.runs = Runs(settings, store, self.threads, self.files, self._claims, self.runner)
        self.steps = Steps(store, self.runs)

    def hosted(self) -> HostedEngine:
        return self

    async def create_thread(self) -> str:
        return (await self.threads.create()).id

    async def start_run(self, thread_id: str, content: str, marker: str | None = None) -> RunRef:
        run = await self.runs.start(thread_id, await self._message_spec(content, marker))
        assert isinstance(run, RunRecord)
        return RunRef(run_id=run.id, thread_id=thread_id, status=run.status)

    async def find_run(self, thread_id: str, marker: str) -> RunRef | None:
        run = await self.runs.find_marked(thread_id, await self._message_spec("", marker))
        return None if run is None else RunRef(run_id=run.id, thread_id=thread_id, status=run.status)

    async def stream_run(
        self, thread_id: str, content: str, marker: str | None = None
    ) -> AsyncGenerator[StreamEvent, None]:
        return _events(await self.runs.start(thread_id, await self._message_spec(content, marker), stream=True))

    async def submit_tool_outputs(
        self, thread_id: str, run_id: str, outputs: list[ToolOutput]
    ) -> AsyncGenerator[StreamEvent, None]:
        return _events(await self.runs.submit_tool_outputs(thread_id, run_id, outputs, stream=True))

    async def get_run(self, thread_id: str, run_id: str) -> RunState:
        return _run_state(await self.runs.get(thread_id, run_id))

    async def cancel_run(self, thread_id: str, run_id: str) -> RunState:
        return _run_state(await self.runs.cancel(thread_id, run_id))

    async def list_messages(
        self,
        thread_id: str,
        *,
        limit: int = 20,
        order: MessageOrder = "desc",
        after: str | None = None,
        before: str | None = None,
    ) -> MessagePage:
        query = PageQuery(limit=limit, order=order, after=after, before=before)
        messages, has_more = await self.messages.page(thread_id, query)
        return MessagePage.of([_thread_message(message) for message in messages], has_more)

    async def check_setup(self) -> None:
        if expired := await self._claims.expire_lapsed_runs():
            logger.warning("expired %d run(s) whose lease lapsed while no process was running them", expired)
        if self._settings.hosted_model_api == "chat_completions" and self._settings.file_search_store_ids:
            logger.warning(
                "HOSTED_MODEL_API=chat_completions has no file_search: OPENAI_VECTOR_STORE_ID and "
                "OPENAI_KNOWLEDGE_STORE_ID are not searched"
            )
        logger.info(
            "hosted engine: model=%s api=%s last_messages=%d max_prompt_tokens=%d",
            self._settings.openai_model,
            self._settings.hosted_model_api,
            self._settings.truncation_last_messages,
            self._settings.max_prompt_tokens,
        )

    async def aclose(self) -> None:
        await self.runner.aclose()

    async def _message_spec(self, content: str, marker: str | None) -> RunSpec:
        message = NewMessage("user", content)
        return RunSpec(await self._assistants.current(), additional_messages=(message,), marker=marker)


def _events(started: Started) -> AsyncGenerator[StreamEvent, None]:
    assert not isinstance(started, RunRecord)  # a streamed start
    return started


def _run_state(run: RunRecord) -> RunState:
    return RunState.model_validate({**run_object(run), "reply": run.reply if run.status == "completed" else None})


def _thread_message(message: MessageRecord) -> ThreadMessage:
    return ThreadMessage(
        id=message.id,
        thread_id=message.thread_id,
        role=message.role,
        created_at=int(message.created_at.timestamp()),
        run_id=message.run_id,
        text=message.text,
        content=text_content(message.text, message.annotations),
    )
