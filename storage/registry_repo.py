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

from checks.deadlines import (
    CLOSED,
    CUSTOM,
    HISTORY,
    OPEN,
    REPORTED,
    Transition,
    derive_deadlines,
    history_status,
    state_of,
    stored,
    transition,
)
from storage.registry_models import Consortium, Contact, ContactSnooze, Deadline, OfficerNotice, ReminderSend

CLAIMED, SENT, RETRY, FAILED, FORBIDDEN = "claimed", "sent", "retry", "failed", "forbidden"


@dataclass(frozen=True)
class DeadlineState:
    """One item of an exported ``deadlines`` cell: a rule deadline (``rule_key``) or a custom one
    (``title``, ``basis``), its due date and status (None: open)."""

    rule_key: str | None
    title: str
    basis: str
    due_on: date
    status: str | None


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
    reported_through: int | None = None
    deadline_states: tuple[DeadlineState, ...] | None = None  # the export's deadlines column, when given


@dataclass
class ImportSummary:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    history: int = 0  # deadlines recorded as history (due before the consortium's first import)
    done: int = 0  # deadlines recorded as submitted up to reported_through (or from the file)


# -- registry -------------------------------------------------------------------------------

_FIELDS = ("lead_unit", "industry_field", "route", "recommending_unit", "approved_on", "ends_on")


def apply_records(s: Session, records: Sequence[ConsortiumRecord], now: datetime, *,
                  today: date | None = None) -> ImportSummary:
    """Create or update consortia by name (in the caller's transaction).

    ``today`` is the local day of the import. A consortium seen for the first time records it as its
    first import: its rule deadlines due before it are history (never reminded), annual reports up to
    ``reported_through`` are submitted, and statuses given in the file (an export's ``deadlines``
    column) are taken as they are. For a consortium already known, the file only closes deadlines
    (marks submitted / waived / up to ``reported_through``): it never reopens one, so importing an
    export again changes nothing.
    """
    today = today or now.date()
    summary = ImportSummary()
    names = [r.name for r in records]
    existing: dict[str, Consortium] = {}
    for chunk in _chunks(names, 500):
        for row in s.scalars(
            select(Consortium).where(Consortium.name.in_(chunk))
            .options(selectinload(Consortium.contacts), selectinload(Consortium.deadlines))
        ):
            existing[row.name] = row
    new_records: list[ConsortiumRecord] = []
    purge: list[int] = []
    for rec in records:
        found = existing.get(rec.name)
        if found is None:
            new_records.append(rec)
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
        if rec.reported_through != c.reported_through and rec.reported_through is not None:
            c.reported_through = rec.reported_through
            changed = True
        if changed:
            with s.no_autoflush:
                sync_rule_deadlines(s, c, now, purge)
        before = {d.id: d.status for d in c.deadlines}
        closed = _apply_states(c, rec.deadline_states, now, first=False)
        closed += _close_reported_through(c, now)
        summary.done += closed
        if changed or closed or {d.id: d.status for d in c.deadlines} != before:
            c.updated_at = now
            summary.updated.append(rec.name)
        else:
            summary.unchanged.append(rec.name)
    s.flush()
    _purge_schedules(s, purge)
    if new_records:
        _insert_new(s, new_records, now, today, summary)
    return summary


