"""Stored assistants (ENGINE=hosted): CRUD per user, ASSISTANTS_FILE, and the run's assistant.

The pydantic models here are the assistant's rules, for the routes' bodies and the file's entries
alike. Another user's assistant is answered as unknown.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from app.clock import utc_now
from app.config import Settings
from app.engines.hosted.assistants import DEFAULT_ASSISTANT_ID, RunAssistants, refreshed_default
from app.engines.hosted.objects import new_id
from app.engines.hosted.pages import KeyRange, PageQuery, keyset_page
from app.errors import AssistantNotFound, HostedEngineRequired, InvalidField, OperatorObjectReadOnly
from app.services.run_options import FUNCTION_NAME_PATTERN, ResponseFormat, Temperature, TopP, stored_format
from app.storage.assistants import AssistantRecord, AssistantStore, Key, with_vector_store

logger = logging.getLogger(__name__)

ASSISTANT_ID_PATTERN = r"^asst_[A-Za-z0-9]{1,64}$"
MAX_TOOLS = 128
MAX_METADATA_KEYS = 16


class FunctionDefinition(BaseModel):
    """A function the model may call: `name`, and `parameters` as a JSON schema object."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=FUNCTION_NAME_PATTERN, description="1-64 of a-z A-Z 0-9 _ -")
    description: str | None = Field(default=None, max_length=1024)
    parameters: dict[str, Any] | None = Field(
        default=None, description='A JSON schema object: `{"type": "object", "properties": {...}}`.'
    )
    strict: bool | None = None

    @field_validator("parameters")
    @classmethod
    def _json_schema_object(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and value.get("type") != "object":
            raise ValueError('must be a JSON schema object, with "type": "object"')
        return value


class RankingOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ranker: Literal["auto", "default_2024_08_21"] | None = None
    score_threshold: float = Field(ge=0, le=1)


class FileSearchSettings(BaseModel):
    """file_search's `max_num_results` and `ranking_options`, passed on to the model's file_search."""

    model_config = ConfigDict(extra="forbid")

    max_num_results: int | None = Field(default=None, ge=1, le=50)
    ranking_options: RankingOptions | None = None


class AssistantTool(BaseModel):
    """`{"type": "code_interpreter"}`, `{"type": "file_search"}` (optional `file_search` settings) or
    `{"type": "function", "function": {...}}`."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"type": "file_search"}]},
    )

    type: Literal["function", "file_search", "code_interpreter"]
    function: FunctionDefinition | None = None
    file_search: FileSearchSettings | None = None

    @model_validator(mode="after")
    def _function_iff_function_tool(self) -> AssistantTool:
        if self.type == "function" and self.function is None:
            raise ValueError('a "function" tool needs a "function" object with a "name"')
        if self.type != "function" and self.function is not None:
            raise ValueError(f'a "{self.type}" tool takes no "function" object')
        if self.type != "file_search" and self.file_search is not None:
            raise ValueError(f'a "{self.type}" tool takes no "file_search" object')
        return self

    def as_object(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class FileSearchResources(BaseModel):
    model_config = ConfigDict(extra="forbid")

    vector_store_ids: list[str] = Field(default_factory=list, max_length=1)


class CodeInterpreterResources(BaseModel):
    model_config = ConfigDict(extra="forbid")

    file_ids: list[str] = Field(default_factory=list, max_length=20)


class ToolResources(BaseModel):
    model_config = ConfigDict(extra="forbid")

    file_search: FileSearchResources | None = None
    code_interpreter: CodeInterpreterResources | None = None


def _metadata_checked(value: dict[str, str] | None) -> dict[str, str] | None:
    if value is None:
        return None
    if len(value) > MAX_METADATA_KEYS:
        raise ValueError(f"at most {MAX_METADATA_KEYS} keys")
    for key, item in value.items():
        if len(key) > 64 or len(item) > 512:
            raise ValueError("keys are at most 64 characters, values at most 512")
    return value


class AssistantUpdate(BaseModel):
    """Fields to change; those left out keep their value (`tools` and `metadata` are replaced whole)."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(default=None, min_length=1, max_length=256)
    name: str | None = Field(default=None, max_length=256)
    description: str | None = Field(default=None, max_length=512)
    instructions: str | None = Field(default=None, max_length=256_000)
    tools: list[AssistantTool] | None = Field(default=None, max_length=MAX_TOOLS)
    tool_resources: ToolResources | None = None
    metadata: dict[str, str] | None = Field(default=None, description=f"At most {MAX_METADATA_KEYS} keys.")
    # The defaults of the assistant's runs (a run may override them).
    temperature: float | None = Temperature
    top_p: float | None = TopP
    response_format: ResponseFormat | None = None

    _metadata = field_validator("metadata")(_metadata_checked)


class AssistantCreate(AssistantUpdate):
    """An assistant, in the Assistants API's create shape."""

    model: str = Field(min_length=1, max_length=256, description="The model runs use, e.g. `gpt-4o-mini`.")


class AssistantFileEntry(AssistantCreate):
    """An ASSISTANTS_FILE entry: the create shape plus its `id`."""

    id: str = Field(pattern=ASSISTANT_ID_PATTERN)


def _record(assistant_id: str, owner: str, fields: AssistantUpdate, created_at: Any) -> AssistantRecord:
    plain = fields.model_dump(include={"name", "description", "instructions", "temperature", "top_p"})
    return AssistantRecord(
        **plain,
        id=assistant_id,
        owner=owner,
        created_at=created_at,
        model=fields.model or "",  # always given on create; an update without it keeps the record's
        tools=tuple(tool.as_object() for tool in fields.tools or ()),
        tool_resources=fields.tool_resources.model_dump(exclude_none=True) if fields.tool_resources else {},
        metadata=dict(fields.metadata or {}),
        response_format=stored_format(fields.response_format),
    )


@dataclass(frozen=True)
class AssistantPage:
    data: list[AssistantRecord]
    has_more: bool


class AssistantsSetupError(ValueError):
    """Start-up stops: ASSISTANTS_FILE is malformed, or OPENAI_ASSISTANT_ID is not stored."""


def _entry_label(index: int, entry: Any) -> str:
    entry_id = entry.get("id") if isinstance(entry, dict) else None
    return f"entry {index}" + (f" (id {entry_id!r})" if isinstance(entry_id, str) else "")


def parse_assistants_file(path: str) -> list[AssistantFileEntry]:
    """The file's entries, all valid, or AssistantsSetupError naming the entry (index, id) and the field."""
    where = f"ASSISTANTS_FILE {path}"
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise AssistantsSetupError(f"{where}: cannot be read ({type(exc).__name__})") from exc
    except ValueError as exc:
        raise AssistantsSetupError(f"{where}: not valid JSON ({exc})") from exc
    if not isinstance(raw, list):
        raise AssistantsSetupError(f"{where}: must hold a JSON list of assistant objects")
    entries: list[AssistantFileEntry] = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        try:
            entry = AssistantFileEntry.model_validate(item)
        except ValidationError as exc:
            error = exc.errors()[0]
            field = ".".join(str(part) for part in error["loc"]) or "entry"
            raise AssistantsSetupError(f"{where}: {_entry_label(index, item)}: {field}: {error['msg']}") from exc
        if entry.id in seen:
            raise AssistantsSetupError(f"{where}: {_entry_label(index, item)}: id: used by an earlier entry")
        seen.add(entry.id)
        entries.append(entry)
    return entries


class AssistantService:
    """Assistants in our storage, per user; only with ENGINE=hosted."""

    def __init__(self, store: AssistantStore, settings: Settings) -> None:
        self.store = store
        self._settings = settings
        self.run_assistants = RunAssistants(settings, store)
        self._file_ids: frozenset[str] = frozenset()  # ASSISTANTS_FILE's, once prepared

    @property
    def operator_ids(self) -> frozenset[str]:
        """The operator's assistants (ASSISTANTS_FILE's, OPENAI_ASSISTANT_ID, the built-in default): every user's
        runs may use them, no one changes them through the API, and their instructions are never shown."""
        return self._file_ids | {self.run_assistants.assistant_id, DEFAULT_ASSISTANT_ID}

    def _require_hosted(self) -> None:
        if self._settings.engine != "hosted":
            raise HostedEngineRequired()

    async def create(self, owner: str, fields: AssistantCreate) -> AssistantRecord:
        self._require_hosted()
        record = _record(new_id("asst_"), owner, fields, utc_now())
        await self.store.put(record)
        logger.info("assistant created assistant_id=%s", record.id)
        return record

    async def get(self, owner: str, assistant_id: str) -> AssistantRecord:
        """The user's own assistant, or one of the operator's (read-only); else AssistantNotFound."""
        self._require_hosted()
        record = await self.store.get(assistant_id)
        if record is None or (record.owner != owner and assistant_id not in self.operator_ids):
            raise AssistantNotFound(assistant_id)
        return record

    async def _own(self, owner: str, assistant_id: str) -> AssistantRecord:
        """The user's assistant to change: the operator's are read-only (403), others' unknown (404)."""
        record = await self.get(owner, assistant_id)
        if assistant_id in self.operator_ids:
            raise OperatorObjectReadOnly(assistant_id)
        return record

    async def update(self, owner: str, assistant_id: str, changes: AssistantUpdate) -> AssistantRecord:
        record = await self._own(owner, assistant_id)
        given = changes.model_fields_set - ({"model"} if changes.model is None else set())
        stored = _record(record.id, owner, changes, record.created_at)  # the given fields in the stored shape
        updated = replace(record, **{name: getattr(stored, name) for name in given})
        await self.store.put(updated)
        return updated

    async def delete(self, owner: str, assistant_id: str) -> None:
        await self._own(owner, assistant_id)
        if not await self.store.delete(assistant_id):
            raise AssistantNotFound(assistant_id)
        logger.info("assistant deleted assistant_id=%s", assistant_id)

    async def list(
        self,
        owner: str,
        *,
        limit: int = 20,
        order: Literal["asc", "desc"] = "desc",
        after: str | None = None,
        before: str | None = None,
    ) -> AssistantPage:
        """A page of the owner's assistants (newest first by default), cursors as in the Assistants API."""
        self._require_hosted()

        async def key_of(name: str, assistant_id: str) -> Key:
            record = await self.store.get(assistant_id)
            if record is None or record.owner != owner:
                raise InvalidField(name, f"no assistant '{assistant_id}'")
            return record.created_at, record.id

        async def read(keys: KeyRange[Key]) -> list[AssistantRecord]:
            return await self.store.page(
                owner, key_after=keys.low, key_before=keys.high, ascending=keys.ascending, limit=keys.limit
            )

        query = PageQuery(limit=limit, order=order, after=after, before=before)
        data, has_more = await keyset_page(query, key_of, read)
        return AssistantPage(data=data, has_more=has_more)

    # ---- start-up and the run's assistant ---------------------------------------------------
    async def prepare(self) -> None:
        """Start-up (hosted): ASSISTANTS_FILE, the default assistant; AssistantsSetupError stops start-up."""
        if path := self._settings.assistants_file:  # its assistants, created or updated, owned by DEFAULT_USER_ID
            entries = parse_assistants_file(path)
            for entry in entries:
                existing = await self.store.get(entry.id)
                created_at = existing.created_at if existing else utc_now()
                record = _record(entry.id, self._settings.default_user_id, entry, created_at)
                # A vector store the file routes recorded stays while the entry names none.
                has_file_search = any(tool.get("type") == "file_search" for tool in record.tools)
                if existing and existing.vector_store_ids and not record.vector_store_ids and has_file_search:
                    record = with_vector_store(record, existing.vector_store_ids[0])
                await self.store.put(record)
            self._file_ids = frozenset(entry.id for entry in entries)
            logger.info("ASSISTANTS_FILE %s: %d assistant(s) created or updated", path, len(entries))
        if configured := self._settings.openai_assistant_id:
            if await self.store.get(configured) is None:
                raise AssistantsSetupError(
                    f"OPENAI_ASSISTANT_ID={configured}: no such assistant in this service's storage "
                    "(ENGINE=hosted keeps assistants here: list it in ASSISTANTS_FILE, or unset "
                    "OPENAI_ASSISTANT_ID to use the built-in default assistant)"
                )
            logger.info("hosted runs use assistant %s", configured)
            return
        await self.store.put(refreshed_default(self._settings, await self.store.get(DEFAULT_ASSISTANT_ID)))
        logger.info("hosted runs use the built-in default assistant %s", DEFAULT_ASSISTANT_ID)
