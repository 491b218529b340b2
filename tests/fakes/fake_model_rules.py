"""What the fake model endpoints refuse, and how they count tokens: the real servers' rules
(/work/shared/real-servers/README.md, with its raw captures), per server flavour.

- `strict` (the default) refuses whatever any of the servers refuses, with that server's status and text, and
  where they conflict does what breaks a careless client soonest: llama-cpp-python's 500 for an assistant
  tool-call message with `content: null`, llama-server's 400 for a Responses assistant item without
  `"type": "message"`, llama-cpp-python's empty stream for `tool_choice: "required"` and its dropped tools
  without a `tool_choice`, llama-server's 400 for a prompt over the context and its first delta with
  `"content": null`; a named `tool_choice` object is honoured (OpenAI, llama-cpp-python).
- `openai`, `llama-cpp-python` (`llama_cpp.server --chat_format chatml-function-calling`) and
  `llama-server` (C++, `--jinja`) behave as that server does.

Tokens are counted as a byte-level vocabulary does (one per UTF-8 byte of text), plus TEMPLATE_TOKENS per
message and, with tools, TOOLS_PREAMBLE_TOKENS for the chat template's function-calling prompt: a client's
bytes/3 estimate undercounts it threefold, as the README measured.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from fastapi.responses import JSONResponse, Response

Flavour = Literal["strict", "openai", "llama-cpp-python", "llama-server"]
FLAVOURS: tuple[Flavour, ...] = ("strict", "openai", "llama-cpp-python", "llama-server")

TEMPLATE_TOKENS = 4  # <|im_start|>role ... <|im_end|> around each message
TOOLS_PREAMBLE_TOKENS = 350  # chatml-function-calling's prompt for tools (816 tokens for two small tools)

# llama-server's text when a named tool_choice object or `required` cannot be honoured by its template.
PEG_MISMATCH = "The model produced output that does not match the expected peg-native format"


@dataclass(frozen=True)
class Rules:
    null_assistant_content: Literal["accept", "500"]
    untyped_assistant_item: Literal["accept", "400", "404"]  # 404: no /v1/responses at all
    named_tool_choice: Literal["honour", "ignore"]
    required_tool_choice: Literal["honour", "empty", "error_event"]
    tools_without_choice: Literal["keep", "drop"]
    over_context: Literal["openai", "llama-server", "empty"]
    stream_usage: bool  # a usage chunk when asked for (`stream_options.include_usage`)
    call_style: Literal["openai", "llamacpp"]  # llamacpp: every chunk repeats a call's id, type and name
    first_delta_null: bool  # the first chunk's delta is `{"role": "assistant", "content": null}`
    cut_call_finish: Literal["length", "tool_calls"]  # finish_reason of a call cut off by max_tokens


RULES: dict[Flavour, Rules] = {
    "strict": Rules("500", "400", "honour", "empty", "drop", "llama-server", True, "openai", True, "length"),
    "openai": Rules("accept", "accept", "honour", "honour", "keep", "openai", True, "openai", False, "length"),
    "llama-cpp-python": Rules("500", "404", "honour", "empty", "drop", "empty", False, "llamacpp", False, "tool_calls"),
    "llama-server": Rules(
        "accept", "400", "ignore", "error_event", "keep", "llama-server", True, "openai", True, "length"
    ),
}


def count_tokens(body: dict[str, Any]) -> int:
    """The prompt's tokens as a byte-level tokenizer with a chat template counts them."""
    items: list[Any] = []
    for key in ("messages", "input"):
        value = body.get(key)
        items.extend(value if isinstance(value, list) else [{"content": value}] if isinstance(value, str) else [])
    if isinstance(body.get("instructions"), str):
        items.append({"content": body["instructions"]})
    tokens = sum(TEMPLATE_TOKENS + _text_bytes(item) for item in items)
    if body.get("tools"):
        tokens += TOOLS_PREAMBLE_TOKENS + len(json.dumps(body["tools"]).encode())
    return tokens


def _text_bytes(item: Any) -> int:
    """The bytes of what a template renders of an item: its text, its calls' names and arguments, call ids."""
    if isinstance(item, str):
        return len(item.encode())
    if isinstance(item, list):
        return sum(_text_bytes(part) for part in item)
    if not isinstance(item, dict):
        return 0
    skipped = {"role", "type", "status", "index"}
    return sum(_text_bytes(value) for key, value in item.items() if key not in skipped)


