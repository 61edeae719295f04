"""Reporting deadlines of the scheme (八、（二）, 八、（三）) and the reminder policy — pure functions.

Nothing here reads the clock: ``today`` / ``now`` are arguments. Times are aware datetimes;
``tz`` is the zone in which reminders go out at ``send_hour`` (Asia/Shanghai by default).

Stage keys are deterministic strings so that a send ledger unique per (deadline, recipient, stage)
deduplicates them across runs and replicas:

- contacts, before the due date: ``before:30`` … ``before:0`` (the due day itself);
- contacts, overdue: ``overdue:d1`` … ``overdue:d7`` daily, then ``overdue:w1``, ``overdue:w2`` … weekly;
- contacts after a snooze: ``snooze:<UTC minute of the snooze end>``;
- officers, once per overdue deadline: ``alert:overdue``;
- officers, weekly digest: ``digest:2026-W48`` (ISO week).

After downtime only the latest stage whose time has come is returned — the caller sends it once,
the stages slept through are not sent in a burst.

Minimum gap (``Policy.min_gap_hours``, 12 h by default): a contact stage is *not* returned while the
next regular stage of the same deadline falls due within ``min_gap`` of ``now`` — that next stage
goes out on time instead. A late (caught-up) stage therefore never precedes the next one by a few
minutes (e.g. a pass at 08:59 catching up ``before:14`` a week late, followed at 09:00 by
``before:7``: both would read "还剩 7 天"); only ``before:7`` is sent, at 09:00. The same applies to
a snooze that ends shortly before the next regular stage. Consequence (no ledger needed, the rule is
stateless): two reminders of one deadline to one contact are always at least ``min_gap`` apart, and
an on-time send (at most ``24 h - min_gap`` late for daily stages) is never suppressed. ``min_gap``
must stay below one day, the shortest distance between two stages.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any, NamedTuple, Protocol
from zoneinfo import ZoneInfo

ANNUAL, END_OF_TERM, CUSTOM = "annual", "end_of_term", "custom"
KINDS = (ANNUAL, END_OF_TERM, CUSTOM)
ROUTES = ("top_down", "open_competition", "bottom_up")
SUBMITTED, WAIVED, HISTORY = "submitted", "waived", "history"
UPCOMING, DUE_SOON, OVERDUE = "upcoming", "due_soon", "overdue"
OPEN, REPORTED = "open", "reported"
STATES = (OPEN, REPORTED, SUBMITTED, WAIVED, HISTORY)
CLOSED = (SUBMITTED, WAIVED, HISTORY)  # stored statuses: nothing is reminded

CLAUSE_ANNUAL = "8.3"  # 每年12月31日前报送本年度总结和下一年度工作计划
CLAUSE_END_OF_TERM = "8.2"  # 存续期（一般为3—5年）届满：解散或签署补充协议后继续运行
CLAUSE_LABELS = {"8": "八、绩效和监督管理", "8.2": "八、（二）", "8.3": "八、（三）"}

DEFAULT_DAYS_BEFORE = (30, 14, 7, 3, 1, 0)
DUE_SOON_DAYS = 30
ALERT_WINDOW_DAYS = 30  # officers get an alert for deadlines that went overdue within this window


def clause_label(clause: str) -> str:
    return CLAUSE_LABELS.get(clause, clause)


@dataclass(frozen=True)
class DerivedDeadline:
    kind: str
    rule_key: str  # unique within the consortium: "annual:2026", "end_of_term"
    due_on: date
    clause: str
    year: int | None = None


def derive_deadlines(approved_on: date, ends_on: date) -> list[DerivedDeadline]:
    """The rule-based deadlines of a consortium approved on ``approved_on`` whose term ends ``ends_on``.

    - one annual report (八、（三）) due 12-31 of every calendar year of the term whose 31 December
      falls within the term — the year of approval included, even when approved in December;
      a term ending before 31 December has no annual report for its last (partial) year: the
      end-of-term deadline covers it;
    - the end of term (八、（二）) on ``ends_on``.
    """
    if ends_on < approved_on:
        raise ValueError("the term ends before the approval date")
    out: list[DerivedDeadline] = []
    for year in range(approved_on.year, ends_on.year + 1):
        due = date(year, 12, 31)
        if due <= ends_on:
            out.append(DerivedDeadline(ANNUAL, f"annual:{year}", due, CLAUSE_ANNUAL, year))
    out.append(DerivedDeadline(END_OF_TERM, "end_of_term", ends_on, CLAUSE_END_OF_TERM))
    return out


def deadline_status(due_on: date, status: str | None, today: date, soon_days: int = DUE_SOON_DAYS) -> str:
    """submitted / waived / history (as stored), else overdue (after the due day), due_soon (≤ soon_days), upcoming."""
    if status in CLOSED:
        return status
    if today > due_on:
        return OVERDUE
    if (due_on - today).days <= soon_days:
        return DUE_SOON
    return UPCOMING


def history_status(rule_key: str | None, due_on: date, first_import: date, reported_through: int | None) -> str | None:
    """The status a deadline gets when it is first recorded: a deadline due before the consortium's first
    import (``first_import``, a local day) is history (kept, never reminded), an annual report of a year
    up to ``reported_through`` is submitted, anything else is open (None)."""
    if (reported_through is not None and rule_key and rule_key.startswith("annual:")
            and int(rule_key.split(":", 1)[1]) <= reported_through):
        return SUBMITTED
    if due_on < first_import:
        return HISTORY
    return None


# -- the status state machine ------------------------------------------------------------------
#
#   open ──report (contact)──▶ reported ──confirm──▶ submitted
#     ▲                          │  └──return──▶ open
#     └──────reopen── history    └──waive──▶ waived
#   open / reported / history ──confirm──▶ submitted;  ──waive──▶ waived
#
# Every action is idempotent: doing again what is already done changes nothing (``changed`` False).

REPORT, CONFIRM, RETURN, WAIVE, REOPEN = "report", "confirm", "return", "waive", "reopen"
ACTIONS = (REPORT, CONFIRM, RETURN, WAIVE, REOPEN)
OFFICER_ACTIONS = (CONFIRM, RETURN, WAIVE, REOPEN)

_TRANSITIONS: dict[tuple[str, str], str] = {
    (OPEN, REPORT): REPORTED,
    (OPEN, CONFIRM): SUBMITTED, (REPORTED, CONFIRM): SUBMITTED, (HISTORY, CONFIRM): SUBMITTED,
    (REPORTED, RETURN): OPEN,
    (OPEN, WAIVE): WAIVED, (REPORTED, WAIVE): WAIVED, (HISTORY, WAIVE): WAIVED,
    (HISTORY, REOPEN): OPEN,
}
_IDEMPOTENT: dict[str, tuple[str, ...]] = {
    REPORT: (REPORTED,), CONFIRM: (SUBMITTED,), RETURN: (OPEN,), WAIVE: (WAIVED,), REOPEN: (),
}


class TransitionError(ValueError):
    """The action does not apply to the deadline's current state; ``reason`` names why (an i18n suffix)."""

    def __init__(self, state: str, action: str, reason: str) -> None:
        super().__init__(f"cannot {action} a deadline that is {state}")
        self.state, self.action, self.reason = state, action, reason


