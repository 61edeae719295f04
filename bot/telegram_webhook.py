"""Webhook mode: python-telegram-bot's own webhook server, made to skip what it cannot parse.

Left alone, the library's server answers a request whose body is not JSON with 500 and an update
it cannot parse with 400 (logging the whole update at CRITICAL each time); Telegram then delivers
that update again and again. Here the server's request handler first passes the body through
:func:`bot.telegram_app.sanitize_webhook_body` — the same rule as polling: a bad update is logged
once per kind of error per interval and answered 200, an unparsable one is handed on as an empty
update with its ``update_id`` (ignored by the handlers), and everything else is untouched.

Imported only in webhook mode: it needs tornado (python-telegram-bot's ``webhooks`` extra). It
subclasses the library's private webhook classes (python-telegram-bot is pinned to 22.x);
``tests/test_faults_bot.py`` posts to the real server, so a library change that breaks this fails there.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from telegram.ext import _updater
from telegram.ext._utils.webhookhandler import TelegramHandler, WebhookAppClass

from bot.telegram_app import sanitize_webhook_body


class SkippingTelegramHandler(TelegramHandler):
    async def post(self) -> None:
        self._validate_post()  # content type and secret token first: strangers are refused, not logged
        clean = sanitize_webhook_body(self.request.body)
        if clean is None:
            self.set_status(HTTPStatus.OK)
            return
        self.request.body = clean
        await super().post()


class SkippingWebhookApp(WebhookAppClass):
    def __init__(self, webhook_path: str, bot: Any, update_queue: Any, secret_token: str | None = None) -> None:
        super().__init__(webhook_path, bot, update_queue, secret_token)
        # ahead of the library's own handler for the path (rules for a host come before the
        # catch-all ones), with the same arguments
        self.add_handlers(r".*$", [(rf"{webhook_path}/?", SkippingTelegramHandler, self.shared_objects)])


def install() -> None:
    """Make python-telegram-bot's ``Updater.start_webhook`` serve with :class:`SkippingWebhookApp`."""
    _updater.WebhookAppClass = SkippingWebhookApp  # type: ignore[misc]