def _new_deadlines(rec: ConsortiumRecord, today: date) -> list[dict[str, Any]]:
    """The deadlines of a consortium imported for the first time, as rows (see :func:`apply_records`)."""
    rows: dict[str, dict[str, Any]] = {}
    customs: list[dict[str, Any]] = []
    for want in derive_deadlines(rec.approved_on, rec.ends_on):
        rows[want.rule_key] = {"kind": want.kind, "rule_key": want.rule_key, "due_on": want.due_on,
                               "clause": want.clause, "title": "", "basis": "",
                               "status": history_status(want.rule_key, want.due_on, today, rec.reported_through)}
    for st in rec.deadline_states or ():
        if st.rule_key:
            row = rows.get(st.rule_key)
            if row is not None:
                row["status"] = st.status
            elif st.status in ("submitted", "waived"):  # kept though no longer derived
                rows[st.rule_key] = {"kind": _kind_of(st.rule_key), "rule_key": st.rule_key, "due_on": st.due_on,
                                     "clause": _clause_of(st.rule_key), "title": "", "basis": "", "status": st.status}
        else:
            customs.append({"kind": CUSTOM, "rule_key": None, "due_on": st.due_on, "clause": "",
                            "title": st.title[:300], "basis": st.basis[:300], "status": st.status})
    return [*rows.values(), *customs]


def _insert_new(s: Session, records: Sequence[ConsortiumRecord], now: datetime, today: date,
                summary: ImportSummary) -> None:
    """Consortia seen for the first time: set-based inserts (a 10,000-row first import in seconds)."""
    from sqlalchemy import insert

    conn = s.connection()
    ctable: Table = Consortium.__table__  # type: ignore[assignment]
    ids: dict[str, int] = {}
    for chunk in _chunks(list(records), 1000):
        params = [{"name": r.name, "lead_unit": r.lead_unit, "industry_field": r.industry_field, "route": r.route,
                   "recommending_unit": r.recommending_unit, "approved_on": r.approved_on, "ends_on": r.ends_on,
                   "first_imported_on": today, "reported_through": r.reported_through, "created_at": now,
                   "updated_at": now} for r in chunk]
        result = conn.execute(insert(ctable).returning(ctable.c.id, ctable.c.name, sort_by_parameter_order=True),
                              params)
        ids.update({name: int(i) for i, name in result})
    contacts = [{"consortium_id": ids[r.name], "chat_id": cid, "unreachable": False}
                for r in records for cid in dict.fromkeys(r.contact_chat_ids)]
    deadlines: list[dict[str, Any]] = []
    for r in records:
        for row in _new_deadlines(r, today):
            summary.history += row["status"] == HISTORY
            summary.done += row["status"] in ("submitted", "waived")
            deadlines.append({**row, "consortium_id": ids[r.name], "status_at": now if row["status"] else None,
                              "status_by": None, "reported_by": None, "reported_at": None, "snoozed_until": None,
                              "created_by": None, "created_at": now})
        summary.created.append(r.name)
    for table, rows in ((Contact.__table__, contacts), (Deadline.__table__, deadlines)):
        for chunk in _chunks(rows, 2000):
            conn.execute(insert(table), list(chunk))  # type: ignore[arg-type]


def _close_reported_through(c: Consortium, now: datetime) -> int:
    """Annual reports up to ``reported_through`` that are open or history become submitted."""
    n = 0
    if c.reported_through is None:
        return 0
    for d in c.deadlines:
        key = d.rule_key or ""
        if key.startswith("annual:") and int(key.split(":", 1)[1]) <= c.reported_through \
                and (d.status is None or d.status == HISTORY):
            d.status, d.status_by, d.status_at = "submitted", None, now
            d.reported_by = d.reported_at = None
            n += 1
    return n


