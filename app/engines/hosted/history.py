"""What a run sends the model: of its last `truncation_last_messages` messages, as many, newest first, as fit
its `max_prompt_tokens` with what every call carries (instructions, function tools, answered tool rounds).
A model server whose context a prompt overflows answers 400 (llama-server), an empty stream
(llama-cpp-python), or silently cuts the prompt (Ollama): the budget keeps prompts under it.

There is no tokenizer offline (tiktoken downloads its encodings; each local model has its own), so tokens
are estimated on the safe side: one per 3 bytes of UTF-8, rounded up, plus MESSAGE_OVERHEAD per message.

A message that alone does not fit is never sent: the run's own fails the run `invalid_prompt` before any
model call; later runs leave it out, so the thread stays usable. An older message that fits alone but not
in what is left ends the history there.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from app.engines.hosted.model_client import ChatTurn, ModelCallFailed
from app.engines.hosted.tool_calls import ToolRound, call_from, function_tools
from app.errors import INVALID_PROMPT
from app.storage.threads import MessageRecord, RunRecord

logger = logging.getLogger(__name__)

BYTES_PER_TOKEN = 3
MESSAGE_OVERHEAD = 4  # a message's role and the chat template's separators around it
REPLY_OVERHEAD = 3  # the assistant turn the answer is primed with


def estimate_tokens(text: str) -> int:
    return -(-len(text.encode("utf-8")) // BYTES_PER_TOKEN)


def message_tokens(text: str) -> int:
    return estimate_tokens(text) + MESSAGE_OVERHEAD


def round_tokens(answered: ToolRound) -> int:
    # The calls are one assistant message, and each output one message.
    calls = MESSAGE_OVERHEAD + sum(
        estimate_tokens(call.call_id) + estimate_tokens(call.name) + estimate_tokens(call.arguments)
        for call in answered.calls
    )
    return calls + sum(message_tokens(output) for _, output in answered.outputs)


def tools_tokens(tools: Sequence[dict[str, Any]]) -> int:
    return sum(estimate_tokens(json.dumps({"description": None} | tool)) for tool in tools)


@dataclass(frozen=True)
class History:
    turns: list[ChatTurn | ToolRound]
    estimated_tokens: int
    dropped: int = 0  # older messages that did not fit in what was left of the budget
    skipped: int = 0  # messages too long to send on their own (never sent)


def _too_long(run_id: str, what: str, tokens: int, budget: int, advice: str = "") -> ModelCallFailed:
    logger.warning("run %s not sent: its %s about %d tokens, over MAX_PROMPT_TOKENS (%d)", run_id, what, tokens, budget)
    return ModelCallFailed(
        INVALID_PROMPT,
        f"The {what} too long for the model's prompt budget (about {tokens} tokens; the budget is {budget}).{advice}",
    )


def fit_history(run: RunRecord, newest_first: Sequence[MessageRecord], default_budget: int) -> History:
    """The run's last messages (given newest first) that fit its budget (`default_budget` for a run stored
    without one), in order, then its answered tool rounds; `invalid_prompt` when its own message cannot fit."""
    budget = run.max_prompt_tokens or default_budget
    tools = function_tools(run.tools)
    rounds = [
        ToolRound(
            tuple(call_from(call) for call in answered["calls"]),
            tuple((str(o["tool_call_id"]), str(o["output"])) for o in answered["outputs"]),
        )
        for answered in run.tool_rounds or []
    ]
    fixed = message_tokens(run.instructions) + tools_tokens(tools) + REPLY_OVERHEAD
    fixed += sum(round_tokens(answered) for answered in rounds)
    if fixed > budget:
        raise _too_long(run.id, "instructions and tool outputs are", fixed, budget)
    used = fixed
    kept: list[MessageRecord] = []
    skipped = dropped = 0
    own_seen = False
    for position, message in enumerate(newest_first):
        cost = message_tokens(message.text)
        own = not own_seen and message.role == "user"
        own_seen = own_seen or own
        if fixed + cost > budget:  # could never be sent: leave it out, now and in later runs
            if own:
                raise _too_long(run.id, "message is", cost, budget, " Send a shorter message.")
            skipped += 1
            continue
        if used + cost > budget:
            dropped = len(newest_first) - position
            break
        used += cost
        kept.append(message)
    if skipped or dropped:
        logger.info(
            "run %s: history trimmed to its prompt budget of %d tokens: sending %d of the last %d messages "
            "(about %d tokens); %d older left out, %d too long to send",
            run.id,
            budget,
            len(kept),
            len(newest_first),
            used,
            dropped,
            skipped,
        )
    turns: list[ChatTurn | ToolRound] = [ChatTurn(message.role, message.text) for message in reversed(kept)]
    turns.extend(rounds)
    return History(turns, used, dropped, skipped)
