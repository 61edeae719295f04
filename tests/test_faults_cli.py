"""Broken configuration and a broken machine, met through the real command line.

Every command answers one line on stderr and exit 2 (the configuration points somewhere
unusable) or 1 (a failure of the machine, e.g. a full disk) — never a traceback. The faults are
real: a read-only bind mount (or, without root, a directory without write permission), a
size-limited tmpfs filled to the brim (root only), a database whose schema is newer than the
code or was not made by it, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import contextlib
import csv
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from storage.db import Database
from tests.fakebotapi import FakeBotAPI
from tests.qa_helpers import data_dir as shared_data_dir
from tests.qa_helpers import service as shared_service

EXE = Path(sys.executable).parent / "consortium-bot"
ROOT = Path(__file__).resolve().parent.parent
IS_ROOT = os.geteuid() == 0
TOKEN = "123456:FAULTS-token-abcdefghijklmnopq"

# Every command that opens the database, the index or the data directory.
COMMANDS: list[list[str]] = [
    ["ask", "牵头单位应具备哪些条件？"],
    ["index"],
    ["shell"],
    ["run"],
    ["reminders", "run-once", "--now", "2026-12-01T09:00"],
    ["consortia", "import", str(ROOT / "examples" / "consortia.csv")],
    ["db", "upgrade"],
]
IDS = [" ".join(c[:2]) if c[0] in ("reminders", "consortia", "db") else c[0] for c in COMMANDS]


def cli(*args: str, env: dict[str, str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items()
            if not k.startswith(("TELEGRAM_", "DATABASE_", "DATA_DIR", "LOG_LEVEL", "ADMIN_", "OFFICER_"))}
    full.update(env)
    return subprocess.run([str(EXE), *args], capture_output=True, text=True, env=full, cwd=cwd, input="",
                          timeout=timeout)


def one_line(res: subprocess.CompletedProcess[str], code: int) -> str:
    """The single stderr line of a command that failed with ``code``."""
    assert "Traceback" not in res.stderr, res.stderr[-3000:]
    lines = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr[-3000:]
    assert res.returncode == code, (res.returncode, res.stderr)
    assert lines[0].startswith("consortium-bot: "), lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def api() -> Iterator[FakeBotAPI]:
    with FakeBotAPI() as server:
        yield server


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory as a running installation has it: a built index and a migrated database."""
    shared_service()  # the session's index, built once
    src = tmp_path_factory.mktemp("faults-data") / "data"
    shutil.copytree(shared_data_dir() / "chroma", src / "chroma")
    Database.from_url(f"sqlite:///{src / 'consortium-bot.sqlite3'}").dispose()
    return src


def _mount(*args: str) -> bool:
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


@contextlib.contextmanager
def read_only_copy(source: Path, where: Path) -> Iterator[Path]:
    """``source`` seen read-only: a read-only bind mount as root, else a copy without write permission."""
    where.mkdir(parents=True)
    if IS_ROOT:
        if not _mount("--bind", str(source), str(where)):
            pytest.skip("cannot bind-mount here")
        try:
            _mount("-o", "remount,bind,ro", str(where))
            try:
                (where / "probe").write_bytes(b"x")
                pytest.skip("the bind mount stayed writable")
            except OSError:
                pass
            yield where
        finally:
            subprocess.run(["umount", "-l", str(where)], capture_output=True)
        return
    shutil.copytree(source, where, dirs_exist_ok=True)
    paths = [where, *where.rglob("*")]
    for p in paths:
        p.chmod(0o555 if p.is_dir() else 0o444)
    try:
        yield where
    finally:
        for p in paths:
            p.chmod(0o755 if p.is_dir() else 0o644)


@contextlib.contextmanager
def small_disk(where: Path, size: str = "24m") -> Iterator[Path]:
    """A real, size-limited file system (tmpfs); needs root."""
    if not IS_ROOT:
        pytest.skip("a size-limited file system needs root (mount -t tmpfs)")
    where.mkdir(parents=True)
    if not _mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)):
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def fill(disk: Path, leave: int = 0) -> None:
    """Fill ``disk`` until only ``leave`` bytes are free."""
    st = os.statvfs(disk)
    free = st.f_bavail * st.f_frsize - leave
    with open(disk / "filler", "wb") as fh:
        block = b"\0" * 65536
        with contextlib.suppress(OSError):
            while free > 0:
                fh.write(block[: min(len(block), free)])
                free -= len(block)