def _apply_states(c: Consortium, states: Sequence[DeadlineState] | None, now: datetime, *, first: bool) -> int:
    """Statuses from the file's deadlines column: all of them on a first import, else closures only."""
    if not states:
        return 0
    by_key = {d.rule_key: d for d in c.deadlines if d.rule_key}
    by_custom = {(d.title, d.due_on): d for d in c.deadlines if not d.rule_key}
    n = 0
    for st in states:
        dl = by_key.get(st.rule_key) if st.rule_key else by_custom.get((st.title, st.due_on))
        if dl is None:
            if st.rule_key and st.status not in ("submitted", "waived"):
                continue  # no longer a deadline of this term, and nothing to keep
            dl = Deadline(kind=CUSTOM if not st.rule_key else _kind_of(st.rule_key), rule_key=st.rule_key,
                          title=st.title[:300], basis=st.basis[:300], due_on=st.due_on,
                          clause="" if not st.rule_key else _clause_of(st.rule_key), created_at=now)
            c.deadlines.append(dl)
            if st.rule_key:
                by_key[st.rule_key] = dl
            else:
                by_custom[(st.title, st.due_on)] = dl
            if first:
                dl.status = st.status
                dl.status_at = now if st.status else None
                continue
            if st.status in ("submitted", "waived"):
                dl.status, dl.status_at = st.status, now
                n += 1
            continue
        if first:
            if dl.status != st.status:
                dl.status, dl.status_by, dl.status_at = st.status, None, (now if st.status else None)
            continue
        if st.status in ("submitted", "waived") and (dl.status is None or dl.status == HISTORY):
            dl.status, dl.status_by, dl.status_at = st.status, None, now
            dl.reported_by = dl.reported_at = None
            n += 1
    return n


def _kind_of(rule_key: str) -> str:
    return "annual" if rule_key.startswith("annual:") else "end_of_term"


def _clause_of(rule_key: str) -> str:
    return "8.3" if rule_key.startswith("annual:") else "8.2"


def sync_rule_deadlines(s: Session, c: Consortium, now: datetime, purge: list[int] | None = None) -> None:
    """Re-derive the rule-based deadlines; keep statuses; move due dates; drop ones no longer due
    (unless already marked). A moved due date forgets its sent reminders so the new schedule runs.
    A new deadline due before the consortium's first import is history; one up to
    ``reported_through`` is submitted. Ids whose ledger rows and snoozes must go are added to
    ``purge`` (deleted at once by the caller), or deleted now when it is None."""
    derived = {d.rule_key: d for d in derive_deadlines(c.approved_on, c.ends_on)}
    current = {d.rule_key: d for d in c.deadlines if d.rule_key}
    gone: list[int] = []
    for key, dl in current.items():
        want = derived.get(key)
        if want is None:
            if dl.status is None or dl.status == HISTORY:
                c.deadlines.remove(dl)
                if dl.id is not None:
                    gone.append(dl.id)
            continue
        if dl.due_on != want.due_on:
            dl.due_on = want.due_on
            if dl.id is not None:
                gone.append(dl.id)
    for key, want in derived.items():
        if key not in current:
            status = (history_status(key, want.due_on, c.first_imported_on, c.reported_through)
                      if c.first_imported_on is not None else None)
            c.deadlines.append(Deadline(kind=want.kind, rule_key=key, due_on=want.due_on, clause=want.clause,
                                        title="", basis="", status=status, status_at=now if status else None,
                                        created_at=now))
    if purge is not None:
        purge.extend(gone)
    else:
        _purge_schedules(s, gone)


def _purge_schedules(s: Session, deadline_ids: Sequence[int]) -> None:
    for chunk in _chunks(list(deadline_ids), 900):
        s.execute(delete(ReminderSend).where(ReminderSend.deadline_id.in_(chunk)))
        s.execute(delete(ContactSnooze).where(ContactSnooze.deadline_id.in_(chunk)))


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


def list_consortia(s: Session, word: str = "") -> list[tuple[int, str, str, date]]:
    """(id, name, lead unit, end of term) of every consortium, by name; with ``word``, those whose
    name, lead unit or industry field contains it (case-insensitive)."""
    q = select(Consortium.id, Consortium.name, Consortium.lead_unit, Consortium.ends_on)
    word = word.strip().replace("%", "").replace("_", "")
    if word:
        like = f"%{word.lower()}%"
        q = q.where(or_(func.lower(Consortium.name).like(like), func.lower(Consortium.lead_unit).like(like),
                        func.lower(Consortium.industry_field).like(like)))
    return [(int(i), n, lu, e) for i, n, lu, e in s.execute(q.order_by(Consortium.name))]


