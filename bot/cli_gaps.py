"""``consortium-bot gaps [--since DATE] [--json] [--xlsx OUT] [--recluster]`` (parsers are light)."""

from __future__ import annotations

import argparse
import json
from typing import Any


def _cmd_gaps(args: argparse.Namespace) -> int:
    from datetime import datetime
    from pathlib import Path

    from bot.cli import open_app
    from bot.errors import Failure, UserError
    from checks.inputs import parse_date
    from storage.clock import utcnow

    since = None
    app_tz = None
    if args.xlsx:
        out = Path(args.xlsx)
        if out.suffix.lower() != ".xlsx":
            raise UserError(f"{out}: use a .xlsx file name")
        if not out.parent.exists():
            raise UserError(f"{out.parent}: no such directory")
    app = open_app()
    try:
        app_tz = app.settings.tz
        if args.since is not None:
            try:
                day = parse_date(args.since)
            except (ValueError, OverflowError) as exc:
                raise UserError(f"--since: {exc}") from None
            since = datetime.combine(day, datetime.min.time(), app_tz)
        from bot.features.gaps import build_service

        svc = build_service(app)
        now = utcnow()
        try:
            svc.recluster(now) if args.recluster else svc.refresh(now)
        except (OSError, ValueError, ImportError) as exc:
            raise Failure(f"cannot embed the questions with {app.settings.embedding_backend}: {exc}") from None
        views = svc.groups(since=since)
        if args.xlsx:
            from bot.gaps_report import export_xlsx

            try:
                export_xlsx(views, svc, Path(args.xlsx), app_tz)
            except OSError as exc:
                raise UserError(f"{args.xlsx}: cannot write ({exc.strerror})") from None
            print(f"exported {len(views)} topic(s) to {args.xlsx}")
            return 0
        if args.json:
            print(json.dumps([v.group.to_json() for v in views], ensure_ascii=False))
            return 0
        if not views:
            print("no knowledge gaps: nothing was refused, clarified or disliked" + (" since then" if since else ""))
        for i, v in enumerate(views, 1):
            kinds = ", ".join(f"{k} {n}" for k, n in v.kinds.items() if n)
            print(f"{i}. {v.label}  [{v.status}]  {v.count}× from {v.askers} asker(s); {kinds}")
            for q in v.examples[1:]:
                print(f"     · {q}")
        return 0
    finally:
        app.db.dispose()


def add_parsers(sub: Any) -> None:  # argparse._SubParsersAction
    p = sub.add_parser(
        "gaps", help="what people asked that the bot could not answer well, grouped by topic",
        description="Refused, clarified and 👎 questions (and quick re-asks), grouped by topic with the bot's "
                    "embedding model, biggest first. --json prints "
                    '[{"topic", "count", "examples", "kinds": {"refused", "clarify", "disliked"}}]. '
                    "Topics an officer ignored are left out; chat ids are never shown.",
    )
    p.add_argument("--since", metavar="DATE", help="only questions from this local date on (e.g. 2026-11-01)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text for a person")
    p.add_argument("--xlsx", metavar="OUT", help="write an XLSX workbook for a meeting instead")
    p.add_argument("--recluster", action="store_true", help="regroup every stored question from scratch first")
    p.set_defaults(func=_cmd_gaps)
