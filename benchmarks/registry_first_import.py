"""Benchmark of a department's first import (issue 11): 500 consortia approved 2022–2026, imported on
2026-12-01, then the first reminder pass.

Prints what the first pass sends by stage, how many reminders concern history (deadlines due before
the import: must be 0), how many "overdue" texts go out (0), and the time of the import and the pass
on SQLite (target: import + first pass ≤ 10 s).

Run:  python benchmarks/registry_first_import.py [--n 500] [--pg URL]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import random
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.config import Settings  # noqa: E402
from bot.notify import RecordingNotifier  # noqa: E402
from bot.reminders import run_once  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.registry_file import COLUMNS, import_registry  # noqa: E402

IMPORT_AT = datetime(2026, 12, 1, 2, tzinfo=UTC)  # 10:00 in Kunming
FIRST_PASS = datetime(2026, 12, 1, 3, tzinfo=UTC)  # 11:00, in the send window
TODAY = date(2026, 12, 1)
OFFICERS = [901, 902, 903]


def registry_csv(n: int, seed: int = 11) -> bytes:
    rnd = random.Random(seed)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(COLUMNS)
    for i in range(n):
        approved = date(2022, 1, 1) + timedelta(days=rnd.randrange(0, 5 * 365 - 40))
        years = rnd.choice((3, 4, 5))
        ends = date(approved.year + years, approved.month, min(approved.day, 28))
        route = rnd.choice(("top_down", "open_competition", "bottom_up"))
        contacts = ";".join(str(200_000 + 3 * i + k) for k in range(rnd.choice((1, 2, 3))))
        w.writerow([f"创新联合体{i:04d}", f"牵头单位{i}", "新材料", route, "某市科技局" if route == "bottom_up" else "",
                    approved.isoformat(), ends.isoformat(), contacts, ""])
    return buf.getvalue().encode()


def run(label: str, url: str, n: int) -> None:
    db = Database.from_url(url)
    settings = Settings(database_url=url, _env_file=None)  # type: ignore[call-arg]
    data = registry_csv(n)
    started = time.perf_counter()
    summary, errors = import_registry(db, data, "registry.csv", IMPORT_AT, today=TODAY)
    t_import = time.perf_counter() - started
    assert not errors and summary is not None, errors[:3]
    rec = RecordingNotifier()
    started = time.perf_counter()
    result = asyncio.run(run_once(db, settings, rec, FIRST_PASS, officers=OFFICERS, send_rate=0))
    t_pass = time.perf_counter() - started
    from sqlalchemy import select

    from storage.registry_models import Deadline, ReminderSend

    with db.session() as s:
        history_ids = set(s.scalars(select(Deadline.id).where(Deadline.status == "history")))
        ledger = list(s.execute(select(ReminderSend.deadline_id, ReminderSend.stage)))
        due_years = Counter(d.year for d in s.scalars(select(Deadline.due_on).where(Deadline.id.in_(
            {d for d, _ in ledger if d}))))
    history_sent = sum(1 for d, _ in ledger if d in history_ids)
    overdue_texts = sum(1 for _, r in rec.sent if "已逾期" in r.text)
    stages = Counter(st.split(":")[0] + ":" + st.split(":")[1][:2] for _, st in ledger)
    print(f"{label}: {n} consortia approved 2022–2026, imported {TODAY}: {len(summary.created)} created, "
          f"{summary.history} deadlines recorded as history")
    print(f"  first pass at {FIRST_PASS.isoformat()}: sent {result.sent} (due {result.due}); by stage "
          f"{dict(sorted(stages.items()))}; due years of reminded deadlines {dict(sorted(due_years.items()))}")
    print(f"  history reminders: {history_sent}; 'overdue' texts: {overdue_texts}")
    print(f"  import {t_import:.2f} s + first pass {t_pass:.2f} s = {t_import + t_pass:.2f} s (target ≤ 10 s)")
    db.dispose()


def responsiveness(n: int) -> None:
    """An officer uploads n rows through the bot (the same path as Telegram: a worker thread) while
    another user sends /whoami every 0.2 s; then the same rows with every end date moved."""
    import threading

    from bot.app import build_app
    from bot.core import Document, Incoming

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(database_url=f"sqlite:///{Path(tmp) / 'resp.sqlite3'}", officer_chat_ids=[901],
                            data_dir=Path(tmp), embedding_backend="hashing", _env_file=None)  # type: ignore[call-arg]
        app = build_app(settings)
        for label, data in (("first import", registry_csv(n)),
                            ("re-import, every end date moved", _moved(registry_csv(n)))):
            latencies: list[float] = []
            done = threading.Event()

            def chatter(done: threading.Event = done, latencies: list[float] = latencies) -> None:
                while not done.is_set():
                    t0 = time.perf_counter()
                    app.handle(Incoming(chat_id=5555, user_id=5555, text="/whoami"), IMPORT_AT)
                    latencies.append(time.perf_counter() - t0)
                    time.sleep(0.2)

            th = threading.Thread(target=chatter)
            th.start()
            t0 = time.perf_counter()
            out = app.handle(Incoming(chat_id=901, user_id=901, kind="document",
                                      document=Document("registry.csv", data)), IMPORT_AT)
            took = time.perf_counter() - t0
            done.set()
            th.join()
            first_line = out.replies[0].text.splitlines()[0]
            print(f"  {n} rows, {label}: {took:.1f} s ({first_line}); /whoami meanwhile: {len(latencies)} replies, "
                  f"slowest {max(latencies):.2f} s")
        app.db.dispose()


def _moved(data: bytes) -> bytes:
    rows = list(csv.reader(io.StringIO(data.decode())))
    for row in rows[1:]:
        d = date.fromisoformat(row[6])
        row[6] = date(d.year + 1, d.month, min(d.day, 28)).isoformat() if d.year < 2031 else row[6]
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    return buf.getvalue().encode()


def xlsx_bomb() -> None:
    """A workbook of a few MB that expands to millions of cells: refused how fast, with how much memory."""
    import resource
    import subprocess
    import zipfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bomb.xlsx"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
            zf.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/'
                        'package/2006/content-types"><Override PartName="/xl/workbook.xml" ContentType="application/'
                        'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/></Types>')
            with zf.open("xl/worksheets/sheet1.xml", "w") as fh:
                fh.write(b'<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
                         b'2006/main"><sheetData>')
                row = b'<row>' + b'<c t="inlineStr"><is><t>xxxxxxxxxx</t></is></c>' * 50 + b'</row>'
                for _ in range(100_000):
                    fh.write(row)
                fh.write(b"</sheetData></worksheet>")
        code = (f"import sys,time,resource; sys.path.insert(0, {str(ROOT)!r})\n"
                "from storage.registry_file import parse_registry, RegistryFileError\n"
                f"data=open({str(path)!r},'rb').read(); t=time.perf_counter()\n"
                "try:\n    parse_registry(data, 'bomb.xlsx')\nexcept RegistryFileError as e:\n    print(e)\n"
                "print(round(time.perf_counter()-t,3), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss//1024)")
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
        lines = r.stdout.strip().splitlines()
        size = path.stat().st_size // 1024
        print(f"  XLSX bomb ({size} KB, 5,000,000 cells): {lines[0] if lines else r.stderr[-200:]}; "
              f"{lines[-1].split()[0] if lines else '?'} s, peak {lines[-1].split()[1] if lines else '?'} MB "
              f"(the whole process)")
        _ = resource


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--pg", default=None, help="also run on this PostgreSQL database URL (scratch, must be empty)")
    ap.add_argument("--big", type=int, default=10_000, help="rows of the responsiveness run (0: skip)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run("SQLite", f"sqlite:///{Path(tmp) / 'bench.sqlite3'}", args.n)
    if args.big:
        print(f"SQLite, the bot answering during a {args.big}-row upload:")
        responsiveness(args.big)
    print("Bounded reading:")
    xlsx_bomb()
    if args.pg:
        run("PostgreSQL", args.pg, args.n)


if __name__ == "__main__":
    main()
