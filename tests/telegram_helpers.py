"""Run the real python-telegram-bot Application against the fake Bot API, in-process."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from telegram import Update

from bot.app import App
from bot.telegram_app import build_application
from tests.fakebotapi import FakeBotAPI


@asynccontextmanager
async def running_bot(app: App, api: FakeBotAPI) -> AsyncIterator[None]:
    application = build_application(app)
    async with application:
        if application.post_init is not None:  # run_polling would call it; so do we
            await application.post_init(application)
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling(poll_interval=0.0, timeout=1, allowed_updates=Update.ALL_TYPES)
        try:
            yield
        finally:
            await application.updater.stop()
            await application.stop()
            if application.post_shutdown is not None:  # run_polling calls it too
                await application.post_shutdown(application)


async def wait(api: FakeBotAPI, chat: int | None, after: int = 0, method: str = "sendMessage") -> dict[str, Any]:
    """The parameters of the next call of ``method`` to ``chat`` after call number ``after``."""
    call = await asyncio.to_thread(api.wait_reply, chat, after, method)
    params: dict[str, Any] = call.params
    return params


def stop_bot(proc: subprocess.Popen[str]) -> str:
    """Stop a ``consortium-bot`` process as an operator would (SIGINT; killed after 30 s); its output."""
    proc.send_signal(signal.SIGINT)
    try:
        out, _ = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out
