"""Settings: the only module that reads the environment (and `.env`)."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from typing import Annotated, Literal
from urllib.parse import urlsplit

import limits
from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_DB_NAME = "chat_backend"
MIN_API_KEY_CHARS = 16
USER_ID_PATTERN = re.compile(r"^[A-Za-z0-9._@-]{1,128}$")
# How long a run may take from its start (or from its tool outputs) before it expires.
RUN_TIMEOUT_S = 600.0


def key_user_id(key: str) -> str:
    """The user of a key listed without one: `key-` and 16 hex digits of the key's SHA-256, the same on every
    start and process (the key cannot be read back from it)."""
    return "key-" + hashlib.sha256(key.encode()).hexdigest()[:16]


def parse_api_keys(raw: str) -> dict[str, str]:
    """`key1:user1,key2:user2,key3` (a key alone acts for a user of its own: `key_user_id`) or a JSON map.

    Raises ValueError without quoting any key, so a bad value never lands in a log.
    """
    raw = raw.strip()
    if raw.startswith("{"):
        try:
            mapping = json.loads(raw)
        except ValueError as exc:
            raise ValueError("API_KEYS is not valid JSON") from exc
        if not isinstance(mapping, dict) or not all(isinstance(v, str | None) for v in mapping.values()):
            raise ValueError('API_KEYS as JSON must map keys to user ids: {"key": "user"}')
        pairs = [(str(k).strip(), (v or "").strip()) for k, v in mapping.items()]
    else:
        entries = [entry.strip().partition(":") for entry in raw.split(",") if entry.strip()]
        pairs = [(key.strip(), user.strip()) for key, _, user in entries]
    keys: dict[str, str] = {}
    for n, (key, user) in enumerate(pairs, start=1):
        if len(key) < MIN_API_KEY_CHARS or any(c.isspace() or ord(c) < 33 or ord(c) > 126 for c in key):
            raise ValueError(f"API_KEYS entry {n}: a key needs {MIN_API_KEY_CHARS}+ visible ASCII characters")
        user = user or key_user_id(key)
        if not USER_ID_PATTERN.fullmatch(user):
            raise ValueError(f"API_KEYS entry {n}: user ids are 1-128 of A-Z a-z 0-9 . _ @ -")
        keys[key] = user
    return keys


class Settings(BaseSettings):
    """Every setting of the service, typed and validated once at start-up."""

    # hide_input_in_errors: a malformed secret must not be echoed by the start-up error.
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", hide_input_in_errors=True
    )

    # OpenAI (or any compatible provider)
    openai_api_key: SecretStr | None = None
    openai_assistant_id: str | None = None
    openai_base_url: str | None = None
    openai_model: str = "gpt-4o-mini"
    openai_vector_store_id: str | None = None
    openai_knowledge_store_id: str | None = None
    openai_timeout_s: float = Field(default=60.0, gt=0)
    openai_max_retries: int = Field(default=2, ge=0, le=10)

    # Runs
    # hosted: threads, messages and runs kept here, each run one model call (the product);
    # assistants: a relay to a provider that still serves the Assistants API.
    engine: Literal["hosted", "assistants"] = "hosted"
    truncation_last_messages: int = Field(default=10, ge=1, le=100)
    max_completion_tokens: int = Field(default=1000, ge=1)
    # Engine `hosted`: the history sent is trimmed, newest first, to this many (estimated) tokens.
    max_prompt_tokens: int = Field(default=8000, ge=256)
    max_content_chars: int = Field(default=32_000, ge=1, le=256_000)

    # Engine `hosted`: threads, messages and runs in our storage; a run is one model call
    hosted_model_api: Literal["responses", "chat_completions"] = "responses"
    assistant_instructions: str = "You are a helpful assistant."
    # A JSON file of assistants (the Assistants API's create shape plus `id`), stored at start-up.
    assistants_file: str | None = None
    run_lease_s: float = Field(default=30.0, gt=0, le=3600)
    # How long a request with an Idempotency-Key holds its key before a retry may take it over (its process
    # died) and look for what it wrote; unset: as long as its upstream calls may take, plus 30 s.
    idempotency_lease_s: float | None = Field(default=None, gt=0, le=3600)
    requires_action_timeout_s: float = Field(default=600.0, gt=0)

    # Storage
    mongodb_uri: SecretStr | None = None
    mongodb_db: str | None = None
    default_user_id: str = "default-user"
    # The embedded store (no MONGODB_URI): its SQLite file's directory (relative to the working
    # directory; created on first start), and how many threads each user may own in it.
    data_dir: str = "data"
    max_threads_per_user: int = Field(default=10_000, ge=1)

    # HTTP
    cors_origins: Annotated[list[str], NoDecode] = ["http://localhost:3000"]
    host: str = "0.0.0.0"
    port: int = Field(default=8000, ge=1, le=65535)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    # The HTTP edge: how long a header block may take to arrive (then the connection is closed), and
    # then the whole body (then 408 and closed); the proxies whose X-Forwarded-For/-Proto are believed
    # (addresses or networks, `*` for any; empty: none).
    http_read_timeout_s: float = Field(default=15.0, gt=0, le=60)
    forwarded_allow_ips: Annotated[list[str], NoDecode] = []

    # Access control and limits
    api_keys: SecretStr | None = None
    rate_limit: str = ""
    rate_limit_storage_uri: str = "async+memory://"
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)

    # Shutdown
    shutdown_timeout_s: float = Field(default=20.0, ge=0)

    @field_validator("cors_origins", "forwarded_allow_ips", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [entry.strip() for entry in value.split(",") if entry.strip()]
        return value

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _valid_proxies(cls, value: list[str]) -> list[str]:
        """Addresses and networks in the form the proxy headers middleware reads (it would ignore a malformed one)."""
        if "*" in value:
            return ["*"]  # everyone is trusted only for exactly "*"
        normalized = []
        for entry in value:
            try:
                address = ipaddress.ip_network(entry, strict=False) if "/" in entry else ipaddress.ip_address(entry)
            except ValueError as exc:
                raise ValueError(f"{entry!r} is not an IP address or network (e.g. 10.0.0.1, 10.0.0.0/8, *)") from exc
            normalized.append(str(address))
        return normalized

    @field_validator(
        "openai_assistant_id",
        "openai_base_url",
        "openai_vector_store_id",
        "openai_knowledge_store_id",
        "mongodb_db",
        "assistants_file",
        "openai_api_key",
        "mongodb_uri",
        "api_keys",
        "data_dir",
        mode="before",
    )
    @classmethod
    def _blank_is_default(cls, value: object, info: ValidationInfo) -> object:
        if isinstance(value, str) and not value.strip():
            return cls.model_fields[str(info.field_name)].default
        return value

    @field_validator("rate_limit")
    @classmethod
    def _valid_rate_limit(cls, value: str) -> str:
        if value.strip():
            try:
                limits.parse_many(value)
            except ValueError as exc:
                raise ValueError('expected e.g. "60/minute" or "10/second;300/hour"') from exc
        return value.strip()

    @field_validator("api_keys")
    @classmethod
    def _valid_api_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parse_api_keys(value.get_secret_value())
        return value

    @property
    def api_key_users(self) -> dict[str, str]:
        """API key -> user id; empty when access control is off."""
        if self.api_keys is None:
            return {}
        return parse_api_keys(self.api_keys.get_secret_value())

    @property
    def secrets(self) -> list[str]:
        """Every secret value in the settings (kept out of logs by the log formatter)."""
        values = [s.get_secret_value() for s in (self.openai_api_key, self.mongodb_uri) if s is not None]
        if self.mongodb_uri is not None:
            values.append(urlsplit(self.mongodb_uri.get_secret_value()).password or "")
        return [v for v in [*values, *self.api_key_users] if len(v) >= 6]

    @property
    def vector_store_ids(self) -> list[str]:
        """Vector stores file_search should see on a thread."""
        return [vs for vs in (self.openai_vector_store_id,) if vs]

    @property
    def file_search_store_ids(self) -> list[str]:
        """Every configured vector store, for engines that pass them on each model call."""
        ids = [self.openai_vector_store_id, self.openai_knowledge_store_id]
        return list(dict.fromkeys(vs for vs in ids if vs))

    @property
    def database_name(self) -> str:
        """MONGODB_DB, else the database named in the URI, else the default."""
        # No pymongo parse_uri here: for mongodb+srv it would resolve DNS.
        path = urlsplit(self.mongodb_uri.get_secret_value()).path.lstrip("/") if self.mongodb_uri else ""
        return self.mongodb_db or path or DEFAULT_DB_NAME
