"""What the CLI (``consortium-bot docs …``) and the chat share about documents: reading the dates officers
type, turning a parsed file into a document to store, the hook that hands the published documents to
the Q&A service, and plain renderings of a list and of a diff."""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Callable, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

from checks.inputs import parse_date
from knowledge.docparse import ParsedDocument
from knowledge.documents import ClauseChange, DocumentMeta, status_on, validity
from storage.documents_repo import DocumentStore, NewDocument

if TYPE_CHECKING:
    from bot.app import App
    from knowledge.corpus import Corpus
    from storage.db import Database

log = logging.getLogger(__name__)
_YEAR = re.compile(r"^\s*(\d{4})\s*年?\s*$")


def parse_issued(value: str) -> tuple[date, str]:
    """A date (any form ``parse_date`` reads) at day precision, or a bare year (2022 / 2022年) at year
    precision (stored as 1 January). ValueError with a readable cause otherwise."""
    m = _YEAR.match(value or "")
    if m:
        year = int(m.group(1))
        if not 1949 <= year <= 2200:
            raise ValueError(f"'{value.strip()}' is not a plausible year")
        return date(year, 1, 1), "year"
    return parse_date(value), "day"


def parse_valid_until(value: str) -> tuple[date, str]:
    """Like :func:`parse_issued`; a bare year means "until the end of that year" (31 December)."""
    d, precision = parse_issued(value)
    return (date(d.year, 12, 31), "year") if precision == "year" else (d, "day")


def new_document(parsed: ParsedDocument, *, title: str, issued: date, issued_precision: str = "day",
                 valid_until: tuple[date, str] | None = None, supersedes: str | None = None,
                 kind: str | None = None, issuer: str | None = None, filename: str = "",
                 doc_id: str | None = None) -> NewDocument:
    """The document to store: the given validity, else the one its own text states (有效期N年 / 有效期至…)."""
    found_until, found_precision, years = validity(parsed.corpus.text, issued, issued_precision)  # type: ignore[arg-type]
    until: date | None = found_until
    until_precision: str = found_precision
    if valid_until is not None:
        until, until_precision = valid_until
    return NewDocument(
        title=title, issued=issued, issued_precision=issued_precision, valid_until=until,
        valid_until_precision=until_precision, validity_years=years, supersedes=supersedes or None, kind=kind,
        issuer=(issuer if issuer is not None else parsed.issuer) or "云南省科学技术厅", filename=filename,
        format=parsed.format, doc_id=doc_id,
    )


# -- the hook the Q&A service plugs into -------------------------------------------------------------

def build_kwargs(build: Callable[..., Any], db: Database) -> dict[str, Any]:
    """``{"documents": [...]}`` when the Q&A service's ``build`` takes a ``documents`` keyword, else ``{}``."""
    try:
        params = inspect.signature(build).parameters
    except (TypeError, ValueError):
        return {}
    if "documents" not in params:
        return {}
    return {"documents": DocumentStore(db).load_published()}


def refresh_qa(app: App) -> bool:
    """After a publish or withdraw: give a running Q&A service the published documents (when it takes
    them). True when it was told."""
    svc = app.built_service("qa")
    if svc is None or not hasattr(svc, "set_documents"):
        return False
    try:
        svc.set_documents(DocumentStore(app.db).load_published())
    except Exception:  # the documents are published either way; the service reloads on its next start
        log.exception("the Q&A service could not take the new documents")
        return False
    return True


_seen: dict[int, tuple[str, str]] = {}  # id(app) → fingerprints (published set, FAQ) the Q&A service was given


def faq_fingerprint(db: Database) -> str:
    """Changes whenever the active FAQ changes (another replica's officer answered a knowledge gap)."""
    import hashlib

    from bot.gaps import faq_entries

    h = hashlib.sha256()
    for e in faq_entries(db):
        h.update(f"{e.question}\0{e.clause}\0{e.document}\0{e.answer_zh}\0{e.answer_en}\n".encode())
    return h.hexdigest()[:16]


def refresh_if_changed(app: App) -> bool:
    """Hand the Q&A service the published documents, and the FAQ, when their fingerprint changed since last
    time (cheap queries; replicas poll this so that a document published or a gap answered elsewhere is
    answered from everywhere, and, on a shared Chroma server, each searches the versions the others hold)."""
    qa = app.built_service("qa")
    if qa is None:
        return False
    now = (DocumentStore(app.db).fingerprint(), faq_fingerprint(app.db))
    before = _seen.setdefault(id(app), now)
    if now == before:
        return False
    _seen[id(app)] = now
    told = False
    if now[1] != before[1] and hasattr(qa, "set_faq"):
        from bot.gaps import push_faq

        try:
            told = push_faq(qa, app.db)
        except Exception:  # the FAQ is stored either way; the service reloads it on its next start
            log.exception("the Q&A service could not take the new FAQ")
    if now[0] != before[0]:
        told = refresh_qa(app) or told
    return told


# -- renderings ----------------------------------------------------------------------------------

def list_json(metas: Sequence[DocumentMeta], today: date) -> list[dict[str, Any]]:
    """``docs list --json``: [{"id", "title", "issued", "valid_until", "status", "supersedes"}]."""
    return [{"id": m.id, "title": m.title, "issued": m.iso_issued(), "valid_until": m.iso_valid_until(),
             "status": status_on(m, today, metas), "supersedes": m.supersedes} for m in metas]


def diff_counts(changes: Sequence[ClauseChange]) -> dict[str, int]:
    out = {"added": 0, "removed": 0, "changed": 0}
    for c in changes:
        out[c.kind] += 1
    return out


def snippet(text: str, n: int = 60) -> str:
    one = re.sub(r"\s+", " ", text).strip()
    return one if len(one) <= n else one[: n - 1] + "…"


def diff_json(old: tuple[DocumentMeta, Corpus], new: tuple[DocumentMeta, Corpus],
              changes: Sequence[ClauseChange]) -> dict[str, Any]:
    return {
        "old": old[0].id, "new": new[0].id, "counts": diff_counts(changes),
        "changes": [{"kind": c.kind, "old_clause": c.old_id, "new_clause": c.new_id, "label": c.label,
                     "old_label": c.old_label, "new_label": c.new_label, "old_text": c.old_text,
                     "new_text": c.new_text} for c in changes],
    }
