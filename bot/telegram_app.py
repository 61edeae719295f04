"""The Telegram adapter: python-telegram-bot ``Application`` → :class:`bot.core.Incoming` → render.

Handlers stay thin: turn an update into an ``Incoming``, run ``app.handle`` in a worker
thread (one chat at a time, many chats at once), render the ``Outcome``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import defaultdict
from typing import Any

from telegram import KeyboardButton, ReplyKeyboardMarkup, Update
from telegram.constants import ChatAction, ChatType, ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder, ContextTypes, TypeHandler

from bot.app import App
from bot.core import Document, Incoming, Outcome, Reply, split_text
from bot.http_transport import AiohttpRequest
from bot.i18n import t
from bot.logging_setup import RateLimitedLog, add_secret, failure_key
from bot.notify import TelegramNotifier, reply_markup
from storage.clock import utcnow

log = logging.getLogger(__name__)
_failures = RateLimitedLog(log)  # one traceback per kind of failure per interval, with a count of the rest

MAX_UPLOAD_BYTES = 20 * 1024 * 1024  # policy documents up to 20 MB (registry files: 5 MB, checked there)
APP_KEY = "consortium_app"
REMINDER_BOT_KEY = "reminder_bot"
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
            return Incoming(kind="document", document=Document(doc.file_name or "file", b"", msg.caption or ""),
                            **base)
        file = await doc.get_file()
        content = bytes(await file.download_as_bytearray())
        return Incoming(kind="document", document=Document(doc.file_name or "file", content, msg.caption or ""),
                        **base)
    return Incoming(kind="unsupported", **base)


class TelegramFrontend:
    """Owns the per-chat locks and renders outcomes through the Bot API."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)  # one update at a time per chat
        self.users: defaultdict[int, int] = defaultdict(int)  # updates holding or awaiting each lock

    async def on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        incoming = await to_incoming(update, self.app.settings.registry_max_bytes)
        if incoming is None:
            return
        chat = incoming.chat_id
        self.users[chat] += 1
        try:
            async with self.locks[chat]:
                work = asyncio.to_thread(self.app.handle, incoming, utcnow())
                if incoming.kind == "document":  # reading a long file takes a while: show "typing…" meanwhile
                    outcome: Outcome = await self._with_typing(context.bot, chat, work)
                else:
                    outcome = await work
                await self.render(context.bot, incoming, outcome, update)
        finally:
            self.users[chat] -= 1
            if self.users[chat] == 0:  # nobody waits on this chat's lock: forget it (bounded memory)
                del self.users[chat]
                self.locks.pop(chat, None)

    @staticmethod
    async def _with_typing(bot: Any, chat_id: int, work: Any) -> Outcome:
        """Await ``work`` while Telegram shows the bot typing (renewed every 4 s; it lasts 5 s)."""
        task = asyncio.ensure_future(work)
        while not task.done():
            try:
                await bot.send_chat_action(chat_id, ChatAction.TYPING)
            except TelegramError as exc:  # only a courtesy: never let it stop the work
                log.debug("chat action failed: %s", exc)
            await asyncio.wait({task}, timeout=4.0)
        result: Outcome = task.result()
        return result

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
            elif result.message_id is not None and reply.notice is not None:
                await asyncio.to_thread(self.app.after_send, chat_id, result.message_id, reply)
        for chat_id, message_id, reply in outcome.edits:
            try:
                await bot.edit_message_text(reply.text, chat_id=chat_id, message_id=message_id,
                                            parse_mode=ParseMode.HTML, reply_markup=reply_markup(reply),
                                            disable_web_page_preview=True)
            except TelegramError as exc:  # too old, deleted, unchanged: the action itself stands
                log.info("could not edit message %s in chat %s: %s", message_id, chat_id, exc)

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
        if reply.edit and edit_id is not None and not reply.text:  # new buttons on the same message
            try:
                await bot.edit_message_reply_markup(chat_id=chat_id, message_id=edit_id, reply_markup=markup)
            except BadRequest as exc:
                if "not modified" not in str(exc).lower():
                    log.info("buttons not updated (%s)", exc)
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


def _parsable(item: Any) -> Any:
    """``item`` when python-telegram-bot can parse it as an update; else, logged (rate-limited), an
    empty update with its ``update_id`` (the handler ignores it), or None when it has no usable id."""
    try:
        Update.de_json(item, None)
    except Exception as exc:
        update_id = item.get("update_id") if isinstance(item, dict) else None
        _failures.warning(f"parse:{type(exc).__name__}", "skipped update %s that python-telegram-bot cannot "
                          "parse (%s: %s)", update_id, type(exc).__name__, exc)
        return {"update_id": update_id} if isinstance(update_id, int) else None
    return item