@dataclass(frozen=True)
class Transition:
    before: str
    after: str

    @property
    def changed(self) -> bool:
        return self.before != self.after


def state_of(status: str | None, reported_by: int | None) -> str:
    """The state of a stored deadline (status column + who reported it)."""
    if status in CLOSED:
        return status
    return REPORTED if reported_by is not None else OPEN


def transition(state: str, action: str) -> Transition:
    """The one place that decides what an action does to a deadline's state.

    Returns the new state (unchanged when the action was already done: idempotent), or raises
    :class:`TransitionError` with a reason: ``not_history`` (reopen of a deadline that is not
    history), ``closed`` (the deadline is submitted, waived or history and the action does not
    apply to that), ``bad_action`` (an unknown state or action).
    """
    if state not in STATES or action not in ACTIONS:
        raise TransitionError(state, action, "bad_action")
    if state in _IDEMPOTENT[action]:
        return Transition(state, state)
    after = _TRANSITIONS.get((state, action))
    if after is not None:
        return Transition(state, after)
    if action == REOPEN:
        raise TransitionError(state, action, "not_history")
    raise TransitionError(state, action, "closed")


def stored(state: str) -> str | None:
    """The status column's value for a state (open and reported are both None there)."""
    return state if state in CLOSED else None


def days_left(due_on: date, today: date) -> int:
    """Days until the due date (0 on the day itself, negative when overdue)."""
    return (due_on - today).days


