"""A model call that fits the model server's context, so a thread never sticks.

The history (history.py) is fitted to the run's MAX_PROMPT_TOKENS with an estimate. A server whose context is
smaller, or whose tokenizer counts more tokens than estimated, refuses the prompt (model_errors.py recognises
how): the call is retried once with the history cut to fit, using the server's own counts where it gives them
(the context size in its refusal, the prompt's tokens in a refusal or in an answer's usage), else the worst
case (one token per byte). An empty 200 stream counts as an overflow only when the prompt was near its
budget; otherwise it is what it says, the model returned nothing. If the retry fails too, the run fails
`context_length_exceeded`.

What the server said is remembered per model, in this process: later runs are cut to fit before they are
sent, so the next message on the thread works without another refusal.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass

from app.engines.hosted.answer_checks import check_answer
from app.engines.hosted.history import BYTES_PER_TOKEN, History, fit_turns
from app.engines.hosted.model_client import ChatTurn, ModelClient, ModelDone, ModelEvent
from app.engines.hosted.model_errors import (
    CONTEXT_LENGTH_EXCEEDED,
    ContextOverflow,
    EmptyAnswer,
    ModelCallFailed,
)
from app.engines.hosted.tool_calls import ToolRound
from app.errors import INVALID_PROMPT
from app.storage.threads import RunRecord

logger = logging.getLogger(__name__)

NEAR_BUDGET = 0.75  # an empty answer to a prompt estimated at this share of its budget or more: an overflow
WORST_BYTES_PER_TOKEN = 1.0  # a byte-level vocabulary; each token covers at least one byte
_MIN_BYTES_PER_TOKEN = 0.5  # a measurement below this is the template's tokens, not the text's
_NO_TEXT = 1e9  # bytes per token that count every text as (nearly) nothing: the estimate's fixed part


@dataclass
class _Server:
    """What a model's server said about itself (None: not said yet)."""

    context_tokens: int | None = None
    bytes_per_token: float | None = None
    measured_on: int = 0  # the prompt tokens (usage) bytes_per_token was last measured on


