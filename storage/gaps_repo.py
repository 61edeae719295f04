"""Repository of the gaps feature: signal events (bounded), topic groups, FAQ entries."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.orm import Session

from storage.gaps_models import FaqRecord, GapEvent, GapGroup
from storage.models import ChatState, QAAnswer

MAX_EVENTS = 50_000
MAX_QUESTION = 1000
OPEN, HANDLED, IGNORED, ANSWERED = "open", "handled", "ignored", "answered"
STATUSES = (OPEN, HANDLED, IGNORED, ANSWERED)
_SALT_CHAT, _SALT_KEY = 0, "gaps.salt"


def _salt(s: Session, now: datetime) -> bytes:
    """A random per-database salt (kept in chat_state of the non-chat 0), so asker hashes cannot be
    reversed by trying chat ids."""
    cached = s.info.get(_SALT_KEY)
    if cached is not None:
        return bytes(cached)
    row = s.get(ChatState, (_SALT_CHAT, _SALT_KEY))
    if row is None:
        row = ChatState(chat_id=_SALT_CHAT, key=_SALT_KEY, value={"salt": secrets.token_hex(16)}, updated_at=now)
        s.add(row)
        s.flush()
    salt = bytes.fromhex(str(row.value["salt"]))
    s.info[_SALT_KEY] = salt
    return salt


def asker_key(s: Session, chat_id: int, now: datetime) -> str:
    return hashlib.blake2b(str(chat_id).encode(), key=_salt(s, now), digest_size=8).hexdigest()


def add_event(
    s: Session, kind: str, question: str, lang: str, chat_id: int, now: datetime, *, answer_id: int | None = None,
    clauses: Sequence[str] = (), max_events: int = MAX_EVENTS,
) -> int:
    """Log one signal; the table keeps the newest ``max_events`` rows (older ids are pruned here)."""
    row = GapEvent(at=now, kind=kind, question=question.strip()[:MAX_QUESTION], lang=lang[:8],
                   asker=asker_key(s, chat_id, now), answer_id=answer_id, clauses=list(clauses)[:10])
    s.add(row)
    s.flush()
    s.execute(delete(GapEvent).where(GapEvent.id <= row.id - max_events))
    return row.id


def event_for_answer(s: Session, answer_id: int, kind: str) -> GapEvent | None:
    return s.scalar(select(GapEvent).where(GapEvent.answer_id == answer_id, GapEvent.kind == kind).limit(1))


def remove_event_for_answer(s: Session, answer_id: int, kind: str) -> int:
    res = s.execute(delete(GapEvent).where(GapEvent.answer_id == answer_id, GapEvent.kind == kind))
    return int(res.rowcount or 0)  # type: ignore[attr-defined]


def set_choice(s: Session, answer_id: int, choice: str) -> bool:
    res = s.execute(update(GapEvent).where(GapEvent.answer_id == answer_id, GapEvent.kind == "clarify")
                    .values(choice=choice[:64]))
    return bool(res.rowcount)  # type: ignore[attr-defined]


# the re-ask check after every logged answer: built once (see storage.repo)
_LAST_ANSWER = (select(QAAnswer)
                .where(QAAnswer.user_id == bindparam("user_id"), QAAnswer.chat_id == bindparam("chat_id"))
                .order_by(QAAnswer.id.desc()).limit(1))
_LAST_ANSWER_BEFORE = _LAST_ANSWER.where(QAAnswer.id < bindparam("before_id"))


def last_answer(s: Session, user_id: int, chat_id: int, before_id: int | None = None) -> QAAnswer | None:
    """The newest logged Q&A answer of this chat (before ``before_id``)."""
    if before_id is not None:
        return s.scalar(_LAST_ANSWER_BEFORE, {"user_id": user_id, "chat_id": chat_id, "before_id": before_id})
    return s.scalar(_LAST_ANSWER, {"user_id": user_id, "chat_id": chat_id})


# -- vectors and groups ------------------------------------------------------------------------

def count_unvectored(s: Session, model: str) -> int:
    q = select(func.count(GapEvent.id)).where((GapEvent.vec.is_(None)) | (GapEvent.vec_model != model))
    return int(s.scalar(q) or 0)


def unvectored(s: Session, model: str, limit: int | None = None) -> list[tuple[int, str]]:
    q = (select(GapEvent.id, GapEvent.question)
         .where((GapEvent.vec.is_(None)) | (GapEvent.vec_model != model)).order_by(GapEvent.id))
    if limit is not None:
        q = q.limit(limit)
    return [(i, t) for i, t in s.execute(q)]


def store_vectors(s: Session, rows: Iterable[tuple[int, bytes]], model: str) -> None:
    s.execute(update(GapEvent), [{"id": i, "vec": v, "vec_model": model} for i, v in rows])


def vectors(s: Session, model: str, *, unassigned_only: bool = False, group_ids: Sequence[int] | None = None,
            limit_per_group: int | None = None) -> list[tuple[int, int | None, bytes]]:
    q = select(GapEvent.id, GapEvent.group_id, GapEvent.vec).where(GapEvent.vec.is_not(None),
                                                                   GapEvent.vec_model == model)
    if unassigned_only:
        q = q.where(GapEvent.group_id.is_(None))
    if group_ids is not None:
        q = q.where(GapEvent.group_id.in_(list(group_ids)))
    rows = [(i, g, bytes(v)) for i, g, v in s.execute(q.order_by(GapEvent.id.desc()))]
    if limit_per_group is not None:
        seen: dict[int | None, int] = {}
        kept = []
        for r in rows:
            seen[r[1]] = seen.get(r[1], 0) + 1
            if seen[r[1]] <= limit_per_group:
                kept.append(r)
        rows = kept
    return rows


def assign_events(s: Session, pairs: Iterable[tuple[int, int]]) -> None:
    """(event id, group id) pairs."""
    data = [{"id": e, "group_id": g} for e, g in pairs]
    if data:
        s.execute(update(GapEvent), data)


def groups_with_centroids(s: Session, model: str) -> list[GapGroup]:
    return list(s.scalars(select(GapGroup).where(GapGroup.centroid.is_not(None), GapGroup.vec_model == model)
                          .order_by(GapGroup.id)))


def new_group(s: Session, now: datetime) -> GapGroup:
    g = GapGroup(label="", status=OPEN, created_at=now, size=0, version=0)
    s.add(g)
    s.flush()
    return g


def get_group(s: Session, group_id: int, lock: bool = False) -> GapGroup | None:
    """The topic; ``lock`` takes its row lock (PostgreSQL) for the rest of the transaction."""
    return s.get(GapGroup, group_id, with_for_update=lock or None)


def all_groups(s: Session) -> dict[int, GapGroup]:
    return {g.id: g for g in s.scalars(select(GapGroup))}


def event_rows(s: Session, since: datetime | None = None, group_id: int | None = None) -> list[tuple[Any, ...]]:
    """(id, group id, kind, question, asker, at) of grouped events."""
    q = select(GapEvent.id, GapEvent.group_id, GapEvent.kind, GapEvent.question, GapEvent.asker, GapEvent.at) \
        .where(GapEvent.group_id.is_not(None))
    if since is not None:
        q = q.where(GapEvent.at >= since)
    if group_id is not None:
        q = q.where(GapEvent.group_id == group_id)
    return [tuple(r) for r in s.execute(q)]


def count_events(s: Session, group_id: int | None = None) -> int:
    q = select(func.count(GapEvent.id))
    if group_id is not None:
        q = q.where(GapEvent.group_id == group_id)
    return int(s.scalar(q) or 0)


def remove_group_events(s: Session, group_id: int) -> int:
    res = s.execute(delete(GapEvent).where(GapEvent.group_id == group_id))
    return int(res.rowcount or 0)  # type: ignore[attr-defined]


def set_status(s: Session, group_id: int, status: str, by: int, now: datetime, *, version: int | None = None) -> bool:
    """Set a group's status (and bump its version); with ``version``, only when nobody changed it since
    that version was read (atomic: the second of two concurrent writers changes nothing)."""
    q = update(GapGroup).where(GapGroup.id == group_id)
    if version is not None:
        q = q.where(GapGroup.version == version)
    res = s.execute(q.values(status=status, status_by=by, status_at=now, version=GapGroup.version + 1))
    return bool(res.rowcount)  # type: ignore[attr-defined]


def daily_counts(s: Session, since: datetime) -> list[tuple[datetime, str]]:
    return [(at, kind) for at, kind in s.execute(select(GapEvent.at, GapEvent.kind).where(GapEvent.at >= since))]


def answers_since(s: Session, since: datetime) -> list[datetime]:
    return list(s.scalars(select(QAAnswer.at).where(QAAnswer.at >= since)))


# -- FAQ ---------------------------------------------------------------------------------------

def add_faq(s: Session, group_id: int | None, questions: Sequence[str], clause: str, answer_zh: str,
            answer_en: str, by: int, now: datetime, document: str = "scheme") -> FaqRecord:
    if group_id is not None:  # a new answer to a topic replaces its earlier one
        s.execute(update(FaqRecord).where(FaqRecord.group_id == group_id, FaqRecord.active.is_(True))
                  .values(active=False))
    row = FaqRecord(group_id=group_id, questions=list(questions), answer_zh=answer_zh, answer_en=answer_en,
                    clause=clause, document=document, created_by=by, created_at=now, active=True)
    s.add(row)
    s.flush()
    return row


def faq_records(s: Session, active_only: bool = True) -> list[FaqRecord]:
    q = select(FaqRecord).order_by(FaqRecord.id)
    if active_only:
        q = q.where(FaqRecord.active.is_(True))
    return list(s.scalars(q))


# -- helpers of the gaps service ---------------------------------------------------------------

def answer_row(s: Session, answer_id: int) -> QAAnswer | None:
    return s.get(QAAnswer, answer_id)


def questions(s: Session, event_ids: Sequence[int]) -> dict[int, str]:
    out: dict[int, str] = {}
    ids = list(event_ids)
    for i in range(0, len(ids), 900):
        out.update({e: q for e, q in s.execute(select(GapEvent.id, GapEvent.question)
                                                .where(GapEvent.id.in_(ids[i:i + 900])))})
    return out


def group_sizes(s: Session, group_ids: Sequence[int]) -> dict[int, int]:
    q = select(GapEvent.group_id, func.count(GapEvent.id)).where(GapEvent.group_id.in_(list(group_ids))) \
        .group_by(GapEvent.group_id)
    return {int(g): int(n) for g, n in s.execute(q) if g is not None}


def groups_by_id(s: Session, group_ids: Sequence[int]) -> list[GapGroup]:
    return list(s.scalars(select(GapGroup).where(GapGroup.id.in_(list(group_ids)))))


def groups_with_events_before(s: Session, before: datetime) -> set[int]:
    q = select(GapEvent.group_id).where(GapEvent.at < before, GapEvent.group_id.is_not(None)).distinct()
    return {int(g) for g in s.scalars(q) if g is not None}
