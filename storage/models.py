"""Typed SQLAlchemy models for all durable state.

Core tables (users, roles, invites, audit, chat state, Q&A log, feedback) live here;
the consortium registry and the reminder ledger live in :mod:`storage.registry_models`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.base import Base


class User(Base):
    """Every chat user the bot has seen."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    first_name: Mapped[str] = mapped_column(String(256), default="")
    username: Mapped[str | None] = mapped_column(String(64), nullable=True)
    language_code: Mapped[str | None] = mapped_column(String(16), nullable=True)
    chosen_lang: Mapped[str | None] = mapped_column(String(8), nullable=True)
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]


class RoleGrant(Base):
    """A role granted in chat by an admin (officer), beyond those configured by env."""

    __tablename__ = "role_grants"
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    role: Mapped[str] = mapped_column(String(16), primary_key=True)
    granted_by: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    granted_at: Mapped[datetime]


class Invite(Base):
    """A one-time, expiring invite code that grants a role when redeemed."""

    __tablename__ = "invites"
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_by: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    used_at: Mapped[datetime | None] = mapped_column(nullable=True)


class AuditEntry(Base):
    """Every officer/admin command attempt, allowed or refused."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    user_id: Mapped[int] = mapped_column(BigInteger, index=True)
    command: Mapped[str] = mapped_column(String(64))
    args: Mapped[str] = mapped_column(Text, default="")
    allowed: Mapped[bool] = mapped_column(Boolean)


class ChatState(Base):
    """Per-chat conversation state by key (dialog in progress, Q&A topic, ...), as JSON."""

    __tablename__ = "chat_state"
    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime]


class QAAnswer(Base):
    """Each answer given, so feedback and "show full clause" buttons can refer to it."""

    __tablename__ = "qa_answers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    user_id: Mapped[int] = mapped_column(BigInteger, index=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    question: Mapped[str] = mapped_column(Text)
    lang: Mapped[str] = mapped_column(String(8))
    clauses: Mapped[list[Any]]
    refused: Mapped[bool] = mapped_column(Boolean)


class Feedback(Base):
    """👍 / 👎 on an answer; one vote per user per answer (a second press changes it)."""

    __tablename__ = "feedback"
    __table_args__ = (UniqueConstraint("answer_id", "user_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    answer_id: Mapped[int] = mapped_column(ForeignKey("qa_answers.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(BigInteger)
    vote: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime]


Index("ix_chat_state_updated", ChatState.updated_at)

# Registry tables are defined in their own module and registered on the same metadata.
from storage import document_models as _document_models  # noqa: E402,F401
from storage import gaps_models as _gaps_models  # noqa: E402,F401
from storage import registry_models as _registry_models  # noqa: E402,F401
