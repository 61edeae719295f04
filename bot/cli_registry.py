"""CLI commands of the registry feature (parsers are light; work is imported lazily).

- ``consortium-bot consortia import FILE`` / ``consortia export FILE``
- ``consortium-bot reminders run-once [--now ISO-DATETIME]``
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

MAX_LISTED_ERRORS = 200


def _cmd_import(args: argparse.Namespace) -> int:
    from pathlib import Path

    from bot.cli import open_app
    from bot.errors import UserError
    from storage.clock import utcnow
    from storage.registry_file import RegistryFileError, import_registry

    path = Path(args.file)
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    app = open_app()
    limit = app.settings.registry_max_bytes
    if path.stat().st_size > limit:
        app.db.dispose()
        raise UserError(f"{path}: the file is too large ({path.stat().st_size // 1024} KB; the limit is "
                        f"{round(limit / 1024 / 1024, 1)} MB, REGISTRY_MAX_BYTES)")
    try:
        data = path.read_bytes()
        now = utcnow()
        summary, errors = import_registry(app.db, data, path.name, now, today=now.astimezone(app.settings.tz).date(),
                                          limits=app.settings.registry_limits())
    except RegistryFileError as exc:
        raise UserError(f"{path}: {exc}") from None
    finally:
        app.db.dispose()
    if errors:
        for e in errors[:MAX_LISTED_ERRORS]:
            print(f"{path}:{e.line}: {e.message}", file=sys.stderr)
        if len(errors) > MAX_LISTED_ERRORS:
            print(f"… and {len(errors) - MAX_LISTED_ERRORS} more", file=sys.stderr)
        raise UserError(f"{path}: {len(errors)} bad row(s); nothing was imported")
    assert summary is not None
    print(f"imported {path}: {len(summary.created)} created, {len(summary.updated)} updated, "
          f"{len(summary.unchanged)} unchanged; {summary.history} deadline(s) due before the first import "
          f"recorded as history (never reminded; /reopen ID to remind one), {summary.done} recorded as done")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from bot.cli import open_app
    from bot.errors import UserError
    from storage.registry_file import RegistryFileError, export_registry

    path = Path(args.file)
    if path.suffix.lower() not in (".csv", ".xlsx"):
        raise UserError(f"{path}: use a .csv or .xlsx file name")
    if not path.parent.exists():
        raise UserError(f"{path.parent}: no such directory")
    app = open_app()
    try:
        n = export_registry(app.db, path)
    except RegistryFileError as exc:
        raise UserError(str(exc)) from None
    except OSError as exc:
        raise UserError(f"{path}: cannot write ({exc.strerror})") from None
    finally:
        app.db.dispose()
    print(f"exported {n} consortia to {path}")
    return 0


def parse_now(value: str | None, tz_name: str) -> Any:
    """An ISO date-time (naive → in TZ_NAME) as aware UTC; None → the clock."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from bot.errors import UserError
    from storage.clock import utcnow

    if value is None:
        return utcnow()
    try:
        dt = datetime.fromisoformat(value.strip())
    except ValueError:
        raise UserError(f"--now '{value}' is not an ISO date-time (e.g. 2026-12-24T09:00 or 2026-12-24T01:00Z)") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=ZoneInfo(tz_name))
    return dt.astimezone(UTC)


def _cmd_run_once(args: argparse.Namespace) -> int:
    import asyncio

    from bot.cli import open_app
    from bot.notify import ConsoleNotifier, Notifier, TelegramNotifier, make_bot
    from bot.reminders import run_once

    app = open_app()
    now = parse_now(args.now, app.settings.tz_name)
    settings = app.settings
    notifier: Notifier
    bot = None
    if settings.token:
        bot = make_bot(settings)
        notifier = TelegramNotifier(bot)
    else:
        print("TELEGRAM_BOT_TOKEN is not set: printing the reminders here instead of sending them.",
              file=sys.stderr)
        notifier = ConsoleNotifier()

    async def go() -> Any:
        if bot is not None:
            async with bot:
                return await run_once(app.db, settings, notifier, now, officers=app.officer_chat_ids())
        return await run_once(app.db, settings, notifier, now, officers=app.officer_chat_ids())

    try:
        summary = asyncio.run(go())
    except Exception as exc:
        from bot.notify import explain_bot_error

        explained = explain_bot_error(exc, settings)
        if explained is not None:
            raise explained from None
        raise
    finally:
        app.db.dispose()
    local = now.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M %Z")
    print(f"reminders at {local}: sent {summary.sent}, failed {summary.failed + summary.forbidden}, "
          f"skipped {summary.skipped} (due {summary.due}, retry later {summary.retry_later}, "
          f"forbidden {summary.forbidden})")
    for chat in summary.unreachable:
        print(f"contact {chat} blocked the bot: marked unreachable, officers told", file=sys.stderr)
    return 0


def add_parsers(sub: Any) -> None:  # argparse._SubParsersAction
    p = sub.add_parser("consortia", help="the consortium registry: import or export CSV/XLSX")
    csub = p.add_subparsers(dest="consortia_command", metavar="ACTION", required=True)
    imp = csub.add_parser("import", help="import a registry file (.csv UTF-8/GBK, or .xlsx); all rows or none")
    imp.add_argument("file", metavar="FILE")
    imp.set_defaults(func=_cmd_import)
    exp = csub.add_parser("export", help="export the registry with each deadline's status (.csv or .xlsx)")
    exp.add_argument("file", metavar="FILE")
    exp.set_defaults(func=_cmd_export)

    p = sub.add_parser("reminders", help="the reminder scheduler")
    rsub = p.add_subparsers(dest="reminders_command", metavar="ACTION", required=True)
    ro = rsub.add_parser("run-once", help="one pass: send what is due at --now (default: now), exactly once")
    ro.add_argument("--now", metavar="ISO-DATETIME",
                    help="the time of the pass (naive times are in TZ_NAME), e.g. 2026-12-24T09:00")
    ro.set_defaults(func=_cmd_run_once)
