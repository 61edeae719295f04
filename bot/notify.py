"""Pushing messages outside a conversation (reminders, alerts, digests).

:class:`Notifier` is what the reminder service talks to. :class:`TelegramNotifier` sends
through the Bot API (real or the local fake one); :class:`ConsoleNotifier` prints (shell,
no token); :class:`RecordingNotifier` keeps what it was asked to send (tests of pure logic).
"""

from __future__ import annotations

import enum
import html
import re
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from bot.core import Reply

if TYPE_CHECKING:
    from bot.config import Settings


class SendStatus(enum.Enum):
    OK = "ok"
    FORBIDDEN = "forbidden"  # the user blocked the bot / chat not found: do not retry
    RETRY = "retry"  # flood control (retry_after) or a network error: retry later
    ERROR = "error"  # a permanent error other than forbidden (bad request)


@dataclass
class SendOutcome:
    status: SendStatus
    retry_after: float | None = None
    error: str = ""
    message_id: int | None = None

    @property
    def ok(self) -> bool:
        return self.status is SendStatus.OK


class Notifier(Protocol):
    async def send(self, chat_id: int, reply: Reply) -> SendOutcome: ...


_TAG = re.compile(r"<[^>]+>")


def html_to_plain(text: str) -> str:
    return html.unescape(_TAG.sub("", text))


@dataclass
class ConsoleNotifier:
    stream: TextIO = field(default_factory=lambda: sys.stdout)

    async def send(self, chat_id: int, reply: Reply) -> SendOutcome:
        try:
            print(f"→ [{chat_id}] {html_to_plain(reply.text)}", file=self.stream)
            for row in reply.buttons:
                print("   " + "  ".join(f"[{b.label}]" for b in row), file=self.stream)
            if reply.document:
                print(f"   📎 {reply.document.filename}", file=self.stream)
            self.stream.flush()
        except (BrokenPipeError, ValueError) as exc:  # output closed (e.g. piped into head)
            return SendOutcome(SendStatus.RETRY, error=f"console output closed: {exc}")
        return SendOutcome(SendStatus.OK)


@dataclass
class RecordingNotifier:
    """Keeps every message; chats in ``blocked`` answer FORBIDDEN, in ``flaky`` answer RETRY once."""

    sent: list[tuple[int, Reply]] = field(default_factory=list)
    blocked: set[int] = field(default_factory=set)
    flaky: set[int] = field(default_factory=set)

    async def send(self, chat_id: int, reply: Reply) -> SendOutcome:
        if chat_id in self.blocked:
            return SendOutcome(SendStatus.FORBIDDEN, error="Forbidden: bot was blocked by the user")
        if chat_id in self.flaky:
            self.flaky.discard(chat_id)
            return SendOutcome(SendStatus.RETRY, retry_after=0.01, error="network")
        self.sent.append((chat_id, reply))
        return SendOutcome(SendStatus.OK, message_id=len(self.sent))


def reply_markup(reply: Reply) -> Any:
    """Inline keyboard for a reply's buttons (python-telegram-bot objects), or None."""
    if not reply.buttons:
        return None
    from telegram import InlineKeyboardButton, InlineKeyboardMarkup

    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(b.label, url=b.data) if b.url else InlineKeyboardButton(b.label, callback_data=b.data)
                for b in row
            ]
            for row in reply.buttons
        ]
    )


class TelegramNotifier:
    """Sends through a python-telegram-bot ``Bot``; maps its errors to :class:`SendStatus`."""

    def __init__(self, bot: Any) -> None:
        self.bot = bot

    async def send(self, chat_id: int, reply: Reply) -> SendOutcome:
        from telegram.constants import ParseMode
        from telegram.error import (
            BadRequest,
            Forbidden,
            InvalidToken,
            NetworkError,
            RetryAfter,
            TelegramError,
            TimedOut,
        )

        try:
            if reply.document is not None:
                msg = await self.bot.send_document(
                    chat_id, document=reply.document.content, filename=reply.document.filename,
                    caption=reply.document.caption or reply.text or None, parse_mode=ParseMode.HTML,
                    reply_markup=reply_markup(reply),
                )
            else:
                msg = await self.bot.send_message(
                    chat_id, reply.text, parse_mode=ParseMode.HTML, reply_markup=reply_markup(reply),
                    disable_web_page_preview=True,
                )
        except Forbidden as exc:
            return SendOutcome(SendStatus.FORBIDDEN, error=str(exc))
        except RetryAfter as exc:
            ra = exc.retry_after
            seconds = ra.total_seconds() if hasattr(ra, "total_seconds") else float(ra)
            return SendOutcome(SendStatus.RETRY, retry_after=seconds, error=str(exc))
        except BadRequest as exc:
            if "chat not found" in str(exc).lower():
                return SendOutcome(SendStatus.FORBIDDEN, error=str(exc))
            return SendOutcome(SendStatus.ERROR, error=str(exc))
        except (TimeoutError, TimedOut, NetworkError, OSError) as exc:
            return SendOutcome(SendStatus.RETRY, error=str(exc) or type(exc).__name__)
        except InvalidToken:  # its message would name the token: never repeat it
            return SendOutcome(SendStatus.RETRY, error="the Bot API rejected the bot token (401 Unauthorized)")
        except TelegramError as exc:
            return SendOutcome(SendStatus.ERROR, error=str(exc) or type(exc).__name__)
        return SendOutcome(SendStatus.OK, message_id=msg.message_id)


def explain_bot_error(exc: BaseException, settings: Settings) -> Exception | None:
    """One line for a person (never naming the token) when the Bot API is unusable, else None.

    A rejected token is bad input (``UserError``, exit 2); an unreachable server is a failure
    (``Failure``, exit 1).
    """
    from telegram.error import InvalidToken, NetworkError

    from bot.errors import Failure, UserError

    if isinstance(exc, InvalidToken):
        return UserError(f"the Bot API at {settings.telegram_api_base_url} rejected TELEGRAM_BOT_TOKEN (401 Unauthorized)")
    if isinstance(exc, NetworkError):
        cause = str(exc).replace(settings.token or "\0", "<token>") or type(exc).__name__
        return Failure(f"cannot reach the Telegram Bot API at {settings.telegram_api_base_url}: {cause}")
    return None


async def check_bot(settings: Settings) -> str:
    """Ask the Bot API who we are (getMe); raises :func:`explain_bot_error`'s errors."""
    bot = make_bot(settings)
    try:
        async with bot:
            return str(bot.username)
    except Exception as exc:
        explained = explain_bot_error(exc, settings)
        if explained is not None:
            raise explained from None
        raise


def make_bot(settings: Settings, read_timeout: float = 15.0) -> Any:
    """A bare python-telegram-bot ``Bot`` for pushing (no polling), honouring TELEGRAM_API_BASE_URL."""
    from telegram import Bot

    from bot.http_transport import AiohttpRequest

    assert settings.token
    return Bot(
        settings.token, base_url=settings.bot_api_base(), base_file_url=settings.bot_file_base(),
        request=AiohttpRequest(connection_pool_size=16, connect_timeout=5, read_timeout=read_timeout,
                               write_timeout=read_timeout),
    )
