"""The documents answers come from: add (all-or-nothing), list, get, withdraw, load the published ones.

The bundled scheme (``scheme``) is always first and is never stored: it is built from the packaged
text, so it cannot be removed, only superseded by a document that names it in ``supersedes``.
"""

from __future__ import annotations

import builtins
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from knowledge.corpus import Clause, Corpus
from knowledge.documents import SCHEME_ID, DocumentMeta, bundled_scheme, guess_kind
from storage.db import Database
from storage.document_models import DRAFT, PUBLISHED, WITHDRAWN, DocumentClauseRow, DocumentRow

DRAFT_TTL = timedelta(days=2)  # a preview nobody confirmed is dropped after this
_ID_RE = re.compile(r"^[a-z][a-z0-9-]{0,40}$")


class DocumentConflict(Exception):
    """An add/withdraw that cannot be done; ``code`` names the cause for the adapters' messages
    (``title_exists``, ``supersedes_missing``, ``id_exists``, ``bad_id``, ``not_found``, ``bundled``,
    ``already_withdrawn``, ``bad_dates``, ``no_clauses``), ``str()`` is one English line."""

    def __init__(self, code: str, message: str, **params: Any) -> None:
        super().__init__(message)
        self.code = code
        self.params = params


@dataclass(frozen=True)
class NewDocument:
    """What an officer says about a document being added (the clauses come as a Corpus)."""

    title: str
    issued: date
    issued_precision: str = "day"
    valid_until: date | None = None
    valid_until_precision: str = "day"
    validity_years: int | None = None
    supersedes: str | None = None
    kind: str | None = None  # None: guessed from the title
    issuer: str = ""
    filename: str = ""
    format: str = ""
    doc_id: str | None = None  # None: made from kind and year (notice-2027, notice-2027-2 …)


def _meta(row: DocumentRow) -> DocumentMeta:
    return DocumentMeta(
        id=row.id, title=row.title, issuer=row.issuer, issued=row.issued,
        issued_precision=row.issued_precision,  # type: ignore[arg-type]
        valid_until=row.valid_until, supersedes=row.supersedes, kind=row.kind,  # type: ignore[arg-type]
        withdrawn=row.state == WITHDRAWN, valid_until_precision=row.valid_until_precision,  # type: ignore[arg-type]
        validity_years=row.validity_years,
    )


def _corpus(row: DocumentRow, clause_rows: Sequence[DocumentClauseRow]) -> Corpus:
    clauses: dict[str, Clause] = {}
    for r in clause_rows:
        clauses[r.clause_id] = Clause(r.clause_id, r.label, r.label_en, r.title, r.text, r.parent, [],
                                      list(r.path or []), r.sep, r.num)
    for c in clauses.values():
        if c.parent and c.parent in clauses:
            clauses[c.parent].children.append(c.id)
    version = re.search(r"（(试行|暂行)）", row.title)
    return Corpus(title=row.title, version=version.group(1) if version else "", issuer=row.issuer,
                  year=str(row.issued.year), text=row.text, clauses=clauses)


