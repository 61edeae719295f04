"""Consortium registry, deadlines and the reminder send ledger (owned by the deadlines feature)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.base import Base


class Consortium(Base):
    """One approved innovation consortium (创新联合体)."""

    __tablename__ = "consortia"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    lead_unit: Mapped[str] = mapped_column(String(200), default="")
    industry_field: Mapped[str] = mapped_column(String(200), default="")
    route: Mapped[str] = mapped_column(String(32))  # top_down | open_competition | bottom_up
    recommending_unit: Mapped[str] = mapped_column(String(200), default="")
    approved_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    # the local day of its first import: rule deadlines due before it are history (never reminded)
    first_imported_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    reported_through: Mapped[int | None] = mapped_column(Integer, nullable=True)  # last year whose report is done
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    contacts: Mapped[list[Contact]] = relationship(
        back_populates="consortium", cascade="all, delete-orphan", order_by="Contact.chat_id"
    )
    deadlines: Mapped[list[Deadline]] = relationship(
        back_populates="consortium", cascade="all, delete-orphan", order_by="Deadline.due_on"
    )


class Contact(Base):
    """A Telegram chat that receives a consortium's reminders; unreachable once it blocked the bot."""

    __tablename__ = "consortium_contacts"
    __table_args__ = (UniqueConstraint("consortium_id", "chat_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    consortium_id: Mapped[int] = mapped_column(ForeignKey("consortia.id", ondelete="CASCADE"))
    chat_id: Mapped[int] = mapped_column(BigInteger, index=True)
    unreachable: Mapped[bool] = mapped_column(Boolean, default=False)
    unreachable_at: Mapped[datetime | None] = mapped_column(nullable=True)

    consortium: Mapped[Consortium] = relationship(back_populates="contacts")


class Deadline(Base):
    """A reporting duty of one consortium: rule-based (``rule_key`` set) or added by an officer."""

    __tablename__ = "deadlines"
    __table_args__ = (UniqueConstraint("consortium_id", "rule_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    consortium_id: Mapped[int] = mapped_column(ForeignKey("consortia.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # annual | end_of_term | custom
    rule_key: Mapped[str | None] = mapped_column(String(32), nullable=True)  # "annual:2026", "end_of_term"
    title: Mapped[str] = mapped_column(String(300), default="")
    due_on: Mapped[date] = mapped_column(Date)
    clause: Mapped[str] = mapped_column(String(16))
    basis: Mapped[str] = mapped_column(String(300), default="")  # a custom deadline's own basis text
    status: Mapped[str | None] = mapped_column(String(16), nullable=True)  # None (open) | submitted | waived | history
    status_by: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    status_at: Mapped[datetime | None] = mapped_column(nullable=True)
    reported_by: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # contact said "submitted"
    reported_at: Mapped[datetime | None] = mapped_column(nullable=True)
    snoozed_until: Mapped[datetime | None] = mapped_column(nullable=True)
    created_by: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[datetime]

    consortium: Mapped[Consortium] = relationship(back_populates="deadlines")


class ContactSnooze(Base):
    """One contact's "remind me tomorrow" for one deadline (other contacts' schedules do not move)."""

    __tablename__ = "deadline_snoozes"
    __table_args__ = (UniqueConstraint("deadline_id", "chat_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    deadline_id: Mapped[int] = mapped_column(ForeignKey("deadlines.id", ondelete="CASCADE"), index=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    until: Mapped[datetime]


class OfficerNotice(Base):
    """A message about one deadline that went to an officer with buttons (a report to confirm, an
    overdue alert): when any officer acts, the other copies are edited to say who did what."""

    __tablename__ = "officer_notices"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    deadline_id: Mapped[int] = mapped_column(Integer, index=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))  # report | alert
    created_at: Mapped[datetime]


class SendPace(Base):
    """The shared send pace of every process using one bot token: the time (seconds, a shared clock)
    before which no further send may start. One row per token key."""

    __tablename__ = "send_pace"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    next_at: Mapped[float] = mapped_column(Float)


class ReminderSend(Base):
    """The send ledger: one row per (deadline, recipient, stage), claimed before the message goes out.

    ``deadline_id`` is 0 for messages that belong to no deadline (weekly digest, unreachable alerts).
    """

    __tablename__ = "reminder_sends"
    __table_args__ = (UniqueConstraint("deadline_id", "recipient", "stage"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    deadline_id: Mapped[int] = mapped_column(Integer)
    recipient: Mapped[int] = mapped_column(BigInteger)
    stage: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # claimed | sent | retry | failed (given up) | forbidden
    claim_token: Mapped[str] = mapped_column(String(32))
    claimed_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    sent_at: Mapped[datetime | None] = mapped_column(nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(nullable=True)  # wall clock: the owner is alive until then
    first_failed_at: Mapped[datetime | None] = mapped_column(nullable=True)  # for REMINDER_GIVE_UP_HOURS
    reported_at: Mapped[datetime | None] = mapped_column(nullable=True)  # a given-up message told to the officers
    error: Mapped[str] = mapped_column(Text, default="")


Index("ix_deadlines_open_due", Deadline.status, Deadline.due_on)
Index("ix_reminder_sends_status", ReminderSend.status, ReminderSend.claimed_at)
