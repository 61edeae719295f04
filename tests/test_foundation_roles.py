"""Roles through the conversation: admin grants, invites, polite refusals, the audit log."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from bot.app import App
from bot.core import Incoming, Outcome

NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)


def say(app: App, user: int, text: str, now: datetime = NOW) -> Outcome:
    return app.handle(Incoming(chat_id=user, user_id=user, text=text, first_name=f"u{user}"), now)


def first(out: Outcome) -> str:
    return out.replies[0].text


def test_admin_commands_refuse_everyone_else_and_are_audited(app: App) -> None:
    assert "仅限" in first(say(app, 5, "/grant 6"))
    assert "仅限" in first(say(app, 901, "/grant 6"))  # an officer is not an admin
    audit = first(say(app, 900, "/audit"))
    assert "/grant" in audit and "✗" in audit


def test_admin_grants_and_revokes_officer(app: App) -> None:
    assert "仅限" in first(say(app, 6, "/officers"))
    assert "6" in first(say(app, 900, "/grant 6"))
    assert "6" in first(say(app, 6, "/officers"))
    say(app, 900, "/revoke 6")
    assert "仅限" in first(say(app, 6, "/officers"))
    assert "配置" in first(say(app, 900, "/revoke 901"))  # configured roles change in config
    assert "用法" in first(say(app, 900, "/grant"))


def test_invite_code_is_one_time_and_expires(app: App) -> None:
    text = first(say(app, 900, "/invite"))
    code = re.search(r"<code>(\w+)</code>", text).group(1)  # type: ignore[union-attr]
    out = say(app, 20, f"/join {code}")
    assert "工作人员" in first(out)
    assert out.others and out.others[0][0] == 900  # the admin is told
    assert "仅限" not in first(say(app, 20, "/officers"))
    assert "无效" in first(say(app, 21, f"/join {code}"))  # used
    code2 = re.search(r"<code>(\w+)</code>", first(say(app, 900, "/invite"))).group(1)  # type: ignore[union-attr]
    assert "无效" in first(say(app, 22, f"/start {code2}", NOW + timedelta(days=3)))  # expired


def test_help_shows_officer_commands_only_to_officers(app: App) -> None:
    assert "/audit" not in first(say(app, 5, "/help"))
    assert "/audit" in first(say(app, 900, "/help"))
