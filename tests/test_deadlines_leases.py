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
