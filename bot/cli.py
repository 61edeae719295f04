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
        raise database_error(exc) from None


def database_error(exc: Exception) -> UserError | Failure:
    """A :class:`storage.db.DatabaseError` as the CLI's error: a full disk is a failure, the rest bad config."""
    return Failure(str(exc)) if getattr(exc, "failure", False) else UserError(str(exc))


def setup_logging(level: str = "INFO") -> None:
    from bot.logging_setup import configure

    configure(level)


def preflight(settings: Settings) -> None:
    """The data directory must be writable (Chroma index, SQLite, downloads): one line if not."""
    from bot.faults import check_writable

    check_writable(settings.data_dir)


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """Cap glibc's malloc arenas for a long-running process with many threads (the bot's workers, the embedding
    pool, Chroma's runtime): by default glibc gives every thread that contends its own arena, up to eight per core,
    and their free space stays mapped (the bot's idle RSS: 354 → 341 MB, latency unchanged). What
    ``MALLOC_ARENA_MAX`` says when set wins; no-op off glibc. Must run before those threads start."""
    import ctypes
    import os

    if os.environ.get("MALLOC_ARENA_MAX") or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(-8, arenas))  # M_ARENA_MAX
    except (OSError, AttributeError):
        return False


def _cmd_run(args: argparse.Namespace) -> int:
    limit_malloc_arenas()
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

    preflight(settings)  # a read-only or full data directory: one line before anything else
    asyncio.run(check_bot(settings))  # a rejected token or a dead network: one line, not a traceback
    app = open_app()
    if app.has_service("qa"):  # open (or build) the index now: a broken one is one line, not a crash in polling
        app.service("qa")
    run_bot(app, webhook_url=args.webhook)
    return 0


def _cmd_shell(args: argparse.Namespace) -> int:
    from bot.shell import run_shell

    preflight(settings_from_env())
    app = open_app(shell=True)
    user = getattr(args, "user", None)
    if user is not None:  # acting as a given chat: its roles come from ADMIN_CHAT_IDS / OFFICER_CHAT_IDS, as in Telegram
        app.shell = False
    return run_shell(app, user_id=user if user is not None else 1)


def _cmd_db(args: argparse.Namespace) -> int:
    from storage.db import Database, DatabaseError

    settings = settings_from_env()
    try:
        db = Database.from_url(settings.effective_database_url, migrate=True)
    except DatabaseError as exc:
        raise database_error(exc) from None
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
    p.add_argument("--user", type=int, default=None,
                   help="act as this chat/user id, with the roles Telegram would give it (from ADMIN_CHAT_IDS, "
                        "OFFICER_CHAT_IDS, granted roles, the registry's contacts); without it the local user "
                        "is trusted as admin and officer")
    p.set_defaults(func=_cmd_shell)

    p = sub.add_parser("db", help="database maintenance")
    dsub = p.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    up = dsub.add_parser("upgrade", help="create or migrate the database (Alembic)")
    up.set_defaults(func=_cmd_db)

    from bot import cli_check, cli_docs, cli_gaps, cli_qa, cli_registry

    cli_qa.add_parsers(sub)
    cli_check.add_parsers(sub)
    cli_registry.add_parsers(sub)
    cli_docs.add_parsers(sub)
    cli_gaps.add_parsers(sub)
    return parser


MAX_ERROR_CHARS = 600


def _say(kind: str, message: object) -> None:
    """One line on stderr, secrets hidden, however long or multi-line the cause was."""
    from bot.logging_setup import redact

    line = " ".join(redact(str(message)).split())
    if len(line) > MAX_ERROR_CHARS:
        line = line[: MAX_ERROR_CHARS - 1] + "…"
    print(f"{PROG}: {kind}: {line}", file=sys.stderr)


def explain_unexpected(exc: BaseException) -> UserError | Failure:
    """Anything a command did not handle, as one line: a known fault of the machine or the database,
    else the exception's type and first line (the traceback is logged at DEBUG)."""
    from bot.faults import explain

    explained = explain(exc, os.environ.get("DATA_DIR") or "data")
    if explained is not None:
        return explained
    from sqlalchemy.exc import DBAPIError

    from storage.db import DatabaseError

    if isinstance(exc, DatabaseError):
        return database_error(exc)
    if isinstance(exc, DBAPIError):
        cause = str(exc.orig or exc).strip().splitlines()
        return Failure(f"database error: {cause[0] if cause else type(exc).__name__}")
    logging.getLogger(PROG).debug("unexpected error", exc_info=exc)
    first = (str(exc).strip().splitlines() or [""])[0]
    return Failure(f"unexpected {type(exc).__name__}{': ' + first if first else ''} "
                   "(set LOG_LEVEL=DEBUG to see the traceback)")


def main(argv: Sequence[str] | None = None) -> int:
    from bot.logging_setup import add_secret, configure

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    # Every command logs through the redacting filter, whatever it prints (run sets its own level).
    add_secret(os.environ.get("TELEGRAM_BOT_TOKEN"))
    configure(os.environ.get("LOG_LEVEL") or "WARNING")
    try:
        code = int(args.func(args) or 0)
    except UserError as exc:
        _say("error", exc)
        return 2
    except Failure as exc:
        _say("failed", exc)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except Exception as exc:
        explained = explain_unexpected(exc)
        if isinstance(explained, UserError):
            _say("error", explained)
            return 2
        _say("failed", explained)
        return 1
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except OSError as exc:  # stdout on a full disk
        explained_out = explain_unexpected(exc)
        _say("failed", explained_out)
        return 1
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
