"""Documents and their versions: what each document is, whether it is in force on a date, the notice an
answer citing it carries, and what changed between two versions, clause by clause.

Pure: dates are arguments, nothing reads the clock. The bundled scheme is the document ``scheme``
(:func:`bundled_scheme`); documents that officers add come from the database as the same
:class:`DocumentMeta` + :class:`~knowledge.corpus.Corpus` pairs.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml

from checks.engine import add_years
from checks.inputs import cn_numeral, parse_date
from knowledge.corpus import Clause, Corpus, load

DocKind = Literal["scheme", "notice", "revised", "faq", "other"]
Status = Literal["in_force", "lapsed", "superseded", "unknown"]
Precision = Literal["day", "year"]
KINDS: tuple[str, ...] = ("scheme", "notice", "revised", "faq", "other")
STATUSES: tuple[str, ...] = ("in_force", "lapsed", "superseded", "unknown")
SCHEME_ID = "scheme"
SCHEME_TITLE = "云南省创新联合体建设管理工作方案（试行）"
SCHEME_ISSUER = "云南省科学技术厅"
MESSAGES_FILE = Path(__file__).parent / "data" / "documents.yaml"


@dataclass(frozen=True)
class DocumentMeta:
    """What is known about one document, apart from its clauses.

    ``issued`` with ``issued_precision == "year"`` means "some day in that year" (stored as 1 January).
    ``valid_until`` is the last day in force; with ``valid_until_precision == "year"`` it is only known
    to fall in that year (stored as 31 December), as for a year-dated text that is valid N years.
    """

    id: str
    title: str
    issuer: str
    issued: date
    issued_precision: Precision = "day"
    valid_until: date | None = None
    supersedes: str | None = None
    kind: DocKind = "other"
    withdrawn: bool = False
    valid_until_precision: Precision = "day"
    validity_years: int | None = None  # the text's own 有效期N年, when it says so

    def issued_text(self, lang: str = "zh") -> str:
        return fmt_date(self.issued, self.issued_precision, lang)

    def valid_until_text(self, lang: str = "zh") -> str:
        return fmt_date(self.valid_until, self.valid_until_precision, lang) if self.valid_until else ""

    def iso_issued(self) -> str:
        """``2022`` (year precision) or ``2026-03-01``."""
        return str(self.issued.year) if self.issued_precision == "year" else self.issued.isoformat()

    def iso_valid_until(self) -> str | None:
        if self.valid_until is None:
            return None
        return str(self.valid_until.year) if self.valid_until_precision == "year" else self.valid_until.isoformat()


@dataclass(frozen=True)
class ClauseChange:
    """One clause that differs between two versions of a document."""

    kind: Literal["added", "removed", "changed"]
    old_id: str | None
    new_id: str | None
    old_label: str
    new_label: str
    old_text: str  # the clause's own heading and text, as printed ("" when added)
    new_text: str  # ("" when removed)

    @property
    def label(self) -> str:
        return self.new_label or self.old_label

    @property
    def renumbered(self) -> bool:
        return self.kind == "changed" and self.old_id != self.new_id

    @property
    def text_changed(self) -> bool:
        """False for a clause that only moved (a new number, the same words)."""
        return self.kind != "changed" or _norm(self.old_text) != _norm(self.new_text)

    def fragments(self, context: int = 8, limit: int = 4) -> list[tuple[str, str]]:
        """What was replaced, as (old, new) snippets with a little context: ``…不低于2:1的…`` → ``…不低于1:1的…``."""
        return changed_fragments(self.old_text, self.new_text, context, limit)


# -- validity ------------------------------------------------------------------------------------

_YEARS_RE = re.compile(r"有效期(?:为|是)?\s*([0-9０-９]{1,2}|[一二两三四五六七八九十]{1,3})\s*年")
_UNTIL_RE = re.compile(r"有效期(?:至|到|截至|截止到|截止)\s*(\d{4}\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日)")
_FULLWIDTH = str.maketrans("０１２３４５６７８９", "0123456789")


def validity_years_in(text: str) -> int | None:
    """有效期3年 / 有效期为五年 → 3 / 5; None when the text states no period in years."""
    m = _YEARS_RE.search(text)
    if not m:
        return None
    raw = m.group(1).translate(_FULLWIDTH)
    value = int(raw) if raw.isdigit() else cn_numeral(raw)
    if value is None or not 0 < int(value) <= 50:
        return None
    return int(value)


def valid_until_from_text(text: str, issued: date, precision: Precision = "day") -> date | None:
    """The last day in force that the text's own validity clause gives.

    有效期至2027年12月31日 → that day; 有效期3年 → issued + 3 years − 1 day (year precision: 31 December of
    issued year + 3, the latest it can be). None when the text says neither.
    """
    m = _UNTIL_RE.search(text)
    if m:
        try:
            return parse_date(re.sub(r"\s+", "", m.group(1)))
        except ValueError:
            pass
    years = validity_years_in(text)
    if years is None:
        return None
    if precision == "year":
        return date(issued.year + years, 12, 31)
    return add_years(issued, years) - timedelta(days=1)


def validity(text: str, issued: date, precision: Precision = "day") -> tuple[date | None, Precision, int | None]:
    """(valid_until, its precision, validity years) read from a document's text."""
    until = valid_until_from_text(text, issued, precision)
    if until is None:
        return None, "day", None
    explicit = _UNTIL_RE.search(text) is not None
    years = None if explicit else validity_years_in(text)
    return until, ("year" if precision == "year" and not explicit else "day"), years