class DocumentStore:
    """Repository of documents over a :class:`~storage.db.Database` (each method is one transaction)."""

    def __init__(self, db: Database, scheme: tuple[DocumentMeta, Corpus] | None = None) -> None:
        self.db = db
        self._scheme = scheme

    @property
    def scheme(self) -> tuple[DocumentMeta, Corpus]:
        if self._scheme is None:
            self._scheme = bundled_scheme()
        return self._scheme

    # -- reading -------------------------------------------------------------------------------
    def list(self, include_withdrawn: bool = False) -> list[DocumentMeta]:
        """The bundled scheme, then published (and, if asked, withdrawn) documents by issue date."""
        states = [PUBLISHED, WITHDRAWN] if include_withdrawn else [PUBLISHED]
        with self.db.session() as s:
            rows = s.scalars(select(DocumentRow).where(DocumentRow.state.in_(states))
                             .order_by(DocumentRow.issued, DocumentRow.created_at, DocumentRow.id)).all()
            return [self.scheme[0], *(_meta(r) for r in rows)]

    def get(self, doc_id: str, *, drafts: bool = False) -> tuple[DocumentMeta, Corpus] | None:
        """One document with its clauses (withdrawn ones too; drafts only when asked)."""
        if doc_id == SCHEME_ID:
            return self.scheme
        with self.db.session() as s:
            row = s.get(DocumentRow, doc_id)
            if row is None or (row.state == DRAFT and not drafts):
                return None
            return _meta(row), _corpus(row, self._clause_rows(s, [row.id]).get(row.id, []))

    def info(self, doc_id: str) -> dict[str, Any] | None:
        """Bookkeeping of a stored document: state, file name and format, clause count, who added it."""
        with self.db.session() as s:
            row = s.get(DocumentRow, doc_id)
            if row is None:
                return None
            return {"state": row.state, "filename": row.filename, "format": row.format,
                    "clauses": row.clause_count, "created_by": row.created_by, "created_at": row.created_at,
                    "content_hash": row.content_hash}

    def load_published(self) -> builtins.list[tuple[DocumentMeta, Corpus]]:
        """Every document answers may cite: the bundled scheme first, then the published ones by issue date."""
        with self.db.session() as s:
            rows = s.scalars(select(DocumentRow).where(DocumentRow.state == PUBLISHED)
                             .order_by(DocumentRow.issued, DocumentRow.created_at, DocumentRow.id)).all()
            clause_rows = self._clause_rows(s, [r.id for r in rows])
            return [self.scheme, *((_meta(r), _corpus(r, clause_rows.get(r.id, []))) for r in rows)]

    def fingerprint(self) -> str:
        """Changes whenever the published set changes (cheap: one query) — replicas poll it to reload."""
        with self.db.session() as s:
            rows = s.execute(select(DocumentRow.id, DocumentRow.content_hash, DocumentRow.supersedes)
                             .where(DocumentRow.state == PUBLISHED).order_by(DocumentRow.id)).all()
        h = hashlib.sha256()
        for r in rows:
            h.update(f"{r[0]}\0{r[1]}\0{r[2]}\n".encode())
        return h.hexdigest()[:16]

    @staticmethod
    def _clause_rows(s: Session, ids: Sequence[str]) -> dict[str, builtins.list[DocumentClauseRow]]:
        out: dict[str, builtins.list[DocumentClauseRow]] = {}
        if not ids:
            return out
        for r in s.scalars(select(DocumentClauseRow).where(DocumentClauseRow.document_id.in_(list(ids)))
                           .order_by(DocumentClauseRow.document_id, DocumentClauseRow.seq)):
            out.setdefault(r.document_id, []).append(r)
        return out

    # -- writing -------------------------------------------------------------------------------
    def add(self, new: NewDocument, corpus: Corpus, now: datetime, by: int | None = None, *,
            publish: bool = True) -> DocumentMeta:
        """Store a document and all its clauses in one transaction (published, or a draft to confirm)."""
        title = re.sub(r"\s+", " ", new.title).strip()
        if not title:
            raise DocumentConflict("no_title", "the document needs a title")
        if not corpus.clauses:
            raise DocumentConflict("no_clauses", "the document has no clauses")
        if new.valid_until is not None and new.valid_until < new.issued:
            raise DocumentConflict("bad_dates", f"valid-until {new.valid_until} is before the issue date "
                                   f"{new.issued}", valid_until=new.valid_until.isoformat(),
                                   issued=new.issued.isoformat())
        if new.doc_id is not None and (not _ID_RE.match(new.doc_id) or new.doc_id == SCHEME_ID):
            raise DocumentConflict("bad_id", f"'{new.doc_id}' cannot be a document id (use lower-case letters, "
                                   "digits and '-', not 'scheme')", doc_id=new.doc_id)
        kind = new.kind or guess_kind(title, new.supersedes)
        attempts = 5
        for attempt in range(attempts):
            try:
                with self.db.session() as s:
                    if publish:
                        self._check_title(s, title)
                    if new.supersedes:
                        self._check_supersedes(s, new.supersedes)
                    if not publish:
                        self._drop_stale_drafts(s, now)
                    doc_id = new.doc_id or self._next_id(s, kind, new.issued.year)
                    if s.get(DocumentRow, doc_id) is not None:
                        raise DocumentConflict("id_exists", f"a document with id '{doc_id}' already exists",
                                               doc_id=doc_id)
                    row = DocumentRow(
                        id=doc_id, title=title, live_title=title if publish else None, issuer=new.issuer,
                        issued=new.issued, issued_precision=new.issued_precision, valid_until=new.valid_until,
                        valid_until_precision=new.valid_until_precision, validity_years=new.validity_years,
                        supersedes=new.supersedes or None, kind=kind, state=PUBLISHED if publish else DRAFT,
                        filename=new.filename[:255], format=new.format, content_hash=corpus.digest,
                        text=corpus.text, clause_count=len(corpus.clauses), created_at=now, created_by=by,
                        published_at=now if publish else None,
                    )
                    s.add(row)
                    s.flush()
                    s.add_all(DocumentClauseRow(
                        document_id=doc_id, clause_id=c.id, seq=i, parent=c.parent, label=c.label[:200],
                        label_en=c.label_en[:300], title=c.title, text=c.text, sep=c.sep[:8],
                        num=c.num[:32] if c.num is not None else None, path=list(c.path),
                    ) for i, c in enumerate(corpus.clauses.values()))
                    s.flush()
                    return _meta(row)
            except IntegrityError:
                # a concurrent add took the id or the title: look again (the checks above now see it)
                if attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def publish(self, doc_id: str, now: datetime, changes: dict[str, Any] | None = None) -> DocumentMeta:
        """Publish a draft (after the officer confirmed the preview), applying last edits to its metadata."""
        try:
            with self.db.session() as s:
                row = s.get(DocumentRow, doc_id, with_for_update=True)
                if row is None or row.state != DRAFT:
                    raise DocumentConflict("not_found", f"no draft document '{doc_id}'", doc_id=doc_id)
                for key, value in (changes or {}).items():
                    setattr(row, key, value)
                if row.valid_until is not None and row.valid_until < row.issued:
                    raise DocumentConflict("bad_dates", f"valid-until {row.valid_until} is before the issue date "
                                           f"{row.issued}", valid_until=row.valid_until.isoformat(),
                                           issued=row.issued.isoformat())
                self._check_title(s, row.title)
                if row.supersedes:
                    self._check_supersedes(s, row.supersedes)
                row.state, row.live_title, row.published_at = PUBLISHED, row.title, now
                s.flush()
                return _meta(row)
        except IntegrityError:
            raise DocumentConflict("title_exists", "a document with this title was published meanwhile") from None

    def update_draft(self, doc_id: str, **changes: Any) -> DocumentMeta:
        with self.db.session() as s:
            row = s.get(DocumentRow, doc_id)
            if row is None or row.state != DRAFT:
                raise DocumentConflict("not_found", f"no draft document '{doc_id}'", doc_id=doc_id)
            for key, value in changes.items():
                setattr(row, key, value)
            return _meta(row)

    def discard(self, doc_id: str) -> bool:
        """Drop a draft; False when there is none (already published or discarded)."""
        with self.db.session() as s:
            res = s.execute(delete(DocumentRow).where(DocumentRow.id == doc_id, DocumentRow.state == DRAFT))
            return bool(res.rowcount)  # type: ignore[attr-defined]

    def withdraw(self, doc_id: str, now: datetime, by: int | None = None) -> DocumentMeta:
        """Take a published document out of the answers (kept for the record; its title becomes free)."""
        if doc_id == SCHEME_ID:
            raise DocumentConflict("bundled", "the bundled scheme cannot be removed, only superseded "
                                   "(add its successor with --supersedes scheme)", doc_id=doc_id)
        with self.db.session() as s:
            row = s.get(DocumentRow, doc_id, with_for_update=True)
            if row is None or row.state == DRAFT:
                raise DocumentConflict("not_found", f"no document with id '{doc_id}'", doc_id=doc_id)
            if row.state == WITHDRAWN:
                raise DocumentConflict("already_withdrawn", f"document '{doc_id}' is already withdrawn",
                                       doc_id=doc_id)
            row.state, row.live_title, row.withdrawn_at, row.withdrawn_by = WITHDRAWN, None, now, by
            return _meta(row)

    # -- checks --------------------------------------------------------------------------------
    def _check_title(self, s: Session, title: str) -> None:
        norm = re.sub(r"\s+", "", title).strip("《》")
        if norm == re.sub(r"\s+", "", self.scheme[0].title):
            raise DocumentConflict("title_exists", f"a document titled 《{title}》 already exists (the bundled "
                                   "scheme)", title=title, doc_id=SCHEME_ID)
        other = s.scalar(select(DocumentRow.id).where(DocumentRow.live_title == title))
        if other is not None:
            raise DocumentConflict("title_exists", f"a document titled 《{title}》 already exists ({other})",
                                   title=title, doc_id=other)

    def _check_supersedes(self, s: Session, doc_id: str) -> None:
        if doc_id == SCHEME_ID:
            return
        state = s.scalar(select(DocumentRow.state).where(DocumentRow.id == doc_id))
        if state != PUBLISHED:
            raise DocumentConflict("supersedes_missing", f"--supersedes names no published document: "
                                   f"'{doc_id}'", doc_id=doc_id)

    @staticmethod
    def _next_id(s: Session, kind: str, year: int) -> str:
        base = f"{kind}-{year}"
        taken = set(s.scalars(select(DocumentRow.id).where(DocumentRow.id.like(f"{base}%"))))
        if base not in taken:
            return base
        n = 2
        while f"{base}-{n}" in taken:
            n += 1
        return f"{base}-{n}"

    @staticmethod
    def _drop_stale_drafts(s: Session, now: datetime) -> None:
        s.execute(delete(DocumentRow).where(DocumentRow.state == DRAFT, DocumentRow.created_at < now - DRAFT_TTL))

    def count(self) -> int:
        with self.db.session() as s:
            return int(s.scalar(select(func.count()).select_from(DocumentRow)
                                .where(DocumentRow.state == PUBLISHED)) or 0)
