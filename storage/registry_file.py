"""The consortium registry file ↔ rows (CSV or XLSX; columns in interfaces.md).

:func:`parse_registry` validates every row and returns the records or every problem found, each with
its line number; :func:`import_registry` writes all records in one transaction or nothing (in batches
of statements, called from a worker thread by the bot so it keeps answering).

Row rules beyond the column types: ``recommending_unit`` is required for ``bottom_up`` (the local
authority's recommendation, 五（五）) and must be empty for ``top_down`` / ``open_competition``;
``ends_on`` must be after ``approved_on`` (no zero-length term) and at most ``MAX_TERM_YEARS`` after it;
``approved_on`` not before 2018 (the scheme) nor after next year; chat ids are non-zero whole numbers of
at most 52 bits (Telegram's range); text cells must not contain line breaks or control characters;
``reported_through`` is a year of the term; unknown or misspelled columns are an error (a misspelled
contact column must never delete contacts). Dates are read by :func:`checks.inputs.parse_date`.

Bounds: the file size (``max_bytes``, 10 MB), the row count (``max_rows``, 50,000), each cell's
length (``MAX_ANY_CELL``), and for XLSX the declared uncompressed size of the zip members
(``MAX_XLSX_EXPANDED``) before anything is parsed; rows are streamed (openpyxl read-only mode) and
the limits are checked while reading, so a "zip bomb" is refused at once.

Every message exists in English and Chinese (``registry_messages.yaml``): :meth:`RowError.text`.

Export: ``deadlines`` holds each deadline as ``KEY@DUE=STATUS`` (``annual:2025@2025-12-31=submitted``,
``custom:TITLE|BASIS@2027-03-31=open``); importing an exported file restores those statuses (on a
new database exactly; on the same one it changes nothing). Cells starting with ``= + - @`` are
written with a leading ``'`` in CSV (removed again on import) and as text cells in XLSX, so no
spreadsheet runs them as formulas.
"""

from __future__ import annotations

import csv
import difflib
import io
import re
import time
import unicodedata
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from checks.deadlines import CLOSED, HISTORY, ROUTES, SUBMITTED, WAIVED, derive_deadlines
from checks.inputs import parse_date
from storage.registry_repo import ConsortiumRecord, DeadlineState, ImportSummary

if TYPE_CHECKING:
    from storage.db import Database

COLUMNS = ("name", "lead_unit", "industry_field", "route", "recommending_unit", "approved_on", "ends_on",
           "contact_chat_ids", "reported_through")
REQUIRED_COLUMNS = ("name", "lead_unit", "route", "approved_on", "ends_on")
EXPORT_COLUMNS = (*COLUMNS, "deadlines")
KNOWN_COLUMNS = (*EXPORT_COLUMNS,)
HEADER_ALIASES = {
    "创新联合体名称": "name", "名称": "name", "牵头单位": "lead_unit", "产业领域": "industry_field",
    "组建方式": "route", "推荐单位": "recommending_unit", "核准日期": "approved_on", "批准日期": "approved_on",
    "存续期至": "ends_on", "存续期结束": "ends_on", "联系人": "contact_chat_ids", "已报送至": "reported_through",
    "截止日期": "deadlines",
}
MAX_BYTES = 10 * 1024 * 1024
MAX_ROWS = 50_000
MAX_CELL = 200  # text columns
MAX_ANY_CELL = 32_767  # any cell (Excel's own limit); the deadlines column may be long
MAX_XLSX_EXPANDED = 150 * 1024 * 1024  # declared uncompressed size of all zip members
MAX_COLUMNS = 64
FIRST_APPROVAL_YEAR = 2018
MAX_TERM_YEARS = 10
MAX_CHAT_ID = 2**52  # Telegram: chat ids have at most 52 significant bits
_ID_SPLIT = re.compile(r"[;；,，\s]+")
TEXT_COLUMNS = ("name", "lead_unit", "industry_field", "recommending_unit")
NEEDS_RECOMMENDING_UNIT = "bottom_up"
FORMULA_LEAD = ("=", "+", "-", "@")
OPEN = "open"  # the export's word for a deadline not marked (CSV and XLSX alike)
STATUS_WORDS = (OPEN, SUBMITTED, WAIVED, HISTORY)
_DL_ITEM = re.compile(r"^(?P<key>annual:\d{4}|end_of_term|custom:.*)@(?P<due>\d{4}-\d{2}-\d{2})=(?P<st>[a-z]+)$", re.S)
_DL_SPLIT = re.compile(r";\s*(?=annual:\d{4}@|end_of_term@|custom:)")


