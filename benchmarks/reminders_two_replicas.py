"""Two replicas × 10,000 consortia on PostgreSQL: doubled and lost messages, and the shared pace.

What it does, end to end with the real parts:

1. makes a scratch PostgreSQL database (``--db``, dropped and made anew; the test database is not
   touched), writes a registry file of ``--consortia`` consortia (the registry file contract: one
   contact each, approved 1–4 years ago, the term ending 7 days after today) and imports it with
   ``consortium-bot consortia import``;
2. starts the fake Bot API server the tests use (``tests/fakebotapi.py``) on loopback;
3. runs two real ``consortium-bot reminders run-once`` processes at the same time against the same
   database, twice (the send ledger is emptied in between):

   a. ``--now`` values ``--gap-minutes`` apart (default 6: more than the 300 s lease), tomorrow;
   b. both on the real clock (no ``--now``);

4. counts what the fake server received: due (what the planner says is due at that ``now``),
   delivered, doubled (the same chat got the same text more than once), lost (due, never
   delivered), the send rate of both replicas together, and checks the ledger (every due message
   recorded sent exactly once).

Settings used (all ordinary settings, passed through the environment):

- ``REMINDER_SEND_RATE`` (``--rate``, default 30: Telegram's global limit, the setting's maximum) —
  the pace is shared by the replicas through the database (``send_pace``), so together they
  should send at about this rate, not twice it;
- ``REMINDER_LEASE_SECONDS`` (``--lease``, default 300, the default) — a pass of 10,000 messages at
  30 msg/s takes ~333 s, so it outlives a lease; ``--lease 30`` makes it outlive ten;
- ``REMINDER_DAYS_BEFORE=7,1,0`` so that one message per consortium is due whatever the date
  (without it an annual report due 12-31 can add a second one in December);
- ``REMINDER_SEND_HOUR`` = the local hour of the run, so that the real-clock pass is in the send
  window.

Run:  python benchmarks/reminders_two_replicas.py [--consortia 10000] [--rate 30] [--lease 300]
      [--gap-minutes 6] [--modes ab] [--pg postgresql+psycopg://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.config import Settings  # noqa: E402
from bot.reminders import plan  # noqa: E402
from storage import registry_repo as rr  # noqa: E402
from storage.clock import utcnow  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.registry_file import COLUMNS  # noqa: E402
from tests.fakebotapi import FakeBotAPI  # noqa: E402

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TZ = "Asia/Shanghai"
OFFICERS = [901]
TOKEN = "123456:BENCH"
CONTACT_BASE = 500_000


def registry_csv(n: int, today: date, seed: int = 15) -> bytes:
    rnd = random.Random(seed)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(COLUMNS)
    ends = today + timedelta(days=7)
    for i in range(n):
        approved = today - timedelta(days=rnd.randrange(365, 4 * 365))
        route = rnd.choice(("top_down", "open_competition", "bottom_up"))
        w.writerow([f"创新联合体{i:05d}", f"牵头单位{i}", "新材料", route, "某市科技局" if route == "bottom_up" else "",
                    approved.isoformat(), ends.isoformat(), str(CONTACT_BASE + i), ""])
    return buf.getvalue().encode()


def scratch_db(admin_url: str, name: str) -> str:
    from sqlalchemy import create_engine, text

    eng = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with eng.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    eng.dispose()
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def clear_ledger(db: Database) -> None:
    from sqlalchemy import delete

    from storage.registry_models import ContactSnooze, OfficerNotice, ReminderSend, SendPace

    with db.session() as s:
        for model in (ReminderSend, ContactSnooze, OfficerNotice, SendPace):
            s.execute(delete(model))


def run_pair(env: dict[str, str], nows: list[str | None], cwd: Path) -> tuple[list[str], float]:
    procs = []
    started = time.perf_counter()
    for now in nows:
        cmd = [sys.executable, "-m", "bot.cli", "reminders", "run-once"] + (["--now", now] if now else [])
        procs.append(subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True))
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=3 * 3600)
        if p.returncode != 0:
            raise RuntimeError(f"a replica failed (exit {p.returncode}):\n{err[-3000:]}")
        outs.append(out.strip().splitlines()[-1] if out.strip() else "")
    return outs, time.perf_counter() - started


def busiest_second(times: list[float]) -> int:
    """The most sends that started within any one second (a sliding window)."""
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] >= 1.0:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def mode(label: str, db: Database, settings: Settings, api: FakeBotAPI, env: dict[str, str], cwd: Path,
         nows: list[str | None], plan_at: datetime) -> bool:
    clear_ledger(db)
    expected = plan(db, settings, plan_at, OFFICERS)
    wanted = Counter(j.recipient for j in [*expected.new, *expected.stale])
    first_call = len(api.calls)
    first_delivered = len(api.delivered)
    outs, wall = run_pair(env, nows, cwd)
    with api._cond:
        calls = [c for c in api.calls[first_call:] if c.method == "sendMessage"]
        delivered = api.delivered[first_delivered:]
    got = Counter(delivered)
    doubled = sum(n - 1 for n in got.values())
    lost = sum((wanted - Counter(chat for chat, _ in got)).values())
    extra = sum((Counter(chat for chat, _ in got) - wanted).values())
    with db.session() as s:
        rows = rr.ledger_rows(s)
    sent_rows = Counter((r.deadline_id, r.recipient, r.stage) for r in rows if r.status == rr.SENT)
    not_sent = sum(1 for j in [*expected.new, *expected.stale] if sent_rows.get(j.key, 0) != 1)
    other = Counter(r.status for r in rows if r.status != rr.SENT)
    span = (calls[-1].at - calls[0].at) if len(calls) > 1 else 0.0
    rate = (len(calls) - 1) / span if span else 0.0
    busiest = busiest_second([c.at for c in calls])
    print(f"{label}:")
    for now, out in zip(nows, outs, strict=True):
        print(f"  replica --now {now or '(real clock)'}: {out}")
    print(f"  due {expected.due}, delivered {len(delivered)} ({len(got)} distinct), doubled {doubled}, lost {lost}, "
          f"unexpected {extra}; ledger: {sum(sent_rows.values())} sent, {not_sent} due not recorded sent once, "
          f"other rows {dict(other)}")
    print(f"  both replicas together: {rate:.1f} msg/s over {span:.0f} s of sending, busiest second {busiest} "
          f"(arrivals; two paces not shared would allow {2 * settings.reminder_send_rate:g}); wall time {wall:.0f} s "
          f"(plan + start of two processes included)")
    return doubled == 0 and lost == 0 and not_sent == 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--consortia", type=int, default=10_000)
    ap.add_argument("--rate", type=float, default=30.0, help="REMINDER_SEND_RATE, msg/s shared by both replicas")
    ap.add_argument("--lease", type=int, default=300, help="REMINDER_LEASE_SECONDS")
    ap.add_argument("--gap-minutes", type=float, default=6.0, help="mode a: minutes between the two --now values")
    ap.add_argument("--modes", default="ab", help="a: --now values apart, b: both on the real clock")
    ap.add_argument("--pg", default=PG_DEFAULT, help="PostgreSQL admin URL")
    ap.add_argument("--db", default="bench_pg10k", help="scratch database name (dropped and made anew)")
    ap.add_argument("--keep", action="store_true", help="keep the scratch database afterwards")
    args = ap.parse_args(argv)

    tz = ZoneInfo(TZ)
    local = utcnow().astimezone(tz)
    hour = local.hour
    url = scratch_db(args.pg, args.db)
    ok = True
    with tempfile.TemporaryDirectory() as tmp_s, FakeBotAPI() as api:
        tmp = Path(tmp_s)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("TELEGRAM_", "DATABASE_", "OFFICER_", "ADMIN_", "REMINDER_"))}
        env.update(DATABASE_URL=url, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE_URL=api.base_url,
                   OFFICER_CHAT_IDS=",".join(map(str, OFFICERS)), TZ_NAME=TZ, DATA_DIR=str(tmp / "data"),
                   REMINDER_SEND_RATE=str(args.rate), REMINDER_LEASE_SECONDS=str(args.lease),
                   REMINDER_DAYS_BEFORE="7,1,0", REMINDER_SEND_HOUR=str(hour), EMBEDDING_BACKEND="hashing",
                   PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""))
        settings = Settings(database_url=url, tz_name=TZ, reminder_send_rate=args.rate,  # type: ignore[call-arg]
                            reminder_lease_seconds=args.lease, reminder_days_before=[7, 1, 0],
                            reminder_send_hour=hour, _env_file=None)
        reg = tmp / "registry.csv"
        reg.write_bytes(registry_csv(args.consortia, local.date()))
        t0 = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "bot.cli", "consortia", "import", str(reg)], env=env, cwd=tmp,
                           capture_output=True, text=True, timeout=3600)
        if r.returncode != 0:
            print(r.stderr[-3000:])
            return 1
        print(f"PostgreSQL database {args.db}: {r.stdout.strip()} ({time.perf_counter() - t0:.0f} s)")
        print(f"settings: REMINDER_SEND_RATE={args.rate:g} (shared), REMINDER_LEASE_SECONDS={args.lease}, "
              f"REMINDER_DAYS_BEFORE=7,1,0, REMINDER_SEND_HOUR={hour}; fake Bot API at {api.base_url}")
        db = Database.from_url(url, migrate=False)
        try:
            if "a" in args.modes:
                # tomorrow, a few minutes into the send window: the term ends in 6 days (stage "7 days before")
                first = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), tz).replace(
                    hour=hour, minute=1)
                second = first + timedelta(minutes=args.gap_minutes)
                ok &= mode(f"a. --now {args.gap_minutes:g} minutes apart", db, settings, api, env, tmp,
                           [first.isoformat(), second.isoformat()], first)
            if "b" in args.modes:
                ok &= mode("b. both on the real clock", db, settings, api, env, tmp, [None, None], utcnow())
        finally:
            db.dispose()
    if not args.keep:
        from sqlalchemy import create_engine, text

        eng = create_engine(args.pg, isolation_level="AUTOCOMMIT")
        with eng.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{args.db}" WITH (FORCE)'))
        eng.dispose()
    print(f"0 doubled, 0 lost: {'yes' if ok else 'NO'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
