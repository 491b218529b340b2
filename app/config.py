"""Settings: the only module that reads the environment (and `.env`)."""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_DB_NAME = "chat_backend"


class Settings(BaseSettings):
    """Every setting of the service, typed and validated once at start-up."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

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
    engine: Literal["assistants", "hosted"] = "assistants"
    truncation_last_messages: int = Field(default=10, ge=1, le=100)
    max_completion_tokens: int = Field(default=1000, ge=1)
    max_content_chars: int = Field(default=32_000, ge=1, le=256_000)

    # Engine `hosted`: threads, messages and runs in our storage; a run is one model call
    hosted_model_api: Literal["responses", "chat_completions"] = "responses"
    assistant_instructions: str = "You are a helpful assistant."
    run_lease_s: float = Field(default=30.0, gt=0, le=3600)
    run_timeout_s: float = Field(default=600.0, gt=0)

    # Storage
    mongodb_uri: SecretStr | None = None
    mongodb_db: str | None = None
    default_user_id: str = "default-user"

    # HTTP
    cors_origins: Annotated[list[str], NoDecode] = ["http://localhost:3000"]
    host: str = "0.0.0.0"
    port: int = Field(default=8000, ge=1, le=65535)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator(
        "openai_assistant_id",
        "openai_base_url",
        "openai_vector_store_id",
        "openai_knowledge_store_id",
        "mongodb_db",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("openai_api_key", "mongodb_uri", mode="before")
    @classmethod
    def _blank_secret_is_unset(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        return value

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
        if self.mongodb_db:
            return self.mongodb_db
        if self.mongodb_uri:
            # No pymongo parse_uri here: for mongodb+srv it would resolve DNS.
            path = urlsplit(self.mongodb_uri.get_secret_value()).path.lstrip("/")
            if path:
                return path
        return DEFAULT_DB_NAME