@dataclass(frozen=True)
class Policy:
    tz: ZoneInfo
    send_hour: int = 9
    days_before: tuple[int, ...] = DEFAULT_DAYS_BEFORE
    overdue_daily_days: int = 7
    digest_weekday: int = 0  # Monday
    min_gap_hours: float = 12.0  # see the module docstring
    send_window_hours: float = 6.0  # reminders go out from the send hour until this many hours later

    def __post_init__(self) -> None:
        if not 0 <= self.min_gap_hours < 24:
            raise ValueError("min_gap_hours must be at least 0 and less than 24 (stages are a day apart)")

    @classmethod
    def from_settings(cls, settings: Any) -> Policy:
        """Build from any object with the Settings attribute names (duck-typed: no import of bot)."""
        return cls(
            tz=ZoneInfo(settings.tz_name), send_hour=settings.reminder_send_hour,
            days_before=tuple(sorted(set(settings.reminder_days_before), reverse=True)),
            overdue_daily_days=settings.overdue_daily_days, digest_weekday=settings.digest_weekday,
            send_window_hours=float(getattr(settings, "reminder_send_window_hours", 6.0)),
        )

    def at(self, day: date) -> datetime:
        """The send time on a local calendar day, as aware UTC."""
        return _send_time(day, self.send_hour, self.tz)

    def local_date(self, now: datetime) -> date:
        return now.astimezone(self.tz).date()


@lru_cache(maxsize=8192)
def _send_time(day: date, hour: int, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(hour), tz).astimezone(UTC)


@dataclass(frozen=True)
class Stage:
    key: str
    at: datetime  # when it became due (aware UTC)


def _latest_regular_stage(due_on: date, now: datetime, policy: Policy) -> Stage | None:
    """The latest contact stage whose send time is ≤ now (before-stages, then overdue daily/weekly)."""
    last_day = policy.local_date(now)
    if policy.at(last_day) > now:
        last_day -= timedelta(days=1)  # today's send hour has not come yet
    k = (last_day - due_on).days  # days past due of the latest send slot
    if k >= 1:
        d = _latest_overdue_day(k, policy)
        if d is not None:
            return Stage(_overdue_key(d, policy), policy.at(due_on + timedelta(days=d)))
        k = 0
    before = [n for n in policy.days_before if n >= -k]
    if not before:
        return None
    n = min(before)
    return Stage(f"before:{n}", policy.at(due_on - timedelta(days=n)))


def _is_stage_day(k: int, policy: Policy) -> bool:
    """Whether ``k`` days after the due date (negative: before) is the day of a regular stage."""
    if k <= 0:
        return -k in policy.days_before
    if k <= policy.overdue_daily_days:
        return True
    return (k - policy.overdue_daily_days) % 7 == 0


def _next_stage_soon(due_on: date, now: datetime, policy: Policy) -> bool:
    """Whether a regular stage falls due after ``now`` but within ``policy.min_gap_hours``."""
    gap = timedelta(hours=policy.min_gap_hours)
    today = policy.local_date(now)
    for day in (today, today + timedelta(days=1)):  # min_gap < 1 day: only these can be that close
        at = policy.at(day)
        if now < at < now + gap and _is_stage_day((day - due_on).days, policy):
            return True
    return False


