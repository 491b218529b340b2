"""What a model's answer must be before the run can use it, checked as it ends.

- A tool call cut off at the token limit (its arguments are not JSON: finish_reason "length", a response
  `incomplete`, or llama-cpp-python's "tool_calls" with unterminated arguments) never reaches the client as
  `requires_action`: the run ends `incomplete`, reason `max_completion_tokens`, as OpenAI's do.
- A forced tool_choice (a named function, or `required`) binds the run's first call: an answer that does not
  call it (llama-server ignores a named choice) fails the run `tool_choice_not_honoured`, so the run never
  claims a forced call that did not happen.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence

from app.engines.hosted.model_client import ModelDone
from app.engines.hosted.model_errors import TOOL_CHOICE_NOT_HONOURED, AnswerIncomplete, ModelCallFailed
from app.engines.hosted.tool_calls import FunctionCall
from app.storage.threads import RunRecord

logger = logging.getLogger(__name__)


def check_answer(run: RunRecord, done: ModelDone) -> None:
    """Raises AnswerIncomplete or ModelCallFailed for an answer the run cannot use (overflow.py calls it)."""
    broken = [call.name for call in done.calls if not _is_json(call.arguments)]
    if broken:
        logger.warning(
            "run %s: tool call %s cut off (arguments not JSON; the answer %s at the token limit)",
            run.id,
            ", ".join(broken),
            "stopped" if done.cut_off else "did not say it stopped",
        )
        raise AnswerIncomplete(
            "max_completion_tokens", "The model's tool call was cut off at the token limit (max_completion_tokens)."
        )
    forced = _forced_function(run)
    if forced is not None and not _honoured(forced, done.calls):
        logger.warning("run %s: tool_choice %r not honoured: the model called %s", run.id, forced, _names(done.calls))
        what = "a function" if forced == "required" else f"the function {forced}"
        raise ModelCallFailed(
            TOOL_CHOICE_NOT_HONOURED,
            f"The model did not call {what}, as the run's tool_choice requires; the model server may not support it.",
        )


def _forced_function(run: RunRecord) -> str | None:
    """The function name a run's first call must call ("required": any); None: none is forced."""
    choice = run.tool_choice
    if run.tool_rounds:  # a forced choice binds the first call only (model_client.add_options)
        return None
    if choice == "required":
        return "required"
    if isinstance(choice, dict) and choice.get("type") == "function":
        name = (choice.get("function") or {}).get("name")
        return str(name) if name else None
    return None


def _honoured(forced: str, calls: Sequence[FunctionCall]) -> bool:
    return bool(calls) if forced == "required" else any(call.name == forced for call in calls)


def _names(calls: Sequence[FunctionCall]) -> str:
    return ", ".join(call.name for call in calls) or "no function"


def _is_json(arguments: str) -> bool:
    if not arguments.strip():
        return True  # no arguments at all: a function without parameters
    try:
        json.loads(arguments, strict=False)  # llama.cpp writes raw control characters inside strings
    except ValueError:
        return False
    return True
