"""The reminder service with an injected clock: a whole simulated year, catch-up, failures, leases."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from bot.config import Settings
from bot.core import Reply
from bot.notify import Notifier, RecordingNotifier, SendOutcome, SendStatus
from bot.reminders import RunSummary, run_once
from checks.deadlines import SUBMITTED, WAIVED
from storage import registry_repo as rr
from storage.db import Database
from tests.conftest import make_settings
from tests.deadlines_helpers import FakeSleep, deadline_id, record, seed, sent_ledger, utc

OFFICERS = [900, 901]


@pytest.fixture
def rsettings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, admin_chat_ids=[900], officer_chat_ids=[901])


@pytest.fixture
def rdb(rsettings: Settings) -> Database:
    return Database.from_url(rsettings.effective_database_url)


async def tick(db: Database, settings: Settings, notifier: Notifier, now: datetime) -> RunSummary:
    return await run_once(db, settings, notifier, now, officers=OFFICERS, send_rate=0, sleep=FakeSleep())


async def test_a_simulated_year(rdb: Database, rsettings: Settings) -> None:
    seed(rdb,
         record("A联合体", date(2025, 6, 1), date(2027, 6, 30), (1001, 1002)),  # ends mid-year
         record("B联合体", date(2026, 10, 15), date(2029, 10, 15), (1003,)),
         record("C联合体", date(2026, 1, 10), date(2030, 1, 10), (1004,)))  # 1004 has blocked the bot
    with rdb.session() as s:  # past annual reports were handed in
        for name in ("A联合体", "C联合体"):
            rr.set_status(s, deadline_id(rdb, name, "annual:2025"), SUBMITTED, 901, utc(2026, 1, 5))
    a26, a_end = deadline_id(rdb, "A联合体", "annual:2026"), deadline_id(rdb, "A联合体", "end_of_term")
    b26 = deadline_id(rdb, "B联合体", "annual:2026")
    notifier = RecordingNotifier(blocked={1004})
    start, end = utc(2026, 11, 1, 0, 30), utc(2027, 11, 1, 0, 30)
    down = (utc(2027, 6, 5), utc(2027, 6, 28))  # the bot is down for three weeks
    t = start
    while t < end:
        if t == utc(2026, 12, 20, 0, 30):
            with rdb.session() as s:
                rr.set_status(s, a26, SUBMITTED, 901, t)
        if t == utc(2027, 1, 5, 0, 30):
            with rdb.session() as s:
                rr.set_status(s, b26, WAIVED, 901, t)
        if not down[0] <= t < down[1]:
            await tick(rdb, rsettings, notifier, t)
            if t.hour == 6:  # a second replica pass at the same moment changes nothing
                again = await tick(rdb, rsettings, notifier, t)
                assert again.sent == 0
        t += timedelta(hours=6)

    ledger = sent_ledger(rdb)
    assert len(ledger) == len(set(ledger)) == len(notifier.sent)  # nothing doubled
    by = Counter((dl, who) for dl, who, _ in ledger)
    stages = {(dl, who): {st for d2, w2, st in ledger if (d2, w2) == (dl, who)} for dl, who in by}

    # A's 2026 annual report: two reminders, then submitted on 12-20
    assert stages[(a26, 1001)] == stages[(a26, 1002)] == {"before:30", "before:14"}
    # B's 2026 annual: all before-stages, overdue days 1-4, waived on day 5
    assert stages[(b26, 1003)] == {f"before:{n}" for n in (30, 14, 7, 3, 1, 0)} | {f"overdue:d{i}" for i in range(1, 5)}
    # A's end of term (2027-06-30): 14 and 7 slept through, caught up with before:3 only, then
    # the day itself, daily for a week, then weekly until the end of the simulation
    weeks = ((end.date() - date(2027, 6, 30)).days - 1 - 7) // 7
    assert stages[(a_end, 1001)] == ({"before:30", "before:3", "before:1", "before:0"}
                                     | {f"overdue:d{i}" for i in range(1, 8)}
                                     | {f"overdue:w{i}" for i in range(1, weeks + 1)})
    # officers: one overdue alert each for B 2026 and A end of term; C's 2026 annual is overdue too
    alerts = {(dl, who) for dl, who, st in ledger if st == "alert:overdue"}
    c26 = deadline_id(rdb, "C联合体", "annual:2026")
    assert alerts == {(x, o) for x in (b26, a_end, c26) for o in OFFICERS}
    # weekly digests: on every Monday the bot was up in the send window (14:30), none caught up on
    # another day (not on start: the first pass on Sunday 2026-11-01 sends none)
    mondays = [start.date() + timedelta(days=i) for i in range((end - start).days) if
               (start.date() + timedelta(days=i)).weekday() == 0]
    digests = [st for _, who, st in ledger if who == 901 and st.startswith("digest:")]
    assert len(digests) == len(set(digests)) == len(mondays) - 3  # 06-07, 06-14, 06-21 slept through
    assert "digest:2026-W44" not in digests and "digest:2027-W25" not in digests and "digest:2027-W26" in digests
    # the blocked contact got nothing after its first attempt; officers were told once
    assert not [c for c, _ in notifier.sent if c == 1004]
    unreachable = [st for _, who, st in ledger if who == 901 and st.startswith("unreachable:1004")]
    assert len(unreachable) == 1
    assert stages.get((c26, 1004)) is None


async def test_reminder_content_and_buttons(rdb: Database, rsettings: Settings) -> None:
    seed(rdb, record("滇中新材料创新联合体", date(2025, 3, 1), date(2028, 6, 30), (1001,)))
    notifier = RecordingNotifier()
    await tick(rdb, rsettings, notifier, utc(2026, 12, 24, 1))  # 09:00 in Kunming, 7 days before
    texts = {chat: r for chat, r in notifier.sent}
    reply = texts[1001]
    assert "滇中新材料创新联合体" in reply.text and "2026年度总结" in reply.text
    assert "2026-12-31" in reply.text and "还剩 7 天" in reply.text and "八、（三）" in reply.text
    data = [b.data for row in reply.buttons for b in row]
    dl = deadline_id(rdb, "滇中新材料创新联合体", "annual:2026")
    assert data == [f"dl:rep:{dl}", f"dl:snz:{dl}", f"dl:ics:{dl}"]


async def test_a_late_first_pass_does_not_send_the_same_deadline_twice_a_minute_apart(
        rdb: Database, rsettings: Settings) -> None:
    """Review case: approved 2025-03-01; a first pass at 08:59 on 12-24 would catch up before:14 of the
    2026 annual report ("还剩 7 天"), and the 09:00 pass would send before:7 — the same text again.
    Now nothing goes out before the send hour at all."""
    seed(rdb, record("R1", date(2025, 3, 1), date(2028, 3, 1), (111,)), now=utc(2025, 3, 1))
    a25, a26 = deadline_id(rdb, "R1", "annual:2025"), deadline_id(rdb, "R1", "annual:2026")
    rec = RecordingNotifier()
    first = await tick(rdb, rsettings, rec, utc(2026, 12, 24, 0, 59))  # 08:59 in Kunming
    second = await tick(rdb, rsettings, rec, utc(2026, 12, 24, 1, 0))
    third = await tick(rdb, rsettings, rec, utc(2026, 12, 24, 1, 1))
    per_deadline = Counter(dl for dl, who, _ in sent_ledger(rdb) if who == 111)
    assert per_deadline == {a25: 1, a26: 1}
    assert {(dl, st) for dl, who, st in sent_ledger(rdb) if who == 111} >= {(a26, "before:7")}
    texts = [r.text for c, r in rec.sent if c == 111]
    assert sum("还剩 7 天" in x for x in texts) == 1
    assert first.sent == 0 and second.sent == 2 and third.sent == 0


class FlakyThenOk:
    """Answers RetryAfter twice, then OK; counts attempts."""

    def __init__(self) -> None:
        self.attempts: Counter[int] = Counter()
        self.sent: list[int] = []

    async def send(self, chat_id: int, reply: Reply) -> SendOutcome:
        self.attempts[chat_id] += 1
        if self.attempts[chat_id] <= 2:
            return SendOutcome(SendStatus.RETRY, retry_after=3.0, error="Flood control exceeded")
        self.sent.append(chat_id)
        return SendOutcome(SendStatus.OK, message_id=1)


class AlwaysDown:
    async def send(self, chat_id: int, reply: Reply) -> SendOutcome:
        return SendOutcome(SendStatus.RETRY, error="network is unreachable")


async def test_retry_after_and_network_errors(rdb: Database, rsettings: Settings) -> None:
    seed(rdb, record("X", date(2026, 3, 1), date(2028, 6, 30), (1001,)))
    now = utc(2026, 12, 24, 1)
    sleep = FakeSleep()
    flaky = FlakyThenOk()
    summary = await run_once(rdb, rsettings, flaky, now, officers=[], send_rate=0, sleep=sleep)
    assert summary.sent == 1 and flaky.sent == [1001] and flaky.attempts[1001] == 3
    assert sleep.calls == pytest.approx([3.0, 3.0], abs=0.05)  # waited what Telegram asked, no attempt counted

    # a network that stays down: bounded tries, left for a later pass, then sent once
    with rdb.session() as s:
        rr.add_custom_deadline(s, rr.get_consortium(s, "X"), date(2026, 12, 25), "中期材料", 901, now)  # type: ignore[arg-type]
    summary = await run_once(rdb, rsettings, AlwaysDown(), now, officers=[], send_rate=0, sleep=FakeSleep())
    assert summary.retry_later == 1 and summary.sent == 0
    rec = RecordingNotifier()
    summary = await run_once(rdb, rsettings, rec, now + timedelta(seconds=30), officers=[], send_rate=0, sleep=FakeSleep())
    assert summary.sent == 0  # not yet: the retry is due a minute later
    summary = await run_once(rdb, rsettings, rec, now + timedelta(minutes=2), officers=[], send_rate=0, sleep=FakeSleep())
    assert summary.sent == 1 and [c for c, _ in rec.sent] == [1001]


async def test_claim_of_a_dead_process_is_retaken_after_the_lease(rdb: Database, rsettings: Settings) -> None:
    seed(rdb, record("X", date(2026, 3, 1), date(2028, 6, 30), (1001,)))
    now = utc(2026, 12, 24, 1)
    dl = deadline_id(rdb, "X", "annual:2026")
    with rdb.session() as s:  # a process claimed and died before sending
        won = rr.claim_new(s, [(dl, 1001, "before:7")], "deadbeef", now)
    assert len(won) == 1
    rec = RecordingNotifier()
    lease = rsettings.reminder_lease_seconds
    summary = await run_once(rdb, rsettings, rec, now + timedelta(seconds=lease - 1), officers=[], send_rate=0)
    assert summary.sent == 0 and summary.skipped == 1 and not rec.sent
    summary = await run_once(rdb, rsettings, rec, now + timedelta(seconds=lease + 1), officers=[], send_rate=0)
    assert [c for c, _ in rec.sent].count(1001) == 1
    with rdb.session() as s:
        assert rr.mark(s, won[0][3], "deadbeef", rr.SENT, now) is False  # the dead claim lost its token


async def test_run_once_needs_an_aware_time(rdb: Database, rsettings: Settings) -> None:
    with pytest.raises(ValueError):
        await run_once(rdb, rsettings, RecordingNotifier(), datetime(2026, 1, 1), officers=[])


async def test_pacing_stays_under_the_rate(rdb: Database, rsettings: Settings) -> None:
    seed(rdb, *(record(f"P{i}", date(2026, 3, 1), date(2028, 6, 30), (2000 + i,)) for i in range(10)))
    clock = FakeClock()
    rec = ClockedNotifier(clock)
    await run_once(rdb, rsettings, rec, utc(2026, 12, 24, 1), officers=[], send_rate=25, sleep=clock.sleep,
                   clock=clock.monotonic)
    assert len(rec.times) == 10
    gaps = [b - a for a, b in zip(rec.times, rec.times[1:], strict=False)]
    assert all(g >= 1 / 25 - 1e-9 for g in gaps)  # never faster than 25 messages a second


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def monotonic(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.t += seconds


class ClockedNotifier:
    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.times: list[float] = []

    async def send(self, chat_id: int, reply: Reply) -> SendOutcome:
        self.times.append(self.clock.t)
        self.clock.t += 0.001  # the Bot API answers in a millisecond
        return SendOutcome(SendStatus.OK, message_id=len(self.times))