def _overdue_key(k: int, policy: Policy) -> str:
    if k <= policy.overdue_daily_days:
        return f"overdue:d{k}"
    return f"overdue:w{(k - policy.overdue_daily_days) // 7}"


def _latest_overdue_day(k: int, policy: Policy) -> int | None:
    """The latest overdue stage day ≤ k."""
    if k < 1:
        return None
    if k <= policy.overdue_daily_days:
        return k
    extra = k - policy.overdue_daily_days
    weeks = extra // 7
    if weeks == 0:
        return policy.overdue_daily_days if policy.overdue_daily_days >= 1 else None
    return policy.overdue_daily_days + 7 * weeks


def contact_stage(
    due_on: date, now: datetime, policy: Policy, *, status: str | None = None, reported: bool = False,
    snoozed_until: datetime | None = None,
) -> Stage | None:
    """The stage a consortium contact should have received by ``now`` for one deadline, or None.

    None when the deadline is submitted or waived, reported submitted by a contact (awaiting the
    officers' confirmation), snoozed, or no stage has come yet, and also while the next regular
    stage falls due within ``policy.min_gap_hours`` (it supersedes a late one). After a snooze has
    ended, the snooze stage wins unless a regular stage came later.
    """
    if status in CLOSED or reported:
        return None
    if snoozed_until is not None and now < snoozed_until:
        return None
    if _next_stage_soon(due_on, now, policy):
        return None
    stage = _latest_regular_stage(due_on, now, policy)
    if snoozed_until is not None:
        snooze = Stage("snooze:" + snoozed_until.astimezone(UTC).strftime("%Y%m%dT%H%M"), snoozed_until)
        if stage is None or snooze.at > stage.at:
            return snooze
    return stage


def officer_alert_stage(
    due_on: date, now: datetime, policy: Policy, *, status: str | None = None, window_days: int = ALERT_WINDOW_DAYS,
) -> Stage | None:
    """The one overdue alert to the officers, due the first day after the due date at the send hour.

    Deadlines overdue for longer than ``window_days`` (e.g. from an imported historic registry) get no
    alert of their own: they are listed in the weekly digest and by /overdue instead of flooding the
    officers with one message each.
    """
    if status in CLOSED:
        return None
    at = policy.at(due_on + timedelta(days=1))
    if at > now or (policy.local_date(now) - due_on).days > window_days:
        return None
    return Stage("alert:overdue", at)


def digest_stage(now: datetime, policy: Policy) -> Stage:
    """The latest weekly digest slot ≤ now (its ISO week names it)."""
    today = policy.local_date(now)
    back = (today.weekday() - policy.digest_weekday) % 7
    day = today - timedelta(days=back)
    if policy.at(day) > now:
        day -= timedelta(days=7)
    iso = day.isocalendar()
    return Stage(f"digest:{iso.year}-W{iso.week:02d}", policy.at(day))


def in_send_window(now: datetime, policy: Policy) -> bool:
    """Whether ``now`` is within the day's sending window: from the send hour (in ``policy.tz``) until
    ``send_window_hours`` later. Outside it nothing regular goes out: a pass after downtime at 20:29
    waits for the next send hour instead of catching up in the evening."""
    start = policy.at(policy.local_date(now))
    return start <= now < start + timedelta(hours=policy.send_window_hours)


# -- planning: what is due for whom at ``now`` ------------------------------------------------

CONTACT_JOB, ALERT_JOB, DIGEST_JOB = "contact", "alert", "digest"


class Job(NamedTuple):
    deadline_id: int  # 0 for the digest
    recipient: int
    stage: str
    kind: str  # contact | alert | digest

    @property
    def key(self) -> tuple[int, int, str]:
        return (self.deadline_id, self.recipient, self.stage)