def _started(meta: DocumentMeta, today: date) -> bool:
    if meta.issued_precision == "year":
        return meta.issued.year <= today.year
    return meta.issued <= today


def successor_of(meta: DocumentMeta, today: date, all_metas: Iterable[DocumentMeta]) -> DocumentMeta | None:
    """The published document that supersedes ``meta`` and has been issued by ``today`` (the latest one)."""
    found = [m for m in all_metas if m.supersedes == meta.id and m.id != meta.id and not m.withdrawn
             and _started(m, today)]
    return max(found, key=lambda m: m.issued) if found else None


def status_on(meta: DocumentMeta, today: date, all_metas: Iterable[DocumentMeta]) -> Status:
    """``in_force``, ``lapsed`` (its validity ran out, or it was withdrawn), ``superseded`` (a newer
    document that says it replaces this one has been issued) or ``unknown`` (not issued yet, or its
    validity ends some time in the current year and the day is not known)."""
    if meta.withdrawn:
        return "lapsed"
    if successor_of(meta, today, all_metas) is not None:
        return "superseded"
    if not _started(meta, today):
        return "unknown"
    until = meta.valid_until
    if until is None:
        return "in_force"
    if meta.valid_until_precision == "year":
        if today.year < until.year:
            return "in_force"
        return "unknown" if today.year == until.year else "lapsed"
    return "in_force" if today <= until else "lapsed"


# -- notices -------------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def messages() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(MESSAGES_FILE.read_text(encoding="utf-8"))
    return data


def fmt_date(d: date, precision: Precision = "day", lang: str = "zh") -> str:
    """2022年 / 2026年3月1日 (zh); 2022 / 2026-03-01 (en)."""
    if precision == "year":
        return f"{d.year}年" if lang == "zh" else str(d.year)
    return f"{d.year}年{d.month}月{d.day}日" if lang == "zh" else d.isoformat()


def document_noun(title: str, lang: str) -> str:
    """该方案 / 该通知 / 该办法 … (this scheme / this notice …) from how the title ends."""
    core = re.sub(r"[（(][^）)]*[）)]\s*$", "", title.strip()).strip("《》 ")
    for entry in messages()["nouns"]:
        if core.endswith(entry["suffix"]):
            return str(entry[lang])
    return str(messages()["nouns"][-1][lang])


def issuer_short(issuer: str, lang: str) -> str:
    entry = messages()["issuers"].get(issuer.strip())
    if entry:
        return str(entry[lang])
    if issuer.strip():
        return issuer.strip()
    return str(messages()["issuers"][SCHEME_ISSUER][lang])


def notice(meta: DocumentMeta, status: str, lang: str = "zh", successor: DocumentMeta | None = None) -> str:
    """The short warning an answer citing ``meta`` carries on the day ``status`` was judged; "" when in force.

    e.g. 「提示：该方案2022年印发、有效期3年，可能已到期，请以省科技厅最新文件为准」.
    """
    lang = "en" if lang == "en" else "zh"
    if status == "in_force":
        return ""
    kw = {
        "doc": document_noun(meta.title, lang),
        "issued": meta.issued_text(lang),
        "until": meta.valid_until_text(lang),
        "years": meta.validity_years or "",
        "issuer": issuer_short(meta.issuer, lang),
    }
    m = messages()
    if status == "superseded":
        if successor is None:
            return str(m["superseded_unnamed"][lang]).format(**kw)
        return str(m["superseded"][lang]).format(successor=f"《{successor.title}》",
                                                  successor_issued=successor.issued_text(lang), **kw)
    if status in ("lapsed", "unknown") and meta.valid_until is not None and not meta.withdrawn:
        if meta.validity_years and (meta.valid_until_precision == "year" or meta.issued_precision == "year"):
            return str(m["lapsed_years_maybe"][lang]).format(**kw)
        if status == "lapsed":
            key = "lapsed_years" if meta.validity_years else "lapsed_until"
            return str(m[key][lang]).format(**kw)
    return str(m["unknown"][lang]).format(**kw)


