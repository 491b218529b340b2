"""One model call's answer as the Assistants API streams and stores it: the reply's `thread.message.*`, and
`thread.run.step.*` for its message_creation step, one tool_calls step per batch of function calls and one
per code_interpreter or file_search call; the steps are stored with the reply, before the run's status
changes. An answer that fails part way keeps what was streamed: its text as the reply, its call pieces on
a failed step."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from app.clock import utc_now
from app.engines.base import StreamEvent
from app.engines.hosted import events
from app.engines.hosted.citations import Citation, CitedText, Piece
from app.engines.hosted.model_client import CodeCallDelta, CodeCallDone, ModelDone, ModelEvent, SearchCall, TextDelta
from app.engines.hosted.objects import epoch, new_id
from app.engines.hosted.tool_calls import FunctionCall, FunctionCallDelta, call_object
from app.storage.threads import MessageRecord, RunRecord, RunStepRecord, ThreadStore

Publish = Callable[..., None]  # publish(*events): to the run's subscribers
# A step that ended no model call counts no tokens: a call's usage goes on the step it ends with (its reply's, else
# its function calls'), so that a run's steps add up to its usage.
_NO_TOKENS = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}


@dataclass
class _CodeCall:
    step: RunStepRecord
    call_id: str
    code: list[str]
    done: bool = False


@dataclass
class Answer:
    message_id: str | None = None
    created_at: int = 0
    parts: list[str] = field(default_factory=list)
    usage: dict[str, int] | None = None
    message_step: RunStepRecord | None = None
    calls_step: RunStepRecord | None = None
    calls: tuple[FunctionCall, ...] = ()
    cited: CitedText = field(default_factory=CitedText)
    code_calls: list[_CodeCall] = field(default_factory=list)
    search_steps: dict[int, RunStepRecord] = field(default_factory=dict)  # file_search calls by index
    call_pieces: dict[int, list[str]] = field(default_factory=dict)  # id, name, then arguments' pieces


class AnswerWriter:
    """Builds the answer of one model call of `run`, publishing its events; steps are numbered from `first_step`."""

    def __init__(self, run: RunRecord, publish: Publish, first_step: int) -> None:
        self.answer = Answer()
        self._run = run
        self._publish = publish
        self._step_count = first_step

    def add(self, item: ModelEvent) -> None:
        answer = self.answer
        if isinstance(item, ModelDone):
            answer.usage = item.usage
            answer.calls = item.calls
            if not answer.parts and item.text:
                self._add_pieces(answer.cited.text(item.text))
            for citation in item.citations:
                self._add_pieces(answer.cited.cite(citation))
            self._add_pieces(answer.cited.finish())
        elif isinstance(item, FunctionCallDelta):
            self._add_call_piece(item)
        elif isinstance(item, TextDelta) and item.text:
            self._add_pieces(answer.cited.text(item.text))
        else:  # hosted tools (an empty TextDelta matches none of them)
            self._add_hosted_tool_event(item)

    def ensure_reply(self) -> None:
        """An answer with neither text nor calls still gets its (empty) reply message."""
        if self.answer.message_id is None and not self.answer.calls:
            self._open_message()

    async def store_steps(self, store: ThreadStore, run: RunRecord, message: MessageRecord | None) -> None:
        """Complete and store the steps, once the reply is stored and before the run's status changes."""
        answer = self.answer
        for code_call in answer.code_calls:
            if not code_call.done:  # the answer ended without the call's final item
                self._finish_code_call(code_call, "".join(code_call.code), "")
            await store.save_run_step(code_call.step)
        for search_step in answer.search_steps.values():  # one the answer did not end ended with it
            done = search_step.completed_at or utc_now()
            await store.save_run_step(
                replace(search_step, status="completed", completed_at=done, usage=dict(_NO_TOKENS))
            )
        if message is not None and answer.message_step is not None:
            data = events.message_object(message.id, run, answer.created_at, message.text, message.annotations)
            self._publish(StreamEvent("thread.message.completed", data))
            step = replace(answer.message_step, status="completed", completed_at=utc_now(), usage=answer.usage)
            await store.save_run_step(step)
            self._publish(events.step_completed(step))
        if answer.calls:
            if answer.calls_step is None:  # the provider sent the calls whole, at the end
                for index, call in enumerate(answer.calls):
                    self._add_call_piece(FunctionCallDelta(index, call.arguments, call.call_id, call.name))
            assert answer.calls_step is not None
            calls = [{**c, "function": {**c["function"], "output": None}} for c in map(call_object, answer.calls)]
            # The step stays in progress while the run waits: submitting the outputs completes it (engine).
            usage = answer.usage if answer.message_step is None or answer.usage is None else dict(_NO_TOKENS)
            details = {"type": "tool_calls", "tool_calls": calls}
            await store.save_run_step(replace(answer.calls_step, details=details, usage=usage))

    async def keep(self, store: ThreadStore) -> MessageRecord | None:
        """What an answer that failed streamed, stored while the run holds its thread and before its status
        changes: its text as the reply (returned; None: no text), with its step completed; its code and
        file_search calls' steps as they stand; its function calls' pieces on a failed step."""
        answer, run = self.answer, self._run
        message: MessageRecord | None = None
        seq = await store.next_message_seq(run.thread_id, run.id) if answer.parts else None
        if seq is not None and answer.message_id is not None:
            text, annotations = "".join(answer.parts), answer.cited.annotations or None
            message = MessageRecord(
                answer.message_id, run.thread_id, seq, "assistant", text, utc_now(), run.id, annotations
            )
            await store.insert_message(message)
            if answer.message_step is not None:
                await store.save_run_step(replace(answer.message_step, status="completed", completed_at=utc_now()))
        for step in [*(call.step for call in answer.code_calls), *answer.search_steps.values()]:
            await store.save_run_step(step)
        if answer.calls_step is not None:
            calls = [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": name, "arguments": "".join(parts), "output": None},
                }
                for call_id, name, *parts in answer.call_pieces.values()
            ]
            details = {"type": "tool_calls", "tool_calls": calls}
            await store.save_run_step(replace(answer.calls_step, status="failed", details=details))
        return message

    def _add_hosted_tool_event(self, item: ModelEvent) -> None:
        """A citation, or a piece of a code_interpreter call (each call is a tool_calls step of its own)."""
        answer = self.answer
        if isinstance(item, Citation):
            self._add_pieces(answer.cited.cite(item))
        elif isinstance(item, SearchCall):
            self._add_search_call(item)
        elif isinstance(item, CodeCallDelta) and item.call_id is not None:
            step = self._new_step("tool_calls", {"type": "tool_calls", "tool_calls": []})
            answer.code_calls.append(_CodeCall(step, item.call_id, [item.code]))
            self._publish(events.code_call_delta(step.id, 0, call_id=item.call_id, code=item.code))
        elif isinstance(item, CodeCallDelta) and item.index < len(answer.code_calls):
            call = answer.code_calls[item.index]
            call.code.append(item.code)
            self._publish(events.code_call_delta(call.step.id, 0, code=item.code))
        elif isinstance(item, CodeCallDone) and item.index < len(answer.code_calls):
            call = answer.code_calls[item.index]
            if item.logs:
                self._publish(events.code_call_delta(call.step.id, 0, logs=item.logs))
            self._finish_code_call(call, "".join(call.code) if item.code is None else item.code, item.logs)

    def _add_search_call(self, item: SearchCall) -> None:
        """A file_search call: its own tool_calls step, opened with the call (openai-python's
        on_tool_call_created), completed when the search ends."""
        steps = self.answer.search_steps
        if item.index not in steps:
            steps[item.index] = self._new_step("tool_calls", {"type": "tool_calls", "tool_calls": []})
            call = {"index": 0, "id": item.call_id, "type": "file_search", "file_search": {}}
            self._publish(events.step_delta(steps[item.index].id, call))
        if item.done:
            search = {"ranking_options": {"ranker": "auto", "score_threshold": 0.0}, "results": []}
            details = {
                "type": "tool_calls",
                "tool_calls": [{"id": item.call_id, "type": "file_search", "file_search": search}],
            }
            done = replace(steps[item.index], status="completed", completed_at=utc_now(), details=details)
            steps[item.index] = replace(done, usage=dict(_NO_TOKENS))
            self._publish(events.step_completed(steps[item.index]))

    def _finish_code_call(self, call: _CodeCall, code: str, logs: str) -> None:
        interpreter = {"input": code, "outputs": [{"type": "logs", "logs": logs}] if logs else []}
        tool_call = {"id": call.call_id, "type": "code_interpreter", "code_interpreter": interpreter}
        details = {"type": "tool_calls", "tool_calls": [tool_call]}
        call.step = replace(
            call.step, status="completed", completed_at=utc_now(), details=details, usage=dict(_NO_TOKENS)
        )
        call.done = True
        self._publish(events.step_completed(call.step))

    def _new_step(self, kind: str, details: dict[str, Any]) -> RunStepRecord:
        run, seq = self._run, self._step_count
        step = RunStepRecord(new_id("step_"), run.thread_id, run.id, seq, kind, "in_progress", utc_now(), details)
        step = replace(step, assistant_id=run.assistant_id)
        self._step_count += 1
        self._publish(*events.step_opened(step))
        return step

    def _add_call_piece(self, piece: FunctionCallDelta) -> None:
        answer = self.answer
        if answer.calls_step is None:
            answer.calls_step = self._new_step("tool_calls", {"type": "tool_calls", "tool_calls": []})
        step_id = answer.calls_step.id
        if piece.call_id is not None:
            answer.call_pieces[piece.index] = [piece.call_id, piece.name or ""]
        answer.call_pieces.setdefault(piece.index, ["", ""]).append(piece.arguments)
        self._publish(events.tool_call_delta(step_id, piece.index, piece.arguments, piece.call_id, piece.name))

    def _add_pieces(self, pieces: list[Piece]) -> None:
        answer = self.answer
        for text, annotation in pieces:
            if answer.message_id is None:
                self._open_message()
            assert answer.message_id is not None
            annotations = [annotation] if annotation is not None else None
            delta = events.message_delta(answer.message_id, text, first=not answer.parts, annotations=annotations)
            self._publish(delta)
            answer.parts.append(text)

    def _open_message(self) -> None:
        answer = self.answer
        answer.message_id = new_id("msg_")
        answer.created_at = epoch(utc_now()) or 0
        details = {"type": "message_creation", "message_creation": {"message_id": answer.message_id}}
        answer.message_step = self._new_step("message_creation", details)
        self._publish(*events.message_created(answer.message_id, self._run, answer.created_at))
