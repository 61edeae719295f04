"""Repository of the consortium registry, its deadlines and the reminder send ledger.

The sweep helpers (:func:`open_deadlines_due_by`, :func:`ledger_keys`, :func:`claim_new`,
:func:`reclaim`) are set-based: a few statements whatever the size of the registry.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, NamedTuple

from sqlalchemy import Table, and_, bindparam, case, delete, func, or_, select, update
from sqlalchemy.orm import Session, selectinload

from checks.deadlines import CUSTOM, derive_deadlines
from storage.registry_models import Consortium, Contact, Deadline, ReminderSend

CLAIMED, SENT, RETRY, FAILED, FORBIDDEN = "claimed", "sent", "retry", "failed", "forbidden"


@dataclass(frozen=True)
class ConsortiumRecord:
    """One validated row of a registry file."""

    name: str
    lead_unit: str
    industry_field: str
    route: str
    recommending_unit: str
    approved_on: date
    ends_on: date
    contact_chat_ids: tuple[int, ...] = ()


@dataclass
class ImportSummary:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


# -- registry -------------------------------------------------------------------------------

_FIELDS = ("lead_unit", "industry_field", "route", "recommending_unit", "approved_on", "ends_on")


def apply_records(s: Session, records: Sequence[ConsortiumRecord], now: datetime) -> ImportSummary:
    """Create or update consortia by name (in the caller's transaction)."""
    summary = ImportSummary()
    names = [r.name for r in records]
    existing: dict[str, Consortium] = {}
    for chunk in _chunks(names, 500):
        for row in s.scalars(
            select(Consortium).where(Consortium.name.in_(chunk))
            .options(selectinload(Consortium.contacts), selectinload(Consortium.deadlines))
        ):
            existing[row.name] = row
    for rec in records:
        found = existing.get(rec.name)
        if found is None:
            c = Consortium(name=rec.name, created_at=now, updated_at=now,
                           **{f: getattr(rec, f) for f in _FIELDS})
            c.contacts = [Contact(chat_id=cid, unreachable=False) for cid in dict.fromkeys(rec.contact_chat_ids)]
            c.deadlines = []
            s.add(c)
            sync_rule_deadlines(s, c, now)
            summary.created.append(rec.name)
            continue
        c = found
        changed = False
        for f in _FIELDS:
            if getattr(c, f) != getattr(rec, f):
                setattr(c, f, getattr(rec, f))
                changed = True
        wanted = list(dict.fromkeys(rec.contact_chat_ids))
        have = {ct.chat_id: ct for ct in c.contacts}
        if set(wanted) != set(have):
            c.contacts = [have.get(cid) or Contact(chat_id=cid, unreachable=False) for cid in wanted]
            changed = True
        if changed:
            c.updated_at = now
            sync_rule_deadlines(s, c, now)
            summary.updated.append(rec.name)
        else:
            summary.unchanged.append(rec.name)
    s.flush()
    return summary


def sync_rule_deadlines(s: Session, c: Consortium, now: datetime) -> None:
    """Re-derive the rule-based deadlines; keep statuses; move due dates; drop ones no longer due
    (unless already marked). A moved due date forgets its sent reminders so the new schedule runs."""
    derived = {d.rule_key: d for d in derive_deadlines(c.approved_on, c.ends_on)}
    current = {d.rule_key: d for d in c.deadlines if d.rule_key}
    for key, dl in current.items():
        want = derived.get(key)
        if want is None:
            if dl.status is None:
                c.deadlines.remove(dl)
                if dl.id is not None:
                    s.execute(delete(ReminderSend).where(ReminderSend.deadline_id == dl.id))
            continue
        if dl.due_on != want.due_on:
            dl.due_on = want.due_on
            dl.snoozed_until = None
            if dl.id is not None:
                s.execute(delete(ReminderSend).where(ReminderSend.deadline_id == dl.id))
    for key, want in derived.items():
        if key not in current:
            c.deadlines.append(Deadline(kind=want.kind, rule_key=key, due_on=want.due_on, clause=want.clause,
                                        title="", created_at=now))


def get_consortium(s: Session, name: str) -> Consortium | None:
    return s.scalar(select(Consortium).where(Consortium.name == name.strip()))


def find_consortia(s: Session, text: str, limit: int = 10) -> list[Consortium]:
    """Exact name first; else names containing the text (case-insensitive)."""
    text = text.strip()
    exact = get_consortium(s, text)
    if exact is not None:
        return [exact]
    like = f"%{text.replace('%', '').replace('_', '')}%"
    return list(s.scalars(select(Consortium).where(func.lower(Consortium.name).like(like.lower()))
                          .order_by(Consortium.name).limit(limit)))


def all_consortia(s: Session) -> list[Consortium]:
    return list(s.scalars(select(Consortium).order_by(Consortium.name)
                          .options(selectinload(Consortium.contacts), selectinload(Consortium.deadlines))))


def count_consortia(s: Session) -> int:
    return int(s.scalar(select(func.count(Consortium.id))) or 0)


def add_custom_deadline(
    s: Session, consortium: Consortium, due_on: date, title: str, by: int | None, now: datetime,
    clause: str = "8.3",
) -> Deadline:
    dl = Deadline(consortium_id=consortium.id, kind=CUSTOM, rule_key=None, title=title[:300], due_on=due_on,
                  clause=clause, created_by=by, created_at=now)
    s.add(dl)
    s.flush()
    return dl


def get_deadline(s: Session, deadline_id: int) -> Deadline | None:
    return s.get(Deadline, deadline_id)


def set_status(s: Session, deadline_id: int, status: str | None, by: int | None, now: datetime) -> Deadline | None:
    dl = s.get(Deadline, deadline_id, with_for_update=True)
    if dl is None:
        return None
    dl.status, dl.status_by, dl.status_at = status, by, (now if status else None)
    if status is None:
        dl.reported_by = dl.reported_at = None
    return dl


def report_submitted(s: Session, deadline_id: int, by: int, now: datetime) -> Deadline | None:
    dl = s.get(Deadline, deadline_id, with_for_update=True)
    if dl is None:
        return None
    if dl.status is None:
        dl.reported_by, dl.reported_at = by, now
    return dl


def reject_report(s: Session, deadline_id: int) -> Deadline | None:
    dl = s.get(Deadline, deadline_id, with_for_update=True)
    if dl is not None:
        dl.reported_by = dl.reported_at = None
    return dl


def snooze(s: Session, deadline_id: int, until: datetime) -> Deadline | None:
    dl = s.get(Deadline, deadline_id, with_for_update=True)
    if dl is not None and dl.status is None:
        dl.snoozed_until = until
    return dl


class DeadlineRow(NamedTuple):  # a NamedTuple: tens of thousands are built per sweep
    id: int
    consortium_id: int
    consortium: str
    kind: str
    rule_key: str | None
    title: str
    due_on: date
    clause: str
    status: str | None
    reported_by: int | None
    snoozed_until: datetime | None


_ROW_COLS = (Deadline.id, Deadline.consortium_id, Consortium.name, Deadline.kind, Deadline.rule_key, Deadline.title,
             Deadline.due_on, Deadline.clause, Deadline.status, Deadline.reported_by, Deadline.snoozed_until)


def _rows(s: Session, *where: Any, order: Any = None, limit: int | None = None) -> list[DeadlineRow]:
    q = select(*_ROW_COLS).join(Consortium, Consortium.id == Deadline.consortium_id).where(*where)
    q = q.order_by(*(order if order is not None else (Deadline.due_on, Consortium.name, Deadline.id)))
    if limit:
        q = q.limit(limit)
    return [DeadlineRow._make(row) for row in s.connection().execute(q)]  # Core: no ORM row processing


def open_deadlines_due_by(s: Session, last_day: date) -> list[DeadlineRow]:
    """Deadlines not submitted or waived that are due on or before ``last_day`` (the sweep's one read)."""
    return _rows(s, Deadline.status.is_(None), Deadline.due_on <= last_day)


def due_between(s: Session, first: date, last: date) -> list[DeadlineRow]:
    return _rows(s, Deadline.status.is_(None), Deadline.due_on >= first, Deadline.due_on <= last)


def overdue(s: Session, today: date) -> list[DeadlineRow]:
    return _rows(s, Deadline.status.is_(None), Deadline.due_on < today)


def reported_pending(s: Session) -> list[DeadlineRow]:
    return _rows(s, Deadline.status.is_(None), Deadline.reported_by.is_not(None))


def deadlines_of(s: Session, consortium_ids: Iterable[int]) -> list[DeadlineRow]:
    ids = list(consortium_ids)
    return _rows(s, Deadline.consortium_id.in_(ids)) if ids else []


def deadline_row(s: Session, deadline_id: int) -> DeadlineRow | None:
    rows = _rows(s, Deadline.id == deadline_id)
    return rows[0] if rows else None


def all_deadline_rows(s: Session) -> list[DeadlineRow]:
    return _rows(s)


# -- contacts -------------------------------------------------------------------------------

def reachable_contacts(s: Session, consortium_ids: Iterable[int]) -> dict[int, list[int]]:
    """consortium id → chat ids of its reachable contacts (one query)."""
    ids = list(consortium_ids)
    out: dict[int, list[int]] = {}
    if not ids:
        return out
    q = select(Contact.consortium_id, Contact.chat_id).where(Contact.unreachable.is_(False))
    # large sets: fetch all reachable contacts rather than a huge IN list
    if len(ids) <= 1000:
        q = q.where(Contact.consortium_id.in_(ids))
    wanted = set(ids)
    for cid, chat in s.execute(q.order_by(Contact.chat_id)):
        if cid in wanted:
            out.setdefault(cid, []).append(chat)
    return out


def consortia_of_contact(s: Session, chat_id: int) -> list[Consortium]:
    return list(s.scalars(select(Consortium).join(Contact).where(Contact.chat_id == chat_id)
                          .order_by(Consortium.name)))


def mark_reachable(s: Session, chat_id: int) -> int:
    """A flagged contact wrote to the bot, so it has unblocked it: reminders go to it again."""
    res = s.execute(update(Contact).where(Contact.chat_id == chat_id, Contact.unreachable.is_(True))
                    .values(unreachable=False, unreachable_at=None))
    return int(res.rowcount)  # type: ignore[attr-defined]


def is_contact(s: Session, chat_id: int) -> bool:
    return s.scalar(select(Contact.id).where(Contact.chat_id == chat_id).limit(1)) is not None


def mark_unreachable(s: Session, chat_id: int, now: datetime) -> list[str]:
    """Flag every contact row of this chat; returns the consortium names affected (newly flagged)."""
    names = list(s.scalars(select(Consortium.name).join(Contact)
                           .where(Contact.chat_id == chat_id, Contact.unreachable.is_(False))))
    s.execute(update(Contact).where(Contact.chat_id == chat_id, Contact.unreachable.is_(False))
              .values(unreachable=True, unreachable_at=now))
    return names


# -- the send ledger ------------------------------------------------------------------------

def ledger_keys(
    s: Session, deadline_ids: Sequence[int] | None, stages: Sequence[str], *, now: datetime,
    lease_cutoff: datetime, max_attempts: int, due_by: date | None = None,
) -> dict[tuple[int, int, str], bool]:
    """(deadline, recipient, stage) → may this row be taken over now, for the ledger rows with one of
    ``stages``: for the given deadlines, or (``deadline_ids`` None) every open deadline due by ``due_by``
    (one join instead of a long IN list). Take-over: a claim whose lease expired, or a retry that is
    due, with attempts left — decided in SQL so no timestamps are converted in Python."""
    out: dict[tuple[int, int, str], bool] = {}
    if not stages:
        return out
    takeover = and_(
        ReminderSend.attempts < max_attempts,
        or_(and_(ReminderSend.status == CLAIMED, ReminderSend.claimed_at <= lease_cutoff),
            and_(ReminderSend.status == RETRY, ReminderSend.claimed_at <= now)),
    )
    cols = (ReminderSend.deadline_id, ReminderSend.recipient, ReminderSend.stage,
            case((takeover, True), else_=False))
    stage_list = list(stages)
    if deadline_ids is None:
        q = (select(*cols).join(Deadline, Deadline.id == ReminderSend.deadline_id)
             .where(Deadline.status.is_(None), ReminderSend.stage.in_(stage_list)))
        if due_by is not None:
            q = q.where(Deadline.due_on <= due_by)
        queries = [q]
    else:
        queries = [select(*cols).where(ReminderSend.deadline_id.in_(chunk), ReminderSend.stage.in_(stage_list))
                   for chunk in _chunks(deadline_ids, 900)]
    conn = s.connection()
    for q in queries:
        for d, r, st, may in conn.execute(q):
            out[(d, r, st)] = bool(may)
    return out


_LEDGER: Table = ReminderSend.__table__  # type: ignore[assignment]
_MINE = (_LEDGER.c.id == bindparam("lid")) & (_LEDGER.c.claim_token == bindparam("tok"))
_MARK_SENT = update(_LEDGER).where(_MINE).values(status=bindparam("st"), error=bindparam("err"), sent_at=bindparam("at"))
_MARK_RETRY = update(_LEDGER).where(_MINE).values(status=bindparam("st"), error=bindparam("err"),
                                                  claimed_at=bindparam("at"))
_MARK_OTHER = update(_LEDGER).where(_MINE).values(status=bindparam("st"), error=bindparam("err"))


def claim_new(s: Session, keys: Sequence[tuple[int, int, str]], token: str, now: datetime) -> list[tuple[int, int, str, int]]:
    """Insert claims; rows another process already holds are skipped (insert … on conflict do nothing).

    Returns (deadline, recipient, stage, ledger id) of the claims this call won.
    """
    if not keys:
        return []
    dialect = s.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    else:  # pragma: no cover
        raise RuntimeError(f"unsupported database {dialect}")
    won: list[tuple[int, int, str, int]] = []
    stmt = insert(_LEDGER).on_conflict_do_nothing(index_elements=["deadline_id", "recipient", "stage"]).returning(
        _LEDGER.c.deadline_id, _LEDGER.c.recipient, _LEDGER.c.stage, _LEDGER.c.id)
    conn = s.connection()
    for chunk in _chunks(list(keys), 2000):
        params = [{"deadline_id": d, "recipient": r, "stage": st, "status": CLAIMED, "claim_token": token,
                   "claimed_at": now, "attempts": 1, "error": ""} for d, r, st in chunk]
        # executemany with RETURNING: SQLAlchemy batches it as "insertmanyvalues" (compiled once)
        won.extend((d, r, st, i) for d, r, st, i in conn.execute(stmt, params))
    return won


def reclaim(s: Session, key: tuple[int, int, str], token: str, now: datetime, lease_cutoff: datetime,
            max_attempts: int) -> int | None:
    """Take over a claim whose lease expired (or a retry that is due); returns its id if this call won."""
    d, r, st = key
    stale = and_(ReminderSend.status.in_((CLAIMED, RETRY)), ReminderSend.claimed_at <= lease_cutoff)
    due_retry = and_(ReminderSend.status == RETRY, ReminderSend.claimed_at <= now)
    row = s.execute(
        update(ReminderSend)
        .where(ReminderSend.deadline_id == d, ReminderSend.recipient == r, ReminderSend.stage == st,
               ReminderSend.attempts < max_attempts, or_(stale, due_retry))
        .values(status=CLAIMED, claim_token=token, claimed_at=now, attempts=ReminderSend.attempts + 1)
        .returning(ReminderSend.id)
    ).first()
    return int(row[0]) if row else None


def mark(s: Session, ledger_id: int, token: str, status: str, now: datetime, error: str = "",
         retry_at: datetime | None = None) -> bool:
    """Record the result of a send for a claim this process still holds (prebuilt Core statements:
    this runs once per message)."""
    params: dict[str, Any] = {"lid": ledger_id, "tok": token, "st": status, "err": error[:1000]}
    if status == SENT:
        stmt, params["at"] = _MARK_SENT, now
    elif status == RETRY and retry_at is not None:
        stmt, params["at"] = _MARK_RETRY, retry_at  # a retry row becomes claimable again at this time
    else:
        stmt = _MARK_OTHER
    res = s.connection().execute(stmt, params)
    return bool(res.rowcount)


def ledger_rows(s: Session) -> list[ReminderSend]:
    return list(s.scalars(select(ReminderSend).order_by(ReminderSend.id)))


def _chunks(items: Sequence[Any], n: int) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]