def sanitize_updates(payload: bytes) -> bytes:
    """A getUpdates answer with every update python-telegram-bot cannot parse replaced by an empty one.

    The empty update keeps its ``update_id``, so polling confirms it and goes on (the handler ignores
    it); the bad one is logged, rate-limited. Without this, one unparsable update is fetched again
    and again forever, and each attempt logs a traceback.
    """
    try:
        data = json.loads(payload)
    except ValueError:
        return payload
    result = data.get("result") if isinstance(data, dict) else None
    if not isinstance(result, list):
        return payload
    clean = [_parsable(item) for item in result]
    if all(c is item for c, item in zip(clean, result, strict=True)):
        return payload
    return json.dumps({**data, "result": [c for c in clean if c is not None]}).encode()


def sanitize_webhook_body(body: bytes) -> bytes | None:
    """The body of a webhook request as python-telegram-bot's webhook server should see it: unchanged
    when it parses, an empty update with the same ``update_id`` when the library cannot parse it, or
    None (answer 200 and drop it) when it is not a JSON update at all. Each bad one is logged,
    rate-limited. Telegram redelivers an update answered with an error again and again; these are
    skipped instead, as in polling."""
    try:
        data = json.loads(body)
    except ValueError as exc:  # also bytes that are not UTF-8
        _failures.warning("parse:webhook-json", "skipped a webhook request whose body is not JSON (%s, %d bytes)",
                          type(exc).__name__, len(body))
        return None
    clean = _parsable(data)
    if clean is data:
        return body
    return None if clean is None else json.dumps(clean).encode()


