"""Knowledge gaps the way officers meet them: through the real python-telegram-bot Application and the
fake Bot API (/gaps, its buttons, /digest with its chart), and in the scheduler's Monday digest."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from bot.app import App, build_app
from bot.core import Incoming
from bot.i18n import t
from bot.notify import RecordingNotifier
from bot.reminders import run_once
from tests.conftest import make_settings
from tests.fakebotapi import FakeBotAPI
from tests.telegram_helpers import running_bot, wait


async def test_gaps_through_telegram(tg_app: App, api: FakeBotAPI) -> None:
    async with running_bot(tg_app, api):
        api.send_text(11, "推荐一家昆明的餐厅")
        assert "没有涉及" in (await wait(api, 11))["text"]
        api.send_text(12, "昆明有什么好吃的饭店")
        await wait(api, 12)
        api.send_text(11, "/gaps")
        assert "仅限省科技厅工作人员" in (await wait(api, 11, 1))["text"]

        api.send_text(901, "/gaps")
        listing = await wait(api, 901)
        assert "2 次 · 2 人" in listing["text"]
        msg = api.last_message(901)
        (_, data), = api.buttons(msg)
        api.press(901, msg["message_id"], data)
        card = await wait(api, 901, 0, "editMessageText")
        assert "推荐一家昆明的餐厅" in card["text"] and "昆明有什么好吃的饭店" in card["text"]
        labels = [label for label, _ in api.buttons(api.last_message(901))]
        assert t("gaps.btn_answer", "zh") in labels

        api.send_text(901, "/digest")
        digest = await wait(api, 901, 1)
        assert "知识盲区" in digest["text"] and "新出现的主题（1）" in digest["text"]
        chart = await wait(api, 901, 0, "sendDocument")
        assert chart["caption"].startswith("📊")
        assert any(c.startswith(b"\x89PNG") for c in api.files.values())


async def test_monday_digest_carries_the_gaps_and_the_chart(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, officer_chat_ids=[901])
    app = build_app(settings)
    try:
        asked = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
        app.handle(Incoming(chat_id=11, user_id=11, text="推荐一家昆明的餐厅"), asked)
        notifier = RecordingNotifier()
        monday = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)  # 09:00 in Asia/Shanghai
        summary = await run_once(app.db, settings, notifier, monday, officers=[901], send_rate=0)
        assert summary.sent == 1  # the ledger counts the digest once
        (chat, text_reply), (_, chart) = notifier.sent
        assert chat == 901 and "每周截止日期汇总" in text_reply.text and "知识盲区" in text_reply.text
        assert chart.document is not None and chart.document.content.startswith(b"\x89PNG")
    finally:
        app.db.dispose()
