"""What a run sends the model: of its last `truncation_last_messages` messages, as many, newest first, as fit
its `max_prompt_tokens` with what every call carries (instructions, function tools, answered tool rounds).
A model server whose context a prompt overflows answers 400 (llama-server), an empty stream
(llama-cpp-python), or silently cuts the prompt (Ollama): the budget keeps prompts under it, and
overflow.py cuts further to the context a server says it has.

There is no tokenizer offline (tiktoken downloads its encodings; each local model has its own), so tokens
are estimated: one per `bytes_per_token` bytes of UTF-8 (BYTES_PER_TOKEN, 3, unless the server's counts
said otherwise; 1 is the worst case, a byte-level vocabulary), rounded up, plus MESSAGE_OVERHEAD per
message, TEMPLATE_OVERHEAD for the chat template around the prompt, and TOOLS_PREAMBLE with function tools
(llama-cpp-python's function-calling prompt for two small tools was 816 tokens, 158 of them the schemas').

A message that alone does not fit is never sent: the run's own fails the run `invalid_prompt` before any
model call; later runs leave it out, so the thread stays usable. An older message that fits alone but not
in what is left ends the history there.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from app.engines.hosted.model_client import ChatTurn
from app.engines.hosted.model_errors import ModelCallFailed
from app.engines.hosted.tool_calls import ToolRound, call_from, function_tools
from app.errors import INVALID_PROMPT
from app.storage.threads import MessageRecord, RunRecord

logger = logging.getLogger(__name__)

BYTES_PER_TOKEN = 3
MESSAGE_OVERHEAD = 4  # a message's role and the chat template's separators around it
REPLY_OVERHEAD = 3  # the assistant turn the answer is primed with
TEMPLATE_OVERHEAD = 16  # the template's own text around the prompt (begin-of-text, the system header)
TOOLS_PREAMBLE = 400  # a function-calling template's text around the tools' schemas


class Turn(Protocol):
    """A message as the history reads it (a stored message, or a turn about to be sent)."""

    @property
    def role(self) -> str: ...

    @property
    def text(self) -> str: ...


def estimate_tokens(text: str, bytes_per_token: float = BYTES_PER_TOKEN) -> int:
    return math.ceil(len(text.encode("utf-8")) / bytes_per_token)


def message_tokens(text: str, bytes_per_token: float = BYTES_PER_TOKEN) -> int:
    return estimate_tokens(text, bytes_per_token) + MESSAGE_OVERHEAD


def round_tokens(answered: ToolRound, bytes_per_token: float = BYTES_PER_TOKEN) -> int:
    # The calls are one assistant message, and each output one message.
    calls = MESSAGE_OVERHEAD + sum(
        estimate_tokens(call.call_id + call.name + call.arguments, bytes_per_token) for call in answered.calls
    )
    return calls + sum(message_tokens(output, bytes_per_token) for _, output in answered.outputs)


def tools_tokens(tools: Sequence[dict[str, Any]], bytes_per_token: float = BYTES_PER_TOKEN) -> int:
    if not tools:
        return 0
    schemas = sum(estimate_tokens(json.dumps({"description": None} | tool), bytes_per_token) for tool in tools)
    return TOOLS_PREAMBLE + schemas


def fixed_tokens(run: RunRecord, rounds: Sequence[ToolRound], bytes_per_token: float = BYTES_PER_TOKEN) -> int:
    """What every call of the run carries besides its messages: instructions, tools, template, tool rounds."""
    fixed = message_tokens(run.instructions, bytes_per_token) + REPLY_OVERHEAD + TEMPLATE_OVERHEAD
    fixed += tools_tokens(function_tools(run.tools), bytes_per_token)
    return fixed + sum(round_tokens(answered, bytes_per_token) for answered in rounds)


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


def fit_history(
    run: RunRecord,
    newest_first: Sequence[MessageRecord],
    default_budget: int,
    *,
    bytes_per_token: float = BYTES_PER_TOKEN,
) -> History:
    """The run's last messages (given newest first) that fit its budget (`default_budget` for a run stored
    without one), in order, then its answered tool rounds; `invalid_prompt` when its own message cannot fit."""
    rounds = [
        ToolRound(
            tuple(call_from(call) for call in answered["calls"]),
            tuple((str(o["tool_call_id"]), str(o["output"])) for o in answered["outputs"]),
        )
        for answered in run.tool_rounds or []
    ]
    return fit_turns(run, newest_first, rounds, run.max_prompt_tokens or default_budget, bytes_per_token)


def fit_turns(
    run: RunRecord, newest_first: Sequence[Turn], rounds: Sequence[ToolRound], budget: int, bytes_per_token: float
) -> History:
    """`fit_history` over any messages, with the budget and the bytes per token given."""
    fixed = fixed_tokens(run, rounds, bytes_per_token)
    if fixed > budget:
        raise _too_long(run.id, "instructions and tool outputs are", fixed, budget)
    used = fixed
    kept: list[Turn] = []
    skipped = dropped = 0
    own_seen = False
    for position, message in enumerate(newest_first):
        cost = message_tokens(message.text, bytes_per_token)
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