class SkippingUpdatesRequest(AiohttpRequest):
    """The connection polling uses: unparsable updates are skipped (see :func:`sanitize_updates`)."""

    async def do_request(self, url: str, method: str, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        code, payload = await super().do_request(url, method, *args, **kwargs)
        if code == 200 and url.rstrip("/").endswith("/getUpdates"):
            payload = sanitize_updates(payload)
        return code, payload


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log (once per kind of failure per interval), tell the user something went wrong, keep running."""
    err = context.error
    if isinstance(err, (NetworkError, RetryAfter)) and not isinstance(err, BadRequest):
        _failures.warning(f"network:{type(err).__name__}", "Telegram network problem: %s", err)
        return
    if err is None:
        return
    _failures.error(failure_key(err, "update:"), "error while handling an update (skipped)", exc_info=err)
    if isinstance(update, Update) and update.effective_chat is not None and not isinstance(err, Forbidden):
        with contextlib.suppress(TelegramError):
            await context.bot.send_message(update.effective_chat.id, t("core.error", "zh"))


def build_application(app: App) -> Application:
    settings = app.settings
    if not settings.token:
        raise ValueError("TELEGRAM_BOT_TOKEN is not set")
    add_secret(settings.token)  # whatever starts the bot, its token never reaches a log line
    frontend = TelegramFrontend(app)

    async def post_init(application: Application) -> None:
        me = await application.bot.get_me()
        app.bot_username = me.username
        log.info("connected as @%s", me.username)
        if app.has_service("qa"):  # load the model, open (or build) the index, load the tokenizer's
            qa = await asyncio.to_thread(app.service, "qa")  # dictionary: all before the first question
            await asyncio.to_thread(qa.warm)
        await set_commands(application.bot, app)
        if application.job_queue is not None and app.has_service("qa"):
            # another replica may publish or withdraw a document: follow the database's published set
            application.job_queue.run_repeating(_documents_job, interval=DOCUMENTS_POLL_SECONDS,
                                                first=DOCUMENTS_POLL_SECONDS, name="documents")
        if application.job_queue is not None and _reminders_available():
            # reminders go through a Bot without the rate limiter's own retries: one retry policy
            # (bot/reminders.py) for the bot and the CLI
            from bot.notify import make_bot

            plain = make_bot(settings)
            await plain.initialize()
            application.bot_data[REMINDER_BOT_KEY] = plain
            application.job_queue.run_repeating(_reminder_job, interval=settings.reminder_tick_seconds, first=5,
                                                name="reminders")
        if application.job_queue is not None and app.has_service("gaps"):  # new questions grouped off the
            application.job_queue.run_repeating(_gaps_job, interval=GAPS_TICK, first=30, name="gaps")  # reply path

    async def post_shutdown(application: Application) -> None:
        plain = application.bot_data.pop(REMINDER_BOT_KEY, None)
        if plain is not None:
            with contextlib.suppress(Exception):
                await plain.shutdown()

    application = (
        ApplicationBuilder()
        .token(settings.token)
        .base_url(settings.bot_api_base())
        .base_file_url(settings.bot_file_base())
        .rate_limiter(AIORateLimiter(max_retries=3))
        .concurrent_updates(True)
        .request(AiohttpRequest(connection_pool_size=32))
        .get_updates_request(SkippingUpdatesRequest(connection_pool_size=1))
        .post_init(post_init)
        .post_shutdown(post_shutdown)
        .build()
    )
    application.bot_data[APP_KEY] = app
    application.add_handler(TypeHandler(Update, frontend.on_update))
    application.add_error_handler(on_error)
    return application


def command_menus(app: App) -> dict[str, dict[str, list[tuple[str, str]]]]:
    """Telegram's "/" menu per audience and language: everyone, officers, admins → lang → (command, text)."""
    from bot.core import ADMIN, APPLICANT, OFFICER

    audiences = {"everyone": {APPLICANT}, "officer": {APPLICANT, OFFICER}, "admin": {APPLICANT, OFFICER, ADMIN}}
    out: dict[str, dict[str, list[tuple[str, str]]]] = {}
    for name, roles in audiences.items():
        out[name] = {}
        for lang in ("zh", "en"):
            items = []
            for cmd in app.router.commands_for(roles):
                assert cmd.help_key
                items.append((cmd.name, t(cmd.help_key, lang)[:256] or cmd.name))
            out[name][lang] = items
    return out


async def set_commands(bot: Any, app: App) -> None:
    """setMyCommands for everyone, for each officer's chat and each admin's chat (zh by default, en for
    English clients). A chat that cannot be set (never talked to the bot) is skipped; start goes on."""
    from telegram import BotCommand, BotCommandScopeChat, BotCommandScopeDefault

    menus = command_menus(app)
    admins = set(app.settings.admin_chat_ids)
    targets: list[tuple[Any, str]] = [(BotCommandScopeDefault(), "everyone")]
    with contextlib.suppress(Exception):
        for chat in await asyncio.to_thread(app.officer_chat_ids):
            targets.append((BotCommandScopeChat(chat), "admin" if chat in admins else "officer"))
    for scope, audience in targets:
        for lang, code in (("zh", None), ("en", "en")):
            commands = [BotCommand(name, text) for name, text in menus[audience][lang]]
            try:
                await bot.set_my_commands(commands, scope=scope, language_code=code)
            except TelegramError as exc:
                log.info("could not set the command menu for %s: %s", scope, exc)
                break


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
        bot = context.application.bot_data.get(REMINDER_BOT_KEY) or context.bot
        await reminders.reminder_tick(app, TelegramNotifier(bot), utcnow())
    except Exception as exc:  # the loop must survive a failing tick (a full disk fails every tick: log it once)
        _failures.error(failure_key(exc, "tick:"), "reminder tick failed", exc_info=exc)


DOCUMENTS_POLL_SECONDS = 60


async def _documents_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Reload the Q&A documents when the published set changed (another replica, or the CLI)."""
    from bot.documents_io import refresh_if_changed

    app: App = context.application.bot_data[APP_KEY]
    try:
        await asyncio.to_thread(refresh_if_changed, app)
    except Exception as exc:  # never stop the job queue
        _failures.error(failure_key(exc, "documents:"), "document reload failed", exc_info=exc)


def run_bot(app: App, webhook_url: str | None = None) -> None:
    application = build_application(app)
    if webhook_url:
        from urllib.parse import urlsplit

        try:
            from bot import telegram_webhook
        except ImportError as exc:  # tornado: python-telegram-bot's "webhooks" extra
            from bot.errors import UserError

            raise UserError(f"webhook mode needs python-telegram-bot's webhook server ({exc}); install "
                            "'python-telegram-bot[webhooks]' or use long polling (no --webhook)") from None
        telegram_webhook.install()  # updates it cannot parse are skipped, as in polling
        settings = app.settings
        path = urlsplit(webhook_url).path.lstrip("/") or "telegram"
        application.run_webhook(
            listen=settings.webhook_listen, port=settings.webhook_port, url_path=path, webhook_url=webhook_url,
            secret_token=settings.webhook_secret.get_secret_value() if settings.webhook_secret else None,
            allowed_updates=Update.ALL_TYPES,
        )
    else:
        application.run_polling(allowed_updates=Update.ALL_TYPES)
