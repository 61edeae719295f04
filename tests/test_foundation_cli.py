"""The command line, configuration and the terminal shell, through their public entry points."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.app import App
from bot.cli import main
from bot.config import ConfigError, load_settings
from bot.shell import run_shell

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
            stdin: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_", "TZ_NAME"))}
    full_env.update(env or {})
    exe = Path(sys.executable).parent / "consortium-bot"
    return subprocess.run([str(exe), *args], capture_output=True, text=True, env=full_env, cwd=cwd or ROOT,
                          input=stdin, timeout=timeout)


def test_help_lists_every_contract_command() -> None:
    res = run_cli("--help")
    assert res.returncode == 0
    for cmd in ("run", "shell", "ask", "check", "consortia", "reminders", "db", "gaps"):
        assert cmd in res.stdout


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"TZ_NAME": "Mars/Olympus"}, "TZ_NAME"),
        ({"OFFICER_CHAT_IDS": "12,abc"}, "OFFICER_CHAT_IDS"),
        ({"ADMIN_CHAT_IDS": "1;;x2"}, "ADMIN_CHAT_IDS"),
        ({"REMINDER_SEND_HOUR": "25"}, "REMINDER_SEND_HOUR"),
        ({"DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none"}, "cannot reach the database"),
        ({"DATABASE_URL": "not a url"}, "DATABASE_URL"),
    ],
)
def test_bad_configuration_is_one_line_and_exit_2(tmp_path: Path, env: dict[str, str], needle: str) -> None:
    res = run_cli("db", "upgrade", env=env, cwd=tmp_path)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], res.stderr
    assert "Traceback" not in res.stderr


def test_db_upgrade_creates_sqlite_in_data_dir(tmp_path: Path) -> None:
    res = run_cli("db", "upgrade", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "data" / "consortium-bot.sqlite3").exists()
    assert run_cli("db", "upgrade", cwd=tmp_path).returncode == 0  # idempotent


def test_chat_id_lists_accept_commas_semicolons_and_spaces() -> None:
    s = load_settings(officer_chat_ids="1, 2;3 4", _env_file=None)
    assert s.officer_chat_ids == [1, 2, 3, 4]
    with pytest.raises(ConfigError, match="OFFICER_CHAT_IDS"):
        load_settings(officer_chat_ids="1,two", _env_file=None)


def test_token_is_never_printed_in_settings_repr() -> None:
    s = load_settings(telegram_bot_token="123456:SECRET-secret-secret-secret", _env_file=None)
    assert "SECRET" not in repr(s) and "SECRET" not in str(s.model_dump())


def test_token_is_redacted_from_log_records() -> None:
    import logging

    from bot.logging_setup import RedactTokens

    record = logging.LogRecord("httpx", logging.INFO, __file__, 1, "POST %s", ("https://x/bot123456:AAAAAAAAAAAAAAAAAAAAAAAA/getMe",), None)
    RedactTokens().filter(record)
    assert "AAAA" not in record.getMessage() and "bot<redacted>" in record.getMessage()


def test_run_without_token_says_so(tmp_path: Path) -> None:
    res = run_cli("run", cwd=tmp_path)
    assert res.returncode == 2 and "TELEGRAM_BOT_TOKEN" in res.stderr


def test_unknown_command_exits_2() -> None:
    with pytest.raises(SystemExit) as exc:
        main(["frobnicate"])
    assert exc.value.code == 2


def test_shell_speaks_like_the_bot_and_numbers_press_buttons(app: App) -> None:
    out = io.StringIO()
    run_shell(app, user_id=7, stdin=io.StringIO("/start\n/lang\n2\n/start\n/nosuch\n/quit\n/start\n"), out=out)
    text = out.getvalue()
    assert "您好" in text  # the welcome in Chinese
    assert "[1] 中文  [2] English" in text
    assert "Language set to English." in text
    assert "Hello" in text  # the button press switched the language
    assert "Unknown command /nosuch" in text
    assert text.count("Hello") == 1  # nothing after /quit


def test_shell_process_runs_without_a_token(tmp_path: Path) -> None:
    res = run_cli("shell", cwd=tmp_path, stdin="/help\n")
    assert res.returncode == 0, res.stderr
    assert "/help" in res.stdout and "/lang" in res.stdout


def test_the_bot_caps_malloc_arenas_unless_told_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys as _sys

    from bot.cli import limit_malloc_arenas

    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")  # the operator's setting wins: nothing done
    assert limit_malloc_arenas() is False
    monkeypatch.delenv("MALLOC_ARENA_MAX")
    assert limit_malloc_arenas() is _sys.platform.startswith("linux")
