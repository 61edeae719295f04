"""The Q&A through the conversation core (app.handle), as Telegram and the shell drive it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from bot.app import App
from bot.core import Incoming, Outcome
from bot.i18n import t
from storage.models import Feedback, QAAnswer
from tests.qa_helpers import service
from tests.test_qa_answers import assert_safe_html

NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)


@pytest.fixture
def qa_app(app: App) -> App:
    app.provide("qa", lambda _a: service())  # the session's service: no index build per test
    return app


def say(app: App, text: str, chat: int = 7, **kw: object) -> Outcome:
    return app.handle(Incoming(chat_id=chat, user_id=chat, text=text, **kw), NOW)  # type: ignore[arg-type]


def press(app: App, data: str, chat: int = 7) -> Outcome:
    return app.handle(Incoming(chat_id=chat, user_id=chat, callback_data=data, kind="callback"), NOW)


def buttons(out: Outcome) -> list[str]:
    return [b.data for row in out.replies[0].buttons for b in row]


def test_free_text_gets_a_cited_answer_with_buttons(qa_app: App) -> None:
    out = say(qa_app, "企业自筹经费要按什么比例")
    reply = out.replies[0]
    assert "【四、（四）】" in reply.text and "2:1" in reply.text
    assert_safe_html(reply.text)
    data = buttons(out)
    assert any(d.startswith("qa:up:") for d in data) and any(d.startswith("qa:down:") for d in data)
    assert "qa:full:4.4" in data
    with qa_app.db.session() as s:
        row = s.scalars(select(QAAnswer)).one()
        assert (row.question, row.clauses[0], row.refused, row.chat_id) == ("企业自筹经费要按什么比例", "4.4", False, 7)


def test_feedback_is_stored_and_can_be_changed(qa_app: App) -> None:
    out = say(qa_app, "组建协议由谁签署")
    up = next(d for d in buttons(out) if d.startswith("qa:up:"))
    voted = press(qa_app, up)
    assert voted.toast == t("qa.thanks_feedback", "zh")
    # the message keeps its text; its buttons now show the choice
    assert voted.replies[0].edit and not voted.replies[0].text
    assert voted.replies[0].buttons[0][0].label.startswith("✅")
    changed = press(qa_app, up.replace(":up:", ":down:"))
    assert changed.toast == t("qa.thanks_feedback", "zh") and changed.replies[0].buttons[0][1].label.startswith("✅")
    with qa_app.db.session() as s:
        fb = s.scalars(select(Feedback)).one()
        answer = s.get(QAAnswer, fb.answer_id)
        assert fb.vote == -1 and fb.user_id == 7 and answer is not None and answer.clauses[0] == "5.3"


def test_full_clause_button_shows_the_whole_clause(qa_app: App) -> None:
    out = press(qa_app, "qa:full:4.1")
    text = out.replies[0].text
    assert "（一）创新联合体牵头单位应具备的条件" in text and "4.牵头单位是创新联合体的责任单位" in text
    assert_safe_html(text)


@pytest.mark.parametrize("data", [
    "qa:up:999999", "qa:down:abc", "qa:full:9.9", "qa:full:../../etc/passwd", "qa", "qa:", "qa:nuke:1",
    "qa:full:" + "4" * 30,
])
def test_forged_or_stale_buttons_get_a_polite_toast(qa_app: App, data: str) -> None:
    out = press(qa_app, data)
    assert out.toast == t("core.stale_button", "zh") and not out.replies


def test_feedback_on_another_chats_answer_is_refused(qa_app: App) -> None:
    up = next(d for d in buttons(say(qa_app, "组建协议由谁签署", chat=8)) if d.startswith("qa:up:"))
    assert press(qa_app, up, chat=9).toast == t("core.stale_button", "zh")
    with qa_app.db.session() as s:
        assert s.scalars(select(Feedback)).first() is None


def test_follow_up_uses_the_chats_previous_topic(qa_app: App) -> None:
    say(qa_app, "牵头单位应具备哪些条件？")
    assert qa_app.handle(Incoming(chat_id=7, user_id=7, text="/start"), NOW).replies  # other traffic in between
    out = say(qa_app, "那成员单位呢？")
    assert "【四、（二）" in out.replies[0].text
    other_chat = say(qa_app, "那成员单位呢？", chat=11)  # no topic in that chat
    assert "接着上一个问题" not in other_chat.replies[0].text


def test_a_clarify_topic_button_answers_that_clause(qa_app: App) -> None:
    answer_id = next(d for d in buttons(say(qa_app, "联合体的事情")) if d.startswith("qa:up:")).split(":")[2]
    out = press(qa_app, f"qa:pick:{answer_id}:8.3")
    assert "12月31日" in out.replies[0].text and "qa:full:8.3" in buttons(out)
    assert press(qa_app, f"qa:pick:{answer_id}:8.3", chat=99).toast == t("core.stale_button", "zh")


def test_further_clauses_are_buttons_not_quotes(qa_app: App) -> None:
    out = say(qa_app, "牵头单位应具备哪些条件？")
    full = [d for d in buttons(out) if d.startswith("qa:full:")]
    assert len(full) >= 2 and out.replies[0].text.count("【") == 1


def test_refusal_has_feedback_buttons_but_no_clause_buttons(qa_app: App) -> None:
    out = say(qa_app, "推荐一家昆明的餐厅")
    assert "没有涉及" in out.replies[0].text
    assert not any(d.startswith("qa:full:") for d in buttons(out))


def test_small_talk_gets_canned_reply_without_buttons(qa_app: App) -> None:
    out = say(qa_app, "你好")
    assert "政策助手" in out.replies[0].text and not out.replies[0].buttons


def test_ask_command_and_menu_button(qa_app: App) -> None:
    assert "直接输入" in say(qa_app, "/ask").replies[0].text
    assert "【八、（三）】" in say(qa_app, "/ask 每年什么时候交年度总结").replies[0].text
    assert say(qa_app, t("menu.ask", "zh")).replies[0].text == t("qa.ask_intro", "zh")
    assert qa_app.router.menu["menu.ask"] == "ask"


@pytest.mark.parametrize(("arg", "expect"), [("4.1", "（一）创新联合体牵头单位"), ("四（四）", "经费配套"),
                                             ("a1.note.4", "需附"), ("closing", "有效期3年")])
def test_clause_command(qa_app: App, arg: str, expect: str) -> None:
    text = say(qa_app, f"/clause {arg}").replies[0].text
    assert expect in text
    assert_safe_html(text)


def test_clause_command_errors(qa_app: App) -> None:
    assert "用法" in say(qa_app, "/clause").replies[0].text
    assert "没有找到" in say(qa_app, "/clause <b>9.9</b>").replies[0].text
    assert "<b>9.9" not in say(qa_app, "/clause <b>9.9</b>").replies[0].text


def test_english_user_gets_english_framing(qa_app: App) -> None:
    out = qa_app.handle(Incoming(chat_id=12, user_id=12, text="Who must sign the consortium agreement?",
                                 language_code="en"), NOW)
    text = out.replies[0].text
    assert "Section 5(3)" in text and "unofficial translation" in text
    assert t("qa.btn_up", "en") in [b.label for row in out.replies[0].buttons for b in row]
    full = qa_app.handle(Incoming(chat_id=12, user_id=12, callback_data="qa:full:5.3", kind="callback",
                                  language_code="en"), NOW).replies[0].text
    assert "签署" in full and "Reference translation" in full  # the Chinese original and the translation


@pytest.mark.parametrize("text", [
    "🙂🙂🙂", "<b>牵头单位</b>应具备哪些条件？", "[x](javascript:alert(1))", "牵头单位 requirements 是什么?",
    "牵头单位应具备哪些条件？" + "很长的粘贴。" * 2000, "<<<>>>&&&", "\u200b\u200b",
])
def test_bad_input_gets_a_clear_reply_and_valid_markup(qa_app: App, text: str) -> None:
    out = say(qa_app, text)
    assert len(out.replies) == 1 and out.replies[0].text
    assert_safe_html(out.replies[0].text)
    assert "javascript" not in out.replies[0].text


def test_feature_builds_its_service_from_settings(app: App) -> None:
    svc = app.service("qa")
    assert svc.index_info is not None and svc.index_info.path == app.settings.data_dir / "chroma"
