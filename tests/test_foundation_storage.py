"""Storage on SQLite and PostgreSQL: migrations, users, roles, invites, audit, chat state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import inspect, text

from storage import repo
from storage.db import Database, upgrade

NOW = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)


def test_migrations_create_every_table_and_are_idempotent(db: Database) -> None:
    tables = set(inspect(db.engine).get_table_names())
    assert {"users", "role_grants", "invites", "audit_log", "chat_state", "qa_answers", "feedback"} <= tables
    upgrade(db.engine)  # a second upgrade is a no-op


def test_sqlite_has_foreign_keys_and_wal(sqlite_url: str) -> None:
    database = Database.from_url(sqlite_url)
    with database.engine.connect() as conn:
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    database.dispose()


def test_users_are_recorded_with_first_and_last_seen(db: Database) -> None:
    with db.session() as s:
        repo.touch_user(s, 42, NOW, "Li", "li", "zh-hans")
    later = NOW + timedelta(days=1)  # last_seen moves once a minute at most
    with db.session() as s:
        user = repo.touch_user(s, 42, later, "Li Lei")
        assert user.first_seen == NOW and user.last_seen == later and user.first_name == "Li Lei"
        assert user.last_seen.tzinfo is not None


def test_naive_datetimes_are_refused(db: Database) -> None:
    with pytest.raises(Exception, match="naive"), db.session() as s:
        repo.touch_user(s, 43, datetime(2026, 1, 1), "x")


def test_roles_grant_and_revoke(db: Database) -> None:
    with db.session() as s:
        assert repo.grant_role(s, 7, "officer", 1, NOW)
        assert not repo.grant_role(s, 7, "officer", 1, NOW)
    with db.session() as s:
        assert repo.granted_roles(s, 7) == {"officer"}
        assert repo.revoke_role(s, 7, "officer")
        assert not repo.revoke_role(s, 7, "officer")


def test_invite_is_one_time_and_expires(db: Database) -> None:
    with db.session() as s:
        code = repo.create_invite(s, "officer", 1, NOW, timedelta(hours=1)).code
        late = repo.create_invite(s, "officer", 1, NOW, timedelta(hours=1)).code
    with db.session() as s:
        assert repo.redeem_invite(s, code, 5, NOW + timedelta(minutes=5)) == "officer"
    with db.session() as s:
        assert repo.redeem_invite(s, code, 6, NOW + timedelta(minutes=6)) is None  # used
        assert repo.redeem_invite(s, late, 6, NOW + timedelta(hours=2)) is None  # expired
        assert repo.redeem_invite(s, "nonsense", 6, NOW) is None
        assert repo.granted_roles(s, 5) == {"officer"} and repo.granted_roles(s, 6) == set()


def test_chat_state_round_trips_json(db: Database) -> None:
    with db.session() as s:
        repo.put_state(s, 9, "check", {"step": 3, "answers": {"a": [1, "二"]}}, NOW)
    with db.session() as s:
        assert repo.get_state(s, 9, "check") == {"step": 3, "answers": {"a": [1, "二"]}}
        repo.put_state(s, 9, "check", None, NOW)
    with db.session() as s:
        assert repo.get_state(s, 9, "check") is None


def test_feedback_votes_once_per_user(db: Database) -> None:
    with db.session() as s:
        aid = repo.log_answer(s, 1, 1, "问题", "zh", ["4.1"], False, NOW)
    with db.session() as s:
        assert repo.record_feedback(s, aid, 1, 1, NOW)
        assert repo.record_feedback(s, aid, 1, -1, NOW)
        assert not repo.record_feedback(s, 999999, 1, 1, NOW)
    with db.session() as s:
        rows = s.execute(text("SELECT vote FROM feedback")).scalars().all()
        assert rows == [-1]


def test_audit_log_keeps_refusals(db: Database) -> None:
    with db.session() as s:
        repo.audit(s, 3, "/due", "7", False, NOW)
    with db.session() as s:
        entry = repo.audit_entries(s)[0]
        assert (entry.user_id, entry.command, entry.allowed) == (3, "/due", False)