def open_counts(s: Session, consortium_ids: Sequence[int], today: date) -> dict[int, tuple[int, int]]:
    """consortium id → (overdue, open) deadline counts."""
    out: dict[int, tuple[int, int]] = {}
    for chunk in _chunks(list(consortium_ids), 900):
        q = (select(Deadline.consortium_id, func.sum(case((Deadline.due_on < today, 1), else_=0)), func.count())
             .where(Deadline.consortium_id.in_(chunk), Deadline.status.is_(None)).group_by(Deadline.consortium_id))
        for cid, late, n in s.execute(q):
            out[int(cid)] = (int(late or 0), int(n))
    return out


def all_consortia(s: Session) -> list[Consortium]:
    return list(s.scalars(select(Consortium).order_by(Consortium.name)
                          .options(selectinload(Consortium.contacts), selectinload(Consortium.deadlines))))


def count_consortia(s: Session) -> int:
    return int(s.scalar(select(func.count(Consortium.id))) or 0)


def add_custom_deadline(
    s: Session, consortium: Consortium, due_on: date, title: str, by: int | None, now: datetime,
    basis: str = "", status: str | None = None,
) -> Deadline:
    """An officer's own deadline: its own basis text (or none) — never a clause of the scheme."""
    dl = Deadline(consortium_id=consortium.id, kind=CUSTOM, rule_key=None, title=title[:300], due_on=due_on,
                  clause="", basis=basis[:300], status=status, status_at=now if status else None,
                  created_by=by, created_at=now)
    s.add(dl)
    s.flush()
    return dl


def get_deadline(s: Session, deadline_id: int) -> Deadline | None:
    return s.get(Deadline, deadline_id)


def set_status(s: Session, deadline_id: int, status: str | None, by: int | None, now: datetime) -> Deadline | None:
    """Set the stored status directly (tests, migrations); chat actions go through :func:`apply_action`."""
    dl = s.get(Deadline, deadline_id, with_for_update=True)
    if dl is None:
        return None
    dl.status, dl.status_by, dl.status_at = status, by, (now if status else None)
    if status is None:
        dl.reported_by = dl.reported_at = None
    return dl


@dataclass(frozen=True)
class ActionResult:
    """What :func:`apply_action` did: the transition, who reported (before), who set the status."""

    transition: Transition
    reported_by: int | None
    status_by: int | None
    consortium_id: int


def apply_action(s: Session, deadline_id: int, action: str, by: int, now: datetime) -> ActionResult | None:
    """Apply one state-machine action to a deadline under a row lock (two officers pressing at once:
    the second sees the first's result and changes nothing). None when there is no such deadline.
    Raises :class:`checks.deadlines.TransitionError` when the action does not apply."""
    dl = s.get(Deadline, deadline_id, with_for_update=True, populate_existing=True)
    if dl is None:
        return None
    reporter, status_by = dl.reported_by, dl.status_by
    tr = transition(state_of(dl.status, dl.reported_by), action)
    if tr.changed:
        if tr.after == REPORTED:
            dl.reported_by, dl.reported_at = by, now
        elif tr.after == OPEN:
            dl.status, dl.status_by, dl.status_at = None, by, now
            dl.reported_by = dl.reported_at = None
        else:
            dl.status, dl.status_by, dl.status_at = stored(tr.after), by, now
        if tr.after in CLOSED or tr.after == OPEN:
            s.execute(delete(ContactSnooze).where(ContactSnooze.deadline_id == deadline_id))
        status_by = by
    return ActionResult(tr, reporter, status_by, dl.consortium_id)


def snooze(s: Session, deadline_id: int, chat_id: int, until: datetime) -> bool:
    """One contact's snooze of one open deadline (other contacts' schedules do not move)."""
    dl = s.get(Deadline, deadline_id)
    if dl is None or dl.status is not None:
        return False
    row = s.scalar(select(ContactSnooze).where(ContactSnooze.deadline_id == deadline_id,
                                               ContactSnooze.chat_id == chat_id))
    if row is None:
        s.add(ContactSnooze(deadline_id=deadline_id, chat_id=chat_id, until=until))
    else:
        row.until = until
    return True


