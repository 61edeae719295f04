"""The /check dialog through the real python-telegram-bot Application and the fake Bot API,
with a bot restart in the middle of the dialog."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot.app import App, build_app
from bot.config import Settings
from tests.conftest import make_settings
from tests.fakebotapi import FakeBotAPI
from tests.telegram_helpers import running_bot
from tests.test_check_report import docx_text

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
        assert "第 1 题，约剩 9 题" in q1["text"] and int(q1["message_id"]) == mid  # the picker became the question
        await act(api, "editMessageText", lambda: api.press(CHAT, mid, button(api, mid, "企业")))
        stale = button(api, mid, "是")
        q3 = await act(api, "editMessageText", lambda: api.press(CHAT, mid, stale))
        assert "第 3 题" in q3["text"]
        # the same button pressed again: a polite toast, nothing changes
        toast = await act(api, "answerCallbackQuery", lambda: api.press(CHAT, mid, stale), chat=None)
        assert "已经处理过" in toast["text"]
        pending = button(api, mid, "是")
    app.db.dispose()

    restarted = build_app(tg_settings)  # the bot process restarts; the dialog is in the database
    try:
        async with running_bot(restarted, api):
            q4 = await act(api, "editMessageText", lambda: api.press(CHAT, mid, pending))
            assert "第 4 题" in q4["text"]
            await act(api, "editMessageText", lambda: api.press(CHAT, mid, button(api, mid, "是")))
            q6 = await act(api, "editMessageText", lambda: api.press(CHAT, mid, button(api, mid, "国家级")))
            assert "第 6 题" in q6["text"]
            bad = await act(api, "sendMessage", lambda: api.send_text(CHAT, "abc"))
            assert "“abc”不是有效的数字" in bad["text"] and "第 6 题" in bad["text"]
            await act(api, "sendMessage", lambda: api.send_text(CHAT, "0"))
            await act(api, "sendMessage", lambda: api.send_text(CHAT, "100"))
            q9 = await act(api, "sendMessage", lambda: api.send_text(CHAT, "150"))
            assert "第 9 题" in q9["text"]
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
            body = docx_text(content)
            assert body.startswith("牵头单位自评 — 自评报告\n结论：不符合条件")  # the verdict first
            assert "自筹 150 万元 : 申请 100 万元 = 1.5 : 1，低于 2 : 1" in body
            # a button from the finished dialog's earlier message, after "start again"
            await act(api, "sendMessage", lambda: api.press(CHAT, mid, button(api, mid, "重新自评")))
            toast = await act(api, "answerCallbackQuery", lambda: api.press(CHAT, mid, pending), chat=None)
            assert "已经结束" in toast["text"]
    finally:
        restarted.db.dispose()


async def test_two_devices_answering_at_once(tg_settings: Settings, api: FakeBotAPI) -> None:
    """Both devices of one person show the same message; each taps a different answer at the same
    moment. One answer is taken, the other gets "already handled", and nothing is lost."""
    app: App = build_app(tg_settings)
    try:
        async with running_bot(app, api):
            await act(api, "sendMessage", lambda: api.send_text(CHAT, "/check formation"))
            for typed in ("1", "3", "1", "0", "0", "光伏"):
                await act(api, "sendMessage", functools.partial(api.send_text, CHAT, typed))
            mid = api.last_message(CHAT)["message_id"]
            for _ in range(5):
                await act(api, "editMessageText", lambda: api.press(CHAT, mid, button(api, mid, "是")))
            # eight toggles of a multi-select tapped at once, four from each device
            toggles = [data for text, data in api.buttons(api.messages[(CHAT, mid)]) if text.startswith("☐")]
            assert len(toggles) == 8
            before = len(api.calls_of("answerCallbackQuery"))
            for data in toggles:
                api.press(CHAT, mid, data)
            await asyncio.to_thread(api.wait_reply, None, before + 7, "answerCallbackQuery")
            await asyncio.to_thread(api.wait_for, lambda calls: all(
                b.startswith("☑") for b, _ in api.buttons(api.messages[(CHAT, mid)]) if b[:1] in "☐☑"))
            # the same question answered differently from two devices at the same moment
            await act(api, "editMessageText", lambda: api.press(CHAT, mid, button(api, mid, "完成")))
            yes, no = button(api, mid, "是"), button(api, mid, "否")
            before = len(api.calls_of("answerCallbackQuery"))
            api.press(CHAT, mid, yes)
            api.press(CHAT, mid, no, user_id=CHAT)
            await asyncio.to_thread(api.wait_reply, None, before + 1, "answerCallbackQuery")
            toasts = [c.params.get("text") for c in api.calls_of("answerCallbackQuery")[before:]]
            assert sum(1 for t in toasts if t and "已经处理过" in t) == 1, toasts
        with app.db.session() as s:
            from storage import repo

            st = repo.get_state(s, CHAT, "check") or {}
        assert len(st["answers"]["agreement_clauses"]) == 8
        assert st["answers"]["agreement_signed_by_all_legal_reps"] in (True, False)
        assert st["current"] == "agreement_sealed"
    finally:
        app.db.dispose()


async def test_typing_while_a_button_question_waits(tg_settings: Settings, api: FakeBotAPI) -> None:
    app: App = build_app(tg_settings)
    try:
        async with running_bot(app, api):
            await act(api, "sendMessage", lambda: api.send_text(CHAT, "/check lead-unit"))
            reply = await act(api, "sendMessage", lambda: api.send_text(CHAT, "我们是企业吧"))
            assert "请点击下方按钮作答" in reply["text"] and "第 1 题" in reply["text"]
            mid = api.last_message(CHAT)["message_id"]
            q2 = await act(api, "editMessageText", lambda: api.press(CHAT, mid, button(api, mid, "企业")))
            assert "第 2 题" in q2["text"]
    finally:
        app.db.dispose()