@lru_cache(maxsize=1)
def _messages() -> dict[str, dict[str, str]]:
    path = Path(__file__).with_name("registry_messages.yaml")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {k: {lang: str(v) for lang, v in d.items()} for k, d in data.items()}


def message(key: str, lang: str = "en", **params: Any) -> str:
    entry = _messages()[key]
    return (entry.get(lang) or entry["en"]).format(**params)


class RegistryFileError(Exception):
    """The file as a whole cannot be read (format, encoding, size, columns)."""

    def __init__(self, key: str, **params: Any) -> None:
        self.key, self.params = key, params
        super().__init__(message(key, "en", **params))

    def text(self, lang: str) -> str:
        return message(self.key, lang, **self.params)


@dataclass(frozen=True)
class RowError:
    line: int
    key: str
    params: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def message(self) -> str:
        return message(self.key, "en", **self.params)

    def text(self, lang: str) -> str:
        return message("line", lang, line=self.line, message=message(self.key, lang, **self.params))

    def __str__(self) -> str:
        return self.text("en")


@dataclass
class ParseResult:
    records: list[ConsortiumRecord]
    errors: list[RowError]


@dataclass(frozen=True)
class Limits:
    max_bytes: int = MAX_BYTES
    max_rows: int = MAX_ROWS
    max_cell: int = MAX_ANY_CELL


def _norm_header(h: Any) -> str:
    text = str(h or "").strip().lstrip("\ufeff").strip()
    key = text.lower().replace(" ", "_")
    return HEADER_ALIASES.get(text, key)


def _decode(data: bytes) -> str:
    for enc in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    raise RegistryFileError("not_text")


def _csv_rows(data: bytes) -> Iterator[tuple[int, list[Any]]]:
    text = _decode(data)
    if "\x00" in text:
        raise RegistryFileError("binary")
    sample = text[:4096]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t")
        if dialect.delimiter == ";" and "," in sample.splitlines()[0]:
            dialect = csv.excel
    except csv.Error:
        dialect = csv.excel
    csv.field_size_limit(MAX_ANY_CELL + 1)
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        start = 1
        for row in reader:
            yield start, row
            start = reader.line_num + 1
    except csv.Error:
        raise RegistryFileError("malformed_csv", line=reader.line_num) from None