class DeadlineLike(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def consortium_id(self) -> int: ...
    @property
    def due_on(self) -> date: ...
    @property
    def status(self) -> str | None: ...
    @property
    def reported_by(self) -> int | None: ...


def plan_jobs(
    rows: Iterable[DeadlineLike], contacts: Mapping[int, Sequence[int]], officers: Sequence[int], now: datetime,
    policy: Policy, snoozes: Mapping[tuple[int, int], datetime] | None = None,
) -> tuple[list[Job], set[int]]:
    """Every message due at ``now``: contact stages (each contact's own snooze), officers' overdue
    alerts, the weekly digest (only on ``policy.digest_weekday``, within the send window — never on
    start or when an officer joins mid-week). History, submitted and waived deadlines get nothing.

    ``contacts``: consortium id → reachable chat ids; ``snoozes``: (deadline id, chat) → until.
    Returns the jobs and the ids of the deadlines they are about. Pure: the caller reads the rows
    and filters what the send ledger already holds.
    """
    snoozes = snoozes or {}
    window = in_send_window(now, policy)
    jobs: list[Job] = []
    used: set[int] = set()
    contact_stages: dict[date, Stage | None] = {}  # every annual report is due 12-31: compute once
    alert_stages: dict[date, Stage | None] = {}
    for row in rows:
        if row.status in CLOSED or (not window and not snoozes):
            continue
        chats = contacts.get(row.consortium_id, ())
        if row.reported_by is None and chats:
            if row.due_on not in contact_stages:
                contact_stages[row.due_on] = contact_stage(row.due_on, now, policy) if window else None
            base = contact_stages[row.due_on]
            for chat in chats:
                until = snoozes.get((row.id, chat))
                st = base
                if until is not None:
                    st = contact_stage(row.due_on, now, policy, snoozed_until=until)
                    if st is not None and not window and not st.key.startswith("snooze:"):
                        st = None
                if st is not None:
                    jobs.append(Job(row.id, chat, st.key, CONTACT_JOB))
                    used.add(row.id)
        if window:
            if row.due_on not in alert_stages:
                alert_stages[row.due_on] = officer_alert_stage(row.due_on, now, policy)
            al = alert_stages[row.due_on]
            if al is not None and officers:
                jobs.extend(Job(row.id, o, al.key, ALERT_JOB) for o in officers)
                used.add(row.id)
    if window and policy.local_date(now).weekday() == policy.digest_weekday:
        digest = digest_stage(now, policy)
        jobs.extend(Job(0, o, digest.key, DIGEST_JOB) for o in officers)
    return jobs, used


def stage_label(key: str) -> tuple[str, int | None]:
    """Split a stage key into its family and number, e.g. ("before", 7), ("overdue_week", 2)."""
    family, _, rest = key.partition(":")
    if family == "before":
        return "before", int(rest)
    if family == "overdue" and rest.startswith("d"):
        return "overdue_day", int(rest[1:])
    if family == "overdue" and rest.startswith("w"):
        return "overdue_week", int(rest[1:])
    return family, None


def horizon(today: date, policy: Policy) -> date:
    """Deadlines due after this day have no stage yet: the sweep can skip them."""
    return today + timedelta(days=max(policy.days_before, default=0) + 1)


__all__ = [
    "ACTIONS",
    "ANNUAL",
    "CLAUSE_ANNUAL",
    "CLAUSE_END_OF_TERM",
    "CLOSED",
    "CONFIRM",
    "CUSTOM",
    "DUE_SOON",
    "END_OF_TERM",
    "HISTORY",
    "OFFICER_ACTIONS",
    "OPEN",
    "OVERDUE",
    "REOPEN",
    "REPORT",
    "REPORTED",
    "RETURN",
    "ROUTES",
    "STATES",
    "SUBMITTED",
    "UPCOMING",
    "WAIVE",
    "WAIVED",
    "DerivedDeadline",
    "Job",
    "Policy",
    "Stage",
    "Transition",
    "TransitionError",
    "clause_label",
    "contact_stage",
    "days_left",
    "deadline_status",
    "derive_deadlines",
    "digest_stage",
    "history_status",
    "horizon",
    "in_send_window",
    "officer_alert_stage",
    "plan_jobs",
    "stage_label",
    "state_of",
    "stored",
    "transition",
]
