"""The deadlines feature through the real python-telegram-bot Application and the fake Bot API."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from bot.app import App, build_app
from tests.conftest import make_settings
from tests.deadlines_helpers import csv_bytes, deadline_id
from tests.fakebotapi import FakeBotAPI
from tests.telegram_helpers import running_bot

TOKEN = "123456:TEST-token-abcdefghijklmnopqrstuv"
OFFICER, CONTACT, STRANGER = 901, 1001, 5555


@pytest.fixture
def tg_app(tmp_path: Path, api: FakeBotAPI) -> Iterator[App]:
    settings = make_settings(tmp_path, telegram_bot_token=TOKEN, telegram_api_base_url=api.base_url,
                             officer_chat_ids=[OFFICER], reminder_tick_seconds=3600)
    application = build_app(settings)
    yield application
    application.db.dispose()


async def reply_to(api: FakeBotAPI, chat: int, after: int) -> dict:
    call = await asyncio.to_thread(api.wait_reply, chat, after)
    return call.params


async def test_upload_report_and_confirm_over_telegram(tg_app: App, api: FakeBotAPI) -> None:
    year = date.today().year
    registry = csv_bytes(f"滇中新材料创新联合体,牵头单位,新材料,top_down,,{year - 1}-03-01,{year + 3}-06-30,{CONTACT}",
                         encoding="gbk")
    async with running_bot(tg_app, api):
        api.send_document(STRANGER, "registry.csv", registry)
        assert "只有省科技厅工作人员可以上传" in (await reply_to(api, STRANGER, 0))["text"]
        api.send_document(OFFICER, "registry.csv", registry)
        assert "新增 1" in (await reply_to(api, OFFICER, 0))["text"]

        api.send_text(CONTACT, "/mydeadlines")
        mine = await reply_to(api, CONTACT, 0)
        assert "滇中新材料创新联合体" in mine["text"]
        dl = deadline_id(tg_app.db, "滇中新材料创新联合体", f"annual:{year}")
        msg = api.last_message(CONTACT)
        assert f"dl:rep:{dl}" in [data for _, data in api.buttons(msg)]
        api.press(CONTACT, msg["message_id"], f"dl:rep:{dl}")
        assert "工作人员确认后即停止提醒" in (await reply_to(api, CONTACT, 1))["text"]
        note = await reply_to(api, OFFICER, 1)
        assert "报告已报送" in note["text"]
        note_msg = api.last_message(OFFICER)
        api.press(OFFICER, note_msg["message_id"], f"dl:ok:{dl}")
        edited = await asyncio.to_thread(api.wait_reply, OFFICER, 0, "editMessageText")
        assert "已标记为已报送" in edited.params["text"] and edited.params["message_id"] == note_msg["message_id"]
        assert "工作人员已确认报送" in (await reply_to(api, CONTACT, 2))["text"]
        api.press(OFFICER, note_msg["message_id"], f"dl:ok:{dl}")  # a stale second press: the state now
        again = await asyncio.to_thread(api.wait_reply, OFFICER, 1, "editMessageText")
        assert "已是“已报送”" in again.params["text"]

        api.send_text(OFFICER, "/submitted 99999")
        assert "没有编号为 #99999 的截止日期" in (await reply_to(api, OFFICER, 2))["text"]
        api.send_text(STRANGER, "/due")
        assert "仅限省科技厅工作人员" in (await reply_to(api, STRANGER, 1))["text"]
    # the "/" menu was set at start: everyone's commands, and the officers' in the officer's chat
    menus = {(str((c.params.get("scope") or {}).get("type")), (c.params.get("scope") or {}).get("chat_id"),
              c.params.get("language_code")): [x["command"] for x in c.params["commands"]]
             for c in api.calls_of("setMyCommands")}
    assert "due" not in menus[("default", None, None)] and "help" in menus[("default", None, None)]
    assert {"due", "consortia", "reopen", "help"} <= set(menus[("chat", OFFICER, None)])
    assert "grant" not in menus[("chat", OFFICER, None)] and ("chat", OFFICER, "en") in menus