def bot_env(api: FakeBotAPI, data: Path, **more: str) -> dict[str, str]:
    return {"DATA_DIR": str(data), "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": api.base_url, **more}


# -- configuration --------------------------------------------------------------------------------

@pytest.mark.parametrize("command", COMMANDS, ids=IDS)
def test_unparsable_database_url_is_one_line_exit_2(tmp_path: Path, command: list[str]) -> None:
    res = cli(*command, env={"DATABASE_URL": "postgresql://u:hunter2secret@h:notaport/db"}, cwd=tmp_path)
    line = one_line(res, 2)
    assert "DATABASE_URL" in line and "notaport" in line and "not a number" in line
    assert "hunter2secret" not in res.stderr + res.stdout  # the password is never repeated


@pytest.mark.parametrize(("url", "needle"), [
    ("mysql://user@host/db", "not supported"),
    ("postgresql://user@host:70000/db", "out of range"),
    ("::::", "not a database URL"),
])
def test_other_bad_database_urls(tmp_path: Path, url: str, needle: str) -> None:
    line = one_line(cli("db", "upgrade", env={"DATABASE_URL": url}, cwd=tmp_path), 2)
    assert "DATABASE_URL" in line and needle in line


def test_bad_log_level_is_a_configuration_error(tmp_path: Path) -> None:
    line = one_line(cli("db", "upgrade", env={"LOG_LEVEL": "loud"}, cwd=tmp_path), 2)
    assert "LOG_LEVEL" in line


# -- a read-only data directory ----------------------------------------------------------------------

@pytest.mark.parametrize("command", COMMANDS, ids=IDS)
def test_read_only_data_directory_is_one_line(prepared: Path, tmp_path: Path, api: FakeBotAPI,
                                              command: list[str]) -> None:
    with read_only_copy(prepared, tmp_path / "ro") as data:
        res = cli(*command, env=bot_env(api, data), cwd=tmp_path)
    line = one_line(res, 2)
    assert "read-only" in line or "permission" in line, line
    if IS_ROOT:  # a real read-only mount (without root: a directory without write permission)
        assert "read-only file system" in line, line
    assert str(data) in line  # says where
    assert "embedding model" not in line  # the cause, not a guess


def test_read_only_empty_data_directory_on_first_ask(tmp_path: Path) -> None:
    """A fresh installation pointed at a read-only place: the index cannot even be created."""
    empty = tmp_path / "empty"
    empty.mkdir()
    with read_only_copy(empty, tmp_path / "ro") as data:
        line = one_line(cli("ask", "牵头单位应具备哪些条件？", env={"DATA_DIR": str(data)}, cwd=tmp_path), 2)
    assert ("read-only" in line or "permission" in line) and "embedding model" not in line


# -- a full disk ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("command", COMMANDS, ids=IDS)
def test_full_disk_is_one_line_exit_1(prepared: Path, tmp_path: Path, api: FakeBotAPI, command: list[str]) -> None:
    with small_disk(tmp_path / "disk") as disk:
        shutil.copytree(prepared, disk / "data")
        fill(disk)
        res = cli(*command, env=bot_env(api, disk / "data"), cwd=tmp_path)
    line = one_line(res, 1)
    assert "no space left" in line, line


def _registry(path: Path, n: int) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["name", "lead_unit", "industry_field", "route", "recommending_unit", "approved_on", "ends_on",
                    "contact_chat_ids"])
        for i in range(n):
            w.writerow([f"故障测试创新联合体{i:04d}", f"牵头单位{i}", "新材料", "top_down", "", "2024-03-01",
                        "2027-03-01", f"{10_000 + i};{20_000 + i}"])
    return path


