"""The real ``consortium-bot run`` process against the fake Bot API: start, talk, restart."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakebotapi import FakeBotAPI
from tests.telegram_helpers import stop_bot

TOKEN = "987654:PROCESS-token-abcdefghijklmnopqr"


def start_bot(api: FakeBotAPI, workdir: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_"))}
    env.update({"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": api.base_url, "ADMIN_CHAT_IDS": "900",
                "LOG_LEVEL": "INFO"})
    exe = Path(sys.executable).parent / "consortium-bot"
    return subprocess.Popen([str(exe), "run"], cwd=workdir, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def test_run_process_answers_and_remembers_across_restart(api: FakeBotAPI, tmp_path: Path) -> None:
    proc = start_bot(api, tmp_path)
    try:
        api.send_text(31, "/start")
        assert "创新联合体" in api.wait_reply(31, 0, timeout=60).params["text"]
        api.send_text(31, "/lang en")
        assert "English" in api.wait_reply(31, 1, timeout=30).params["text"]
    finally:
        log = stop_bot(proc)
    assert TOKEN not in log and TOKEN.split(":")[1] not in log  # the token never reaches the logs

    proc = start_bot(api, tmp_path)  # same database: the language choice survives the restart
    try:
        api.send_text(31, "/start")
        assert "Hello" in api.wait_reply(31, 2, timeout=60).params["text"]
    finally:
        log = stop_bot(proc)
    assert "Traceback" not in log


def test_webhook_mode_receives_updates(api: FakeBotAPI, tmp_path: Path) -> None:
    import json
    import socket
    import time
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_", "WEBHOOK_"))}
    env.update({"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": api.base_url,
                "WEBHOOK_LISTEN": "127.0.0.1", "WEBHOOK_PORT": str(port), "WEBHOOK_SECRET": "s3cret-token"})
    exe = Path(sys.executable).parent / "consortium-bot"
    url = f"http://127.0.0.1:{port}/telegram"
    proc = subprocess.Popen([str(exe), "run", "--webhook", url], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        hook = api.wait_for(lambda calls: [c for c in calls if c.method == "setWebhook"], timeout=60)[0]
        assert hook.params["url"] == url and hook.params["secret_token"] == "s3cret-token"
        update = {"update_id": 1, "message": {"message_id": 1, "date": int(time.time()), "text": "/start",
                  "chat": {"id": 41, "type": "private"}, "from": {"id": 41, "is_bot": False, "first_name": "W"},
                  "entities": [{"type": "bot_command", "offset": 0, "length": 6}]}}
        for _ in range(50):  # the web server may need a moment after setWebhook
            try:
                req = urllib.request.Request(url, data=json.dumps(update).encode(), headers={
                    "Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": "s3cret-token"})
                urllib.request.urlopen(req, timeout=5).close()
                break
            except OSError:
                time.sleep(0.2)
        assert "创新联合体" in api.wait_reply(41, 0, timeout=30).params["text"]
    finally:
        stop_bot(proc)


def _cli_env(api_base: str, token: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_"))}
    env.update({"TELEGRAM_BOT_TOKEN": token, "TELEGRAM_API_BASE_URL": api_base})
    return env


@pytest.mark.parametrize("command", [["run"], ["reminders", "run-once", "--now", "2027-01-24T09:00"]])
def test_rejected_token_is_one_line_without_the_token(api: FakeBotAPI, tmp_path: Path, command: list[str]) -> None:
    api.valid_token = TOKEN
    wrong = "111111:WRONG-token-abcdefghijklmnopqrs"
    exe = Path(sys.executable).parent / "consortium-bot"
    res = subprocess.run([str(exe), *command], cwd=tmp_path, env=_cli_env(api.base_url, wrong),
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2, res.stderr
    assert "rejected TELEGRAM_BOT_TOKEN" in res.stderr
    assert "Traceback" not in res.stderr and "WRONG" not in res.stderr + res.stdout


@pytest.mark.parametrize("command", [["run"], ["reminders", "run-once"]])
def test_unreachable_bot_api_is_one_line_exit_1(tmp_path: Path, command: list[str]) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    exe = Path(sys.executable).parent / "consortium-bot"
    res = subprocess.run([str(exe), *command], cwd=tmp_path, env=_cli_env(dead, TOKEN),
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 1, res.stderr
    assert "cannot reach the Telegram Bot API" in res.stderr
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1
