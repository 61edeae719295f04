"""The Telegram adapter: python-telegram-bot ``Application`` → :class:`bot.core.Incoming` → render.

Handlers stay thin: turn an update into an ``Incoming``, run ``app.handle`` in a worker
thread (one chat at a time, many chats at once), render the ``Outcome``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from typing import Any

from telegram import KeyboardButton, ReplyKeyboardMarkup, Update
from telegram.constants import ChatType, ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder, ContextTypes, TypeHandler

from bot.app import App
from bot.core import Document, Incoming, Outcome, Reply, split_text
from bot.i18n import t
from bot.notify import TelegramNotifier, reply_markup
from storage.clock import utcnow

log = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
APP_KEY = "consortium_app"
NETWORK_BACKOFF = (0.5, 1.0, 2.0, 4.0)


def menu_keyboard(app: App, lang: str) -> ReplyKeyboardMarkup:
    labels = [t(key, lang) for key, cmd in app.router.menu.items() if cmd in app.router.commands]
    rows = [labels[i : i + 2] for i in range(0, len(labels), 2)]
    return ReplyKeyboardMarkup([[KeyboardButton(x) for x in row] for row in rows], resize_keyboard=True)


async def to_incoming(update: Update, max_upload: int = MAX_UPLOAD_BYTES) -> Incoming | None:
    """None for updates the bot deliberately ignores (edits, channel posts, joins...)."""
    if update.callback_query is not None:
        q = update.callback_query
        chat = q.message.chat if q.message is not None else None
        return Incoming(
            chat_id=chat.id if chat else q.from_user.id, user_id=q.from_user.id, callback_data=q.data or "",
            kind="callback", first_name=q.from_user.first_name or "", username=q.from_user.username,
            language_code=q.from_user.language_code, chat_type=chat.type if chat else ChatType.PRIVATE,
            message_id=q.message.message_id if q.message is not None else None,
        )
    msg = update.message
    if msg is None or msg.from_user is None or msg.chat.type == ChatType.CHANNEL:
        return None  # edited messages, channel posts, polls, member updates ...
    base: dict[str, Any] = {
        "chat_id": msg.chat.id, "user_id": msg.from_user.id, "first_name": msg.from_user.first_name or "",
        "username": msg.from_user.username, "language_code": msg.from_user.language_code,
        "chat_type": msg.chat.type, "message_id": msg.message_id,
    }
    if msg.text is not None:
        return Incoming(text=msg.text, **base)
    if msg.document is not None:
        doc = msg.document
        if (doc.file_size or 0) > max_upload:
            return Incoming(kind="document", document=Document(doc.file_name or "file", b""), **base)
        file = await doc.get_file()
        content = bytes(await file.download_as_bytearray())
        return Incoming(kind="document", document=Document(doc.file_name or "file", content), **base)
    return Incoming(kind="unsupported", **base)


class TelegramFrontend:
    """Owns the per-chat locks and renders outcomes through the Bot API."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)  # one update at a time per chat
        self.users: defaultdict[int, int] = defaultdict(int)  # updates holding or awaiting each lock

    async def on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        incoming = await to_incoming(update)
        if incoming is None:
            return
        chat = incoming.chat_id
        self.users[chat] += 1
        try:
            async with self.locks[chat]:
                outcome: Outcome = await asyncio.to_thread(self.app.handle, incoming, utcnow())
                await self.render(context.bot, incoming, outcome, update)
        finally:
            self.users[chat] -= 1
            if self.users[chat] == 0:  # nobody waits on this chat's lock: forget it (bounded memory)
                del self.users[chat]
                self.locks.pop(chat, None)

    async def render(self, bot: Any, incoming: Incoming, outcome: Outcome, update: Update) -> None:
        if update.callback_query is not None:
            try:
                await update.callback_query.answer(outcome.toast[:200] if outcome.toast else None)
            except BadRequest as exc:  # query too old: nothing to answer
                log.info("could not answer callback: %s", exc)
        lang = outcome.lang
        for reply in outcome.replies:
            await self.send_reply(bot, incoming.chat_id, reply, lang, edit_id=incoming.message_id
                                  if incoming.kind == "callback" else None)
        notifier = TelegramNotifier(bot)
        for chat_id, reply in outcome.others:
            result = await notifier.send(chat_id, reply)
            if not result.ok:
                log.warning("could not notify chat %s: %s", chat_id, result.error)

    async def send_reply(self, bot: Any, chat_id: int, reply: Reply, lang: str, edit_id: int | None) -> None:
        """Send (or edit) one reply; a dropped connection is retried a few times with backoff."""
        for attempt in range(len(NETWORK_BACKOFF) + 1):
            try:
                await self._send_reply_once(bot, chat_id, reply, lang, edit_id)
                return
            except Forbidden as exc:
                log.info("chat %s blocked the bot: %s", chat_id, exc)
                return
            except BadRequest:
                raise
            except NetworkError as exc:
                if attempt == len(NETWORK_BACKOFF):
                    raise
                log.warning("network problem sending to %s (%s); retrying", chat_id, exc)
                await asyncio.sleep(NETWORK_BACKOFF[attempt])

    async def _send_reply_once(self, bot: Any, chat_id: int, reply: Reply, lang: str, edit_id: int | None) -> None:
        markup = reply_markup(reply)
        if markup is None and reply.menu:
            markup = menu_keyboard(self.app, lang)
        if reply.document is not None:
            await bot.send_document(chat_id, document=reply.document.content, filename=reply.document.filename,
                                    caption=(reply.document.caption or reply.text or None),
                                    parse_mode=ParseMode.HTML, reply_markup=markup)
            return
        parts = split_text(reply.text)
        if reply.edit and edit_id is not None and len(parts) == 1:
            try:
                await bot.edit_message_text(parts[0], chat_id=chat_id, message_id=edit_id,
                                            parse_mode=ParseMode.HTML, reply_markup=markup,
                                            disable_web_page_preview=True)
                return
            except BadRequest as exc:
                if "not modified" in str(exc).lower():
                    return
                log.info("edit failed (%s); sending a new message", exc)
        for i, part in enumerate(parts):
            await bot.send_message(chat_id, part, parse_mode=ParseMode.HTML,
                                   reply_markup=markup if i == len(parts) - 1 else None,
                                   disable_web_page_preview=True)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log, tell the user something went wrong (when we can), and keep running."""
    err = context.error
    if isinstance(err, (NetworkError, RetryAfter)) and not isinstance(err, BadRequest):
        log.warning("Telegram network problem: %s", err)
        return
    log.error("error while handling an update", exc_info=err)
    if isinstance(update, Update) and update.effective_chat is not None and not isinstance(err, Forbidden):
        with contextlib.suppress(TelegramError):
            await context.bot.send_message(update.effective_chat.id, t("core.error", "zh"))


def build_application(app: App) -> Application:
    settings = app.settings
    if not settings.token:
        raise ValueError("TELEGRAM_BOT_TOKEN is not set")
    frontend = TelegramFrontend(app)

    async def post_init(application: Application) -> None:
        me = await application.bot.get_me()
        app.bot_username = me.username
        log.info("connected as @%s", me.username)
        if app.has_service("qa"):  # load the model, open (or build) the index, load the tokenizer's
            qa = await asyncio.to_thread(app.service, "qa")  # dictionary: all before the first question
            await asyncio.to_thread(qa.answer, "牵头单位应具备哪些条件？")
        if application.job_queue is not None and _reminders_available():
            application.job_queue.run_repeating(_reminder_job, interval=settings.reminder_tick_seconds, first=5,
                                                name="reminders")
        if application.job_queue is not None and app.has_service("gaps"):  # new questions grouped off the
            application.job_queue.run_repeating(_gaps_job, interval=GAPS_TICK, first=30, name="gaps")  # reply path

    application = (
        ApplicationBuilder()
        .token(settings.token)
        .base_url(settings.bot_api_base())
        .base_file_url(settings.bot_file_base())
        .rate_limiter(AIORateLimiter(max_retries=3))
        .concurrent_updates(True)
        .connection_pool_size(32)
        .post_init(post_init)
        .build()
    )
    application.bot_data[APP_KEY] = app
    application.add_handler(TypeHandler(Update, frontend.on_update))
    application.add_error_handler(on_error)
    return application


def _reminders_available() -> bool:
    try:
        from bot import reminders
    except ImportError:
        return False
    return hasattr(reminders, "reminder_tick")


GAPS_TICK = 120  # seconds between background refreshes of the knowledge-gaps topics


async def _gaps_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    app: App = context.application.bot_data[APP_KEY]
    try:
        svc = await asyncio.to_thread(app.service, "gaps")
        await asyncio.to_thread(svc.refresh, utcnow())
    except Exception:  # the loop must survive a failing refresh
        log.exception("knowledge-gaps refresh failed")


async def _reminder_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    from bot import reminders

    app: App = context.application.bot_data[APP_KEY]
    try:
        await reminders.reminder_tick(app, TelegramNotifier(context.bot), utcnow())
    except Exception:  # the loop must survive a failing tick
        log.exception("reminder tick failed")


def run_bot(app: App, webhook_url: str | None = None) -> None:
    application = build_application(app)
    if webhook_url:
        from urllib.parse import urlsplit

        settings = app.settings
        path = urlsplit(webhook_url).path.lstrip("/") or "telegram"
        application.run_webhook(
            listen=settings.webhook_listen, port=settings.webhook_port, url_path=path, webhook_url=webhook_url,
            secret_token=settings.webhook_secret.get_secret_value() if settings.webhook_secret else None,
            allowed_updates=Update.ALL_TYPES,
        )
    else:
        application.run_polling(allowed_updates=Update.ALL_TYPES)
