"""Platform-neutral conversation core.

The Telegram adapter and the terminal shell both turn what a person did into an
:class:`Incoming`, hand it to :meth:`Router.handle`, and render the returned
:class:`Outcome`. Features register commands, button (callback) prefixes, text
interceptors and document handlers on the router; they never see Telegram.
"""

from __future__ import annotations

import copy
import html
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.i18n import detect_lang, t
from bot.logging_setup import RateLimitedLog, failure_key

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from bot.app import App

log = logging.getLogger(__name__)
_failures = RateLimitedLog(log)  # a handler that fails on every message logs its traceback once per interval

TEXT_LIMIT = 4096
CALLBACK_LIMIT = 64  # bytes, Telegram's limit on callback_data

APPLICANT, CONTACT, OFFICER, ADMIN = "applicant", "contact", "officer", "admin"
PRIVATE_ROLES = frozenset({OFFICER, ADMIN})  # roles that act only in a private chat with the bot


@dataclass(frozen=True)
class Button:
    label: str
    data: str  # callback data (≤ 64 bytes) — or a URL when ``url`` is True
    url: bool = False

    def __post_init__(self) -> None:
        if not self.url and len(self.data.encode()) > CALLBACK_LIMIT:
            raise ValueError(f"callback data longer than {CALLBACK_LIMIT} bytes: {self.data!r}")


@dataclass(frozen=True)
class Document:
    filename: str
    content: bytes
    caption: str = ""


@dataclass
class Reply:
    """One message to show: HTML text (Telegram's subset, already escaped), buttons, a file."""

    text: str = ""
    buttons: list[list[Button]] = field(default_factory=list)
    document: Document | None = None
    edit: bool = False  # replace the message whose button was pressed, when there is one
    menu: bool = False  # attach the main-menu keyboard
    typed: bool = False  # the message waits for a typed answer (a number, a date, text): typed digits are text
    notice: tuple[int, str] | None = None  # (deadline id, kind): remember where this copy went (App.sent_hooks)


@dataclass
class Outcome:
    replies: list[Reply] = field(default_factory=list)
    toast: str | None = None  # short notice for a pressed button (answerCallbackQuery)
    others: list[tuple[int, Reply]] = field(default_factory=list)  # messages to other chats
    edits: list[tuple[int, int, Reply]] = field(default_factory=list)  # (chat, message id, new text) elsewhere
    lang: str = "zh"  # the language the person is spoken to in (set by the router)


@dataclass
class Incoming:
    """What a person did, whatever the channel."""

    chat_id: int
    user_id: int
    text: str | None = None
    callback_data: str | None = None
    document: Document | None = None
    kind: str = "text"  # text | callback | document | unsupported
    first_name: str = ""
    username: str | None = None
    language_code: str | None = None
    chat_type: str = "private"
    message_id: int | None = None


@dataclass
class UserView:
    id: int
    roles: set[str]
    lang: str  # "zh" or "en": chosen with /lang, else guessed
    chosen_lang: str | None = None


@dataclass
class Ctx:
    """Everything a handler may use. Handlers parse → call a service → return replies."""

    app: App
    msg: Incoming
    now: datetime  # aware UTC
    user: UserView
    command: str | None = None
    args: str = ""
    result: str = "done"  # for the audit log: done | usage | refused (handlers set usage / refused)
    # this chat's dialog states, read once per update (the dialogs each ask before the Q&A answers): the router
    # reads them with the user (App.start_update); updates of one chat are handled one at a time, so nothing
    # else changes them meanwhile
    _states: dict[str, dict[str, Any]] | None = field(default=None, repr=False)

    def usage(self, reply: Reply) -> Reply:
        """A usage error (bad or missing arguments): recorded so in the audit log."""
        self.result = "usage"
        return reply

    @property
    def lang(self) -> str:
        return self.user.lang

    def t(self, key: str, /, **kw: Any) -> str:
        return t(key, self.lang, **kw)

    def has_role(self, role: str) -> bool:
        return role in self.user.roles

    def get_state(self, key: str) -> dict[str, Any] | None:
        if self._states is None:
            from storage import repo

            with self.app.db.session() as s:
                self._states = repo.chat_states(s, self.msg.chat_id)
        value = self._states.get(key)
        return copy.deepcopy(value) if value is not None else None

    def set_state(self, key: str, value: dict[str, Any] | None, s: Session | None = None) -> None:
        """Store (None: drop) this chat's state ``key``: committed at once, or with ``s`` in that
        session's transaction, with the caller's other writes (if that transaction fails, its exception
        ends the update)."""
        from storage import repo

        if s is not None:
            repo.put_state(s, self.msg.chat_id, key, value, self.now)
        else:
            with self.app.db.session() as own:
                repo.put_state(own, self.msg.chat_id, key, value, self.now)
        if self._states is not None:
            if value is None:
                self._states.pop(key, None)
            else:
                self._states[key] = copy.deepcopy(value)


