"""``consortium-bot`` command line. Heavy imports happen inside the commands, so ``--help`` is fast."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot.errors import Failure, UserError

if TYPE_CHECKING:
    from bot.app import App
    from bot.config import Settings

PROG = "consortium-bot"


def settings_from_env() -> Settings:
    from bot.config import ConfigError, load_settings

    try:
        return load_settings()
    except ConfigError as exc:
        raise UserError(str(exc)) from None


def open_app(shell: bool = False, migrate: bool = True) -> App:
    """Settings + database (migrated) + features; config and database problems become UserError."""
    from bot.app import build_app
    from storage.db import DatabaseError

    settings = settings_from_env()
    try:
        return build_app(settings, shell=shell, migrate=migrate)
    except DatabaseError as exc:
        raise UserError(str(exc)) from None


def setup_logging(level: str = "INFO") -> None:
    from bot.logging_setup import configure

    configure(level)


def _cmd_run(args: argparse.Namespace) -> int:
    settings = settings_from_env()
    setup_logging(settings.log_level)
    if not settings.token:
        if args.shell_fallback:
            print("TELEGRAM_BOT_TOKEN is not set: starting the terminal shell instead.", file=sys.stderr)
            return _cmd_shell(args)
        raise UserError("TELEGRAM_BOT_TOKEN is not set (use 'consortium-bot shell' to try the bot without one)")
    import asyncio

    from bot.notify import check_bot
    from bot.telegram_app import run_bot

    asyncio.run(check_bot(settings))  # a rejected token or a dead network: one line, not a traceback
    app = open_app()
    run_bot(app, webhook_url=args.webhook)
    return 0


def _cmd_shell(args: argparse.Namespace) -> int:
    from bot.shell import run_shell

    app = open_app(shell=True)
    return run_shell(app, user_id=getattr(args, "user", 1) or 1)


def _cmd_db(args: argparse.Namespace) -> int:
    from storage.db import Database, DatabaseError

    settings = settings_from_env()
    try:
        db = Database.from_url(settings.effective_database_url, migrate=True)
    except DatabaseError as exc:
        raise UserError(str(exc)) from None
    db.dispose()
    print(f"database ready: schema migrated to the newest revision ({settings.effective_database_url.split('://', 1)[0]})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Telegram assistant for Yunnan's innovation-consortium scheme "
        "(云南省创新联合体建设管理工作方案（试行）): cited Q&A, self-assessments, reporting deadlines.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("run", help="start the Telegram bot (long polling, or --webhook URL)")
    p.add_argument("--webhook", metavar="URL", help="use a webhook at this public URL instead of long polling")
    p.add_argument("--shell-fallback", action="store_true",
                   help="start the terminal shell when no TELEGRAM_BOT_TOKEN is set")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("shell", help="the same conversation in the terminal (no token needed)")
    p.add_argument("--user", type=int, default=1, help="the chat/user id the shell acts as (default 1)")
    p.set_defaults(func=_cmd_shell)

    p = sub.add_parser("db", help="database maintenance")
    dsub = p.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    up = dsub.add_parser("upgrade", help="create or migrate the database (Alembic)")
    up.set_defaults(func=_cmd_db)

    from bot import cli_check, cli_gaps, cli_qa, cli_registry

    cli_qa.add_parsers(sub)
    cli_check.add_parsers(sub)
    cli_registry.add_parsers(sub)
    cli_gaps.add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        code = int(args.func(args) or 0)
    except UserError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except Failure as exc:
        print(f"{PROG}: failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    sys.stdout.flush()
    return code


if __name__ == "__main__":  # pragma: no cover
    logging.basicConfig()
    sys.exit(main())
