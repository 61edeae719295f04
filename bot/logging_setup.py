"""Logging that never prints the bot token (it appears in Bot API URLs)."""

from __future__ import annotations

import logging
import re

_TOKEN_RE = re.compile(r"bot\d{3,}:[A-Za-z0-9_-]{20,}")


class RedactTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        if _TOKEN_RE.search(msg):
            record.msg = _TOKEN_RE.sub("bot<redacted>", msg)
            record.args = ()
        return True


def configure(level: str = "INFO") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactTokens())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper() if isinstance(level, str) else level)
    for noisy in ("httpx", "httpcore", "chromadb", "jieba", "apscheduler", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