Result = Outcome | Reply | list[Reply] | None
Handler = Callable[[Ctx], Result]


@dataclass
class Command:
    name: str
    handler: Handler
    roles: frozenset[str] = frozenset()  # empty: everyone; otherwise any of these roles
    help_key: str | None = None  # i18n key of a one-line description for /help
    group_ok: bool = False


def esc(value: object) -> str:
    """HTML-escape anything for Telegram's HTML parse mode."""
    return html.escape(str(value), quote=False)


def as_outcome(result: Result) -> Outcome:
    if result is None:
        return Outcome()
    if isinstance(result, Outcome):
        return result
    if isinstance(result, Reply):
        return Outcome([result])
    return Outcome(list(result))


_COMMAND_RE = re.compile(r"^/([A-Za-z0-9_]{1,32})(?:@(\w+))?(?:\s+(.*))?$", re.S)


class Router:
    def __init__(self) -> None:
        self.commands: dict[str, Command] = {}
        self.callbacks: dict[str, Handler] = {}
        self.interceptors: list[Handler] = []  # first that returns non-None wins
        self.menu: dict[str, str] = {}  # menu-button i18n key -> command name
        self.document_handler: Handler | None = None
        self.fallback: Handler | None = None  # free text (the Q&A service)
        self.command_hooks: list[Callable[[Ctx], None]] = []  # told before any command runs

    # -- registration -------------------------------------------------
    def command(
        self, name: str, handler: Handler, *, roles: set[str] | None = None, help_key: str | None = None,
        group_ok: bool = False,
    ) -> None:
        self.commands[name] = Command(name, handler, frozenset(roles or ()), help_key, group_ok)

    def callback(self, prefix: str, handler: Handler) -> None:
        """Buttons whose data is ``prefix`` or starts with ``prefix:``."""
        self.callbacks[prefix] = handler

    def intercept(self, handler: Handler) -> None:
        self.interceptors.append(handler)

    def menu_button(self, label_key: str, command: str) -> None:
        self.menu[label_key] = command

    def on_command(self, hook: Callable[[Ctx], None]) -> None:
        """``hook(ctx)`` runs before every command (``ctx.command`` is set): a dialog waiting for an
        answer learns that the person turned to something else."""
        self.command_hooks.append(hook)

    # -- dispatch -----------------------------------------------------
    def handle(self, app: App, msg: Incoming, now: datetime) -> Outcome:
        user, states = app.start_update(msg, now)  # one transaction: the user, the roles, the chat's states
        if msg.chat_type != "private":
            # Outside a private chat nobody acts as officer or admin: restricted commands point to the
            # private chat (run_command) and no handler shows officer data (contacts, chat ids) to a group.
            user.roles -= PRIVATE_ROLES
        ctx = Ctx(app=app, msg=msg, now=now, user=user, _states=states)
        try:
            outcome = self._dispatch(ctx)
        except Exception as exc:
            _failures.error(failure_key(exc, "handler:"), "handler failed for chat %s", msg.chat_id, exc_info=exc)
            outcome = Outcome([Reply(ctx.t("core.error"))], toast=ctx.t("core.error_short"))
        outcome.lang = ctx.lang
        return outcome

    def _dispatch(self, ctx: Ctx) -> Outcome:
        msg = ctx.msg
        group = msg.chat_type != "private"
        if msg.kind == "callback" or msg.callback_data is not None:
            data = msg.callback_data or ""
            prefix = data.split(":", 1)[0]
            handler = self.callbacks.get(prefix)
            if handler is None:
                return Outcome(toast=ctx.t("core.stale_button"))
            return as_outcome(handler(ctx))
        if msg.kind == "document" or msg.document is not None:
            if self.document_handler is None or group:
                return Outcome([] if group else [Reply(ctx.t("core.no_documents"))])
            return as_outcome(self.document_handler(ctx))
        text = (msg.text or "").strip()
        if msg.kind == "unsupported" or msg.text is None:
            return Outcome([] if group else [Reply(ctx.t("core.text_only"))])
        if not text:
            return Outcome([] if group else [Reply(ctx.t("core.empty"))])
        m = _COMMAND_RE.match(text)
        if text.startswith("/"):
            if m is None:
                return Outcome([] if group else [Reply(ctx.t("core.unknown_command", command=esc(text[:40])))])
            name, target, args = m.group(1).lower(), m.group(2), (m.group(3) or "").strip()
            if group and target is not None and target.lower() != (ctx.app.bot_username or "").lower():
                return Outcome()
            cmd = self.commands.get(name)
            if cmd is None:
                return Outcome([] if group else [Reply(ctx.t("core.unknown_command", command=esc("/" + name)))])
            return self.run_command(ctx, cmd, args)
        if group:
            return Outcome()  # in groups only commands are answered
        for key, name in self.menu.items():
            if text in (t(key, "zh"), t(key, "en")) and name in self.commands:
                return self.run_command(ctx, self.commands[name], "")
        for interceptor in self.interceptors:
            result = interceptor(ctx)
            if result is not None:
                return as_outcome(result)
        return self.free_text(ctx)

    def free_text(self, ctx: Ctx) -> Outcome:
        """What free text gets when no dialog takes it (the Q&A). Dialogs call it for a question typed
        in the middle of a question of their own."""
        if self.fallback is None:
            return Outcome([Reply(ctx.t("core.unknown_text"))])
        return as_outcome(self.fallback(ctx))

    def run_command(self, ctx: Ctx, cmd: Command, args: str) -> Outcome:
        ctx.command, ctx.args = cmd.name, args
        if cmd.roles and ctx.msg.chat_type != "private":
            ctx.app.audit(ctx.user.id, "/" + cmd.name, f"(in chat {ctx.msg.chat_id}) {args}".strip(), False, ctx.now,
                          result="refused")
            return Outcome([Reply(private_only(ctx, cmd.name))])
        for hook in self.command_hooks:
            hook(ctx)
        if not cmd.roles:
            return as_outcome(cmd.handler(ctx))
        if not cmd.roles & ctx.user.roles:
            ctx.app.audit(ctx.user.id, "/" + cmd.name, args, False, ctx.now, result="refused")
            return Outcome([Reply(refusal(ctx, cmd.roles))])
        outcome = as_outcome(cmd.handler(ctx))
        ctx.app.audit(ctx.user.id, "/" + cmd.name, args, ctx.result != "refused", ctx.now, result=ctx.result)
        return outcome

    def commands_for(self, roles: set[str]) -> list[Command]:
        return [c for c in self.commands.values() if c.help_key and (not c.roles or c.roles & roles)]


