"""The aiohttp Bot API transport under python-telegram-bot's own ``Bot``, against the fake Bot API over HTTP:
form fields, file uploads, keyboards, Telegram's error answers, a dropped connection, a server that does not
answer in time, a port nobody listens on."""

from __future__ import annotations

import socket
import threading
from collections.abc import AsyncIterator

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, Forbidden, NetworkError, TimedOut

from bot.http_transport import AiohttpRequest
from tests.fakebotapi import FakeBotAPI

TOKEN = "111:TRANSPORT-token-abcdefghijklmnop"


@pytest.fixture
async def api_bot() -> AsyncIterator[tuple[FakeBotAPI, Bot]]:
    with FakeBotAPI() as api:
        bot = Bot(TOKEN, base_url=f"{api.base_url}/bot", base_file_url=f"{api.base_url}/file/bot",
                  request=AiohttpRequest(connection_pool_size=4))
        await bot.initialize()
        try:
            yield api, bot
        finally:
            await bot.shutdown()


async def test_a_message_with_html_and_a_keyboard_arrives_as_sent(api_bot: tuple[FakeBotAPI, Bot]) -> None:
    api, bot = api_bot
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("📄 四、（二）", callback_data="qa:cite:4.2")]])
    msg = await bot.send_message(42, "<b>须</b>：自筹经费不低于 2:1 & 更多", parse_mode="HTML", reply_markup=markup)
    call = api.calls_of("sendMessage", 42)[-1]
    assert call.params["text"] == "<b>须</b>：自筹经费不低于 2:1 & 更多"
    assert call.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "qa:cite:4.2"
    assert msg.chat.id == 42 and msg.message_id >= 1000


async def test_a_file_is_uploaded_as_multipart_with_its_name_and_bytes(api_bot: tuple[FakeBotAPI, Bot]) -> None:
    api, bot = api_bot
    content = bytes(range(256)) * 40  # binary, not text
    await bot.send_document(7, document=content, filename="自评报告.docx", caption="报告")
    call = api.calls_of("sendDocument", 7)[-1]
    assert call.files["document"] == ("自评报告.docx", content)
    assert call.params["caption"] == "报告" and int(call.params["chat_id"]) == 7


async def test_telegram_error_answers_become_the_library_s_errors(api_bot: tuple[FakeBotAPI, Bot]) -> None:
    api, bot = api_bot
    api.blocked.add(9)
    with pytest.raises(Forbidden):
        await bot.send_message(9, "hi")
    with pytest.raises(BadRequest):
        await bot.send_message(8, "x" * 5000)  # longer than Telegram allows


async def test_a_dropped_connection_is_a_network_error_and_the_next_request_works(
        api_bot: tuple[FakeBotAPI, Bot]) -> None:
    api, bot = api_bot
    api.drop_requests = 1
    with pytest.raises(NetworkError):
        await bot.send_message(5, "lost")
    assert (await bot.send_message(5, "again")).text == "again"


async def test_a_server_that_does_not_answer_in_time_is_timed_out() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:  # accepts and reads, never answers
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                accepted.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    port = server.getsockname()[1]
    bot = Bot(TOKEN, base_url=f"http://127.0.0.1:{port}/bot", request=AiohttpRequest(read_timeout=0.5))
    try:
        with pytest.raises(TimedOut):
            await bot.initialize()  # getMe
    finally:
        stop.set()
        thread.join(2)
        for conn in accepted:
            conn.close()
        server.close()
        await bot.shutdown()


async def test_nobody_listening_is_a_network_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    bot = Bot(TOKEN, base_url=f"http://127.0.0.1:{port}/bot", request=AiohttpRequest())
    try:
        await bot.initialize()
        pytest.fail("initialize (getMe) should have failed")
    except NetworkError as exc:
        assert not isinstance(exc, TimedOut)
    finally:
        await bot.shutdown()


async def test_a_request_before_initialize_or_after_shutdown_says_so() -> None:
    req = AiohttpRequest()
    with pytest.raises(RuntimeError, match="not initialized"):
        await req.do_request("http://127.0.0.1:9/x", "POST")
    await req.initialize()
    await req.shutdown()
    with pytest.raises(RuntimeError, match="not initialized"):
        await req.do_request("http://127.0.0.1:9/x", "POST")
