"""A run's sampling and shaping options in the Assistants API's shape (runs, and assistants' defaults).

The model client translates `response_format` and `tool_choice` for the model's API.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

FUNCTION_NAME_PATTERN = r"^[a-zA-Z0-9_-]{1,64}$"

Temperature = Field(default=None, ge=0, le=2, description="0 to 2; None: the model's default.")
TopP = Field(default=None, ge=0, le=1, description="0 to 1; None: the model's default.")


class NamedFunction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=FUNCTION_NAME_PATTERN)


class NamedTool(BaseModel):
    """`{"type": "function", "function": {"name": ...}}`, `{"type": "file_search"}`, `{"type": "code_interpreter"}`."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["function", "file_search", "code_interpreter"]
    function: NamedFunction | None = None

    @model_validator(mode="after")
    def _function_iff_function_tool(self) -> NamedTool:
        if (self.type == "function") != (self.function is not None):
            raise ValueError('a "function" tool choice needs a "function" object with a "name", and only it')
        return self


ToolChoice = Literal["none", "auto", "required"] | NamedTool


class JsonSchemaFormat(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(pattern=FUNCTION_NAME_PATTERN)
    description: str | None = Field(default=None, max_length=1024)
    json_schema: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None


class ResponseFormatObject(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None

    @model_validator(mode="after")
    def _schema_iff_json_schema(self) -> ResponseFormatObject:
        if (self.type == "json_schema") != (self.json_schema is not None):
            raise ValueError('"json_schema" is needed with "type": "json_schema", and only there')
        return self


ResponseFormat = Literal["auto"] | ResponseFormatObject


class TruncationStrategy(BaseModel):
    """`{"type": "auto"}` (TRUNCATION_LAST_MESSAGES) or `{"type": "last_messages", "last_messages": N}`."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["auto", "last_messages"]
    last_messages: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _count_with_last_messages(self) -> TruncationStrategy:
        if self.type == "last_messages" and self.last_messages is None:
            raise ValueError('"last_messages" is needed with "type": "last_messages"')
        return self


def stored_choice(choice: ToolChoice | None) -> str | dict[str, Any] | None:
    """The tool choice as stored on the run (the Assistants API's shape)."""
    return choice.model_dump(exclude_none=True) if isinstance(choice, NamedTool) else choice


def stored_format(response_format: ResponseFormat | None) -> str | dict[str, Any] | None:
    """The response format as stored: the Assistants API's shape (`"auto"`, or the format object)."""
    if isinstance(response_format, ResponseFormatObject):
        return response_format.model_dump(exclude_none=True, by_alias=True)
    return response_format
