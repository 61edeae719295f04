"""Exactly once under concurrency and crashes: two replicas on one database (through the fake Bot
API, with a blocked chat and flood control), and a pass killed with SIGKILL mid-sweep."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pytest

from bot.config import Settings
from bot.notify import RecordingNotifier, TelegramNotifier, make_bot
from bot.reminders import CLAIM_BATCH, RunSummary, plan, run_once
from storage import registry_repo as rr
from storage.clock import utcnow
from storage.db import Database
from tests.conftest import ROOT, make_settings
from tests.deadlines_helpers import record, seed, sent_ledger, utc
from tests.fakebotapi import FakeBotAPI

NOW = utc(2026, 12, 24, 1)  # 09:00 in Kunming: 7 days before the 2026 annual reports
OFFICERS = [901]
BLOCKED = 3000  # this contact has blocked the bot


def seed_many(db: Database, n: int) -> None:
    seed(db, *(record(f"联合体{i:04d}", date(2026, 3, 1), date(2029, 6, 30), (3000 + i, 6000 + i)) for i in range(n)))


def _replica(url: str, settings: Settings, barrier: threading.Barrier, out: list[RunSummary]) -> None:
    db = Database.from_url(url, migrate=False)  # each replica has its own engine and pool

    async def go() -> RunSummary:
        bot = make_bot(settings)
        async with bot:
            barrier.wait(timeout=30)
            return await run_once(db, settings, TelegramNotifier(bot), NOW, officers=OFFICERS, send_rate=0)

    try:
        out.append(asyncio.run(go()))
    finally:
        db.dispose()


@pytest.mark.postgres
def test_two_replicas_on_postgres_through_the_fake_bot_api(pg_url: str, tmp_path: Path) -> None:
    run_replicas(pg_url, tmp_path)


def test_two_replicas_on_sqlite_through_the_fake_bot_api(tmp_path: Path) -> None:
    run_replicas(f"sqlite:///{tmp_path / 'replicas.sqlite3'}", tmp_path)


def run_replicas(url: str, tmp_path: Path) -> None:
    db = Database.from_url(url)
    seed_many(db, 40)
    expected = plan(db, make_settings(tmp_path, database_url=url), NOW, OFFICERS)
    with FakeBotAPI() as api:
        api.blocked.add(BLOCKED)
        api.flood[3001] = 1  # one 429 "retry after 1 s" for this chat
        settings = make_settings(tmp_path, database_url=url, telegram_bot_token="123:TEST",
                                 telegram_api_base_url=api.base_url, officer_chat_ids=OFFICERS)
        barrier = threading.Barrier(2)
        results: list[RunSummary] = []
        threads = [threading.Thread(target=_replica, args=(url, settings, barrier, results)) for _ in range(2)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=120)
        assert len(results) == 2
        sends = [(int(c.params["chat_id"]), str(c.params["text"])) for c in api.calls_of("sendMessage")]
    counts = Counter(sends)
    # every message reached the Bot API once; only 3001's went twice (answered 429 the first time)
    assert {k: n for k, n in counts.items() if n != 1} == {next(k for k in counts if k[0] == 3001): 2}
    delivered = len(sends) - 1 - 1  # minus the refused 429 and the refused (blocked) one
    # the plan's messages minus the blocked contact's, plus the one "contact unreachable" alert
    assert sum(r.sent for r in results) == delivered == expected.due - 1 + 1
    ledger = sent_ledger(db)
    assert len(ledger) == len(set(ledger))
    # the blocked contact: marked unreachable once, the officers told once
    with db.session() as s:
        assert rr.mark_unreachable(s, BLOCKED, NOW) == []  # already flagged
    told = [t for chat, t in sends if chat == 901 and "已屏蔽机器人" in t]
    assert len(told) == 1 and str(BLOCKED) in told[0]
    db.dispose()


def _slow_run(url: str, log: Path, delay: float) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "tests.deadlines_slow_runner", url, NOW.isoformat(), str(log),
                             str(delay)], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_killed_mid_sweep_then_a_later_pass_after_the_lease(any_db_url: str, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, database_url=any_db_url)
    db = Database.from_url(any_db_url)
    seed_many(db, 30)
    expected = plan(db, settings, NOW, OFFICERS)
    log = tmp_path / "sent.jsonl"
    log.touch()
    proc = _slow_run(any_db_url, log, 0.05)
    try:
        deadline = time.monotonic() + 60
        while len(log.read_text(encoding="utf-8").splitlines()) < 10:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "the runner never got going"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)  # reaps the process and closes its pipes
    assert proc.returncode == -signal.SIGKILL
    first = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert 10 <= len(first) < expected.due  # really killed mid-sweep

    # a pass before the dead process's lease runs out (on the wall clock) sends what it never
    # claimed (it claimed in small batches) but does not touch the claims it held
    rec = RecordingNotifier()
    early = asyncio.run(run_once(db, settings, rec, NOW + timedelta(seconds=30), officers=OFFICERS, send_rate=0))
    with db.session() as s:
        held = sum(1 for r in rr.ledger_rows(s) if r.status == rr.CLAIMED)
    assert 0 < held <= CLAIM_BATCH and early.sent > 0
    # after the lease (the wall clock moved on): the held claims are taken over and sent
    later_wall = utcnow() + timedelta(seconds=settings.reminder_lease_seconds + 60)
    later = asyncio.run(run_once(db, settings, rec, NOW + timedelta(seconds=60), officers=OFFICERS, send_rate=0,
                                 wall=lambda: later_wall))
    assert later.sent == held
    got = Counter([(m["chat"], m["text"]) for m in first] + [(c, r.text) for c, r in rec.sent])
    # nothing lost: every planned message reached its chat …
    assert len(got) == expected.due
    assert Counter(c for c, _ in got) == Counter(j.recipient for j in expected.new)
    # … and nothing doubled except the documented floor: at most the one message that had been
    # handed to the Bot API when the process died, before it could be recorded as sent
    assert sum(n - 1 for n in got.values()) <= 1
    assert len(sent_ledger(db)) == expected.due
    db.dispose()


def test_cli_run_once_through_the_fake_bot_api(tmp_path: Path) -> None:
    """`consortium-bot reminders run-once` as cron runs it, sending through TELEGRAM_API_BASE_URL."""
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    db = Database.from_url(url)
    seed_many(db, 3)  # contacts 3000-3002 and 6000-6002; 3000 has blocked the bot
    with FakeBotAPI() as api:
        api.blocked.add(BLOCKED)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_", "OFFICER_"))}
        env.update(DATABASE_URL=url, TELEGRAM_BOT_TOKEN="123:TEST", TELEGRAM_API_BASE_URL=api.base_url,
                   OFFICER_CHAT_IDS="901", TZ_NAME="Asia/Shanghai", PYTHONPATH=str(ROOT))
        cmd = [sys.executable, "-m", "bot.cli", "reminders", "run-once", "--now", "2026-12-24T09:00"]
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
        assert r.returncode == 0, r.stderr
        # 5 contacts and the unreachable alert; no digest: 2026-12-24 is a Thursday (digests go out on Mondays)
        assert "sent 6" in r.stdout and "forbidden 1" in r.stdout
        assert "contact 3000 blocked the bot" in r.stderr
        r2 = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
        assert r2.returncode == 0 and "sent 0" in r2.stdout
        sends = [(int(c.params["chat_id"]), str(c.params["text"])) for c in api.calls_of("sendMessage")]
    assert len(sends) == len(set(sends)) == 7  # 6 delivered + the one refused with 403
    texts = {chat: text for chat, text in sends}
    assert "还剩 7 天" in texts[6001] and "八、（三）" in texts[6001]
    markup = next(c.params["reply_markup"] for c in api.calls_of("sendMessage", 6001))
    assert [b["callback_data"].split(":")[1] for row in markup["inline_keyboard"] for b in row] == ["rep", "snz", "ics"]
    assert sum("已屏蔽机器人" in t for c, t in sends if c == 901) == 1
    db.dispose()
