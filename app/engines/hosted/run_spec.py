"""What a run is asked for (`RunSpec`: its assistant, overrides, new messages), and the settings it gets
(`run_settings`): the spec's values, else its assistant's, within the service's."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.config import Settings
from app.engines.hosted.objects import new_id
from app.errors import InvalidField
from app.storage.assistants import AssistantRecord
from app.storage.threads import MessageRecord, RunRecord

MAX_INT = 2**63 - 1


@dataclass(frozen=True)
class NewMessage:
    """Attached files: `[{"file_id", "tools"}]`."""

    role: str
    text: str
    metadata: dict[str, str] | None = None
    attachments: list[dict[str, Any]] | None = None


@dataclass(frozen=True)
class RunSpec:
    """Overrides: None keeps the assistant's."""

    assistant: AssistantRecord
    model: str | None = None
    instructions: str | None = None
    additional_instructions: str | None = None
    tools: tuple[dict[str, Any], ...] | None = None
    metadata: dict[str, str] | None = None
    additional_messages: tuple[NewMessage, ...] = ()
    # Sampling and shaping (run_options.py shapes): None keeps the assistant's, else the model's default.
    temperature: float | None = None
    top_p: float | None = None
    response_format: str | dict[str, Any] | None = None  # "auto" drops the assistant's
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    # Limits: they lower the service's (MAX_PROMPT_TOKENS, MAX_COMPLETION_TOKENS, TRUNCATION_LAST_MESSAGES),
    # never raise them. `truncation_last_messages` None with `truncation_type` "auto": the service's.
    max_prompt_tokens: int | None = None
    max_completion_tokens: int | None = None
    truncation_type: str | None = None
    truncation_last_messages: int | None = None
    # The operator's assistant (the default: /chat and the Next.js routes run it), else a user's own: the operator's
    # runs also search the configured vector stores and never show their instructions.
    operator_assistant: bool = True
    # The request's marker (an Idempotency-Key's): on the run and its first new message, so a retry finds them.
    marker: str | None = None


def run_settings(
    settings: Settings, assistant: AssistantRecord, spec: RunSpec, function_tools: tuple[dict[str, Any], ...]
) -> dict[str, Any]:
    """The run's settings: the spec's, else the assistant's, within the service's limits."""
    instructions = spec.instructions if spec.instructions is not None else assistant.instructions
    instructions = "\n\n".join(part for part in (instructions, spec.additional_instructions) if part)
    tools = (*(spec.tools if spec.tools is not None else assistant.tools), *function_tools)
    _check_tool_choice(spec.tool_choice, tools)
    response_format = spec.response_format if spec.response_format is not None else assistant.response_format
    auto = spec.truncation_type == "auto"
    return {
        "model": spec.model or assistant.model,
        "instructions": instructions,
        "tools": tools,
        "metadata": spec.metadata or None,
        "temperature": spec.temperature if spec.temperature is not None else assistant.temperature,
        "top_p": spec.top_p if spec.top_p is not None else assistant.top_p,
        "response_format": None if response_format == "auto" else response_format,
        "tool_choice": spec.tool_choice,
        "parallel_tool_calls": spec.parallel_tool_calls,
        "instructions_shown": not spec.operator_assistant,
        "max_completion_tokens": min(spec.max_completion_tokens or MAX_INT, settings.max_completion_tokens),
        "max_prompt_tokens": min(spec.max_prompt_tokens or MAX_INT, settings.max_prompt_tokens),
        "truncation_type": "auto" if auto else None,
        # `auto` is the service's setting, whatever `last_messages` came with it.
        "truncation_last_messages": min(
            (None if auto else spec.truncation_last_messages) or MAX_INT, settings.truncation_last_messages
        ),
    }


def _check_tool_choice(choice: str | dict[str, Any] | None, tools: tuple[str | dict[str, Any], ...]) -> None:
    if not isinstance(choice, dict):
        return
    kind = choice.get("type")
    if kind == "function":
        name = (choice.get("function") or {}).get("name")
        offered = {
            (t.get("function") or {}).get("name") for t in tools if isinstance(t, dict) and t.get("type") == kind
        }
        if name not in offered:
            raise InvalidField("tool_choice", f"the run has no function '{name}' (its tools: {_tool_names(tools)})")
    elif not any((t.get("type") if isinstance(t, dict) else t) == kind for t in tools):
        raise InvalidField("tool_choice", f"the run has no {kind} tool (its tools: {_tool_names(tools)})")


def check_tool_choice_can_run(run: RunRecord, settings: Settings) -> None:
    """A run told to use file_search or code_interpreter must be able to (400 naming tool_choice)."""
    kind = run.tool_choice.get("type") if isinstance(run.tool_choice, dict) else None
    if kind not in ("file_search", "code_interpreter"):
        return
    if settings.hosted_model_api != "responses":
        raise InvalidField("tool_choice", f"{kind} needs HOSTED_MODEL_API=responses")
    if kind == "file_search" and not run.vector_store_ids:
        raise InvalidField(
            "tool_choice", "file_search has no vector store to search (neither the assistant's nor the thread's)"
        )


def _tool_names(tools: tuple[str | dict[str, Any], ...]) -> str:
    names = [(t.get("function") or {}).get("name") or t.get("type") if isinstance(t, dict) else t for t in tools]
    return ", ".join(str(name) for name in names) or "none"


def message_record(
    new: NewMessage, thread_id: str, seq: int, now: datetime, marker: str | None = None
) -> MessageRecord:
    metadata, attachments = new.metadata or None, new.attachments or None
    return MessageRecord(
        new_id("msg_"),
        thread_id,
        seq,
        new.role,
        new.text,
        now,
        metadata=metadata,
        attachments=attachments,
        marker=marker,
    )
