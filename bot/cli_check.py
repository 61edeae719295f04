"""``consortium-bot check``: the self-assessment offline (parsers are light; work is imported lazily)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

from bot.errors import Failure, UserError

CHECKLISTS = ("lead-unit", "member", "formation")


def add_parsers(sub: Any) -> None:  # argparse._SubParsersAction
    p = sub.add_parser(
        "check", help="run a self-assessment checklist over an answers file (lead-unit, member, formation)",
        description="Evaluate a self-assessment checklist over a JSON or YAML answers file "
        "(fact id -> value; dates YYYY-MM-DD, amounts in 万元; a missing fact is unknown).",
    )
    p.add_argument("checklist", metavar="CHECKLIST", help="lead-unit, member or formation")
    p.add_argument("--answers", required=True, metavar="FILE", help="answers file (JSON or YAML; '-' for stdin)")
    p.add_argument("--today", metavar="DATE", help="evaluate as of this date (YYYY-MM-DD; default: today)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--docx", metavar="OUT", help="also write the report as a Word document")
    p.add_argument("--markdown", metavar="OUT", help="also write the report as Markdown")
    p.add_argument("--lang", choices=("zh", "en"), default="zh", help="language of reasons and report (default zh)")
    p.add_argument("--applicant", default="", help="applicant name shown in the report")
    p.set_defaults(func=_cmd_check)


def read_answers(path: str) -> dict[str, Any]:
    """A JSON or YAML answers file as a mapping; UserError with one line otherwise."""
    from checks.loader import load_yaml

    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"answers file '{path}' does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"answers file '{path}' cannot be read: {getattr(exc, 'strerror', None) or exc}") from None
    where = "the answers on standard input" if path == "-" else f"answers file '{path}'"
    if not text.strip():
        raise UserError(f"{where} {'are' if path == '-' else 'is'} empty: give a JSON or YAML mapping of fact ids "
                        "to values ('{}' for no answers)")
    data: Any
    try:
        data = json.loads(text)
    except ValueError:
        import yaml

        try:
            data = load_yaml(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            at = f" (line {mark.line + 1})" if mark is not None else ""
            raise UserError(f"answers file '{path}' is neither JSON nor YAML{at}") from None
    if data is None:  # only comments, or an empty YAML document
        raise UserError(f"{where} {'hold' if path == '-' else 'holds'} no answers: give a mapping of fact ids "
                        "to values ('{}' for no answers)")
    if not isinstance(data, dict):
        raise UserError(f"answers file '{path}' must hold a mapping of fact ids to values")
    return {str(k): v for k, v in data.items()}


def today_arg(arg: str | None) -> date:
    """``--today`` of a command, or today in the configured time zone (shared by ``check`` and ``ask``)."""
    if arg:
        from checks.engine import parse_date

        try:
            return parse_date(arg)
        except ValueError as exc:
            raise UserError(f"--today: {exc}") from None
    from bot.cli import settings_from_env

    return datetime.now(settings_from_env().tz).date()


def _cmd_check(args: argparse.Namespace) -> int:
    from checks import loader
    from checks.engine import AnswerError, evaluate

    try:
        lists = loader.bundled()
    except loader.ChecklistError as exc:
        raise Failure(f"checklist data is broken: {exc}") from None
    if args.checklist not in lists:
        raise UserError(f"unknown checklist '{args.checklist}' (choose one of: {', '.join(lists)})")
    checklist = lists[args.checklist]
    answers = read_answers(args.answers)
    today = today_arg(args.today)
    try:
        result = evaluate(checklist, answers, today, args.lang)
    except AnswerError as exc:
        raise UserError(f"answers file '{args.answers}': {exc}") from None
    labels = loader.scheme_labels(args.lang)
    if args.docx or args.markdown:
        from checks.report import ReportInput, render_docx, render_markdown

        rep = ReportInput(checklist, result, today, args.applicant or Path(args.answers).stem, args.lang, labels)
        for out, render in ((args.docx, render_docx), (args.markdown, render_markdown)):
            if not out:
                continue
            content = render(rep)
            try:
                if isinstance(content, bytes):
                    Path(out).write_bytes(content)
                else:
                    Path(out).write_text(content, encoding="utf-8")
            except OSError as exc:
                raise UserError(f"cannot write '{out}': {exc.strerror or exc}") from None
    if args.json:
        print(json.dumps(result.to_dict(labels), ensure_ascii=False))
    else:
        print(human(checklist, result, labels, today, args.lang))
    return 0


def human(checklist: Any, result: Any, labels: dict[str, str], today: date, lang: str) -> str:
    from checks.report import STATUS_MARKS, STATUS_WORDS, VERDICT_WORDS

    en = lang == "en"
    lines = [f"{checklist.title.get(lang)} ({checklist.id}) — {today.isoformat()}",
             f"{'Verdict' if en else '结论'}: {VERDICT_WORDS[lang][result.verdict]} [{result.verdict}]", ""]
    for c in result.conditions:
        label = " / ".join(labels.get(x, x) for x in c.clauses)
        lines.append(f"{STATUS_MARKS[c.status]} [{STATUS_WORDS[lang][c.status]}] {c.title} ({label})")
        lines.append(f"    {c.reason}")
        if c.fix:
            lines.append(f"    → {c.fix}")
    return "\n".join(lines)