def completion_budget(body: dict[str, Any]) -> int:
    value = body.get("max_tokens") or body.get("max_output_tokens") or body.get("max_completion_tokens") or 0
    return value if isinstance(value, int) else 0


def context_refusal(rules: Rules, api: str, body: dict[str, Any], context_tokens: int) -> Response | None:
    """The server's answer to a prompt over its context (None: it fits)."""
    prompt = count_tokens(body)
    if rules.over_context == "openai":
        requested = prompt + completion_budget(body)
        if requested <= context_tokens:
            return None
        if api == "responses":
            message = "Your input exceeds the context window of this model. Please adjust your input and try again."
        else:
            message = (
                f"This model's maximum context length is {context_tokens} tokens. However, you requested {requested} "
                f"tokens ({prompt} in the messages, {completion_budget(body)} in the completion). Please reduce the "
                "length of the messages or completion."
            )
        error = {"message": message, "type": "invalid_request_error", "param": "messages"}
        return JSONResponse(status_code=400, content={"error": {**error, "code": "context_length_exceeded"}})
    if prompt < context_tokens:
        return None
    if rules.over_context == "empty":
        return Response(content=b"", media_type="text/event-stream")
    message = f"the request exceeds the available context size ({context_tokens} tokens), try increasing it"
    error = {"code": 400, "message": message, "type": "exceed_context_size_error"}
    return JSONResponse(status_code=400, content={"error": error})


def request_refusal(rules: Rules, api: str, body: dict[str, Any]) -> Response | None:
    """The server's refusal of the request's shape, before any model work (None: accepted)."""
    if api == "chat_completions" and rules.null_assistant_content == "500":
        for position, message in enumerate(body.get("messages") or []):
            if message.get("role") == "assistant" and not isinstance(message.get("content"), str):
                return _llama_cpp_python_validation_error(position, message)
    if api == "responses" and rules.untyped_assistant_item == "404":
        return JSONResponse(status_code=404, content={"detail": "Not Found"})
    if api == "responses" and rules.untyped_assistant_item == "400":
        for item in body.get("input") if isinstance(body.get("input"), list) else []:
            if item.get("role") == "assistant" and item.get("type") != "message":
                error = {"code": 400, "message": "Cannot determine type of 'item'", "type": "invalid_request_error"}
                return JSONResponse(status_code=400, content={"error": error})
    return None


def _llama_cpp_python_validation_error(position: int, message: dict[str, Any]) -> JSONResponse:
    """llama-cpp-python's 500 for a message no request model takes (llama-cpp-python-null-content-500.txt)."""
    where = f"('body', 'messages', {position}, 'ChatCompletionRequestAssistantMessage', 'content')"
    line = f"{{'type': 'string_type', 'loc': {where}, 'msg': 'Input should be a valid string', 'input': None}}"
    text = (
        f"7 validation errors:\n  {line}\n  {{'input': {message!r}}}\n\n"
        '  File "llama_cpp/server/app.py", line 376, in create_chat_completion\n    POST /v1/chat/completions'
    )
    error = {"message": text, "type": "internal_server_error", "param": None, "code": None}
    return JSONResponse(status_code=500, content={"error": error})


def forced_calls(rules: Rules, api: str, body: dict[str, Any]) -> tuple[str, list[dict[str, str]] | None]:
    """What the request's tool_choice makes of the answer: ("as planned", None), ("empty" | "error_event", None)
    or ("call", [the call it forces]) with arguments "{}"; ("no tools", None) when the server dropped them."""
    tools = body.get("tools") or []
    choice = body.get("tool_choice")
    if not tools:
        return "as planned", None
    if choice is None and api == "chat_completions" and rules.tools_without_choice == "drop":
        return "no tools", None
    names = [_tool_name(tool) for tool in tools if tool.get("type") == "function"]
    if choice == "required":
        if rules.required_tool_choice != "honour":
            return rules.required_tool_choice, None
        return "call", [{"name": names[0], "arguments": "{}"}] if names else None
    if isinstance(choice, dict) and choice.get("type") == "function" and rules.named_tool_choice == "honour":
        name = choice.get("name") or (choice.get("function") or {}).get("name")
        return "call", [{"name": str(name), "arguments": "{}"}]
    return "as planned", None


def _tool_name(tool: dict[str, Any]) -> str:
    return str(tool.get("name") or (tool.get("function") or {}).get("name") or "")
