"""CLI commands of the qa feature: ``ask`` and ``index`` (parsers are light; work is imported lazily)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from bot.errors import Failure, UserError

if TYPE_CHECKING:
    from knowledge.service import QAService

BATCH = 64


def add_parsers(sub: Any) -> None:  # argparse._SubParsersAction
    p = sub.add_parser(
        "ask", help="answer a question about the scheme, with citations",
        description="Answer from the scheme's text. With --json and '-' as the question, read one question "
                    "per stdin line and write one JSON object per line: "
                    '{"question", "lang", "lead", "answer", "citations": [{"document", "clause", "label", "quote"}], '
                    '"notice", "refused"}.',
    )
    p.add_argument("question", nargs="?", help="the question, or '-' to read one question per line from stdin")
    p.add_argument("--json", action="store_true", help="print JSON objects instead of text for a person")
    p.add_argument("--lang", choices=("zh", "en"), help="answer in this language (default: the question's)")
    p.add_argument("--today", metavar="DATE",
                   help="the date validity and days left are judged on (YYYY-MM-DD; default: today in TZ_NAME)")
    p.set_defaults(func=_cmd_ask)

    p = sub.add_parser("index", help="build the scheme's search index, or reuse it when it is up to date")
    p.add_argument("--rebuild", action="store_true", help="rebuild even when the index is up to date")
    p.set_defaults(func=_cmd_index)
    _ = argparse


def _service(rebuild: bool = False) -> QAService:
    from bot.cli import settings_from_env
    from bot.features.qa import chat_model, chroma_connect
    from knowledge.service import QAService

    s = settings_from_env()
    extra = _documents_kwarg(QAService.build, s.effective_database_url)
    try:
        svc = QAService.build(s.data_dir, s.embedding_backend, s.embedding_model, rebuild=rebuild,
                              chroma=chroma_connect(s), **extra)
    except (OSError, ValueError) as exc:  # a model path or name that does not load: a configuration mistake
        from bot.faults import explain

        fault = explain(exc, s.data_dir)  # unless it is the disk: read-only, no permission, full
        if fault is not None:
            raise fault from None
        raise UserError(f"cannot load the embedding model (EMBEDDING_BACKEND={s.embedding_backend}, "
                        f"EMBEDDING_MODEL={s.embedding_model or '-'}): {exc}") from None
    except ImportError as exc:
        raise Failure(f"the {s.embedding_backend} backend is not installed: {exc}") from None
    svc.llm = chat_model(s)  # None when LLM_MODEL is empty or the model cannot be built
    return svc


def _documents_kwarg(build: Any, database_url: str) -> dict[str, Any]:
    """``{"documents": …}`` from the database when ``QAService.build`` takes them (see bot/documents_io)."""
    import inspect

    try:
        if "documents" not in inspect.signature(build).parameters:
            return {}
    except (TypeError, ValueError):
        return {}
    from bot.cli import database_error
    from bot.documents_io import build_kwargs
    from storage.db import Database, DatabaseError

    try:
        db = Database.from_url(database_url)
    except DatabaseError as exc:
        raise database_error(exc) from None
    try:
        return build_kwargs(build, db)
    finally:
        db.dispose()


def _cmd_ask(args: argparse.Namespace) -> int:
    if args.question is None or (args.question != "-" and not args.question.strip()):
        raise UserError("give a question, e.g. consortium-bot ask \"牵头单位应具备哪些条件？\" (or '-' to read stdin)")
    from bot.cli_check import today_arg

    today = today_arg(args.today)
    svc = _service()
    if args.question == "-":
        lines = [ln.rstrip("\r\n") for ln in sys.stdin]
        for start in range(0, len(lines), BATCH):
            for ans in svc.answer_many(lines[start:start + BATCH], args.lang, today=today):
                if args.json:
                    print(json.dumps(ans.to_json(), ensure_ascii=False))
                else:
                    print(ans.text(), end="\n\n")
            sys.stdout.flush()
        return 0
    ans = svc.answer(args.question, args.lang, today=today)
    if args.json:
        print(json.dumps(ans.to_json(), ensure_ascii=False))
    else:
        print(ans.text())
    return 0


def _cmd_index(args: argparse.Namespace) -> int:
    svc = _service(rebuild=args.rebuild)
    info = svc.index_info
    assert info is not None
    c = svc.corpus
    from bot.cli import settings_from_env

    where = settings_from_env().chroma_url or info.path  # the shared server, else the embedded directory
    print(f"index {info.action}: {info.count} units (clauses, sentences, questions) of 《{c.title}》 ({c.issuer} {c.year}) at {where}")
    print(f"model: {info.model_id}; content hash {info.content_hash[:12]}")
    return 0
