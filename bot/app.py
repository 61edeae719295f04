"""The service container shared by the Telegram bot, the shell and the CLI."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from bot.config import Settings
from bot.core import ADMIN, APPLICANT, OFFICER, Incoming, Router, UserView
from bot.i18n import client_lang, detect_lang
from storage import repo
from storage.db import Database

log = logging.getLogger(__name__)

RoleProvider = Callable[[Session, int], set[str]]


class App:
    """Holds settings, the database, the router and lazily built services.

    Features call :meth:`provide` to register a service factory and :meth:`service`
    to get the (single, lazily built, thread-safe) instance.
    """

    def __init__(self, settings: Settings, db: Database, *, shell: bool = False) -> None:
        self.settings = settings
        self.db = db
        self.shell = shell  # the local terminal user is trusted as admin and officer
        self.bot_username: str | None = None
        self.router = Router()
        self.role_providers: list[RoleProvider] = []
        # called with (chat id, message id, reply) after a reply with a ``notice`` went out to another chat
        self.sent_hooks: list[Callable[[int, int, Any], None]] = []
        self._factories: dict[str, Callable[[App], Any]] = {}
        self._services: dict[str, Any] = {}
        self._lock = threading.Lock()

    # -- services -----------------------------------------------------
    def provide(self, name: str, factory: Callable[[App], Any]) -> None:
        self._factories[name] = factory

    def service(self, name: str) -> Any:
        if name in self._services:
            return self._services[name]
        with self._lock:
            if name not in self._services:
                self._services[name] = self._factories[name](self)
            return self._services[name]

    def built_service(self, name: str) -> Any | None:
        """The service if it has been built already, else None (never builds it)."""
        return self._services.get(name)

    def has_service(self, name: str) -> bool:
        return name in self._factories

    def after_build(self, name: str, hook: Callable[[Any], Any]) -> None:
        """Run ``hook(service)`` once the service ``name`` is built (e.g. to hand it stored data)."""
        factory = self._factories[name]

        def built(app: App) -> Any:
            svc = factory(app)
            try:
                hook(svc)
            except Exception:  # a failing hook must not take the service down
                log.exception("after-build hook of %s failed", name)
            return svc

        self._factories[name] = built

    # -- users and roles ----------------------------------------------
    def roles_of(self, s: Session, user_id: int, granted: set[str] | None = None) -> set[str]:
        """Every role of ``user_id``; ``granted``: the roles granted in chat when the caller read them already."""
        roles = {APPLICANT} | (repo.granted_roles(s, user_id) if granted is None else granted)
        if user_id in self.settings.admin_chat_ids:
            roles |= {ADMIN, OFFICER}
        if user_id in self.settings.officer_chat_ids:
            roles.add(OFFICER)
        if ADMIN in roles:
            roles.add(OFFICER)
        for provider in self.role_providers:
            roles |= provider(s, user_id)
        if self.shell:
            roles |= {ADMIN, OFFICER}
        return roles

    def officer_chat_ids(self) -> list[int]:
        """Everyone who should get officer alerts and digests."""
        return officer_ids(self.db, self.settings)

    def identify(self, msg: Incoming, now: datetime) -> UserView:
        with self.db.session() as s:
            roles, chosen = self._who(s, msg, now)
        return self._view(msg, roles, chosen)

    def start_update(self, msg: Incoming, now: datetime) -> tuple[UserView, dict[str, dict[str, Any]]]:
        """What :meth:`identify` gives and every dialog state of the chat, in one transaction (the first of
        an update: the router hands the states to ``Ctx``, so ``get_state`` reads nothing more)."""
        with self.db.session() as s:
            roles, chosen = self._who(s, msg, now)
            states = repo.chat_states(s, msg.chat_id)
        return self._view(msg, roles, chosen), states

    def _who(self, s: Session, msg: Incoming, now: datetime) -> tuple[set[str], str | None]:
        """(roles, the language chosen with /lang) of the sender, recorded as seen."""
        user, granted = repo.touch_user_roles(s, msg.user_id, now, msg.first_name, msg.username, msg.language_code)
        return self.roles_of(s, msg.user_id, granted), user.chosen_lang

    @staticmethod
    def _view(msg: Incoming, roles: set[str], chosen: str | None) -> UserView:
        if chosen:
            lang = chosen
        else:
            client = client_lang(msg.language_code)
            lang = detect_lang(msg.text, client) if msg.text and not msg.text.startswith("/") else client
        return UserView(id=msg.user_id, roles=roles, lang=lang, chosen_lang=chosen)

    def audit(self, user_id: int, command: str, args: str, allowed: bool, now: datetime, *,
              result: str | None = None) -> None:
        """One audit entry; ``result`` (done / refused / usage) is kept with the arguments."""
        if result is not None:
            args = f"{args} [{result}]".strip()
        with self.db.session() as s:
            repo.audit(s, user_id, command, args, allowed, now)

    def after_send(self, chat_id: int, message_id: int, reply: Any) -> None:
        if getattr(reply, "notice", None) is None:
            return
        for hook in self.sent_hooks:
            try:
                hook(chat_id, message_id, reply)
            except Exception:  # bookkeeping must not break delivery
                log.exception("sent hook failed")

    def handle(self, msg: Incoming, now: datetime) -> Any:
        return self.router.handle(self, msg, now)


def officer_ids(db: Database, settings: Settings) -> list[int]:
    """The one list of officers (alerts, digests, reports to confirm): configured officers and admins,
    and those granted the role in chat."""
    with db.session() as s:
        granted = set(repo.role_holders(s, OFFICER)) | set(repo.role_holders(s, ADMIN))
    return sorted(set(settings.officer_chat_ids) | set(settings.admin_chat_ids) | granted)


def build_app(settings: Settings, *, shell: bool = False, migrate: bool = True) -> App:
    """Connect (and migrate) the database and register every feature."""
    db = Database.from_url(settings.effective_database_url, migrate=migrate)
    app = App(settings, db, shell=shell)
    from bot import features

    features.register_all(app)
    return app