def test_disk_full_during_a_reminder_pass(prepared: Path, tmp_path: Path, api: FakeBotAPI) -> None:
    """The disk fills while the pass writes its claims: one line, exit 1, and nothing was sent as if done."""
    with small_disk(tmp_path / "disk") as disk:
        data = disk / "data"
        shutil.copytree(prepared, data)
        env = bot_env(api, data)
        res = cli("consortia", "import", str(_registry(tmp_path / "big.csv", 300)), env=env, cwd=tmp_path)
        assert res.returncode == 0, res.stderr
        fill(disk, leave=160 * 1024)  # room to open the database, not to record a 1,200-message pass
        res = cli("reminders", "run-once", "--now", "2026-12-01T09:00", env=env, cwd=tmp_path)
    line = one_line(res, 1)
    assert "no space left" in line


# -- database schemas this code does not manage ---------------------------------------------------------

SCHEMA_COMMANDS = [["db", "upgrade"], ["shell"], ["run"], ["reminders", "run-once"]]


def _tamper(url: str, sql: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(sql))
    engine.dispose()


@pytest.mark.parametrize("command", SCHEMA_COMMANDS, ids=[" ".join(c) for c in SCHEMA_COMMANDS])
def test_newer_database_schema_is_refused_in_one_line(any_db_url: str, tmp_path: Path, api: FakeBotAPI,
                                                      command: list[str]) -> None:
    Database.from_url(any_db_url).dispose()
    _tamper(any_db_url, "UPDATE alembic_version SET version_num = '0099_future'")
    env = bot_env(api, tmp_path / "data", DATABASE_URL=any_db_url)
    line = one_line(cli(*command, env=env, cwd=tmp_path), 2)
    assert "0099_future" in line and "does not know" in line


@pytest.mark.parametrize("command", SCHEMA_COMMANDS, ids=[" ".join(c) for c in SCHEMA_COMMANDS])
def test_database_without_alembic_version_is_refused_in_one_line(any_db_url: str, tmp_path: Path,
                                                                 api: FakeBotAPI, command: list[str]) -> None:
    Database.from_url(any_db_url).dispose()
    _tamper(any_db_url, "DROP TABLE alembic_version")
    env = bot_env(api, tmp_path / "data", DATABASE_URL=any_db_url)
    line = one_line(cli(*command, env=env, cwd=tmp_path), 2)
    assert "no alembic_version" in line and "audit_log" in line


def test_database_with_foreign_tables_only_is_adopted(tmp_path: Path) -> None:
    """Someone else's tables in the same database are no reason to refuse: ours are created beside them."""
    url = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    _tamper(url, "CREATE TABLE their_things (id INTEGER PRIMARY KEY)")
    res = cli("db", "upgrade", env={"DATABASE_URL": url}, cwd=tmp_path)
    assert res.returncode == 0, res.stderr


# -- the token never reaches the output of any command -------------------------------------------------

@pytest.mark.parametrize("token", ["7:tiny-tok", "123456789:" + "A" * 35, "98765:" + "x_y-z" * 30])
def test_reminders_run_once_logs_through_the_redacting_filter(tmp_path: Path, api: FakeBotAPI, token: str) -> None:
    """At DEBUG python-telegram-bot logs the Bot API URL, token included: hidden whatever its length."""
    env = {"DATA_DIR": str(tmp_path / "data"), "TELEGRAM_BOT_TOKEN": token, "TELEGRAM_API_BASE_URL": api.base_url,
           "LOG_LEVEL": "DEBUG"}
    res = cli("reminders", "run-once", "--now", "2026-12-01T09:00", env=env, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "Set Bot API URL" in res.stderr  # the line that carried the token
    assert "bot<redacted>" in res.stderr
    secret = token.split(":", 1)[1]
    assert token not in res.stderr + res.stdout and secret not in res.stderr + res.stdout


def test_database_permission_errors_are_not_mistaken_for_the_disk() -> None:
    """PostgreSQL's "permission denied for table" is the database's business, not the data directory's."""
    import sqlite3

    from sqlalchemy.exc import OperationalError, ProgrammingError

    from bot.faults import explain

    class InsufficientPrivilege(Exception):  # what psycopg raises, by name and message
        pass

    pg = ProgrammingError("SELECT 1", {}, InsufficientPrivilege("permission denied for table users"))
    assert explain(pg, "/srv/data") is None
    full = OperationalError("INSERT", {}, sqlite3.OperationalError("database or disk is full"))
    assert "no space left" in str(explain(full, "/srv/data"))
