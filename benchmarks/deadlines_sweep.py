"""Benchmark of the reminder scheduler.

1. The sweep over 10,000 consortia (~60,000 deadlines) on SQLite and on PostgreSQL: time to decide
   what is due (``bot.reminders.plan``), cold (empty ledger) and warm (after a pass sent it all),
   in a realistic registry (most past reports submitted) and the worst case (nothing ever marked).
2. 1,000 reminders through the fake Bot API (``tests/fakebotapi.py``) with the default rate limit:
   the highest number of messages in any one-second window, and none lost or doubled.

Run:  python benchmarks/deadlines_sweep.py [--pg URL] [--skip-send]
PostgreSQL defaults to postgresql+psycopg://postgres@127.0.0.1:5432/test (a scratch database is
created and dropped); it is skipped with a note when the server does not answer.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.config import Settings  # noqa: E402
from bot.notify import RecordingNotifier, TelegramNotifier, make_bot  # noqa: E402
from bot.reminders import plan, run_once  # noqa: E402
from storage import registry_repo as rr  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.registry_models import Deadline  # noqa: E402

NOW = datetime(2026, 12, 24, 1, tzinfo=UTC)  # 09:00 in Kunming, a week before the annual reports
OFFICERS = [901, 902, 903]


def settings_for(url: str, **kw: object) -> Settings:
    return Settings(database_url=url, _env_file=None, **kw)  # type: ignore[arg-type,call-arg]


def make_records(n: int, seed: int = 7) -> list[rr.ConsortiumRecord]:
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        approved = date(2022, 1, 1) + timedelta(days=rnd.randrange(0, 5 * 365))
        ends = approved.replace(year=approved.year + 5) if (approved.month, approved.day) != (2, 29) \
            else date(approved.year + 5, 3, 1)  # the longest term (5 years): 6 deadlines each
        contacts = tuple(100_000 + 2 * i + k for k in range(rnd.choice((1, 2))))
        out.append(rr.ConsortiumRecord(name=f"创新联合体{i:05d}", lead_unit=f"牵头单位{i}", industry_field="新材料",
                                       route=rnd.choice(("top_down", "open_competition", "bottom_up")),
                                       recommending_unit="", approved_on=approved, ends_on=ends,
                                       contact_chat_ids=contacts))
    return out


def seed(db: Database, records: list[rr.ConsortiumRecord], submitted_share: float) -> tuple[float, int]:
    started = time.perf_counter()
    with db.session() as s:
        # recorded as imported before any deadline fell due (no history): every past deadline is open,
        # the worst case for the sweep (see registry_first_import.py for a real first import)
        rr.apply_records(s, records, NOW - timedelta(days=400), today=date(2022, 1, 1))
    if submitted_share:
        from sqlalchemy import select, update

        with db.session() as s:
            past = list(s.scalars(select(Deadline.id).where(Deadline.due_on < date(2026, 1, 1))))
            rnd = random.Random(3)
            chosen = [d for d in past if rnd.random() < submitted_share]
            for i in range(0, len(chosen), 5000):
                s.execute(update(Deadline).where(Deadline.id.in_(chosen[i:i + 5000]))
                          .values(status="submitted", status_by=901, status_at=NOW - timedelta(days=300)))
    with db.session() as s:
        from sqlalchemy import func, select

        n = int(s.scalar(select(func.count(Deadline.id))) or 0)
    return time.perf_counter() - started, n


def sweep(label: str, url: str, n: int) -> None:
    for share, case in ((0.9, "realistic: 90% of past reports submitted"), (0.0, "worst case: nothing marked")):
        db = Database.from_url(url)
        try:
            seconds, deadlines = seed(db, make_records(n), share)
            s = settings_for(url)
            cold = plan(db, s, NOW, OFFICERS)
            started = time.perf_counter()
            summary = asyncio.run(run_once(db, s, RecordingNotifier(), NOW, officers=OFFICERS, send_rate=0))
            full = time.perf_counter() - started
            warm = plan(db, s, NOW + timedelta(minutes=1), OFFICERS)
            print(f"[{label}] {case}")
            print(f"  registry: {n} consortia, {deadlines} deadlines (imported in {seconds:.1f} s)")
            print(f"  decide what is due, cold ledger: {cold.seconds * 1000:.0f} ms → {cold.due} messages due")
            print(f"  one full pass (claim + send {summary.sent} to an in-memory notifier + record): {full:.1f} s")
            print(f"  decide what is due, warm ledger (the steady ~60 s tick): {warm.seconds * 1000:.0f} ms → "
                  f"{warm.due} due, {warm.done} already handled")
        finally:
            db.dispose()
            _reset(url)


def _reset(url: str) -> None:
    if url.startswith("sqlite"):
        Path(url.split("///", 1)[1]).unlink(missing_ok=True)
        return
    from sqlalchemy import create_engine, text

    eng = create_engine(url, isolation_level="AUTOCOMMIT")
    with eng.connect() as c:
        c.execute(text("DROP SCHEMA public CASCADE"))
        c.execute(text("CREATE SCHEMA public"))
    eng.dispose()


def send_1000(tmp: Path) -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    from tests.fakebotapi import FakeBotAPI

    url = f"sqlite:///{tmp / 'send.sqlite3'}"
    db = Database.from_url(url)
    records = [rr.ConsortiumRecord(name=f"联合体{i:04d}", lead_unit="牵头", industry_field="", route="top_down",
                                   recommending_unit="", approved_on=date(2026, 3, 1), ends_on=date(2029, 6, 30),
                                   contact_chat_ids=(200_000 + 2 * i, 200_001 + 2 * i)) for i in range(500)]
    with db.session() as s:
        rr.apply_records(s, records, NOW - timedelta(days=30))
    with FakeBotAPI() as api:
        settings = settings_for(url, telegram_bot_token="123:BENCH", telegram_api_base_url=api.base_url)
        planned = plan(db, settings, NOW, [])

        async def go() -> tuple[float, int]:
            bot = make_bot(settings)
            async with bot:
                started = time.perf_counter()
                summary = await run_once(db, settings, TelegramNotifier(bot), NOW, officers=[])
                return time.perf_counter() - started, summary.sent

        seconds, sent = asyncio.run(go())
        calls = api.calls_of("sendMessage")
    times = sorted(c.at for c in calls)
    peak, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - 1.0:
            j += 1
        peak = max(peak, i - j + 1)
    keys = Counter((int(c.params["chat_id"]), str(c.params["text"])) for c in calls)
    with db.session() as s:
        ledger = len(rr.ledger_rows(s))
    print(f"[fake Bot API] {planned.due} reminders planned, {sent} sent in {seconds:.1f} s "
          f"({sent / seconds:.1f} msg/s average, rate limit {settings.reminder_send_rate:g}/s)")
    print(f"  busiest one-second window: {peak} messages (Telegram's limit: 30)")
    print(f"  lost: {planned.due - len(keys)}, doubled: {sum(n - 1 for n in keys.values())}, ledger rows: {ledger}")
    db.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    ap.add_argument("--consortia", type=int, default=10_000)
    ap.add_argument("--skip-send", action="store_true", help="skip the 1,000 messages at ≤30/s (~40 s)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sweep("SQLite", f"sqlite:///{Path(tmp) / 'sweep.sqlite3'}", args.consortia)
        pg = _pg_scratch(args.pg)
        if pg is None:
            print("[PostgreSQL] skipped: no server answers at", args.pg)
        else:
            url, drop = pg
            try:
                sweep("PostgreSQL", url, args.consortia)
            finally:
                drop()
        if not args.skip_send:
            send_1000(Path(tmp))


def _pg_scratch(admin_url: str):
    try:
        from sqlalchemy import create_engine, text

        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        name = f"cbbench_{uuid.uuid4().hex[:10]}"
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception:
        return None

    def drop() -> None:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return admin_url.rsplit("/", 1)[0] + f"/{name}", drop


if __name__ == "__main__":
    main()