def snoozes(s: Session, deadline_ids: Sequence[int] | None = None) -> dict[tuple[int, int], datetime]:
    """(deadline, chat) → snoozed until, for the given deadlines (None: all)."""
    q = select(ContactSnooze.deadline_id, ContactSnooze.chat_id, ContactSnooze.until)
    out: dict[tuple[int, int], datetime] = {}
    if deadline_ids is None:
        chunks: Iterable[Any] = [None]
    else:
        chunks = _chunks(list(deadline_ids), 900)
    for chunk in chunks:
        qq = q if chunk is None else q.where(ContactSnooze.deadline_id.in_(chunk))
        for d, chat, until in s.execute(qq):
            out[(d, chat)] = until
    return out


# -- officer notices (copies of one notification to every officer) --------------------------

def record_notice(s: Session, deadline_id: int, chat_id: int, message_id: int, kind: str, now: datetime) -> None:
    s.add(OfficerNotice(deadline_id=deadline_id, chat_id=chat_id, message_id=message_id, kind=kind, created_at=now))


def take_notices(s: Session, deadline_id: int) -> list[tuple[int, int]]:
    """(chat, message) of the officers' copies about a deadline, forgotten once returned (each is
    edited once, after the action that settles it)."""
    rows = list(s.execute(select(OfficerNotice.id, OfficerNotice.chat_id, OfficerNotice.message_id)
                          .where(OfficerNotice.deadline_id == deadline_id)))
    if rows:
        s.execute(delete(OfficerNotice).where(OfficerNotice.id.in_([r[0] for r in rows])))
    return [(r[1], r[2]) for r in rows]


def contacts_of(s: Session, consortium_id: int) -> list[int]:
    return list(s.scalars(select(Contact.chat_id).where(Contact.consortium_id == consortium_id,
                                                        Contact.unreachable.is_(False)).order_by(Contact.chat_id)))


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
    basis: str
    status_by: int | None


_ROW_COLS = (Deadline.id, Deadline.consortium_id, Consortium.name, Deadline.kind, Deadline.rule_key, Deadline.title,
             Deadline.due_on, Deadline.clause, Deadline.status, Deadline.reported_by, Deadline.basis,
             Deadline.status_by)


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


def history_rows(s: Session, consortium_id: int | None = None) -> list[DeadlineRow]:
    where = [Deadline.status == HISTORY]
    if consortium_id is not None:
        where.append(Deadline.consortium_id == consortium_id)
    return _rows(s, *where)


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


_CONTACT_FLAGS = select(Contact.unreachable).where(Contact.chat_id == bindparam("chat_id"))  # each message: built once


def contact_flagged(s: Session, chat_id: int) -> bool | None:
    """None when this chat is no consortium's contact, else whether any of its contact rows is flagged
    unreachable (one query)."""
    flags = list(s.scalars(_CONTACT_FLAGS, {"chat_id": chat_id}))
    return any(flags) if flags else None


def mark_unreachable(s: Session, chat_id: int, now: datetime) -> list[str]:
    """Flag every contact row of this chat; returns the consortium names affected (newly flagged)."""
    names = list(s.scalars(select(Consortium.name).join(Contact)
                           .where(Contact.chat_id == chat_id, Contact.unreachable.is_(False))))
    s.execute(update(Contact).where(Contact.chat_id == chat_id, Contact.unreachable.is_(False))
              .values(unreachable=True, unreachable_at=now))
    return names


# -- the send ledger ------------------------------------------------------------------------

