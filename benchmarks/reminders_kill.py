"""kill -9 during a reminder pass: how many messages are doubled and lost per crash.

Each trial clears the send ledger, starts a pass in a subprocess (``tests/deadlines_slow_runner.py``:
a notifier that takes a few ms per message and logs each delivery before it returns), kills it with
SIGKILL after a random number of deliveries, then runs a recovery pass once the dead process's
leases have run out (its wall clock moved past them). Doubled = deliveries beyond one per message;
lost = planned messages never delivered. The stated floor: at most 1 doubled per kill (the message
handed to Telegram before "sent" was recorded — Telegram has no idempotency key), 0 lost.

Run:  python benchmarks/reminders_kill.py [--trials 20] [--consortia 40] [--pg URL | --no-pg]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
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
from bot.notify import RecordingNotifier  # noqa: E402
from bot.reminders import plan, run_once  # noqa: E402
from storage import registry_repo as rr  # noqa: E402
from storage.clock import utcnow  # noqa: E402
from storage.db import Database  # noqa: E402

NOW = datetime(2026, 12, 24, 1, tzinfo=UTC)  # 09:00 in Kunming, a week before the annual reports
OFFICERS = [901]
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def prepare(url: str, consortia: int) -> Database:
    db = Database.from_url(url)
    records = [rr.ConsortiumRecord(name=f"联合体{i:04d}", lead_unit="牵头单位", industry_field="新材料", route="top_down",
                                   recommending_unit="", approved_on=date(2026, 3, 1), ends_on=date(2029, 6, 30),
                                   contact_chat_ids=(3000 + i, 6000 + i)) for i in range(consortia)]
    with db.session() as s:
        rr.apply_records(s, records, NOW - timedelta(days=200), today=date(2026, 3, 1))
    return db


def clear_ledger(db: Database) -> None:
    from sqlalchemy import delete

    from storage.registry_models import ContactSnooze, OfficerNotice, ReminderSend

    with db.session() as s:
        for model in (ReminderSend, ContactSnooze, OfficerNotice):
            s.execute(delete(model))


def trial(db: Database, url: str, settings: Settings, rnd: random.Random, log_dir: Path) -> tuple[int, int, int]:
    """(doubled, lost, delivered before the kill) of one kill -9 trial."""
    clear_ledger(db)
    expected = plan(db, settings, NOW, OFFICERS)
    log = log_dir / f"sent-{uuid.uuid4().hex}.jsonl"
    log.touch()
    kill_after = rnd.randrange(1, max(2, expected.due - 1))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "tests.deadlines_slow_runner", url, NOW.isoformat(), str(log),
                             str(rnd.choice((0.002, 0.005, 0.01)))], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    try:
        while len(log.read_text(encoding="utf-8").splitlines()) < kill_after and proc.poll() is None:
            if time.monotonic() > deadline:
                raise RuntimeError("the pass never got going")
            time.sleep(0.001)
        proc.send_signal(signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)
    first = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    rec = RecordingNotifier()
    after = utcnow() + timedelta(seconds=settings.reminder_lease_seconds + 60)
    asyncio.run(run_once(db, settings, rec, NOW, officers=OFFICERS, send_rate=0, wall=lambda: after))
    got = Counter([(m["chat"], m["text"]) for m in first] + [(c, r.text) for c, r in rec.sent])
    wanted = Counter(j.recipient for j in expected.new)
    lost = sum((wanted - Counter(c for c, _ in got)).values())
    doubled = sum(n - 1 for n in got.values())
    log.unlink()
    return doubled, lost, len(first)


def run(label: str, url: str, trials: int, consortia: int, seed: int = 5) -> tuple[list[int], list[int]]:
    db = prepare(url, consortia)
    settings = Settings(database_url=url, _env_file=None)  # type: ignore[call-arg]
    rnd = random.Random(seed)
    doubled, lost = [], []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(trials):
            d, lo, _before = trial(db, url, settings, rnd, Path(tmp))
            doubled.append(d)
            lost.append(lo)
    db.dispose()
    print(f"{label}: {trials} kill -9 trials ({consortia} consortia, {2 * consortia} messages a pass): "
          f"doubled per kill {doubled}; max {max(doubled)}, total {sum(doubled)}; lost total {sum(lost)} "
          f"({time.perf_counter() - started:.1f} s)")
    return doubled, lost


def _pg_scratch(admin_url: str) -> tuple[str, str] | None:
    try:
        from sqlalchemy import create_engine, text

        name = f"cbkill_{uuid.uuid4().hex[:10]}"
        eng = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with eng.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        eng.dispose()
        return admin_url.rsplit("/", 1)[0] + f"/{name}", name
    except Exception as exc:  # no server: say so and go on with SQLite
        print(f"PostgreSQL skipped: {str(exc).splitlines()[0]}")
        return None


def _pg_drop(admin_url: str, name: str) -> None:
    from sqlalchemy import create_engine, text

    eng = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with eng.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    eng.dispose()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--consortia", type=int, default=40)
    ap.add_argument("--pg", default=PG_DEFAULT, help="PostgreSQL admin URL (a scratch database is made)")
    ap.add_argument("--no-pg", action="store_true")
    args = ap.parse_args(argv)
    worst = 0
    lost_all = 0
    with tempfile.TemporaryDirectory() as tmp:
        d, lo = run("SQLite", f"sqlite:///{Path(tmp) / 'kill.sqlite3'}", args.trials, args.consortia)
        worst, lost_all = max(worst, max(d)), lost_all + sum(lo)
    if not args.no_pg:
        scratch = _pg_scratch(args.pg)
        if scratch is not None:
            try:
                d, lo = run("PostgreSQL", scratch[0], args.trials, args.consortia)
                worst, lost_all = max(worst, max(d)), lost_all + sum(lo)
            finally:
                _pg_drop(args.pg, scratch[1])
    print(f"floor held: {'yes' if worst <= 1 and lost_all == 0 else 'NO'} (≤ 1 doubled per kill, 0 lost)")
    return 0 if worst <= 1 and lost_all == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