def notice_on(meta: DocumentMeta, today: date, all_metas: Sequence[DocumentMeta], lang: str = "zh") -> str:
    """:func:`notice` for the status on ``today`` (naming the successor when there is one)."""
    status = status_on(meta, today, all_metas)
    if status == "unknown" and not _started(meta, today):
        return str(messages()["not_yet"]["en" if lang == "en" else "zh"]).format(
            doc=document_noun(meta.title, lang), issued=meta.issued_text(lang), until="", years="",
            issuer=issuer_short(meta.issuer, lang))
    return notice(meta, status, lang, successor_of(meta, today, all_metas))


def validity_summary(meta: DocumentMeta, today: date, all_metas: Sequence[DocumentMeta], lang: str = "zh") -> str:
    """A computed answer to "is it still valid?": issued, valid until, status on ``today``.

    e.g. 《云南省创新联合体建设管理工作方案（试行）》由云南省科学技术厅于2022年印发，有效期自印发之日起3年（2025年内到期）；
    按2026年12月1日判断：已失效。
    """
    lang = "en" if lang == "en" else "zh"
    m = messages()
    until = meta.valid_until_text(lang)
    if meta.valid_until is None:
        validity_text = str(m["validity_none"][lang])
    elif meta.validity_years:
        key = "validity_years_year" if meta.valid_until_precision == "year" else "validity_years_day"
        validity_text = str(m[key][lang]).format(years=meta.validity_years, until=until)
    else:
        validity_text = str(m["validity_until"][lang]).format(until=until)
    status = status_on(meta, today, all_metas)
    if status == "superseded":
        succ = successor_of(meta, today, all_metas)
        status_text = str(m["status_superseded"][lang]).format(successor=f"《{succ.title}》" if succ else "")
    elif status == "unknown" and not _started(meta, today):
        status_text = str(m["status_not_yet"][lang])
    else:
        status_text = str(m[f"status_{status}"][lang])
    issuer, issued = meta.issuer or issuer_short("", lang), meta.issued_text(lang)
    if lang == "en":  # an English reader gets the issuer's English name (or its Chinese one in parentheses)
        known = messages()["issuers"].get(issuer.strip())
        issuer = str(known["en"]) if known else f"the issuer ({issuer})"
        issued = ("in " if meta.issued_precision == "year" else "on ") + issued
    return str(m["summary"][lang]).format(title=meta.title, issuer=issuer,
                                          issued=issued, validity=validity_text,
                                          today=fmt_date(today, "day", lang), status=status_text)


# -- the bundled scheme --------------------------------------------------------------------------

def bundled_scheme(corpus: Corpus | None = None) -> tuple[DocumentMeta, Corpus]:
    """The scheme shipped with the package as document ``scheme``: issued 2022 (its form says 2022年制),
    valid the 3 years its closing clause states."""
    c = corpus or load()
    year = int(c.year) if c.year.isdigit() else 2022
    issued = date(year, 1, 1)
    closing = c.clauses.get("closing")
    until, until_precision, years = validity(closing.text if closing else c.text, issued, "year")
    meta = DocumentMeta(
        id=SCHEME_ID, title=c.title or SCHEME_TITLE, issuer=c.issuer or SCHEME_ISSUER, issued=issued,
        issued_precision="year", valid_until=until, supersedes=None, kind="scheme",
        valid_until_precision=until_precision, validity_years=years,
    )
    return meta, c


def guess_kind(title: str, supersedes: str | None = None) -> DocKind:
    """notice (通知/公告/指南), faq (问答/解读/FAQ), revised (办法/细则, or anything that supersedes), other."""
    t = title.lower()
    if re.search(r"问答|解读|答疑|解答|常见问题|faq|q&a", t):
        return "faq"
    if supersedes or re.search(r"办法|细则|修订|方案|measures|revised|scheme|regulation", t):
        return "revised"
    if re.search(r"通知|公告|公示|指南|通告|notice|call for|announcement|guideline", t):
        return "notice"
    return "other"


# -- clause-by-clause differences ----------------------------------------------------------------

def clause_text(c: Clause) -> str:
    """A clause's own heading and words, without its number (numbers may move between versions)."""
    if c.title and c.text:
        return f"{c.title}{c.sep}{c.text}"
    if c.title:
        return c.title + (c.sep if c.sep in ("。", "：", ":") else "")
    return c.text