class ContextFitting:
    """A ModelClient whose calls are cut to the model server's context, and retried once after an overflow;
    their answers are checked as they end (answer_checks.py)."""

    def __init__(self, model: ModelClient, default_budget: int) -> None:
        self._model = model
        self._default_budget = default_budget
        self._servers: dict[str, _Server] = {}

    async def stream(self, run: RunRecord, turns: Sequence[ChatTurn | ToolRound]) -> AsyncGenerator[ModelEvent, None]:
        server = self._servers.setdefault(run.model, _Server())
        budget, per_token = self._limits(run, server)
        # Nothing said yet: the history fitted as history.py did (no second estimate on the hot path).
        said = (budget, per_token) != (run.max_prompt_tokens or self._default_budget, BYTES_PER_TOKEN)
        sent = self._fit(run, turns, budget, per_token).turns if said else turns
        try:
            async for event in self._call(run, sent, server):
                yield event
            return
        except ContextOverflow as exc:
            self._learn_refusal(run, sent, server, exc)
            budget, per_token = self._limits(run, server)
            if exc.context_tokens is None and exc.prompt_tokens is None:  # no count said: cut by half
                budget = min(budget, _estimate(run, sent, per_token) // 2)
        except EmptyAnswer:
            estimated = _estimate(run, sent, per_token)
            if estimated < NEAR_BUDGET * budget:
                hint = " (tool_choice required: some servers crash on it)" if run.tool_choice == "required" else ""
                logger.warning("run %s: an empty answer to a prompt well within its budget%s", run.id, hint)
                raise
            logger.warning("run %s: an empty answer to a prompt near its budget: taken as a context overflow", run.id)
            budget = estimated // 2
        retry = self._fit(run, turns, budget, per_token).turns
        logger.warning(
            "run %s: the prompt overflowed the model's context: retrying with %d of %d messages (budget %d tokens)",
            run.id,
            _messages(retry),
            _messages(sent),
            budget,
        )
        try:
            async for event in self._call(run, retry, server):
                yield event
        except (ContextOverflow, EmptyAnswer) as exc:
            if isinstance(exc, ContextOverflow):
                self._learn_refusal(run, retry, server, exc)
            raise _exceeded("even cut to its last messages") from exc

    def _limits(self, run: RunRecord, server: _Server) -> tuple[int, float]:
        """The prompt's budget and the bytes per token to estimate it with."""
        budget = run.max_prompt_tokens or self._default_budget
        per_token = server.bytes_per_token or BYTES_PER_TOKEN
        if server.context_tokens is not None:
            reserve = min(run.max_completion_tokens, server.context_tokens // 2)  # room for the answer
            budget = min(budget, server.context_tokens - reserve)
            per_token = server.bytes_per_token or WORST_BYTES_PER_TOKEN
        return budget, per_token

    @staticmethod
    def _fit(run: RunRecord, turns: Sequence[ChatTurn | ToolRound], budget: int, per_token: float) -> History:
        chat = [turn for turn in turns if isinstance(turn, ChatTurn)]
        rounds = [turn for turn in turns if isinstance(turn, ToolRound)]
        try:
            return fit_turns(run, chat[::-1], rounds, budget, per_token)
        except ModelCallFailed as exc:
            if exc.code != INVALID_PROMPT:
                raise
            raise _exceeded("its last message alone does not fit") from exc

    async def _call(
        self, run: RunRecord, turns: Sequence[ChatTurn | ToolRound], server: _Server
    ) -> AsyncGenerator[ModelEvent, None]:
        async for event in self._model.stream(run, turns):
            if not isinstance(event, ModelDone):
                yield event
                continue
            check_answer(run, event)  # one layer over the adapter for both jobs: each is a hop per event
            prompt_tokens = event.usage.get("prompt_tokens", 0) if event.usage else 0
            # Measured again on a prompt twice the size of the last measured (a few times per model and process).
            if prompt_tokens > 2 * server.measured_on:
                server.measured_on = prompt_tokens
                server.bytes_per_token = _bytes_per_token(run, turns, prompt_tokens) or server.bytes_per_token
            yield event

    @staticmethod
    def _learn_refusal(
        run: RunRecord, turns: Sequence[ChatTurn | ToolRound], server: _Server, exc: ContextOverflow
    ) -> None:
        if exc.context_tokens is not None:
            server.context_tokens = exc.context_tokens
        if exc.prompt_tokens is not None:
            server.bytes_per_token = _bytes_per_token(run, turns, exc.prompt_tokens) or server.bytes_per_token
        logger.info(
            "model %s: context %s tokens, %s bytes per token (from the server's counts)",
            run.model,
            server.context_tokens,
            server.bytes_per_token,
        )


def _bytes_per_token(run: RunRecord, turns: Sequence[ChatTurn | ToolRound], prompt_tokens: int) -> float | None:
    """The prompt's text bytes per token, as the server counted `prompt_tokens` for it (None: no text)."""
    fixed = _estimate(run, turns, _NO_TEXT)
    text_bytes = _estimate(run, turns, 1.0) - fixed
    if text_bytes <= 0:
        return None
    return max(_MIN_BYTES_PER_TOKEN, min(BYTES_PER_TOKEN, text_bytes / max(1, prompt_tokens - fixed)))


def _estimate(run: RunRecord, turns: Sequence[ChatTurn | ToolRound], per_token: float) -> int:
    rounds = [turn for turn in turns if isinstance(turn, ToolRound)]
    chat = [turn for turn in turns if isinstance(turn, ChatTurn)]
    return fit_turns(run, chat[::-1], rounds, 2**62, per_token).estimated_tokens


def _messages(turns: Sequence[ChatTurn | ToolRound]) -> int:
    return sum(isinstance(turn, ChatTurn) for turn in turns)


def _exceeded(why: str) -> ModelCallFailed:
    return ModelCallFailed(CONTEXT_LENGTH_EXCEEDED, f"The conversation is too long for the model's context, {why}.")
