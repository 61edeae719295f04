"""Claims live as long as their sender: batches claimed right before sending, wall-clock leases renewed
while held; two passes with --now minutes apart double nothing and lose nothing."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from bot.config import Settings
from bot.core import Reply
from bot.notify import SendOutcome, SendStatus
from bot.reminders import RunSummary, plan, run_once
from storage import registry_repo as rr
from storage.db import Database
from tests.conftest import make_settings
from tests.deadlines_helpers import record, seed, sent_ledger, utc

NOW = utc(2026, 12, 24, 1)  # 09:00 in Kunming


class SlowNotifier:
    """Takes ``delay`` seconds per message (a real sleep) and keeps every delivery."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.sent: list[tuple[int, str]] = []
        self.lock = threading.Lock()

    async def send(self, chat_id: int, reply: Reply) -> SendOutcome:
        await asyncio.sleep(self.delay)
        with self.lock:
            self.sent.append((chat_id, reply.text))
        return SendOutcome(SendStatus.OK, message_id=len(self.sent))


def test_two_passes_minutes_apart_double_nothing(any_db_url: str, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, database_url=any_db_url, reminder_lease_seconds=10)
    db = Database.from_url(any_db_url)
    seed(db, *(record(f"联合体{i:03d}", date(2026, 3, 1), date(2029, 6, 30), (4000 + i, 7000 + i)) for i in range(40)))
    expected = plan(db, settings, NOW, [901])
    notifier = SlowNotifier(0.01)
    results: list[RunSummary] = []

    def replica(now: datetime) -> None:
        own = Database.from_url(any_db_url, migrate=False)
        try:
            results.append(asyncio.run(run_once(own, settings, notifier, now, officers=[901], send_rate=0)))
        finally:
            own.dispose()

    # the second pass's --now is 8 minutes later: far beyond the 10 s lease, yet the first is alive
    threads = [threading.Thread(target=replica, args=(NOW + timedelta(minutes=m),)) for m in (0, 8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    counts = Counter(notifier.sent)
    assert not [k for k, n in counts.items() if n > 1]  # 0 doubled
    assert len(counts) == expected.due  # 0 lost
    assert len(results) == 2 and sum(r.sent for r in results) == expected.due
    ledger = sent_ledger(db)
    assert len(ledger) == len(set(ledger)) == expected.due
    db.dispose()


class FakeWall:
    def __init__(self, start: datetime) -> None:
        self.t = start

    def __call__(self) -> datetime:
        return self.t


async def test_a_held_claim_is_renewed_while_its_chat_waits(tmp_path: Path) -> None:
    settings: Settings = make_settings(tmp_path, reminder_lease_seconds=10)
    db = Database.from_url(settings.effective_database_url)
    seed(db, record("甲", date(2026, 3, 1), date(2029, 6, 30), (1001, 1002)))
    wall = FakeWall(datetime(2030, 1, 1, tzinfo=UTC))
    seen: list[bool] = []

    class Flood:
        calls = 0

        async def send(self, chat_id: int, reply: Reply) -> SendOutcome:
            if chat_id == 1001:
                Flood.calls += 1
                if Flood.calls == 1:
                    return SendOutcome(SendStatus.RETRY, retry_after=40.0, error="Too Many Requests")
                # 40 s later on the wall clock: the claim is still ours (renewed), nobody may take it
                with db.session() as s:
                    keys = rr.ledger_keys(s, None, ["before:7"], now=NOW, wall=wall(), lease_cutoff=NOW)
                seen.append(any(keys.values()))
            return SendOutcome(SendStatus.OK, message_id=1)

    async def sleep(seconds: float) -> None:
        wall.t += timedelta(seconds=seconds)

    summary = await run_once(db, settings, Flood(), NOW, officers=[], send_rate=0, sleep=sleep, wall=wall)
    assert summary.sent == 2 and summary.flood_waits == 1 and summary.failed == 0
    assert seen == [False]
    with db.session() as s:
        assert all(r.attempts == 0 for r in rr.ledger_rows(s))  # a 429 is never a failed attempt
    db.dispose()


class Down:
    """A chat whose requests fail (500 / cut connection) for a while; others get through."""

    def __init__(self, bad: set[int], permanent: set[int] | None = None) -> None:
        self.bad, self.permanent = bad, permanent or set()
        self.sent: list[int] = []

    async def send(self, chat_id: int, reply: Reply) -> SendOutcome:
        if chat_id in self.permanent:
            return SendOutcome(SendStatus.ERROR, error="Bad Request: message is too long")
        if chat_id in self.bad:
            return SendOutcome(SendStatus.RETRY, error="Internal Server Error (500)")
        self.sent.append(chat_id)
        return SendOutcome(SendStatus.OK, message_id=len(self.sent))


async def test_errors_back_off_then_are_given_up_and_reported_once(tmp_path: Path) -> None:
    from bot.app import build_app
    from bot.core import Incoming

    settings = make_settings(tmp_path, officer_chat_ids=[901], reminder_give_up_hours=48)
    app = build_app(settings)
    db = app.db
    seed(db, record("甲联合体", date(2026, 3, 1), date(2029, 6, 30), (1001, 1002)),
         record("乙联合体", date(2026, 3, 1), date(2029, 6, 30), (1003,)))
    net = Down({1001}, permanent={1003})
    first = await run_once(db, settings, net, NOW, officers=[901], send_rate=0)
    assert first.retry_later == 1 and first.failed == 1 and net.sent.count(1002) == 1
    # the permanent failure is reported at once, in one grouped alert
    alerts = [c for c in net.sent if c == 901]
    assert alerts == [901] and first.given_up_reported == 1
    # 1001 keeps failing: retried with a growing backoff for 48 hours, then given up and reported once
    t, tries = NOW, 0
    while t < NOW + timedelta(hours=50):
        t += timedelta(minutes=30)
        summary = await run_once(db, settings, net, t, officers=[901], send_rate=0)
        tries += summary.retry_later
        if summary.failed:
            break
    assert summary.failed == 1 and t >= NOW + timedelta(hours=48) and 6 <= tries <= 40
    assert net.sent.count(901) == 2
    again = await run_once(db, settings, net, t + timedelta(hours=1), officers=[901], send_rate=0)
    assert again.given_up_reported == 0 and net.sent.count(901) == 2
    out = app.handle(Incoming(chat_id=901, user_id=901, text="/undelivered"), t)
    text = out.replies[0].text
    assert "1001" in text and "1003" in text and "Internal Server Error" in text and "too long" in text
    app.db.dispose()


def test_replicas_share_one_pace(tmp_path: Path) -> None:
    """Two processes on one token send at most REMINDER_SEND_RATE messages a second together."""
    import time

    settings = make_settings(tmp_path, telegram_bot_token="42:X", reminder_send_rate=20)
    db = Database.from_url(settings.effective_database_url)
    seed(db, *(record(f"联合体{i:03d}", date(2026, 3, 1), date(2029, 6, 30), (8000 + i,)) for i in range(30)))
    stamps: list[float] = []
    lock = threading.Lock()

    class Stamping:
        async def send(self, chat_id: int, reply: Reply) -> SendOutcome:
            with lock:
                stamps.append(time.monotonic())
            return SendOutcome(SendStatus.OK, message_id=1)

    def replica() -> None:
        own = Database.from_url(settings.effective_database_url, migrate=False)
        try:
            asyncio.run(run_once(own, settings, Stamping(), NOW, officers=[]))
        finally:
            own.dispose()

    threads = [threading.Thread(target=replica) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    stamps.sort()
    assert len(stamps) == 30
    busiest = max(sum(1 for x in stamps if s0 <= x < s0 + 1.0) for s0 in stamps)
    assert busiest <= 21  # 20 a second in total (one more at the window's edge)
    db.dispose()
