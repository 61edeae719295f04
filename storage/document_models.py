"""Documents the answers come from (notices, revised schemes, FAQs added by officers) and their clauses.

The database is the source of truth, so every replica loads the same documents. The bundled scheme
(document ``scheme``) ships with the package and is not stored here.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.base import Base

DRAFT, PUBLISHED, WITHDRAWN = "draft", "published", "withdrawn"


class DocumentRow(Base):
    """One added document: a draft (previewed in chat, not yet confirmed), published, or withdrawn."""

    __tablename__ = "documents"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    # the title while published, NULL otherwise: unique, so two published documents never share a title
    live_title: Mapped[str | None] = mapped_column(String(300), unique=True, nullable=True)
    issuer: Mapped[str] = mapped_column(String(200), default="")
    issued: Mapped[date] = mapped_column(Date)
    issued_precision: Mapped[str] = mapped_column(String(8), default="day")
    valid_until: Mapped[date | None] = mapped_column(Date, nullable=True)
    valid_until_precision: Mapped[str] = mapped_column(String(8), default="day")
    validity_years: Mapped[int | None] = mapped_column(Integer, nullable=True)
    supersedes: Mapped[str | None] = mapped_column(String(64), nullable=True)
    kind: Mapped[str] = mapped_column(String(16), default="other")
    state: Mapped[str] = mapped_column(String(16), default=DRAFT)
    filename: Mapped[str] = mapped_column(String(255), default="")
    format: Mapped[str] = mapped_column(String(8), default="")
    content_hash: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    clause_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    created_by: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    published_at: Mapped[datetime | None] = mapped_column(nullable=True)
    withdrawn_at: Mapped[datetime | None] = mapped_column(nullable=True)
    withdrawn_by: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class DocumentClauseRow(Base):
    """One clause of an added document, in document order (``seq``)."""

    __tablename__ = "document_clauses"
    document_id: Mapped[str] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True)
    clause_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    parent: Mapped[str | None] = mapped_column(String(64), nullable=True)
    label: Mapped[str] = mapped_column(String(200))
    label_en: Mapped[str] = mapped_column(String(300))
    title: Mapped[str] = mapped_column(Text, default="")
    text: Mapped[str] = mapped_column(Text, default="")
    sep: Mapped[str] = mapped_column(String(8), default="\n")
    num: Mapped[str | None] = mapped_column(String(32), nullable=True)
    path: Mapped[list[Any]]


Index("ix_documents_state", DocumentRow.state)
