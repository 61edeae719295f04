"""Knowledge-gap signals, their topic groups and the officers' FAQ answers (owned by the gaps feature).

``gap_events`` keeps what people asked that the bot could not answer well: refused questions,
clarify outcomes (and the topic then chosen), 👎 votes (with the cited clauses) and quick re-asks.
Askers are stored as a salted hash only, so no view can show a chat id; the table is bounded
(newest ``MAX_EVENTS`` rows, pruned on insert).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.base import Base


class GapEvent(Base):
    __tablename__ = "gap_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(16))  # refused | clarify | disliked | reask
    question: Mapped[str] = mapped_column(Text)
    lang: Mapped[str] = mapped_column(String(8), default="zh")
    asker: Mapped[str] = mapped_column(String(16))  # hash of the chat id, never the id itself
    answer_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    clauses: Mapped[list[Any]]  # cited clause ids (👎, re-ask) or offered topics (clarify)
    choice: Mapped[str | None] = mapped_column(String(64), nullable=True)  # clarify: the topic pressed
    group_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    vec: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # float16 embedding
    vec_model: Mapped[str | None] = mapped_column(String(160), nullable=True)


class GapGroup(Base):
    """A topic: events are assigned to it by clustering; its status is the officers'."""

    __tablename__ = "gap_groups"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    label: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | handled | ignored | answered
    status_by: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    status_at: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime]
    centroid: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # float32, unit length
    vec_model: Mapped[str | None] = mapped_column(String(160), nullable=True)
    size: Mapped[int] = mapped_column(Integer, default=0)  # members the centroid was computed from
    version: Mapped[int] = mapped_column(Integer, default=0)  # bumped by every status change (optimistic lock)


class FaqRecord(Base):
    """An officer's answer to a gap: the group's questions → a clause of a loaded document."""

    __tablename__ = "faq_entries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    group_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    questions: Mapped[list[Any]]
    answer_zh: Mapped[str] = mapped_column(Text, default="")
    answer_en: Mapped[str] = mapped_column(Text, default="")
    clause: Mapped[str] = mapped_column(String(40))
    document: Mapped[str] = mapped_column(String(64), default="scheme")
    created_by: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
    active: Mapped[bool] = mapped_column(Boolean, default=True)


Index("ix_gap_events_at", GapEvent.at)
Index("ix_gap_events_group", GapEvent.group_id)
Index("ix_gap_events_answer", GapEvent.answer_id)
