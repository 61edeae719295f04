"""The pure deadline and reminder-policy rules on tables of cases."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from checks import deadlines as d

SH = ZoneInfo("Asia/Shanghai")
P = d.Policy(tz=SH)


def local(y: int, m: int, day: int, h: int = 9, minute: int = 0) -> datetime:
    return datetime(y, m, day, h, minute, tzinfo=SH).astimezone(UTC)


@pytest.mark.parametrize(
    ("approved", "ends", "annual_years"),
    [
        (date(2025, 3, 1), date(2028, 6, 30), [2025, 2026, 2027]),  # term ends mid-year: no annual for 2028
        (date(2026, 12, 20), date(2029, 12, 20), [2026, 2027, 2028]),  # approved in December: 2026 counts
        (date(2024, 2, 29), date(2028, 2, 29), [2024, 2025, 2026, 2027]),  # leap days
        (date(2025, 1, 1), date(2027, 12, 31), [2025, 2026, 2027]),  # term ends on 12-31: annual that day
        (date(2026, 12, 31), date(2026, 12, 31), [2026]),  # approved and ending on the due day itself
        (date(2026, 5, 5), date(2026, 5, 5), []),
    ],
)
def test_derive_deadlines(approved: date, ends: date, annual_years: list[int]) -> None:
    got = d.derive_deadlines(approved, ends)
    annual = [x for x in got if x.kind == d.ANNUAL]
    assert [x.year for x in annual] == annual_years
    assert all(x.due_on == date(x.year or 0, 12, 31) and x.clause == "8.3" for x in annual)
    assert [x.rule_key for x in annual] == [f"annual:{y}" for y in annual_years]
    end = [x for x in got if x.kind == d.END_OF_TERM]
    assert len(end) == 1 and end[0].due_on == ends and end[0].clause == "8.2"
    assert d.clause_label("8.3") == "八、（三）" and d.clause_label("8.2") == "八、（二）"


def test_term_ending_before_approval_is_refused() -> None:
    with pytest.raises(ValueError):
        d.derive_deadlines(date(2026, 5, 1), date(2026, 4, 30))


@pytest.mark.parametrize(
    ("due", "status", "today", "expected"),
    [
        (date(2026, 12, 31), None, date(2026, 11, 1), d.UPCOMING),
        (date(2026, 12, 31), None, date(2026, 12, 1), d.DUE_SOON),  # exactly 30 days
        (date(2026, 12, 31), None, date(2026, 12, 31), d.DUE_SOON),  # the day itself is not overdue
        (date(2026, 12, 31), None, date(2027, 1, 1), d.OVERDUE),
        (date(2026, 12, 31), d.SUBMITTED, date(2027, 3, 1), d.SUBMITTED),
        (date(2026, 12, 31), d.WAIVED, date(2026, 1, 1), d.WAIVED),
        (date(2028, 2, 29), None, date(2028, 3, 1), d.OVERDUE),
    ],
)
def test_status(due: date, status: str | None, today: date, expected: str) -> None:
    assert d.deadline_status(due, status, today) == expected


DUE = date(2026, 12, 31)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (local(2026, 11, 30), None),
        (local(2026, 12, 1, 8, 59), None),  # 30 days before, before the send hour
        (local(2026, 12, 1), "before:30"),
        (local(2026, 12, 16, 20), "before:30"),  # 13 h before the next stage: still sent
        (local(2026, 12, 16, 23), None),  # before:14 falls due within the 12 h minimum gap: it supersedes
        (local(2026, 12, 17), "before:14"),
        (local(2026, 12, 29, 10), "before:3"),  # catch-up after downtime: only the latest stage
        (local(2026, 12, 24, 8, 59), None),  # before:14 a week late, before:7 a minute away: wait for it
        (local(2026, 12, 23, 23, 59), None),  # …also when the next stage is tomorrow morning
        (local(2026, 12, 23, 20, 59), "before:14"),  # a catch-up 12 h 1 min before the next stage
        (local(2026, 12, 30, 21), "before:1"),  # exactly 12 h before the next one: still sent
        (local(2026, 12, 31, 8), None),
        (local(2026, 12, 31), "before:0"),  # the due day itself
        (local(2027, 1, 1, 8), None),
        (local(2027, 1, 1, 0), None),
        (local(2026, 12, 31, 20), "before:0"),
        (local(2027, 1, 1), "overdue:d1"),
        (local(2027, 1, 7), "overdue:d7"),
        (local(2027, 1, 13, 20), "overdue:d7"),
        (local(2027, 1, 13, 22), None),
        (local(2027, 1, 10, 23), "overdue:d7"),  # daily phase over: the next stage (w1) is days away
        (local(2027, 1, 14), "overdue:w1"),
        (local(2027, 1, 20), "overdue:w1"),
        (local(2027, 1, 21), "overdue:w2"),
        (local(2027, 12, 30), "overdue:w51"),
    ],
)
def test_contact_stage(now: datetime, expected: str | None) -> None:
    got = d.contact_stage(DUE, now, P)
    assert (got.key if got else None) == expected
    if got is not None:
        assert got.at <= now and got.at.astimezone(SH).hour == 9


def test_stage_keys_are_unique_over_a_year() -> None:
    """Every distinct stage fires at a distinct time; keys never repeat for different slots."""
    seen: dict[str, datetime] = {}
    t = local(2026, 11, 1, 0)
    while t < local(2028, 1, 1):
        st = d.contact_stage(DUE, t, P)
        if st is not None:
            assert seen.setdefault(st.key, st.at) == st.at
        t += timedelta(hours=6)
    expected = {f"before:{n}" for n in (30, 14, 7, 3, 1, 0)} | {f"overdue:d{i}" for i in range(1, 8)}
    assert expected <= set(seen)
    assert all(k in expected or k.startswith("overdue:w") for k in seen)


def test_leap_year_due_date() -> None:
    due = date(2028, 2, 29)
    st = d.contact_stage(due, local(2028, 2, 28), P)
    assert st is not None and st.key == "before:1"
    st = d.contact_stage(due, local(2028, 3, 1), P)
    assert st is not None and st.key == "overdue:d1"


def test_done_reported_and_snoozed() -> None:
    now = local(2026, 12, 20)
    assert d.contact_stage(DUE, now, P, status=d.SUBMITTED) is None
    assert d.contact_stage(DUE, now, P, status=d.WAIVED) is None
    assert d.contact_stage(DUE, now, P, reported=True) is None
    until = local(2026, 12, 18, 11, 30)
    assert d.contact_stage(DUE, local(2026, 12, 18, 10), P, snoozed_until=until) is None
    st = d.contact_stage(DUE, local(2026, 12, 18, 11, 30), P, snoozed_until=until)
    assert st is not None and st.key == "snooze:20261218T0330"
    st = d.contact_stage(DUE, local(2026, 12, 24), P, snoozed_until=until)  # a later regular stage wins
    assert st is not None and st.key == "before:7"


def test_configured_policy() -> None:
    p = d.Policy(tz=SH, send_hour=14, days_before=(10, 2), overdue_daily_days=0)
    assert d.contact_stage(DUE, local(2026, 12, 21, 13), p) is None
    st = d.contact_stage(DUE, local(2026, 12, 21, 14), p)
    assert st is not None and st.key == "before:10"
    st = d.contact_stage(DUE, local(2027, 1, 3, 15), p)  # no daily phase: latest is still before:2
    assert st is not None and st.key == "before:2"
    st = d.contact_stage(DUE, local(2027, 1, 7, 14), p)
    assert st is not None and st.key == "overdue:w1"


def test_officer_alert() -> None:
    assert d.officer_alert_stage(DUE, local(2026, 12, 31, 23), P) is None
    st = d.officer_alert_stage(DUE, local(2027, 1, 1), P)
    assert st is not None and st.key == "alert:overdue"
    assert d.officer_alert_stage(DUE, local(2027, 5, 1), P, status=d.SUBMITTED) is None


@pytest.mark.parametrize(
    ("now", "key"),
    [
        (local(2026, 11, 30), "digest:2026-W49"),  # Monday 09:00
        (local(2026, 11, 30, 8, 59), "digest:2026-W48"),
        (local(2026, 12, 6, 23), "digest:2026-W49"),  # Sunday
        (local(2026, 12, 28), "digest:2026-W53"),  # 2026 has 53 ISO weeks
        (local(2027, 1, 3), "digest:2026-W53"),
        (local(2027, 1, 4), "digest:2027-W01"),
    ],
)
def test_digest_stage(now: datetime, key: str) -> None:
    st = d.digest_stage(now, P)
    assert st.key == key and st.at <= now


def test_policy_from_settings_like_object() -> None:
    class S:
        tz_name = "Asia/Shanghai"
        reminder_send_hour = 9
        reminder_days_before = (1, 30, 7)
        overdue_daily_days = 3
        digest_weekday = 4

    p = d.Policy.from_settings(S())
    assert p.days_before == (30, 7, 1) and p.digest_weekday == 4
    assert d.horizon(date(2026, 1, 1), p) == date(2026, 2, 1)


def test_no_alert_flood_for_long_overdue_deadlines() -> None:
    """A deadline that went overdue more than 30 days ago (an imported history) gets no alert of its own."""
    assert d.officer_alert_stage(DUE, local(2027, 1, 30), P) is not None
    assert d.officer_alert_stage(DUE, local(2027, 2, 1), P) is None


@pytest.mark.parametrize("step", [timedelta(minutes=1), timedelta(minutes=47), timedelta(hours=5, minutes=13)])
def test_two_reminders_of_one_deadline_are_at_least_the_minimum_gap_apart(step: timedelta) -> None:
    """Passes at any rhythm: every stage key goes out at most once (the ledger) and consecutive sends of
    one deadline are ≥ 12 h apart — a caught-up stage never precedes the next one by minutes."""
    sends: list[tuple[datetime, str]] = []
    seen: set[str] = set()
    t = local(2026, 11, 25, 0) + timedelta(minutes=7)
    end = local(2027, 1, 20) if step < timedelta(hours=1) else local(2027, 12, 1)
    if step == timedelta(minutes=1):
        t, end = local(2026, 12, 23, 21, 1), local(2027, 1, 3, 12)  # first pass: before:14 is late, superseded
    while t < end:
        st = d.contact_stage(DUE, t, P)
        if st is not None and st.key not in seen:
            seen.add(st.key)
            sends.append((t, st.key))
        t += step
    assert sends, "nothing was sent"
    gaps = [b[0] - a[0] for a, b in pairwise(sends)]
    assert all(g >= timedelta(hours=P.min_gap_hours) for g in gaps), sends
    if step == timedelta(minutes=1):  # on time: every stage at 09:00 sharp, none skipped
        assert [k for _, k in sends] == ["before:7", "before:3", "before:1", "before:0",
                                         "overdue:d1", "overdue:d2", "overdue:d3"]
        assert all(at.astimezone(SH).strftime("%H:%M") == "09:00" for at, _ in sends)


def test_a_snooze_ending_just_before_the_next_stage_is_superseded_by_it() -> None:
    until = local(2026, 12, 24, 8, 30)  # snoozed the before:14 reminder; before:7 falls due at 09:00
    assert d.contact_stage(DUE, local(2026, 12, 24, 8, 30), P, snoozed_until=until) is None
    st = d.contact_stage(DUE, local(2026, 12, 24, 9), P, snoozed_until=until)
    assert st is not None and st.key == "before:7"


def test_minimum_gap_must_stay_under_a_day() -> None:
    with pytest.raises(ValueError):
        d.Policy(tz=SH, min_gap_hours=24)
    p0 = d.Policy(tz=SH, min_gap_hours=0)  # no gap: the late stage is sent a minute before the next
    st = d.contact_stage(DUE, local(2026, 12, 24, 8, 59), p0)
    assert st is not None and st.key == "before:14"
