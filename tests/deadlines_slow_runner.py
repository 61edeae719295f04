"""A reminder pass with a slow notifier, run as a subprocess that tests kill with SIGKILL mid-sweep.

Usage: python -m tests.deadlines_slow_runner DATABASE_URL NOW_ISO LOGFILE [SECONDS_PER_SEND]
Each message "sent" is appended to LOGFILE (chat id and text, one JSON line, flushed) before the
notifier returns — so a kill right after a line is written is the documented double-send window.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import datetime

from bot.config import Settings
from bot.core import Reply
from bot.notify import SendOutcome, SendStatus
from bot.reminders import run_once
from storage.db import Database


class SlowLoggingNotifier:
    def __init__(self, path: str, delay: float) -> None:
        self.fh = open(path, "a", encoding="utf-8")  # noqa: SIM115
        self.delay = delay

    async def send(self, chat_id: int, reply: Reply) -> SendOutcome:
        await asyncio.sleep(self.delay)
        self.fh.write(json.dumps({"chat": chat_id, "text": reply.text}, ensure_ascii=False) + "\n")
        self.fh.flush()
        os.fsync(self.fh.fileno())
        return SendOutcome(SendStatus.OK, message_id=1)


def main() -> None:
    url, now_iso, log = sys.argv[1], sys.argv[2], sys.argv[3]
    delay = float(sys.argv[4]) if len(sys.argv) > 4 else 0.05
    settings = Settings(database_url=url, _env_file=None)  # type: ignore[call-arg]
    db = Database.from_url(url)
    now = datetime.fromisoformat(now_iso)
    print("started", flush=True)
    summary = asyncio.run(run_once(db, settings, SlowLoggingNotifier(log, delay), now, officers=[901], send_rate=0))
    print(summary.line(), flush=True)


if __name__ == "__main__":
    main()