def _takeover(now: datetime, wall: datetime, lease_cutoff: datetime) -> Any:
    """A ledger row another pass may take over: a claim whose owner's lease ran out on the wall clock
    (rows from before leases: claimed more than a lease before ``now``), or a retry that is due at
    ``now``. A live owner renews its lease while its claims are queued, so it is never taken over."""
    return or_(
        and_(ReminderSend.status == CLAIMED, ReminderSend.lease_until.is_not(None), ReminderSend.lease_until < wall),
        and_(ReminderSend.status == CLAIMED, ReminderSend.lease_until.is_(None), ReminderSend.claimed_at <= lease_cutoff),
        and_(ReminderSend.status == RETRY, ReminderSend.claimed_at <= now),
    )


def ledger_keys(
    s: Session, deadline_ids: Sequence[int] | None, stages: Sequence[str], *, now: datetime, wall: datetime,
    lease_cutoff: datetime, due_by: date | None = None,
) -> dict[tuple[int, int, str], bool]:
    """(deadline, recipient, stage) → may this row be taken over now, for the ledger rows with one of
    ``stages``: for the given deadlines, or (``deadline_ids`` None) every open deadline due by ``due_by``
    (one join instead of a long IN list). Decided in SQL (see :func:`_takeover`)."""
    out: dict[tuple[int, int, str], bool] = {}
    if not stages:
        return out
    cols = (ReminderSend.deadline_id, ReminderSend.recipient, ReminderSend.stage,
            case((_takeover(now, wall, lease_cutoff), True), else_=False))
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
_MARK_OTHER = update(_LEDGER).where(_MINE).values(status=bindparam("st"), error=bindparam("err"))