def _check_zip(data: bytes) -> None:
    """Refuse a workbook whose members declare more than ``MAX_XLSX_EXPANDED`` bytes (a zip bomb)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            total = sum(i.file_size for i in zf.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise RegistryFileError("bad_xlsx", cause=type(exc).__name__) from None
    if total > MAX_XLSX_EXPANDED:
        raise RegistryFileError("xlsx_bomb", limit=MAX_XLSX_EXPANDED // 1024 // 1024)


def _xlsx_rows(data: bytes) -> Iterator[tuple[int, list[Any]]]:
    from openpyxl import load_workbook

    _check_zip(data)
    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, TypeError) as exc:
        raise RegistryFileError("bad_xlsx", cause=type(exc).__name__) from None
    try:
        ws = wb.worksheets[0]
        for i, row in enumerate(ws.iter_rows(values_only=True, max_col=MAX_COLUMNS), start=1):
            yield i, list(row)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, TypeError) as exc:
        raise RegistryFileError("bad_xlsx", cause=type(exc).__name__) from None
    finally:
        wb.close()


def read_rows(data: bytes, filename: str = "", limits: Limits | None = None) -> Iterator[tuple[int, list[Any]]]:
    """(line number, cells) of a CSV or XLSX file, detected by content (XLSX is a zip)."""
    limits = limits or Limits()
    if len(data) > limits.max_bytes:
        raise RegistryFileError("file_too_large", size=len(data) // 1024, limit=round(limits.max_bytes / 1024 / 1024, 1))
    if data[:4] == b"PK\x03\x04":
        return _xlsx_rows(data)
    if filename.lower().endswith((".xlsx", ".xlsm")):
        raise RegistryFileError("damaged_xlsx")
    if filename.lower().endswith(".xls"):
        raise RegistryFileError("old_xls")
    return _csv_rows(data)


def _cell_text(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    text = str(v).strip()
    if len(text) > 1 and text[0] == "'" and text[1] in FORMULA_LEAD:
        return text[1:]  # a cell neutralised by our export
    return text


def _has_control(text: str) -> bool:
    """A line break, tab or other control character (also U+2028/U+2029 line/paragraph separators)."""
    return any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in text)


def _chat_ids(v: Any) -> list[int]:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        if float(v).is_integer() and 0 < abs(int(v)) < MAX_CHAT_ID:
            return [int(v)]
        raise ValueError(str(v))
    out: list[int] = []
    for part in _ID_SPLIT.split(_cell_text(v)):
        if not part:
            continue
        if not re.fullmatch(r"-?\d{1,20}", part) or not 0 < abs(int(part)) < MAX_CHAT_ID:
            raise ValueError(part[:40])
        out.append(int(part))
    return out


def _date_cell(v: Any) -> date:
    return parse_date(_cell_text(v) if isinstance(v, str) else v)


def _check_header(line: int, cells: list[Any]) -> list[str]:
    header = [_norm_header(c) for c in cells]
    known = ", ".join(COLUMNS)
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    unknown = [h for h in header if h and h not in KNOWN_COLUMNS]
    if unknown:
        hints = [difflib.get_close_matches(u, KNOWN_COLUMNS, n=1, cutoff=0.6) for u in unknown]
        suggestion = ", ".join(h[0] for h in hints if h)
        hint = message("did_you_mean", "en", suggestion=suggestion) if suggestion else ""
        raise RegistryFileError("unknown_columns", line=line, unknown=", ".join(unknown), hint=hint, known=known)
    if missing:
        raise RegistryFileError("missing_columns", line=line, missing=", ".join(missing), known=known)
    return header


def parse_registry(data: bytes, filename: str = "", *, today: date | None = None,
                   limits: Limits | None = None) -> ParseResult:
    """Validate a whole registry file. Raises :class:`RegistryFileError` when it cannot be read at all.

    ``today`` bounds the approval date (not after next year); None: no upper bound.
    """
    limits = limits or Limits()
    rows = read_rows(data, filename, limits)
    errors: list[RowError] = []
    records: list[ConsortiumRecord] = []
    header: list[str] | None = None
    seen: dict[str, int] = {}
    count = 0
    for line, cells in rows:
        for c in cells:
            if isinstance(c, str) and len(c) > limits.max_cell:
                raise RegistryFileError("cell_too_long", line=line, limit=limits.max_cell)
        if not any(_cell_text(c) for c in cells):
            continue  # blank lines are skipped
        if header is None:
            header = _check_header(line, cells)
            continue
        count += 1
        if count > limits.max_rows:
            raise RegistryFileError("too_many_rows", limit=limits.max_rows)
        row = {header[i]: cells[i] for i in range(min(len(header), len(cells))) if header[i]}
        rec = _parse_row(line, row, errors, seen, today)
        if rec is not None:
            records.append(rec)
    if header is None:
        raise RegistryFileError("no_header")
    return ParseResult(records, errors)


def _parse_row(line: int, row: dict[str, Any], errors: list[RowError], seen: dict[str, int],
               today: date | None) -> ConsortiumRecord | None:
    before = len(errors)

    def err(key: str, **params: Any) -> None:
        errors.append(RowError(line, key, params))

    text = {k: _cell_text(row.get(k)) for k in EXPORT_COLUMNS}
    for k in REQUIRED_COLUMNS:
        if not text[k]:
            err("empty", column=k)
    for k in TEXT_COLUMNS:
        if len(text[k]) > MAX_CELL:
            err("too_long", column=k, limit=MAX_CELL)
        if _has_control(text[k]):
            err("control", column=k)
    name = text["name"]
    if name:
        if name in seen:
            err("duplicate", name=name[:60], first=seen[name])
        else:
            seen[name] = line
    route = text["route"].lower()
    if text["route"] and route not in ROUTES:
        err("bad_route", route=text["route"][:40])
    elif route == NEEDS_RECOMMENDING_UNIT and not text["recommending_unit"]:
        err("need_recommending")
    elif route and route != NEEDS_RECOMMENDING_UNIT and text["recommending_unit"]:
        err("no_recommending", unit=text["recommending_unit"][:60], route=route)
    dates: dict[str, date] = {}
    for k in ("approved_on", "ends_on"):
        if text[k]:
            try:
                dates[k] = _date_cell(row.get(k))
            except (ValueError, OverflowError):
                err("bad_date", column=k, value=text[k][:40])
    if len(dates) == 2:
        approved, ends = dates["approved_on"], dates["ends_on"]
        last_year = today.year + 1 if today is not None else 9999
        if ends < approved:
            err("ends_before", ends=ends, approved=approved)
        elif ends == approved:
            err("ends_same", ends=ends)
        elif not FIRST_APPROVAL_YEAR <= approved.year <= last_year:
            err("approved_window", approved=approved, first=FIRST_APPROVAL_YEAR, last=last_year)
        elif ends > _add_years(approved, MAX_TERM_YEARS):
            err("term_too_long", approved=approved, ends=ends, years=MAX_TERM_YEARS)
    try:
        ids = _chat_ids(row.get("contact_chat_ids"))
    except ValueError as exc:
        err("bad_chat_id", value=str(exc))
        ids = []
    through: int | None = None
    if text["reported_through"]:
        raw = text["reported_through"]
        first = dates["approved_on"].year if "approved_on" in dates else FIRST_APPROVAL_YEAR
        last = dates["ends_on"].year if "ends_on" in dates else 9999
        if re.fullmatch(r"\d{4}", raw) and first <= int(raw) <= last:
            through = int(raw)
        else:
            err("bad_reported_through", value=raw[:20], first=first, last=last)
    states: tuple[DeadlineState, ...] | None = None
    if text["deadlines"]:
        states = _parse_deadlines(text["deadlines"], err)
    if len(errors) > before:
        return None
    derive_deadlines(dates["approved_on"], dates["ends_on"])  # checked above: cannot raise
    return ConsortiumRecord(name=name, lead_unit=text["lead_unit"], industry_field=text["industry_field"],
                            route=route, recommending_unit=text["recommending_unit"],
                            approved_on=dates["approved_on"], ends_on=dates["ends_on"],
                            contact_chat_ids=tuple(dict.fromkeys(ids)), reported_through=through,
                            deadline_states=states)


def _add_years(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February
        return d.replace(year=d.year + years, day=28)


def _parse_deadlines(cell: str, err: Any) -> tuple[DeadlineState, ...] | None:
    out: list[DeadlineState] = []
    for part in _DL_SPLIT.split(cell.strip().rstrip(";")):
        part = part.strip()
        m = _DL_ITEM.match(part)
        if m is None or m.group("st") not in STATUS_WORDS:
            err("bad_deadlines", value=part[:60])
            return None
        try:
            due = date.fromisoformat(m.group("due"))
        except ValueError:
            err("bad_deadlines", value=part[:60])
            return None
        key = m.group("key")
        title = basis = ""
        if key.startswith("custom:"):
            title, _, basis = key[len("custom:"):].partition("|")
            key = ""
        status = None if m.group("st") == OPEN else m.group("st")
        out.append(DeadlineState(rule_key=key or None, title=title, basis=basis, due_on=due, status=status))
    return tuple(out)


IMPORT_BATCH = 200  # consortia written per transaction


def import_registry(db: Database, data: bytes, filename: str, now: datetime, *, today: date | None = None,
                    limits: Limits | None = None, batch: int = IMPORT_BATCH) -> tuple[ImportSummary | None, list[RowError]]:
    """Parse and validate the whole file; when every row is valid, write the rows.

    Nothing is written unless every row is valid. The rows are then written in transactions of
    ``batch`` consortia, so other work on the database (the bot answering, on SQLite one writer at
    a time) goes on between them; a failure of the database itself half-way (a full disk) leaves
    the batches before it, and importing the same file again completes it (an import is
    idempotent). ``today`` is the local calendar day of the import (deadlines due before it are
    history for a consortium imported for the first time); default: ``now``'s UTC date.
    """
    from storage import registry_repo

    today = today or now.date()
    result = parse_registry(data, filename, today=today, limits=limits)
    if result.errors:
        return None, result.errors
    total = ImportSummary()
    records = result.records
    for i in range(0, len(records), max(1, batch)):
        with db.session() as s:
            part = registry_repo.apply_records(s, records[i:i + max(1, batch)], now, today=today)
        total.created += part.created
        total.updated += part.updated
        total.unchanged += part.unchanged
        total.history += part.history
        total.done += part.done
        time.sleep(0.02)  # let other threads waiting on the database take their turn (locks are not fair)
    return total, []


# -- export ----------------------------------------------------------------------------------

def status_word(status: str | None) -> str:
    return status if status in CLOSED else OPEN


def deadline_item(rule_key: str | None, kind: str, title: str, basis: str, due_on: date, status: str | None) -> str:
    label = rule_key or f"custom:{title}" + (f"|{basis}" if basis else "")
    return f"{label}@{due_on.isoformat()}={status_word(status)}"


def _deadline_cell(deadlines: Iterable[Any]) -> str:
    return "; ".join(deadline_item(d.rule_key, d.kind, d.title, d.basis, d.due_on, d.status) for d in deadlines)


def neutralise(value: Any) -> Any:
    """A text cell a spreadsheet would run as a formula gets a leading apostrophe (CSV export)."""
    if isinstance(value, str) and value.startswith(FORMULA_LEAD):
        return "'" + value
    return value


def export_rows(db: Database) -> tuple[list[list[Any]], list[list[Any]]]:
    """(registry rows with a deadlines column, one row per deadline) — headers included."""
    from storage import registry_repo

    reg: list[list[Any]] = [list(EXPORT_COLUMNS)]
    dls: list[list[Any]] = [["id", "name", "kind", "rule_key", "title", "due_on", "clause", "status", "status_at",
                             "basis"]]
    with db.session() as s:
        for c in registry_repo.all_consortia(s):
            reg.append([c.name, c.lead_unit, c.industry_field, c.route, c.recommending_unit,
                        c.approved_on.isoformat(), c.ends_on.isoformat(),
                        ";".join(str(ct.chat_id) for ct in c.contacts),
                        str(c.reported_through) if c.reported_through is not None else "",
                        _deadline_cell(c.deadlines)])
            for d in c.deadlines:
                dls.append([d.id, c.name, d.kind, d.rule_key or "", d.title, d.due_on.isoformat(), d.clause,
                            status_word(d.status), d.status_at.isoformat() if d.status_at else "", d.basis])
    return reg, dls


def export_registry(db: Database, path: Path) -> int:
    """Write ``path`` (.csv: UTF-8 with BOM so Excel opens it; .xlsx: a registry and a deadlines sheet)."""
    reg, dls = export_rows(db)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open("w", encoding="utf-8-sig", newline="") as fh:
            csv.writer(fh).writerows([[neutralise(v) for v in row] for row in reg])
    elif suffix == ".xlsx":
        from openpyxl import Workbook

        wb = Workbook()
        ws = wb.active
        assert ws is not None
        ws.title = "registry"
        _write_sheet(ws, reg)
        _write_sheet(wb.create_sheet("deadlines"), dls)
        wb.save(path)
    else:
        raise RegistryFileError("bad_xlsx", cause=f"unknown export format '{path.suffix}' (use .csv or .xlsx)")
    return len(reg) - 1


def _write_sheet(ws: Any, rows: list[list[Any]]) -> None:
    """Every string as a text cell (never a formula, whatever it starts with)."""
    for r, row in enumerate(rows, start=1):
        for c, value in enumerate(row, start=1):
            cell = ws.cell(row=r, column=c)
            cell.value = value
            if isinstance(value, str):
                cell.data_type = "s"


__all__ = [
    "COLUMNS", "EXPORT_COLUMNS", "MAX_BYTES", "MAX_ROWS", "Limits", "ParseResult", "RegistryFileError", "RowError",
    "export_registry", "export_rows", "import_registry", "message", "neutralise", "parse_registry", "read_rows",
    "status_word",
]
