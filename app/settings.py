"""All configuration, in one place: environment variables prefixed ``CHATCOMMERCE_`` and ``.env``.

The names are a contract (see DESIGN.md "Contracts"); deployment scripts depend on them.
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CHATCOMMERCE_", env_file=".env", extra="ignore", frozen=True
    )

    data_dir: Path = Path("./var")
    database_url: str | None = None
    chroma_url: str | None = None
    sqlite_busy_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="SQLite: how long a writer waits for the database's single write lock "
        "before its unit of work is tried again (three tries; then webhooks and the events API "
        "answer 503 with Retry-After)",
    )
    write_key: SecretStr | None = None
    public_url: str = "http://127.0.0.1:8000"

    telegram_bot_token: SecretStr | None = None
    telegram_webhook_secret: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org"

    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_sms_from: str | None = None
    twilio_whatsapp_from: str | None = None
    twilio_api_url: str = "https://api.twilio.com"

    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    openai_model: str = "gpt-4o-mini"
    openai_streaming: bool = Field(
        default=False,
        description="Ask the model to stream (some gateways answer tool calls only that way)",
    )
    openai_timeout_seconds: float = Field(default=30.0, gt=0)
    embeddings: Literal["local", "openai"] = Field(
        default="local",
        description="Catalog embeddings: the bundled MiniLM model, or OpenAI's API",
    )
    openai_embedding_model: str = "text-embedding-3-small"

    scheduler: Literal["embedded", "procrastinate"] = "embedded"
    scheduler_poll_seconds: float = Field(
        default=0.5, gt=0, description="How often the embedded workers look for due work"
    )
    run_workers: bool = Field(
        default=True, description="Run trigger and send workers in this API process"
    )
    guardrails_file: Path | None = None

    conversation_burst_seconds: float = Field(
        default=1.0,
        ge=0,
        description="Messages a shopper sends within this many seconds become one turn",
    )
    conversation_handler: Literal["agent", "holding"] = Field(
        default="agent",
        description="Who answers shoppers: the agent, or one holding reply (bot paused)",
    )
    conversation_lease_seconds: float = Field(
        default=60.0,
        gt=0,
        description="A claimed conversation's lease, renewed while its turn runs; a stopped "
        "worker's conversations are taken over this long after its last heartbeat",
    )
    conversation_turn_timeout_seconds: float = Field(
        default=120.0, gt=0, description="The longest one turn of the agent may take"
    )
    conversation_retry_seconds: list[float] = Field(
        default=[20.0, 90.0],
        description="Waits before retrying a failed turn (JSON list); after the last, the "
        "shopper gets an apology and the conversation is flagged for a person",
    )
    conversation_concurrency: int = Field(
        default=32, ge=1, description="Conversations answered at the same time per process"
    )
    sms_max_segments: int = Field(
        default=4, ge=1, le=10, description="Longer SMS replies are trimmed (links are kept)"
    )

    shop_webhook_url: str | None = Field(
        default=None, description="Where order action requests go; unset: a person does them"
    )
    shop_webhook_secret: SecretStr | None = Field(
        default=None, description="Signs each request: X-ChatCommerce-Signature, HMAC-SHA256"
    )
    shop_webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    shop_webhook_retry_seconds: list[float] = Field(
        default_factory=lambda: [5.0, 30.0, 120.0, 600.0],
        description="Waits between tries (JSON list); after the last, the request is dead",
    )

    webchat_enabled: bool = Field(
        default=True, description="Serve web chat: the page at /, the widget and its API"
    )
    webchat_allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Origins of the pages that may embed the widget (CORS), as a JSON list or "
        "comma-separated; empty means the public URL only; * allows any",
    )
    webchat_rate_limit_messages: int = Field(
        default=20, ge=1, description="Messages one web chat session may send per window"
    )
    webchat_rate_limit_seconds: float = Field(
        default=60.0, gt=0, description="The window of the web chat rate limit"
    )
    webchat_poll_seconds: float = Field(
        default=1.0,
        gt=0,
        description="How often a process looks for web chat messages another process stored "
        "(a reply from the same process reaches the page at once)",
    )
    webchat_stream_seconds: float = Field(
        default=120.0,
        gt=0,
        description="How long one event stream stays open; the browser then reconnects",
    )

    scores_refit_hours: float = Field(
        default=24.0,
        ge=0,
        description="How often the workers refit the scoring models and re-score everyone "
        "(0: only by `chatcommerce scores train`)",
    )

    default_phone_region: str = Field(
        default="US",
        description="Region assumed for phone numbers written without a country code.",
    )
    log_level: str = "INFO"
    log_format: Literal["auto", "json", "console"] = "auto"
    max_batch_size: int = Field(default=1000, ge=1)

    @field_validator("webchat_allowed_origins", mode="before")
    @classmethod
    def _origin_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("webchat_allowed_origins")
    @classmethod
    def _origins(cls, origins: list[str]) -> list[str]:
        return [origin if origin == "*" else web_origin(origin) for origin in origins]

    @property
    def webchat_origins(self) -> list[str]:
        """The origins allowed to call web chat from a browser, besides the app's own."""
        return self.webchat_allowed_origins or [web_origin(self.public_url)]

    @cached_property
    def sqlalchemy_url(self) -> str:
        """The async SQLAlchemy URL: ``postgresql://`` becomes psycopg 3, default is SQLite."""
        url = self.database_url
        if not url:
            return f"sqlite+aiosqlite:///{(self.data_dir / 'chatcommerce.db').resolve()}"
        for prefix in ("postgresql://", "postgres://", "postgresql+asyncpg://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        if url.startswith("sqlite://"):
            return "sqlite+aiosqlite://" + url[len("sqlite://") :]
        return url

    @property
    def telegram_configured(self) -> bool:
        return self.telegram_bot_token is not None and self.telegram_webhook_secret is not None

    @property
    def twilio_configured(self) -> bool:
        return bool(self.twilio_account_sid) and self.twilio_auth_token is not None

    @property
    def is_postgres(self) -> bool:
        return self.sqlalchemy_url.startswith("postgresql")


def web_origin(url: str) -> str:
    """``scheme://host[:port]`` of a URL, as browsers send it in ``Origin``."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"not an http(s) origin: {url!r}")
    return f"{parts.scheme}://{parts.netloc}".lower()


def get_settings() -> Settings:
    return Settings()