def private_only(ctx: Ctx, command: str) -> str:
    """The short pointer a group gets for a restricted command: use it in the private chat."""
    username = ctx.app.bot_username
    link = f"https://t.me/{username}" if username else ""
    return ctx.t("core.private_only", command=esc(command), link=esc(link)).strip()


def refusal(ctx: Ctx, roles: frozenset[str] | set[str]) -> str:
    """The refusal for a command or button of these roles, worded for who may use it."""
    if ADMIN in roles and OFFICER not in roles:
        return ctx.t("core.admin_only")
    if ctx.has_role(CONTACT) or ctx.has_role(OFFICER):
        return ctx.t("core.officer_only_known")
    return ctx.t("core.not_allowed")


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Split a long message at line breaks so each part fits Telegram's limit."""
    if len(text) <= limit:
        return [text]
    parts: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:
            if current:
                parts.append(current)
                current = ""
            parts.append(line[:limit])
            line = line[limit:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            parts.append(current)
            current = line
        else:
            current = candidate
    if current:
        parts.append(current)
    return parts


__all__ = [
    "ADMIN", "APPLICANT", "CONTACT", "OFFICER", "Button", "Ctx", "Document", "Incoming", "Outcome", "Reply",
    "Router", "UserView", "detect_lang", "esc", "split_text",
]
