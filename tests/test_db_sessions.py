"""Database transactions per chat message: a Q&A message costs one read-mostly transaction at the start
(the user, the roles and the chat's states) and one write transaction at the end (the follow-up context,
the answer log and the knowledge-gap signal, the signal inside a savepoint). On SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select

from bot.app import App, build_app
from bot.core import Incoming, Outcome
from storage import gaps_repo as gr
from storage import repo
from storage.db import Database, savepoint
from storage.gaps_models import GapEvent
from storage.models import ChatState, QAAnswer
from storage.registry_models import Consortium, Contact
from tests.conftest import make_settings
from tests.qa_helpers import service

NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
CHAT = 7


@pytest.fixture
def qa_app(tmp_path: Path, any_db_url: str) -> Iterator[App]:
    application = build_app(make_settings(tmp_path, database_url=any_db_url, admin_chat_ids=[900]))
    application.provide("qa", lambda _a: service())
    yield application
    application.db.dispose()


class Transactions:
    """What the engine did: each transaction (begin → commit/rollback) with its SQL statements."""

    def __init__(self, db: Database) -> None:
        self.done: list[tuple[str, list[str]]] = []
        self._open: list[str] | None = None
        engine = db.engine
        event.listen(engine, "begin", self._begin)
        event.listen(engine, "commit", lambda _c: self._end("commit"))
        event.listen(engine, "rollback", lambda _c: self._end("rollback"))
        event.listen(engine, "before_cursor_execute", self._statement)

    def _begin(self, _conn: Any) -> None:
        assert self._open is None, "a transaction began inside another one"
        self._open = []

    def _end(self, how: str) -> None:
        if self._open is not None:
            self.done.append((how, self._open))
        self._open = None

    def _statement(self, _conn: Any, _cur: Any, statement: str, *_: Any) -> None:
        if self._open is not None:
            self._open.append(" ".join(statement.split()))

    def clear(self) -> None:
        self.done.clear()


def say(app: App, text: str, chat: int = CHAT, at: datetime = NOW) -> Outcome:
    return app.handle(Incoming(chat_id=chat, user_id=chat, text=text, first_name="x"), at)


def writes(statements: list[str]) -> list[str]:
    return [st for st in statements if st.split()[0].upper() in ("INSERT", "UPDATE", "DELETE")]


def test_a_question_costs_one_read_and_one_write_transaction(qa_app: App) -> None:
    tx = Transactions(qa_app.db)
    out = say(qa_app, "牵头单位应具备哪些条件？")  # a new user and chat: the user row is written too
    assert "【四、（一）" in out.replies[0].text
    assert [how for how, _ in tx.done] == ["commit", "commit"]
    first, last = (sts for _, sts in tx.done)
    assert writes(first) == [writes(first)[0]] and "INSERT INTO users" in writes(first)[0]
    assert any("INSERT INTO chat_state" in st for st in last) and any("INSERT INTO qa_answers" in st for st in last)

    tx.clear()
    follow = say(qa_app, "那成员单位呢？", at=NOW + timedelta(seconds=5))  # the follow-up context changes
    assert "【四、（二）" in follow.replies[0].text
    assert len(tx.done) == 2
    first, last = (sts for _, sts in tx.done)
    assert writes(first) == []  # a returning user: the first transaction only reads
    assert len(first) <= 3  # the user with its grants, the contact role, the chat's states
    assert any("UPDATE chat_state" in st for st in last) and any("INSERT INTO qa_answers" in st for st in last)

    tx.clear()
    say(qa_app, "推荐一家昆明的餐厅", at=NOW + timedelta(seconds=10))  # refused: a gap event, same transaction
    assert len(tx.done) == 2 and any("INSERT INTO gap_events" in st for st in tx.done[1][1])

    tx.clear()
    say(qa_app, "你好", at=NOW + timedelta(seconds=15))  # small talk: nothing to write
    assert len(tx.done) == 1 and writes(tx.done[0][1]) == []

    with qa_app.db.session() as s:
        answers = list(s.scalars(select(QAAnswer).order_by(QAAnswer.id)))
        assert [a.question for a in answers] == ["牵头单位应具备哪些条件？", "那成员单位呢？", "推荐一家昆明的餐厅"]
        assert [e.kind for e in s.scalars(select(GapEvent))] == ["refused"]
        assert repo.get_state(s, CHAT, "qa") is not None


def test_a_quick_reask_is_logged_in_the_answers_transaction(qa_app: App) -> None:
    say(qa_app, "牵头单位应具备哪些条件？")
    tx = Transactions(qa_app.db)
    say(qa_app, "牵头单位要具备什么条件", at=NOW + timedelta(seconds=40))
    assert len(tx.done) == 2 and any("INSERT INTO gap_events" in st for st in tx.done[1][1])
    with qa_app.db.session() as s:
        assert [(e.kind, e.question) for e in s.scalars(select(GapEvent))] == [("reask", "牵头单位应具备哪些条件？")]


def test_a_contacts_message_reads_its_flag_and_writes_only_when_flagged(qa_app: App) -> None:
    with qa_app.db.session() as s:
        c = Consortium(name="测试联合体", route="bottom_up", approved_on=date(2026, 1, 1), ends_on=date(2029, 1, 1),
                       created_at=NOW, updated_at=NOW)
        c.contacts.append(Contact(chat_id=CHAT, unreachable=True, unreachable_at=NOW))
        s.add(c)
    say(qa_app, "/start")  # a new user, flagged unreachable: made reachable
    tx = Transactions(qa_app.db)
    say(qa_app, "/start", at=NOW + timedelta(seconds=5))
    assert len(tx.done) == 1 and writes(tx.done[0][1]) == []  # reachable already: no UPDATE
    with qa_app.db.session() as s:
        assert s.scalars(select(Contact.unreachable)).all() == [False]


def test_a_failing_gap_signal_still_gives_the_answer_and_its_log(
        qa_app: App, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    add_event = gr.add_event

    def written_then_broken(s: Any, *args: Any, **kw: Any) -> int:
        add_event(s, *args, **kw)  # the event row is flushed: the savepoint must take it back
        raise RuntimeError("gaps broke")

    monkeypatch.setattr(gr, "add_event", written_then_broken)
    caplog.set_level(logging.ERROR, logger="bot.features.qa")
    refused = say(qa_app, "推荐一家昆明的餐厅")
    assert "没有涉及" in refused.replies[0].text and refused.replies[0].buttons
    assert any("knowledge-gap signal" in r.getMessage() for r in caplog.records)

    def broken(*_a: Any, **_kw: Any) -> Any:
        raise RuntimeError("gaps broke")

    monkeypatch.setattr(gr, "last_answer", broken)
    answered = say(qa_app, "牵头单位应具备哪些条件？", at=NOW + timedelta(seconds=5))
    assert "【四、（一）" in answered.replies[0].text
    follow = say(qa_app, "那成员单位呢？", at=NOW + timedelta(seconds=10))
    assert "【四、（二）" in follow.replies[0].text  # the follow-up context was kept
    with qa_app.db.session() as s:
        assert [a.question for a in s.scalars(select(QAAnswer).order_by(QAAnswer.id))] == [
            "推荐一家昆明的餐厅", "牵头单位应具备哪些条件？", "那成员单位呢？"]
        assert s.scalars(select(GapEvent)).all() == []
        assert s.get(ChatState, (CHAT, "qa")) is not None


def test_a_savepoint_before_any_write_still_nests(db: Database) -> None:
    """pysqlite begins a transaction only at the first write: a savepoint opened before must not commit
    on its own (its RELEASE would, were it the transaction)."""
    with pytest.raises(RuntimeError), db.session() as s:
        repo.chat_states(s, 1)
        with savepoint(s):
            repo.put_state(s, 1, "a", {"x": 1}, NOW)
        raise RuntimeError("the outer transaction fails")
    with db.session() as s:
        assert repo.chat_states(s, 1) == {}
        repo.put_state(s, 1, "kept", {"x": 1}, NOW)
        with pytest.raises(RuntimeError), savepoint(s):
            repo.put_state(s, 1, "undone", {"x": 2}, NOW)
            s.flush()
            raise RuntimeError("only the block fails")
        with savepoint(s):
            repo.put_state(s, 1, "also", {"x": 3}, NOW)
    with db.session() as s:
        assert repo.chat_states(s, 1) == {"kept": {"x": 1}, "also": {"x": 3}}
