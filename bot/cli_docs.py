"""``consortium-bot docs list|add|remove|diff|show``: the documents answers come from.

Parsers are light; the work is imported inside the commands so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from typing import TYPE_CHECKING, Any

from bot.errors import UserError

if TYPE_CHECKING:
    from bot.app import App

MAX_DIFF_SHOWN = 200


def _today(app: App, value: str | None) -> date:
    if value is None:
        from storage.clock import utcnow

        return utcnow().astimezone(app.settings.tz).date()
    from checks.inputs import parse_date

    try:
        return parse_date(value)
    except ValueError as exc:
        raise UserError(f"--today: {exc}") from None


def _store(app: App) -> Any:
    from storage.documents_repo import DocumentStore

    return DocumentStore(app.db)


def _cmd_list(args: argparse.Namespace) -> int:
    from bot.cli import open_app
    from bot.documents_io import list_json

    app = open_app()
    try:
        today = _today(app, args.today)
        store = _store(app)
        metas = store.list(include_withdrawn=args.all)
        rows = list_json(metas, today)
        if args.all:
            for row, m in zip(rows, metas, strict=True):
                if m.withdrawn:
                    row["status"] = "withdrawn"
        if args.json:
            print(json.dumps(rows, ensure_ascii=False))
            return 0
        for row in rows:
            until = row["valid_until"] or "-"
            sup = f"  supersedes {row['supersedes']}" if row["supersedes"] else ""
            print(f"{row['id']:<18} {row['status']:<10} issued {row['issued']:<10} valid until {until:<10} "
                  f"《{row['title']}》{sup}")
        print(f"({len(rows)} document(s); status on {today.isoformat()})")
        return 0
    finally:
        app.db.dispose()


def _cmd_add(args: argparse.Namespace) -> int:
    from pathlib import Path

    from bot.cli import open_app
    from bot.documents_io import new_document, parse_issued, parse_valid_until
    from knowledge.docparse import MAX_BYTES, DocumentError, read_document
    from knowledge.documents import KINDS, notice_on, status_on
    from storage.clock import utcnow
    from storage.documents_repo import DocumentConflict

    path = Path(args.file)
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    title = (args.title or "").strip()
    if not title:
        raise UserError("--title must not be empty")
    try:
        issued, precision = parse_issued(args.issued)
    except ValueError as exc:
        raise UserError(f"--issued: {exc}") from None
    valid_until = None
    if args.valid_until is not None:
        try:
            valid_until = parse_valid_until(args.valid_until)
        except ValueError as exc:
            raise UserError(f"--valid-until: {exc}") from None
        if valid_until[0] < issued:
            raise UserError(f"--valid-until {args.valid_until} is before --issued {args.issued}")
    if args.kind is not None and args.kind not in KINDS:
        raise UserError(f"--kind must be one of {', '.join(KINDS)}")
    limit = int(args.max_mb * 1024 * 1024) if args.max_mb else MAX_BYTES
    size = path.stat().st_size
    if size > limit:
        raise UserError(f"{path}: the file is too large ({size / 1024 / 1024:.1f} MB; the limit is "
                        f"{limit / 1024 / 1024:g} MB)")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror or exc})") from None

    tty = sys.stderr.isatty()

    def progress(done: int, total: int) -> None:
        if tty and total >= 20:
            print(f"\rreading {path.name}: {done}/{total}", end="" if done < total else "\n", file=sys.stderr)

    try:
        parsed = read_document(data, path.name, title=title, max_bytes=limit, progress=progress)
    except DocumentError as exc:
        raise UserError(str(exc) if str(exc).startswith(path.name) else f"{path}: {exc}") from None
    new = new_document(parsed, title=title, issued=issued, issued_precision=precision, valid_until=valid_until,
                       supersedes=args.supersedes, kind=args.kind, issuer=args.issuer, filename=path.name,
                       doc_id=args.id)
    app = open_app()
    try:
        store = _store(app)
        try:
            meta = store.add(new, parsed.corpus, utcnow(), None)
        except DocumentConflict as exc:
            raise UserError(str(exc)) from None
        today = _today(app, None)
        metas = store.list()
        status = status_on(meta, today, metas)
    finally:
        app.db.dispose()
    until = meta.iso_valid_until() or "-"
    print(f"added {meta.id}: 《{meta.title}》 ({len(parsed.corpus.clauses)} clauses, {parsed.format}; issued "
          f"{meta.iso_issued()}; valid until {until}; {status} today)")
    if meta.supersedes:
        print(f"it supersedes {meta.supersedes}")
    if not parsed.numbered:
        print("note: no numbered structure (一、 （一） 1. …) was found; each paragraph is a clause (p1, p2 …)")
    note = notice_on(meta, today, metas, "en")
    if note:
        print(note)
    return 0


def _cmd_remove(args: argparse.Namespace) -> int:
    from bot.cli import open_app
    from storage.clock import utcnow
    from storage.documents_repo import DocumentConflict

    app = open_app()
    try:
        try:
            meta = _store(app).withdraw(args.doc_id.strip(), utcnow(), None)
        except DocumentConflict as exc:
            raise UserError(str(exc)) from None
    finally:
        app.db.dispose()
    print(f"withdrew {meta.id}: 《{meta.title}》 (answers no longer cite it)")
    return 0


def _cmd_diff(args: argparse.Namespace) -> int:
    from bot.cli import open_app
    from bot.documents_io import diff_counts, diff_json, snippet
    from knowledge.documents import diff

    app = open_app()
    try:
        store = _store(app)
        docs = []
        for doc_id in (args.old, args.new):
            found = store.get(doc_id.strip())
            if found is None:
                raise UserError(f"no document with id '{doc_id}' (see consortium-bot docs list)")
            docs.append(found)
    finally:
        app.db.dispose()
    (old_meta, old_c), (new_meta, new_c) = docs
    changes = diff(old_c, new_c)
    if args.json:
        print(json.dumps(diff_json(docs[0], docs[1], changes), ensure_ascii=False))
        return 0
    n = diff_counts(changes)
    print(f"{old_meta.id} 《{old_meta.title}》 → {new_meta.id} 《{new_meta.title}》: {len(changes)} change(s) "
          f"({n['changed']} changed, {n['added']} added, {n['removed']} removed)")
    moved = [c for c in changes if not c.text_changed]
    shown_changes = [c for c in changes if c.text_changed]
    for c in shown_changes[:MAX_DIFF_SHOWN]:
        if c.kind == "added":
            print(f"+ {c.new_id} {c.new_label}: {snippet(c.new_text, 80)}")
        elif c.kind == "removed":
            print(f"- {c.old_id} {c.old_label}: {snippet(c.old_text, 80)}")
        else:
            where = c.new_id if c.old_id == c.new_id else f"{c.old_id} → {c.new_id}"
            shown = "; ".join(f"「{snippet(a, 40)}」→「{snippet(b, 40)}」" for a, b in c.fragments())
            print(f"~ {where} {c.new_label}: {shown}")
    if len(shown_changes) > MAX_DIFF_SHOWN:
        print(f"… and {len(shown_changes) - MAX_DIFF_SHOWN} more (use --json for all)")
    if moved:
        print(f"{len(moved)} clause(s) only renumbered, same text: "
              + ", ".join(f"{c.old_id} → {c.new_id}" for c in moved[:12]) + (" …" if len(moved) > 12 else ""))
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    from bot.cli import open_app
    from bot.documents_io import snippet

    app = open_app()
    try:
        found = _store(app).get(args.doc_id.strip())
    finally:
        app.db.dispose()
    if found is None:
        raise UserError(f"no document with id '{args.doc_id}' (see consortium-bot docs list)")
    meta, corpus = found
    print(f"{meta.id} 《{meta.title}》 {meta.issuer} {meta.iso_issued()}: {len(corpus.clauses)} clauses")
    for c in corpus.clauses.values():
        print(f"  {c.id:<14} {c.label:<20} {snippet(c.title or c.text, 60)}")
    return 0


def add_parsers(sub: Any) -> None:  # argparse._SubParsersAction
    p = sub.add_parser("docs", help="the documents answers come from: list, add, remove, diff",
                       description="The bundled scheme and the documents officers add (notices, revised "
                                   "schemes, FAQs), with their validity.")
    dsub = p.add_subparsers(dest="docs_command", metavar="ACTION", required=True)

    ls = dsub.add_parser("list", help="list the documents with their status on --today")
    ls.add_argument("--json", action="store_true",
                    help='print [{"id", "title", "issued", "valid_until", "status", "supersedes"}]')
    ls.add_argument("--today", metavar="DATE", help="judge validity on this date (default: today in TZ_NAME)")
    ls.add_argument("--all", action="store_true", help="include withdrawn documents (status 'withdrawn')")
    ls.set_defaults(func=_cmd_list)

    add = dsub.add_parser("add", help="add a DOCX, PDF, TXT or Markdown document (all-or-nothing)")
    add.add_argument("file", metavar="FILE")
    add.add_argument("--title", required=True, help="the document's title (unique among published documents)")
    add.add_argument("--issued", required=True, metavar="DATE",
                     help="issue date (2027-02-20, 2027年2月20日 …) or just the year (2022)")
    add.add_argument("--valid-until", metavar="DATE",
                     help="last day in force (default: from the text's 有效期N年 / 有效期至…; none: no end)")
    add.add_argument("--supersedes", metavar="DOC_ID", help="the document this one replaces (e.g. scheme)")
    add.add_argument("--issuer", help="issuing body (default: the text's signature, else 云南省科学技术厅)")
    add.add_argument("--kind", help="scheme | notice | revised | faq | other (default: from the title)")
    add.add_argument("--id", help="the document id (default: <kind>-<year>, e.g. notice-2027)")
    add.add_argument("--max-mb", type=float, default=None, help="size limit in MB (default 20)")
    add.set_defaults(func=_cmd_add)

    rm = dsub.add_parser("remove", help="withdraw an added document (the bundled scheme can only be superseded)")
    rm.add_argument("doc_id", metavar="DOC_ID")
    rm.set_defaults(func=_cmd_remove)

    df = dsub.add_parser("diff", help="what changed from one document to another, clause by clause")
    df.add_argument("old", metavar="OLD")
    df.add_argument("new", metavar="NEW")
    df.add_argument("--json", action="store_true", help="print the changes as JSON")
    df.set_defaults(func=_cmd_diff)

    sh = dsub.add_parser("show", help="a document's clauses (ids and labels)")
    sh.add_argument("doc_id", metavar="DOC_ID")
    sh.set_defaults(func=_cmd_show)
