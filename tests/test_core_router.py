"""The conversation core through the router: commands, roles, bad input."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.app import App
from bot.core import Incoming

NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)


def send(app: App, text: str | None, user: int = 5, **kw: object) -> list[str]:
    out = app.handle(Incoming(chat_id=user, user_id=user, text=text, **kw), NOW)  # type: ignore[arg-type]
    return [r.text for r in out.replies]


def test_start_shows_welcome_with_menu(app: App) -> None:
    out = app.handle(Incoming(chat_id=5, user_id=5, text="/start", first_name="Li"), NOW)
    assert "创新联合体" in out.replies[0].text
    assert out.replies[0].menu


def test_unknown_command_is_named(app: App) -> None:
    assert "/frobnicate" in send(app, "/frobnicate")[0]


def test_lang_switch_is_remembered(app: App) -> None:
    send(app, "/lang en")
    assert "Hello" in send(app, "/start")[0]
    send(app, "/lang zh")
    assert "您好" in send(app, "/start")[0]


def test_unsupported_and_empty_messages_get_a_clear_reply(app: App) -> None:
    assert "文字" in send(app, None, kind="unsupported")[0]
    assert "空" in send(app, "   ")[0]


def test_group_free_text_is_ignored(app: App) -> None:
    assert send(app, "hello there", chat_type="group") == []


def test_stale_button_gets_a_toast(app: App) -> None:
    out = app.handle(Incoming(chat_id=5, user_id=5, callback_data="nope:1", kind="callback"), NOW)
    assert out.toast and not out.replies