def claim_new(s: Session, keys: Sequence[tuple[int, int, str]], token: str, now: datetime,
              lease_until: datetime | None = None) -> list[tuple[int, int, str, int]]:
    """Insert claims; rows another process already holds are skipped (insert … on conflict do nothing).

    ``now`` is the pass's time, ``lease_until`` the wall-clock time until which the claim is this
    process's (renewed by :func:`renew`). Returns (deadline, recipient, stage, ledger id) of the
    claims this call won.
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
                   "claimed_at": now, "lease_until": lease_until, "attempts": 0, "error": ""} for d, r, st in chunk]
        # executemany with RETURNING: SQLAlchemy batches it as "insertmanyvalues" (compiled once)
        won.extend((d, r, st, i) for d, r, st, i in conn.execute(stmt, params))
    return won


def reclaim(s: Session, key: tuple[int, int, str], token: str, now: datetime, *, wall: datetime,
            lease_cutoff: datetime, lease_until: datetime) -> int | None:
    """Take over a claim whose owner is gone (or a retry that is due); returns its id if this call won."""
    d, r, st = key
    row = s.execute(
        update(ReminderSend)
        .where(ReminderSend.deadline_id == d, ReminderSend.recipient == r, ReminderSend.stage == st,
               _takeover(now, wall, lease_cutoff))
        .values(status=CLAIMED, claim_token=token, claimed_at=now, lease_until=lease_until)
        .returning(ReminderSend.id)
    ).first()
    return int(row[0]) if row else None


def renew(s: Session, token: str, lease_until: datetime) -> int:
    """Extend the lease of every claim this process still holds (one statement)."""
    res = s.execute(update(ReminderSend).where(ReminderSend.claim_token == token, ReminderSend.status == CLAIMED)
                    .values(lease_until=lease_until))
    return int(res.rowcount)  # type: ignore[attr-defined]


def mark(s: Session, ledger_id: int, token: str, status: str, now: datetime, error: str = "") -> bool:
    """Record the result of a send for a claim this process still holds (prebuilt Core statements:
    this runs once per message)."""
    params: dict[str, Any] = {"lid": ledger_id, "tok": token, "st": status, "err": error[:1000]}
    if status == SENT:
        stmt, params["at"] = _MARK_SENT, now
    else:
        stmt = _MARK_OTHER
    res = s.connection().execute(stmt, params)
    return bool(res.rowcount)


def mark_retry(s: Session, ledger_id: int, token: str, *, retry_at: datetime, error: str, counted: bool,
               now: datetime) -> bool:
    """Release a claim to be tried again at ``retry_at`` (pass time). A counted failure (not flood
    control) adds an attempt and starts the give-up clock."""
    values: dict[str, Any] = {"status": RETRY, "claimed_at": retry_at, "error": error[:1000], "lease_until": None}
    if counted:
        values["attempts"] = ReminderSend.attempts + 1
        values["first_failed_at"] = func.coalesce(ReminderSend.first_failed_at, now)
    res = s.execute(update(ReminderSend).where(ReminderSend.id == ledger_id, ReminderSend.claim_token == token)
                    .values(**values))
    return bool(res.rowcount)  # type: ignore[attr-defined]


def failure_state(s: Session, ledger_id: int) -> tuple[int, datetime | None]:
    """(attempts failed so far, when the first failure was) of a ledger row."""
    row = s.execute(select(ReminderSend.attempts, ReminderSend.first_failed_at).where(ReminderSend.id == ledger_id)).first()
    return (int(row[0]), row[1]) if row else (0, None)


class Undelivered(NamedTuple):
    id: int
    deadline_id: int
    recipient: int
    stage: str
    error: str
    consortium: str | None
    kind: str | None
    rule_key: str | None
    title: str | None
    at: datetime


def _undelivered_query() -> Any:
    return (select(ReminderSend.id, ReminderSend.deadline_id, ReminderSend.recipient, ReminderSend.stage,
                   ReminderSend.error, Consortium.name, Deadline.kind, Deadline.rule_key, Deadline.title,
                   ReminderSend.claimed_at)
            .outerjoin(Deadline, Deadline.id == ReminderSend.deadline_id)
            .outerjoin(Consortium, Consortium.id == Deadline.consortium_id)
            .where(ReminderSend.status == FAILED))


def take_unreported_failures(s: Session, now: datetime) -> list[Undelivered]:
    """Given-up messages not yet told to the officers, marked told in one statement (two passes at
    once: each row goes to exactly one of them)."""
    ids = [int(r[0]) for r in s.execute(
        update(ReminderSend).where(ReminderSend.status == FAILED, ReminderSend.reported_at.is_(None))
        .values(reported_at=now).returning(ReminderSend.id))]
    rows: list[Undelivered] = []
    for chunk in _chunks(sorted(ids), 900):
        rows.extend(Undelivered._make(r) for r in s.execute(
            _undelivered_query().where(ReminderSend.id.in_(chunk)).order_by(ReminderSend.id)))
    return rows


def undelivered(s: Session, limit: int = 50) -> list[Undelivered]:
    """Given-up messages, newest first (/undelivered)."""
    return [Undelivered._make(r) for r in s.execute(_undelivered_query().order_by(ReminderSend.id.desc()).limit(limit))]


def take_send_slot(s: Session, key: str, now: float, gap: float) -> float:
    """The start time of this process's next send under the pace shared by every process of one bot
    token: one atomic statement, so replicas interleave at ``1 / gap`` messages a second in total."""
    from storage.registry_models import SendPace

    table: Table = SendPace.__table__  # type: ignore[assignment]
    stmt = (update(table).where(table.c.key == key)
            .values(next_at=case((table.c.next_at > now, table.c.next_at), else_=now) + gap)
            .returning(table.c.next_at))
    row = s.execute(stmt).first()
    if row is None:
        dialect = s.get_bind().dialect.name
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
        s.execute(insert(table).values(key=key, next_at=now).on_conflict_do_nothing(index_elements=["key"]))
        row = s.execute(stmt).first()
    assert row is not None
    return float(row[0]) - gap


def ledger_rows(s: Session) -> list[ReminderSend]:
    return list(s.scalars(select(ReminderSend).order_by(ReminderSend.id)))


def _chunks(items: Sequence[Any], n: int) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]
