"""The bot under hostile input: updates it cannot parse or handle, officers in groups, guessed invite codes.

Through the real python-telegram-bot Application (in-process, and the real ``consortium-bot run``
process) against the fake Bot API in tests/fakebotapi.py; the shell is checked to agree.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot import core, telegram_app
from bot.app import App, build_app
from bot.core import Incoming
from storage import repo
from storage.registry_file import import_registry
from tests.conftest import ROOT, make_settings
from tests.fakebotapi import BOT_USERNAME, FakeBotAPI
from tests.telegram_helpers import running_bot, stop_bot

TOKEN = "123456:FAULTS-token-abcdefghijklmnopqrstuv"
ADMIN, OFFICER, STRANGER = 900, 901, 30
GROUP = -100_555
REGISTRY = ROOT / "examples" / "consortia.csv"
ALU = "云南省绿色铝创新联合体"  # contacts 1001;1002 in examples/consortia.csv


class RawBotAPI(FakeBotAPI):
    """The fake Bot API, able to queue an update exactly as given (one the library cannot parse)."""

    def push_raw(self, update: dict[str, Any]) -> int:
        return self._push(update)

    def unparsable(self, chat_id: int) -> int:
        # "date" must be a Unix time: python-telegram-bot raises TypeError on this update
        return self.push_raw({"message": {"message_id": 1, "date": "yesterday", "text": "hi",
                                          "chat": {"id": chat_id, "type": "private"}}})

    def missing_file(self, chat_id: int) -> int:
        # parses, but the file cannot be fetched (getFile answers 400): handling the update fails
        doc = {"file_id": "gone", "file_unique_id": "gone", "file_name": "x.csv", "file_size": 10}
        return self.push_raw({"message": {"message_id": 2, "date": int(time.time()), "document": doc,
                                          "chat": {"id": chat_id, "type": "private", "first_name": "T"},
                                          "from": {"id": chat_id, "is_bot": False, "first_name": "T"}}})


@pytest.fixture
def raw_api() -> Iterator[RawBotAPI]:
    server = RawBotAPI()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def tg_app(tmp_path: Path, raw_api: RawBotAPI) -> Iterator[App]:
    settings = make_settings(tmp_path, telegram_bot_token=TOKEN, telegram_api_base_url=raw_api.base_url,
                             admin_chat_ids=[ADMIN], officer_chat_ids=[OFFICER])
    application = build_app(settings)
    summary, errors = import_registry(application.db, REGISTRY.read_bytes(), REGISTRY.name, datetime.now(UTC))
    assert summary is not None and not errors
    telegram_app._failures.reset()
    core._failures.reset()
    yield application
    application.db.dispose()


async def wait(api: FakeBotAPI, chat: int | None, after: int = 0, method: str = "sendMessage") -> dict[str, Any]:
    call = await asyncio.to_thread(api.wait_reply, chat, after, method)
    return call.params


def records(caplog: pytest.LogCaptureFixture, needle: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if needle in r.getMessage()]


# -- updates that cannot be parsed or handled -----------------------------------------------------

async def test_unparsable_updates_are_skipped_once_logged_and_polling_goes_on(
        tg_app: App, raw_api: RawBotAPI, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    async with running_bot(tg_app, raw_api):
        for _ in range(3):
            raw_api.unparsable(12)
        raw_api.send_text(12, "/start")  # queued behind the bad ones: answered only if polling moves on
        assert "创新联合体" in (await wait(raw_api, 12))["text"]
        for _ in range(3):
            raw_api.unparsable(13)
        raw_api.send_text(13, "/help")
        await wait(raw_api, 13)
    skipped = records(caplog, "cannot parse")
    assert len(skipped) == 1, [r.getMessage() for r in skipped]  # six bad updates, one log line
    assert "TypeError" in skipped[0].getMessage()
    assert not records(caplog, "Something went wrong processing the data")  # the library's own endless log
    assert raw_api.sent_texts(12) and not raw_api.calls_of("sendMessage", 0)


async def test_updates_that_fail_to_handle_are_logged_once_and_skipped(
        tg_app: App, raw_api: RawBotAPI, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    async with running_bot(tg_app, raw_api):
        for _ in range(4):
            raw_api.missing_file(14)
        raw_api.send_text(14, "/start")
        await asyncio.to_thread(raw_api.wait_for, lambda calls: any(
            "创新联合体" in str(c.params.get("text", "")) for c in calls if c.method == "sendMessage"))
    failed = records(caplog, "error while handling an update")
    assert len(failed) == 1  # four failures, one traceback
    assert all("抱歉" in text or "创新联合体" in text for text in raw_api.sent_texts(14))


# -- officer and admin commands in groups ------------------------------------------------------------

async def test_officer_command_in_a_group_gets_a_pointer_and_no_contacts(tg_app: App, raw_api: RawBotAPI) -> None:
    async with running_bot(tg_app, raw_api):
        raw_api.send_text(GROUP, f"/consortium {ALU}", user_id=OFFICER, chat_type="supergroup")
        pointer = (await wait(raw_api, GROUP))["text"]
        raw_api.send_text(GROUP, "/audit", user_id=ADMIN, chat_type="supergroup")
        pointer2 = (await wait(raw_api, GROUP, 1))["text"]
        raw_api.send_text(OFFICER, f"/consortium {ALU}", user_id=OFFICER)  # the same, privately
        private = (await wait(raw_api, OFFICER))["text"]
        await asyncio.sleep(0.3)
    assert "1001" in private  # the private answer does show the contacts...
    group_texts = raw_api.sent_texts(GROUP)
    assert len(group_texts) == 2  # ...the group gets the pointer and nothing else
    for text in group_texts:
        assert "1001" not in text and "1002" not in text and ALU not in text
    assert "/consortium" in pointer and f"t.me/{BOT_USERNAME}" in pointer and "私聊" in pointer
    assert "/audit" in pointer2
    with tg_app.db.session() as s:  # the attempts are audited as refused
        entries = [(e.user_id, e.command, e.allowed) for e in repo.audit_entries(s, 10)]
    assert (OFFICER, "/consortium", False) in entries and (ADMIN, "/audit", False) in entries


def test_shell_and_telegram_agree_on_groups(tg_app: App) -> None:
    """The rule lives in the router: any channel sending a group message gets the same pointer."""
    tg_app.bot_username = BOT_USERNAME
    now = datetime.now(UTC)
    group = tg_app.handle(Incoming(chat_id=GROUP, user_id=OFFICER, text="/due", chat_type="group"), now)
    assert len(group.replies) == 1 and not group.others
    assert group.replies[0].text == f"/due 只能在与我的私聊中使用。https://t.me/{BOT_USERNAME}"
    tg_app.handle(Incoming(chat_id=OFFICER, user_id=OFFICER, text="/lang en"), now)
    group_en = tg_app.handle(Incoming(chat_id=GROUP, user_id=OFFICER, text="/due", chat_type="group"), now)
    assert group_en.replies[0].text.startswith("/due works only in a private chat with me.")
    # /help in a group lists no officer commands, even for an officer
    helps = tg_app.handle(Incoming(chat_id=GROUP, user_id=OFFICER, text="/help", chat_type="group"), now)
    assert "/due" not in helps.replies[0].text
    private = tg_app.handle(Incoming(chat_id=OFFICER, user_id=OFFICER, text="/help"), now)
    assert "/due" in private.replies[0].text


# -- invite codes --------------------------------------------------------------------------------------

async def test_invite_codes_are_throttled_per_user_and_audited(tg_app: App, raw_api: RawBotAPI) -> None:
    async with running_bot(tg_app, raw_api):
        raw_api.send_text(ADMIN, "/invite")
        code = re.search(r"<code>(\w+)</code>", (await wait(raw_api, ADMIN))["text"]).group(1)  # type: ignore[union-attr]
        for i in range(5):
            raw_api.send_text(STRANGER, f"/join WRONG{i}")
            reply = (await wait(raw_api, STRANGER, i))["text"]
            assert "无效" in reply
        assert "再试 1 次" in raw_api.sent_texts(STRANGER)[3]
        alert = (await wait(raw_api, ADMIN, 1))["text"]  # the admin hears of it once
        assert str(STRANGER) in alert and "5" in alert
        raw_api.send_text(STRANGER, f"/join {code}")  # even the right code is not looked at now
        throttled = (await wait(raw_api, STRANGER, 5))["text"]
        raw_api.send_text(STRANGER, f"/start {code}")  # nor through the deep link
        throttled2 = (await wait(raw_api, STRANGER, 6))["text"]
        raw_api.send_text(31, f"/join {code}")  # another user is not throttled
        welcome = (await wait(raw_api, 31))["text"]
        await asyncio.sleep(0.3)
    assert "5 次" in throttled and "之后再试" in throttled and throttled2 == throttled
    assert "欢迎" in welcome
    assert len(raw_api.sent_texts(ADMIN)) == 3  # invite, one alert, the note that 31 redeemed it
    with tg_app.db.session() as s:
        assert "officer" not in repo.granted_roles(s, STRANGER)
        entries = [(e.user_id, e.command, e.args, e.allowed) for e in repo.audit_entries(s, 20)]
    assert sum(1 for u, c, _, ok in entries if u == STRANGER and c == "/join" and not ok) == 5
    assert (STRANGER, "/join:throttled", code, False) in entries
    assert (31, "/join", code, True) in entries


def test_invite_throttle_lifts_after_an_hour(tg_app: App) -> None:
    now = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    say = lambda text, at: tg_app.handle(Incoming(chat_id=40, user_id=40, text=text), at).replies[0].text  # noqa: E731
    for i in range(5):
        say(f"/join BAD{i}", now + timedelta(minutes=i))
    assert "之后再试" in say("/join BAD9", now + timedelta(minutes=30))
    assert "11:00" in say("/join BAD9", now + timedelta(minutes=59))  # first wrong try + 1 h, Beijing time
    assert "无效" in say("/join BAD9", now + timedelta(minutes=61))  # the oldest fell out of the hour


# -- the real process ---------------------------------------------------------------------------------------

def test_run_process_skips_bad_updates_and_never_logs_a_short_token(raw_api: RawBotAPI, tmp_path: Path) -> None:
    """A short, unusual token at DEBUG level (python-telegram-bot logs its URLs there)."""
    token = "42:shorty"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_", "LOG_LEVEL"))}
    env.update({"TELEGRAM_BOT_TOKEN": token, "TELEGRAM_API_BASE_URL": raw_api.base_url, "LOG_LEVEL": "DEBUG"})
    exe = Path(sys.executable).parent / "consortium-bot"
    for _ in range(5):
        raw_api.unparsable(51)
    raw_api.send_text(51, "/start")
    proc = subprocess.Popen([str(exe), "run"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        assert "创新联合体" in raw_api.wait_reply(51, 0, timeout=120).params["text"]
        raw_api.send_text(51, "/help")
        raw_api.wait_reply(51, 1, timeout=30)
    finally:
        log = stop_bot(proc)
    assert "bot<redacted>" in log  # the lines that carried the token are there, hidden
    assert token not in log and "shorty" not in log
    assert log.count("cannot parse") == 1
    assert "Traceback" not in log


def _post(url: str, body: bytes, secret: str | None) -> int:
    """POST ``body`` as JSON to the webhook; the HTTP status."""
    import urllib.error
    import urllib.request

    headers = {"Content-Type": "application/json"}
    if secret:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=body, headers=headers), timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_webhook_skips_what_it_cannot_parse_answers_200_and_goes_on(raw_api: RawBotAPI, tmp_path: Path) -> None:
    """python-telegram-bot's own webhook server, in the real ``consortium-bot run --webhook`` process:
    a body that is not JSON and an update the library cannot parse are answered 200 (Telegram would
    otherwise deliver them again and again), logged once per kind, and the next update is handled."""
    import json
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    secret = "hook-s3cret"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_", "WEBHOOK_", "LOG_"))}
    env.update({"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": raw_api.base_url, "LOG_LEVEL": "INFO",
                "EMBEDDING_BACKEND": "hashing", "WEBHOOK_LISTEN": "127.0.0.1", "WEBHOOK_PORT": str(port), "WEBHOOK_SECRET": secret})
    url = f"http://127.0.0.1:{port}/telegram"
    exe = Path(sys.executable).parent / "consortium-bot"
    proc = subprocess.Popen([str(exe), "run", "--webhook", url], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    bad_update = {"update_id": 7, "message": {"message_id": 1, "date": "yesterday", "text": "hi",
                                              "chat": {"id": 61, "type": "private"}}}
    good = {"update_id": 8, "message": {"message_id": 2, "date": int(time.time()), "text": "/start",
                                        "chat": {"id": 61, "type": "private", "first_name": "W"},
                                        "from": {"id": 61, "is_bot": False, "first_name": "W"},
                                        "entities": [{"type": "bot_command", "offset": 0, "length": 6}]}}
    try:
        raw_api.wait_for(lambda calls: [c for c in calls if c.method == "setWebhook"], timeout=180)
        deadline = time.monotonic() + 30
        while True:  # the web server may need a moment after setWebhook
            try:
                first = _post(url, b"{not json", secret)
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, "the webhook server never answered"
                time.sleep(0.2)
        statuses = [first, _post(url, b"\xff\xfe garbage", secret),
                    *(_post(url, json.dumps(bad_update).encode(), secret) for _ in range(3))]
        assert statuses == [200] * 5
        assert _post(url, b"{not json", None) == 403  # without the secret: refused, as before
        assert _post(url, json.dumps(good).encode(), secret) == 200
        assert "创新联合体" in raw_api.wait_reply(61, 0, timeout=60).params["text"]
    finally:
        log = stop_bot(proc)
    assert log.count("whose body is not JSON") == 1, log  # two such bodies, one line
    assert log.count("skipped update 7 that python-telegram-bot cannot parse (TypeError") == 1, log
    assert "Traceback" not in log and "Something went wrong processing the data" not in log
    assert len(raw_api.sent_texts(61)) == 1  # the skipped update got no answer; /start got one
