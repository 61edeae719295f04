"""Adapters: Telegram bot, terminal shell, CLI and the reminder loop."""

import os

# Opt in to python-telegram-bot's timedelta-valued durations (RetryAfter.retry_after) now,
# instead of a deprecation warning on every flood-control error.
os.environ.setdefault("PTB_TIMEDELTA", "1")
