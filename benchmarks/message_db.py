"""Database cost of a Q&A chat message through ``App.handle``. Prints figures; asserts nothing.

    python -m benchmarks.message_db [--rounds 5] [--questions 60] [--burst 20] [--database-url URL]

The app is built as the shell builds it (``Settings()`` in a temporary directory, SQLite unless
``--database-url``). After a warm-up on other questions, each round asks ``--questions`` distinct
questions (tests/data/qa_paraphrases.yaml), each from a new chat, one at a time; the query-vector
cache is off so every round does the whole Q&A work. Per message: wall ms, transactions (the
engine's ``begin`` events) and ms spent inside ``Database.session``. With ``--burst N`` the same
questions also go N at a time on N threads (as a burst through the bot): p50 / p95 latency.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--questions", type=int, default=60)
    ap.add_argument("--burst", type=int, default=0, help="also ask the questions N at a time on N threads")
    ap.add_argument("--database-url", default="", help="default: SQLite in the temporary directory")
    args = ap.parse_args()

    import yaml
    from sqlalchemy import event

    import knowledge.service
    from bot.app import build_app
    from bot.config import Settings
    from bot.core import Incoming
    from storage.db import Database

    knowledge.service.QUERY_CACHE_SIZE = 0  # every round does the real work
    data = yaml.safe_load((ROOT / "tests" / "data" / "qa_paraphrases.yaml").read_text(encoding="utf-8"))
    pool = list(dict.fromkeys(x["q"] for x in data["in_scope"]))
    questions, warm = pool[:args.questions], pool[args.questions:]

    os.chdir(tempfile.mkdtemp(prefix="message-db-"))
    extra: dict[str, Any] = {"database_url": args.database_url} if args.database_url else {}
    app = build_app(Settings(_env_file=None, **extra))  # type: ignore[call-arg]
    app.service("qa").answer("牵头单位应具备哪些条件？")

    counts = {"begin": 0, "session": 0.0}
    lock = threading.Lock()
    event.listen(app.db.engine, "begin", lambda _conn: counts.__setitem__("begin", counts["begin"] + 1))
    plain = Database.session

    @contextmanager
    def timed(self: Database) -> Iterator[Any]:
        t0 = time.perf_counter()
        with plain(self) as s:
            yield s
        with lock:
            counts["session"] += time.perf_counter() - t0

    Database.session = timed  # type: ignore[method-assign]

    chat = iter(range(10_000_000, 20_000_000))

    def ask(q: str) -> float:
        cid = next(chat)
        t0 = time.perf_counter()
        out = app.handle(Incoming(chat_id=cid, user_id=cid, text=q, first_name="x"), datetime.now(UTC))
        assert out.replies, q
        return time.perf_counter() - t0

    for q in warm:
        ask(q)
    print(f"{app.db.dialect}, {len(questions)} questions per round, each from a new chat")
    rows = []
    for _ in range(args.rounds):
        counts["begin"], counts["session"] = 0, 0.0
        times = [ask(q) for q in questions]
        n = len(questions)
        rows.append((statistics.mean(times) * 1000, statistics.median(times) * 1000, counts["begin"] / n,
                     counts["session"] / n * 1000))
    for name, k in (("mean ms/message", 0), ("median ms/message", 1), ("transactions/message", 2),
                    ("ms/message in Database.session", 3)):
        values = [r[k] for r in rows]
        print(f"  {name:32s} {statistics.median(values):6.2f}   (rounds: {' '.join(f'{v:.2f}' for v in values)})")
    if args.burst:
        lat: list[float] = []
        for _ in range(args.rounds):
            for i in range(0, len(questions), args.burst):
                batch = questions[i:i + args.burst]
                out: list[float] = [0.0] * len(batch)
                start = threading.Barrier(len(batch))

                def run(k: int, q: str, out: list[float] = out, start: threading.Barrier = start) -> None:
                    start.wait()
                    out[k] = ask(q)

                threads = [threading.Thread(target=run, args=(k, q)) for k, q in enumerate(batch)]
                for th in threads:
                    th.start()
                for th in threads:
                    th.join()
                lat += out
        lat.sort()
        print(f"  burst of {args.burst}: p50 {lat[len(lat) // 2] * 1000:.1f} ms, "
              f"p95 {lat[int(len(lat) * 0.95)] * 1000:.1f} ms ({len(lat)} messages)")
    app.db.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
