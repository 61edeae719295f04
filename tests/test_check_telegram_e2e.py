"""The /check dialog through the real python-telegram-bot Application and the fake Bot API,
with a bot restart in the middle of the dialog."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from docx import Document as DocxDocument

from bot.app import App, build_app
from bot.config import Settings
from tests.conftest import make_settings
from tests.fakebotapi import FakeBotAPI
from tests.telegram_helpers import running_bot

TOKEN = "123456:TEST-token-abcdefghijklmnopqrstuv"
CHAT = 31


@pytest.fixture
def tg_settings(tmp_path: Path, api: FakeBotAPI) -> Settings:
    return make_settings(tmp_path, telegram_bot_token=TOKEN, telegram_api_base_url=api.base_url)


async def act(api: FakeBotAPI, method: str, do: Callable[[], Any], chat: int | None = CHAT) -> dict[str, Any]:
    """Do something and wait for the bot's next ``method`` call (to ``chat``)."""
    before = len(api.calls_of(method, chat))
    do()
    call = await asyncio.to_thread(api.wait_reply, chat, before, method)
    return call.params


def button(api: FakeBotAPI, message_id: int, label: str) -> str:
    for text, data in api.buttons(api.messages[(CHAT, message_id)]):
        if label in text:
            return data
    raise AssertionError(f"no button {label!r} on message {message_id}")


async def test_check_dialog_over_telegram_with_a_restart(tg_settings: Settings, api: FakeBotAPI) -> None:
    app: App = build_app(tg_settings)
    async with running_bot(app, api):
        picker = await act(api, "sendMessage", lambda: api.send_text(CHAT, "/check"))
        assert "条件自评" in picker["text"]
        mid = api.last_message(CHAT)["message_id"]
        q1 = await act(api, "editMessageText", lambda: api.press(CHAT, mid, button(api, mid, "牵头单位")))
        assert "1/10" in q1["text"] and int(q1["message_id"]) == mid  # the picker became the question
        await act(api, "editMessageText", lambda: api.press(CHAT, mid, button(api, mid, "企业")))
        stale = button(api, mid, "是")
        q3 = await act(api, "editMessageText", lambda: api.press(CHAT, mid, stale))
        assert "3/10" in q3["text"]
        # the same button pressed again: a polite toast, nothing changes
        toast = await act(api, "answerCallbackQuery", lambda: api.press(CHAT, mid, stale), chat=None)
        assert "已经处理过" in toast["text"]
        pending = button(api, mid, "是")
    app.db.dispose()

    restarted = build_app(tg_settings)  # the bot process restarts; the dialog is in the database
    try:
        async with running_bot(restarted, api):
            q4 = await act(api, "editMessageText", lambda: api.press(CHAT, mid, pending))
            assert "4/10" in q4["text"]
            await act(api, "editMessageText", lambda: api.press(CHAT, mid, button(api, mid, "是")))
            q6 = await act(api, "editMessageText", lambda: api.press(CHAT, mid, button(api, mid, "国家级")))
            assert "6/10" in q6["text"]
            bad = await act(api, "sendMessage", lambda: api.send_text(CHAT, "abc"))
            assert "“abc”不是有效的数字" in bad["text"] and "6/10" in bad["text"]
            await act(api, "sendMessage", lambda: api.send_text(CHAT, "0"))
            await act(api, "sendMessage", lambda: api.send_text(CHAT, "100"))
            q9 = await act(api, "sendMessage", lambda: api.send_text(CHAT, "150"))
            assert "9/10" in q9["text"]
            mid = api.last_message(CHAT)["message_id"]
            await act(api, "editMessageText", lambda: api.press(CHAT, mid, button(api, mid, "否")))
            bad = await act(api, "sendMessage", lambda: api.send_text(CHAT, "2025-02-30"))
            assert "“2025-02-30”不是有效的日期" in bad["text"]
            mid = api.last_message(CHAT)["message_id"]
            result = await act(api, "editMessageText", lambda: api.press(CHAT, mid, button(api, mid, "从未")))
            assert "不符合条件" in result["text"] and "自筹经费至少 200 万元" in result["text"]
            assert "四、（四）" in result["text"]
            sent = await act(api, "sendDocument", lambda: api.press(CHAT, mid, button(api, mid, "Word")))
            assert "自评报告" in sent["caption"]
            content = api.files[f"documents/doc{len(api.files)}"]
            body = "\n".join(p.text for p in DocxDocument(io.BytesIO(content)).paragraphs)
            assert "自筹 150 万元 : 申请 100 万元 = 1.5 : 1，低于 2 : 1" in body
            # a button from the finished dialog's earlier message, after "start again"
            await act(api, "sendMessage", lambda: api.press(CHAT, mid, button(api, mid, "重新自评")))
            toast = await act(api, "answerCallbackQuery", lambda: api.press(CHAT, mid, pending), chat=None)
            assert "已经结束" in toast["text"]
    finally:
        restarted.db.dispose()
