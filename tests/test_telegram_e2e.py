"""End to end through the real python-telegram-bot Application and a fake Bot API server."""

from __future__ import annotations

import asyncio

from bot.app import App
from tests.fakebotapi import FakeBotAPI
from tests.telegram_helpers import running_bot, wait


async def test_start_question_button_and_language(tg_app: App, api: FakeBotAPI) -> None:
    async with running_bot(tg_app, api):
        api.send_text(11, "/start")
        welcome = await wait(api, 11)
        assert "创新联合体" in welcome["text"]
        assert "keyboard" in welcome["reply_markup"]  # the main menu

        api.send_text(11, "/lang")
        picker = await wait(api, 11, 1)
        buttons = [b["callback_data"] for row in picker["reply_markup"]["inline_keyboard"] for b in row]
        assert "lang:en" in buttons
        msg_id = api.last_message(11)["message_id"]
        api.press(11, msg_id, "lang:en")
        toast = await wait(api, None, 0, "answerCallbackQuery")
        assert "English" in toast["text"]
        english = await wait(api, 11, 2)
        assert "English" in english["text"]

        api.send_text(11, "/start")
        assert "Hello" in (await wait(api, 11, 3))["text"]

        api.send_text(11, "/lang zh")
        assert "中文" in (await wait(api, 11, 4))["text"]

        api.send_text(11, "牵头单位应具备哪些条件？")
        answer = await wait(api, 11, 5)
        assert "【四、（一）" in answer["text"] and "省科技厅" in answer["text"]
        labels = [b["text"] for row in answer["reply_markup"]["inline_keyboard"] for b in row]
        assert any("👍" in x for x in labels) and any("👎" in x for x in labels)


async def test_bad_input_never_stops_the_bot(tg_app: App, api: FakeBotAPI) -> None:
    async with running_bot(tg_app, api):
        api.send_sticker(12)
        assert "文字" in (await wait(api, 12))["text"]
        api.send_photo(12)
        api.send_voice(12)
        await wait(api, 12, 2)
        api.edit_text(12, "edited")
        api.channel_post(-100777, "a post")
        api.send_text(-100555, "hello group", user_id=12, chat_type="group")
        api.send_text(12, "/nosuchcommand")
        assert "/nosuchcommand" in (await wait(api, 12, 3))["text"]
        api.send_text(12, "/help@" + "consortium_test_bot")
        await wait(api, 12, 4)
        api.press(12, 99999, "forged:data:xyz")
        toast = await wait(api, None, 0, "answerCallbackQuery")
        assert toast.get("text")
        api.send_text(12, "长" * 4096)
        await wait(api, 12, 5)
        # nothing was sent to the group or the channel
        assert api.sent_texts(-100555) == [] and api.sent_texts(-100777) == []
        assert not api.calls_of("sendMessage", -100777)
        # the bot is still alive
        api.send_text(12, "/start")
        assert "创新联合体" in (await wait(api, 12, 6))["text"]


async def test_blocked_user_and_flood_control(tg_app: App, api: FakeBotAPI) -> None:
    api.blocked.add(13)
    api.flood[14] = 1
    async with running_bot(tg_app, api):
        api.send_text(13, "/start")
        await asyncio.to_thread(api.wait_for, lambda calls: len([c for c in calls if c.method == "sendMessage"]) >= 1)
        api.send_text(14, "/start")
        # the first send gets 429 and the rate limiter retries after retry_after
        params = await asyncio.to_thread(api.wait_for, lambda calls: [
            c for c in calls if c.method == "sendMessage" and int(c.params["chat_id"]) == 14][1:2], 15)
        assert "创新联合体" in params[0].params["text"]
        api.blocked.discard(13)
        api.send_text(13, "/help")
        assert (await wait(api, 13, 1))["text"]


async def test_dead_network_is_survived(tg_app: App, api: FakeBotAPI) -> None:
    async with running_bot(tg_app, api):
        api.send_text(15, "/start")
        await wait(api, 15)
        api.drop_requests = 3  # polls and sends are cut off for a while
        api.send_text(15, "/help")
        # the bot retries polling and answers once the network is back
        await asyncio.to_thread(api.wait_reply, 15, 1, "sendMessage", 30)
