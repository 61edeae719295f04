"""Logging that never prints the bot token, installed once for every command.

The token appears in Bot API URLs (``<root>/bot<TOKEN>/<method>``), so any error that echoes a
request path (a proxy's error page, an httpx exception, a traceback) would print it.
:class:`RedactTokens` rewrites each record — message, arguments, exception text and stack —
before any handler formats it, hiding:

- every secret registered with :func:`add_secret` (the configured token, the webhook secret,
  the database password), whatever its length, also URL-encoded;
- anything shaped like a Bot API token inside a URL (``/bot<digits>:<anything>``), any length;
- anything shaped like a token on its own (``<digits>:<20+ token characters>``).

:func:`redact` applies the same rules to any text (the CLI's one-line errors go through it).
:class:`RateLimitedLog` logs a recurring failure once per interval with a count of the rest, so a
fault that repeats on every update or every tick cannot fill the disk with tracebacks.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from urllib.parse import quote

REDACTED = "<redacted>"
_URL_TOKEN_RE = re.compile(r"(/bot)\d+(?::|%3[Aa])[^/\s?#\"'<>]*")
_TOKEN_RE = re.compile(r"(?<![\w-])\d{3,}(?::|%3[Aa])[A-Za-z0-9_-]{20,}(?![\w-])")
MIN_SECRET_PART = 6  # the part of a token after ':' is hidden on its own when at least this long

_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def add_secret(value: str | None) -> None:
    """Hide ``value`` (and its URL-encoded form) from every log line from now on."""
    if not value or len(value) < 4:
        return
    forms = {value, quote(value, safe=""), quote(value, safe=":")}
    if ":" in value:
        tail = value.split(":", 1)[1]
        if len(tail) >= MIN_SECRET_PART:
            forms.add(tail)
    with _secrets_lock:
        _secrets.update(forms)


def redact(text: str) -> str:
    """``text`` with every registered secret and anything shaped like a bot token hidden."""
    if not text:
        return text
    with _secrets_lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    text = _URL_TOKEN_RE.sub(r"\1" + REDACTED, text)
    return _TOKEN_RE.sub(REDACTED, text)


class RedactTokens(logging.Filter):
    """Rewrites a record so that no handler can print a secret (message, exception, stack)."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            msg = record.getMessage()
        except Exception:  # a bad format string: keep what we can show
            msg = f"{record.msg!r} % {record.args!r}"
        clean = redact(msg)
        if clean != msg or record.args:
            record.msg, record.args = clean, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_installed: logging.Handler | None = None


def configure(level: str | int = "INFO") -> None:
    """One stderr handler on the root logger, with the redacting filter; safe to call again."""
    global _installed
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactTokens())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    _installed = handler
    root.setLevel(_level(level))
    for noisy in ("httpx", "httpcore", "chromadb", "jieba", "apscheduler", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _level(level: str | int) -> int:
    if isinstance(level, int):
        return level
    value = logging.getLevelName(str(level).strip().upper())
    return value if isinstance(value, int) else logging.INFO


def installed() -> bool:
    """True when :func:`configure` set up the root logger (and nobody replaced its handlers since)."""
    return _installed is not None and _installed in logging.getLogger().handlers


class RateLimitedLog:
    """Log a recurring problem at most once per ``interval`` seconds per key, counting the rest.

    The first occurrence is logged in full (with its traceback); later ones within the interval
    are only counted, and the next full line says how many were left out.
    """

    MAX_KEYS = 1000

    def __init__(self, logger: logging.Logger, interval: float = 600.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.interval = interval
        self.clock = clock
        self._seen: dict[str, list[float]] = {}  # key -> [time logged, occurrences left out since]
        self._lock = threading.Lock()

    def log(self, level: int, key: str, msg: str, *args: object, exc_info: object = None) -> bool:
        """Log (True) or count (False) one occurrence of ``key``."""
        now = self.clock()
        with self._lock:
            state = self._seen.get(key)
            if state is not None and now - state[0] < self.interval:
                state[1] += 1
                return False
            left_out = int(state[1]) if state is not None else 0
            if len(self._seen) >= self.MAX_KEYS:
                self._seen.clear()
            self._seen[key] = [now, 0]
        if left_out:
            msg = f"{msg} [{left_out} more like this in the last {self.interval / 60:g} min were not logged]"
        self.logger.log(level, msg, *args, exc_info=exc_info)  # type: ignore[arg-type]
        return True

    def reset(self) -> None:
        """Forget what was logged (a fresh start: the next occurrence of anything is logged in full)."""
        with self._lock:
            self._seen.clear()

    def error(self, key: str, msg: str, *args: object, exc_info: object = None) -> bool:
        return self.log(logging.ERROR, key, msg, *args, exc_info=exc_info)

    def warning(self, key: str, msg: str, *args: object, exc_info: object = None) -> bool:
        return self.log(logging.WARNING, key, msg, *args, exc_info=exc_info)


def failure_key(exc: BaseException, prefix: str = "") -> str:
    """A key for :class:`RateLimitedLog`: the exception type and where it was raised."""
    tb = exc.__traceback__
    where = ""
    while tb is not None:
        where = f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}"
        tb = tb.tb_next
    return f"{prefix}{type(exc).__name__}@{where}"
