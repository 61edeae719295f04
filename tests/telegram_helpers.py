"""Run the real python-telegram-bot Application against the fake Bot API, in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

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