def _norm(text: str) -> str:
    """Whitespace and closing punctuation do not count as a change."""
    return re.sub(r"[\s。：:；;，,]+$", "", re.sub(r"\s+", "", text))


def diff(old: Corpus, new: Corpus) -> list[ClauseChange]:
    """What changed from ``old`` to ``new``, clause by clause, in the new document's order (removed
    clauses where they stood).

    Clauses are matched in document order, a parent before its children: by id when the heading is the
    same (and the parents correspond), else by heading (a section that moved: 五、组建程序 → 六、组建程序),
    else by id (a heading that was reworded); what is left is matched by identical text (renumbered)."""
    pairs: dict[str, str] = {}  # new id -> old id
    used_old: set[str] = set()

    def heading(c: Clause) -> str:
        return _norm(c.title)

    def parent_ok(nc: Clause, oc: Clause) -> bool:
        return pairs.get(nc.parent) == oc.parent if nc.parent else oc.parent is None

    old_by_heading: dict[str, list[str]] = {}
    for cid, c in old.clauses.items():
        if heading(c):
            old_by_heading.setdefault(heading(c), []).append(cid)

    for cid, c in new.clauses.items():  # same id and heading, or the same heading elsewhere
        same = old.clauses.get(cid)
        if same is not None and cid not in used_old and heading(same) == heading(c) and parent_ok(c, same):
            pairs[cid] = cid
        elif heading(c) and any(o not in used_old for o in old_by_heading.get(heading(c), [])):
            cands = [o for o in old_by_heading[heading(c)] if o not in used_old]
            cands.sort(key=lambda o: not parent_ok(c, old.clauses[o]))
            pairs[cid] = cands[0]
        else:
            continue
        used_old.add(pairs[cid])
    for cid, c in new.clauses.items():  # the same number, reworded heading (or children of a moved parent)
        same = old.clauses.get(cid)
        if cid not in pairs and same is not None and cid not in used_old and parent_ok(c, same):
            pairs[cid] = cid
            used_old.add(cid)
    old_by_text: dict[str, list[str]] = {}
    for cid, c in old.clauses.items():
        if cid not in used_old and _norm(clause_text(c)):
            old_by_text.setdefault(_norm(clause_text(c)), []).append(cid)
    for cid, c in new.clauses.items():
        if cid in pairs:
            continue
        same_text = old_by_text.get(_norm(clause_text(c)))
        if same_text:
            pairs[cid] = same_text.pop(0)
            used_old.add(pairs[cid])

    out: list[ClauseChange] = []
    old_order = list(old.clauses)
    emitted_old: set[str] = set()

    def flush_removed_before(old_id: str | None) -> None:
        # removed clauses that stood before ``old_id`` in the old document (all remaining when None)
        stop = old_order.index(old_id) if old_id is not None else len(old_order)
        for oid in old_order[:stop]:
            if oid not in used_old and oid not in emitted_old:
                oc = old.clauses[oid]
                out.append(ClauseChange("removed", oid, None, oc.label, "", clause_text(oc), ""))
                emitted_old.add(oid)

    for cid, c in new.clauses.items():
        oid = pairs.get(cid)
        if oid is None:
            out.append(ClauseChange("added", None, cid, "", c.label, "", clause_text(c)))
            continue
        flush_removed_before(oid)
        oc = old.clauses[oid]
        if _norm(clause_text(oc)) != _norm(clause_text(c)) or oid != cid:
            out.append(ClauseChange("changed", oid, cid, oc.label, c.label, clause_text(oc), clause_text(c)))
    flush_removed_before(None)
    return out


def changed_fragments(old: str, new: str, context: int = 8, limit: int = 4) -> list[tuple[str, str]]:
    """The replaced parts of two texts, each with ``context`` characters either side."""
    if not old or not new:
        return []
    sm = difflib.SequenceMatcher(None, old, new, autojunk=False)
    out: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in sm.get_opcodes():
        if op == "equal":
            continue
        a0, b0 = max(0, i1 - context), max(0, j1 - context)
        a1, b1 = min(len(old), i2 + context), min(len(new), j2 + context)
        left = "…" if a0 > 0 else ""
        out.append((left + old[a0:a1] + ("…" if a1 < len(old) else ""),
                    ("…" if b0 > 0 else "") + new[b0:b1] + ("…" if b1 < len(new) else "")))
        if len(out) >= limit:
            break
    return out


__all__ = [
    "KINDS", "SCHEME_ID", "STATUSES", "ClauseChange", "DocKind", "DocumentMeta", "Status", "bundled_scheme",
    "diff", "guess_kind", "notice", "notice_on", "status_on", "successor_of", "valid_until_from_text", "validity",
    "validity_summary",
]
