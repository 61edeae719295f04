"""Reading and writing the consortium registry file (CSV or XLSX; columns in interfaces.md).

:func:`parse_registry` validates every row and returns the records or every problem found, each with
its line number; :func:`import_registry` writes all records in one transaction or nothing.

Row rules beyond the column types: ``recommending_unit`` is required for ``bottom_up`` (the local
authority's recommendation, 五（五）) and must be empty for ``top_down`` / ``open_competition``;
``ends_on`` must be after ``approved_on`` (no zero-length term); text cells must not contain line
breaks or control characters. Dates: Excel date cells and serial day numbers, or text
``YYYY-MM-DD`` — also read: ``YYYY/M/D``, ``YYYY.M.D`` and ``YYYY年M月D日`` (the error message says so).
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from checks.deadlines import ROUTES, derive_deadlines
from storage.registry_repo import ConsortiumRecord, ImportSummary

if TYPE_CHECKING:
    from storage.db import Database

COLUMNS = ("name", "lead_unit", "industry_field", "route", "recommending_unit", "approved_on", "ends_on",
           "contact_chat_ids")
REQUIRED_COLUMNS = ("name", "lead_unit", "route", "approved_on", "ends_on")
EXPORT_COLUMNS = (*COLUMNS, "deadlines")
HEADER_ALIASES = {
    "创新联合体名称": "name", "名称": "name", "牵头单位": "lead_unit", "产业领域": "industry_field",
    "组建方式": "route", "推荐单位": "recommending_unit", "核准日期": "approved_on", "批准日期": "approved_on",
    "存续期至": "ends_on", "存续期结束": "ends_on", "联系人": "contact_chat_ids",
}
MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 20_000
MAX_CELL = 200
EXCEL_EPOCH = date(1899, 12, 30)
_DATE_RE = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:[ T]00:00(?::00)?)?$")
_ID_SPLIT = re.compile(r"[;；,，\s]+")
DATE_HELP = "use YYYY-MM-DD; YYYY/M/D, YYYY.M.D, YYYY年M月D日 and Excel date cells are also read"
TEXT_COLUMNS = ("name", "lead_unit", "industry_field", "recommending_unit")
NEEDS_RECOMMENDING_UNIT = "bottom_up"


class RegistryFileError(Exception):
    """The file as a whole cannot be read (format, encoding, size)."""


@dataclass(frozen=True)
class RowError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass
class ParseResult:
    records: list[ConsortiumRecord]
    errors: list[RowError]


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
    raise RegistryFileError("the CSV file is neither UTF-8 nor GBK text")


def _csv_rows(data: bytes) -> Iterator[tuple[int, list[Any]]]:
    text = _decode(data)
    if "\x00" in text:
        raise RegistryFileError("the file is not a CSV text file (binary content)")
    sample = text[:4096]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t")
        if dialect.delimiter == ";" and "," in sample.splitlines()[0]:
            dialect = csv.excel
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        start = 1
        for row in reader:
            yield start, row
            start = reader.line_num + 1
    except csv.Error as exc:
        raise RegistryFileError(f"the CSV file is malformed near line {reader.line_num}: {exc}") from None


def _xlsx_rows(data: bytes) -> Iterator[tuple[int, list[Any]]]:
    import zipfile

    from openpyxl import load_workbook

    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise RegistryFileError(f"the file is not a readable .xlsx workbook ({type(exc).__name__})") from None
    try:
        ws = wb.worksheets[0]
        for i, row in enumerate(ws.iter_rows(values_only=True), start=1):
            yield i, list(row)
    finally:
        wb.close()


def read_rows(data: bytes, filename: str = "") -> Iterator[tuple[int, list[Any]]]:
    """(line number, cells) of a CSV or XLSX file, detected by content (XLSX is a zip)."""
    if len(data) > MAX_BYTES:
        raise RegistryFileError(f"the file is too large ({len(data) // 1024} KB; the limit is {MAX_BYTES // 1024 // 1024} MB)")
    if data[:4] == b"PK\x03\x04":
        return _xlsx_rows(data)
    if filename.lower().endswith((".xlsx", ".xlsm")):
        raise RegistryFileError("the .xlsx file is damaged or not a workbook")
    if filename.lower().endswith(".xls"):
        raise RegistryFileError("old .xls workbooks are not supported: save it as .xlsx or CSV")
    return _csv_rows(data)


def _cell_text(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


def parse_date(v: Any) -> date:
    """YYYY-MM-DD (also YYYY/M/D, YYYY.M.D, YYYY年M月D日), a date/datetime cell, or an Excel serial day number."""
    if isinstance(v, datetime):
        return v.date()
    if isinstance(v, date):
        return v
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        if 1 <= v < 2958466:
            return EXCEL_EPOCH + timedelta(days=int(v))
        raise ValueError
    text = _cell_text(v)
    if re.fullmatch(r"\d{5}(\.0+)?", text):  # an Excel serial number that went through CSV
        return EXCEL_EPOCH + timedelta(days=int(float(text)))
    m = _DATE_RE.match(text)
    if not m:
        raise ValueError
    return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))


def _has_control(text: str) -> bool:
    """A line break, tab or other control character (also U+2028/U+2029 line/paragraph separators)."""
    return any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in text)


def _chat_ids(v: Any) -> list[int]:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        if float(v).is_integer():
            return [int(v)]
        raise ValueError(str(v))
    out: list[int] = []
    for part in _ID_SPLIT.split(_cell_text(v)):
        if not part:
            continue
        if not re.fullmatch(r"-?\d{1,20}", part):
            raise ValueError(part)
        out.append(int(part))
    return out


def parse_registry(data: bytes, filename: str = "") -> ParseResult:
    """Validate a whole registry file. Raises :class:`RegistryFileError` when it cannot be read at all."""
    rows = read_rows(data, filename)
    errors: list[RowError] = []
    records: list[ConsortiumRecord] = []
    header: list[str] | None = None
    header_line = 0
    seen: dict[str, int] = {}
    count = 0
    for line, cells in rows:
        if not any(_cell_text(c) for c in cells):
            continue  # blank lines are skipped
        if header is None:
            header = [_norm_header(c) for c in cells]
            header_line = line
            missing = [c for c in REQUIRED_COLUMNS if c not in header]
            if missing:
                known = ", ".join(COLUMNS)
                raise RegistryFileError(
                    f"line {line}: missing required column(s) {', '.join(missing)} (the columns are: {known})")
            continue
        count += 1
        if count > MAX_ROWS:
            raise RegistryFileError(f"too many rows (more than {MAX_ROWS}); split the file")
        row = {header[i]: cells[i] for i in range(min(len(header), len(cells))) if header[i]}
        rec = _parse_row(line, row, errors, seen)
        if rec is not None:
            records.append(rec)
    if header is None:
        raise RegistryFileError("the file is empty (no header row)")
    _ = header_line
    return ParseResult(records, errors)


def _parse_row(line: int, row: dict[str, Any], errors: list[RowError], seen: dict[str, int]) -> ConsortiumRecord | None:
    before = len(errors)

    def err(msg: str) -> None:
        errors.append(RowError(line, msg))

    text = {k: _cell_text(row.get(k)) for k in COLUMNS}
    for k in ("name", "lead_unit", "route", "approved_on", "ends_on"):
        if not text[k]:
            err(f"{k} is empty")
    for k in TEXT_COLUMNS:
        if len(text[k]) > MAX_CELL:
            err(f"{k} is longer than {MAX_CELL} characters")
        if _has_control(text[k]):
            err(f"{k} contains a line break or control character")
    name = text["name"]
    if name:
        if name in seen:
            err(f"duplicate name '{name}' (first on line {seen[name]})")
        else:
            seen[name] = line
    route = text["route"].lower()
    if text["route"] and route not in ROUTES:
        err(f"unknown route '{text['route']}' (use top_down, open_competition or bottom_up)")
    elif route == NEEDS_RECOMMENDING_UNIT and not text["recommending_unit"]:
        err("recommending_unit is empty: a bottom_up consortium needs the local authority that recommends it (五（五）)")
    elif route and route != NEEDS_RECOMMENDING_UNIT and text["recommending_unit"]:
        err(f"recommending_unit '{text['recommending_unit']}' must be empty for route {route} "
            "(only bottom_up consortia have a recommending unit)")
    dates: dict[str, date] = {}
    for k in ("approved_on", "ends_on"):
        if text[k]:
            try:
                dates[k] = parse_date(row.get(k))
            except (ValueError, OverflowError):
                err(f"{k} '{text[k]}' is not a date ({DATE_HELP})")
    if len(dates) == 2 and dates["ends_on"] < dates["approved_on"]:
        err(f"ends_on {dates['ends_on']} is before approved_on {dates['approved_on']}")
    elif len(dates) == 2 and dates["ends_on"] == dates["approved_on"]:
        err(f"ends_on {dates['ends_on']} is the approval date: the term must end after approved_on")
    try:
        ids = _chat_ids(row.get("contact_chat_ids"))
    except ValueError as exc:
        err(f"contact_chat_ids: '{exc}' is not a numeric Telegram chat id")
        ids = []
    if len(errors) > before:
        return None
    try:
        derive_deadlines(dates["approved_on"], dates["ends_on"])
    except ValueError as exc:  # pragma: no cover - checked above
        err(str(exc))
        return None
    return ConsortiumRecord(name=name, lead_unit=text["lead_unit"], industry_field=text["industry_field"],
                            route=route, recommending_unit=text["recommending_unit"],
                            approved_on=dates["approved_on"], ends_on=dates["ends_on"],
                            contact_chat_ids=tuple(dict.fromkeys(ids)))


def import_registry(db: Database, data: bytes, filename: str, now: datetime) -> tuple[ImportSummary | None, list[RowError]]:
    """Parse and, when every row is valid, write all rows in one transaction."""
    from storage import registry_repo

    result = parse_registry(data, filename)
    if result.errors:
        return None, result.errors
    with db.session() as s:
        summary = registry_repo.apply_records(s, result.records, now)
    return summary, []


# -- export ----------------------------------------------------------------------------------

OPEN = "open"  # the export's word for a deadline not marked submitted or waived (CSV and XLSX alike)


def status_word(status: str | None) -> str:
    return status or OPEN


def _deadline_cell(deadlines: Iterable[Any]) -> str:
    parts = []
    for d in deadlines:
        label = d.rule_key or f"custom:{d.title}"
        parts.append(f"{label}@{d.due_on.isoformat()}={status_word(d.status)}")
    return "; ".join(parts)


def export_rows(db: Database) -> tuple[list[list[Any]], list[list[Any]]]:
    """(registry rows with a deadlines column, one row per deadline) — headers included."""
    from storage import registry_repo

    reg: list[list[Any]] = [list(EXPORT_COLUMNS)]
    dls: list[list[Any]] = [["id", "name", "kind", "rule_key", "title", "due_on", "clause", "status", "status_at"]]
    with db.session() as s:
        for c in registry_repo.all_consortia(s):
            reg.append([c.name, c.lead_unit, c.industry_field, c.route, c.recommending_unit,
                        c.approved_on.isoformat(), c.ends_on.isoformat(),
                        ";".join(str(ct.chat_id) for ct in c.contacts), _deadline_cell(c.deadlines)])
            for d in c.deadlines:
                dls.append([d.id, c.name, d.kind, d.rule_key or "", d.title, d.due_on.isoformat(), d.clause,
                            status_word(d.status), d.status_at.isoformat() if d.status_at else ""])
    return reg, dls


def export_registry(db: Database, path: Path) -> int:
    """Write ``path`` (.csv: UTF-8 with BOM so Excel opens it; .xlsx: a registry and a deadlines sheet)."""
    reg, dls = export_rows(db)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open("w", encoding="utf-8-sig", newline="") as fh:
            csv.writer(fh).writerows(reg)
    elif suffix == ".xlsx":
        from openpyxl import Workbook

        wb = Workbook()
        ws = wb.active
        assert ws is not None
        ws.title = "registry"
        for row in reg:
            ws.append(row)
        ws2 = wb.create_sheet("deadlines")
        for row in dls:
            ws2.append(row)
        wb.save(path)
    else:
        raise RegistryFileError(f"unknown export format '{path.suffix}' (use .csv or .xlsx)")
    return len(reg) - 1
