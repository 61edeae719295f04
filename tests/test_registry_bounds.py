"""Registry files validated and bounded: unknown columns, sane dates and chat ids, size / row / cell
limits, XLSX bombs, and exports that no spreadsheet runs as formulas (and that import back exactly)."""

from __future__ import annotations

import io
import time
import zipfile
from datetime import date
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook

from storage import registry_repo as rr
from storage.db import Database
from storage.registry_file import Limits, RegistryFileError, export_registry, import_registry, parse_registry
from tests.deadlines_helpers import HEADER, csv_bytes, utc

TODAY = date(2026, 12, 1)
GOOD = "甲联合体,牵头,领域,top_down,,2025-01-01,2028-01-01,1001"


def errors_of(*rows: str, header: str = HEADER) -> list[tuple[int, str]]:
    result = parse_registry(csv_bytes(*rows, header=header), "reg.csv", today=TODAY)
    return [(e.line, e.message) for e in result.errors]


def test_a_misspelled_contact_column_is_an_error_not_a_silent_delete(db: Database) -> None:
    import_registry(db, csv_bytes(GOOD), "reg.csv", utc(2026, 1, 1))
    bad = csv_bytes(GOOD, header=HEADER.replace("contact_chat_ids", "contact_chat_id"))
    with pytest.raises(RegistryFileError) as exc:
        import_registry(db, bad, "reg.csv", utc(2026, 2, 1))
    assert "unknown column(s) contact_chat_id" in str(exc.value) and "did you mean contact_chat_ids" in str(exc.value)
    assert "无法识别的列 contact_chat_id" in exc.value.text("zh")
    with db.session() as s:
        c = rr.get_consortium(s, "甲联合体")
        assert c is not None and [ct.chat_id for ct in c.contacts] == [1001]  # contacts kept


@pytest.mark.parametrize(("row", "expected"), [
    ("甲,牵头,领域,top_down,,1024-01-01,1027-01-01,1", "approved_on 1024-01-01 is outside 2018–2027"),
    ("甲,牵头,领域,top_down,,2029-01-01,2031-01-01,1", "approved_on 2029-01-01 is outside 2018–2027"),
    ("甲,牵头,领域,top_down,,2025-01-01,9999-12-31,1", "longer than 10 years"),
    ("甲,牵头,领域,top_down,,2025-01-01,2028-01-01,12345678901234567890", "'12345678901234567890' is not a Telegram chat id"),
    ("甲,牵头,领域,top_down,,2025-01-01,2028-01-01,0", "'0' is not a Telegram chat id"),
])
def test_sane_dates_and_chat_ids(row: str, expected: str) -> None:
    got = errors_of(row)
    assert got and got[0][0] == 2 and expected in got[0][1], got


def test_limits() -> None:
    with pytest.raises(RegistryFileError, match="too large"):
        parse_registry(csv_bytes(GOOD), limits=Limits(max_bytes=10))
    with pytest.raises(RegistryFileError, match="longer than 50 characters"):
        parse_registry(csv_bytes(GOOD.replace("领域", "域" * 60)), limits=Limits(max_cell=50))


def _bomb(rows: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        with zf.open("xl/worksheets/sheet1.xml", "w") as fh:
            fh.write(b"<worksheet><sheetData>")
            row = b"<row>" + b"<c><v>1</v></c>" * 40 + b"</row>"
            for _ in range(rows):
                fh.write(row)
            fh.write(b"</sheetData></worksheet>")
    return buf.getvalue()


def test_an_xlsx_bomb_is_refused_before_it_is_read() -> None:
    data = _bomb(300_000)  # ~2 MB that expands to ~160 MB
    assert len(data) < 3 * 1024 * 1024
    started = time.perf_counter()
    with pytest.raises(RegistryFileError, match="expands to more than"):
        parse_registry(data, "bomb.xlsx")
    assert time.perf_counter() - started < 30  # generous: the figure is in benchmarks/registry_first_import.py


def test_xlsx_rows_are_counted_while_streaming() -> None:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(HEADER.split(","))
    for i in range(30):
        ws.append([f"名{i}", "牵头", "领域", "top_down", None, "2025-01-01", "2028-01-01", i + 1])
    buf = io.BytesIO()
    wb.save(buf)
    with pytest.raises(RegistryFileError, match="more than 20"):
        parse_registry(buf.getvalue(), "r.xlsx", limits=Limits(max_rows=20))


NASTY = ["=HYPERLINK(\"http://x\",\"点我\")", "+86 871 1234", "-负号开头", "@SUM(A1)"]


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_exports_are_formula_safe_and_import_back_exactly(db: Database, tmp_path: Path, suffix: str) -> None:
    rows = [f'"{name.replace(chr(34), chr(34) * 2)}",牵头,{name[:3]},top_down,,2025-01-01,2028-01-01,-100123456789'
            for name in NASTY]
    summary, errors = import_registry(db, csv_bytes(*rows), "reg.csv", utc(2026, 1, 1), today=date(2026, 1, 1))
    assert errors == [] and summary is not None and len(summary.created) == 4
    path = tmp_path / f"out{suffix}"
    export_registry(db, path)
    if suffix == ".csv":
        text = path.read_text(encoding="utf-8-sig")
        cells = [line.split(",")[0] for line in text.splitlines()[1:]]
        assert all(not c.lstrip('"').startswith(("=", "+", "-", "@")) for c in cells), cells
    else:
        wb = load_workbook(path)
        for row in wb["registry"].iter_rows(min_row=2):
            assert all(cell.data_type != "f" for cell in row)  # text, never a formula
    fresh = Database.from_url(f"sqlite:///{tmp_path / 'fresh.sqlite3'}")
    summary, errors = import_registry(fresh, path.read_bytes(), path.name, utc(2026, 6, 1), today=date(2026, 6, 1))
    assert errors == [], errors
    with fresh.session() as s:
        got = {c.name: (c.industry_field, [ct.chat_id for ct in c.contacts]) for c in rr.all_consortia(s)}
    assert got == {name: (name[:3], [-100123456789]) for name in NASTY}
    summary, _ = import_registry(db, path.read_bytes(), path.name, utc(2026, 6, 1), today=date(2026, 6, 1))
    assert summary is not None and len(summary.unchanged) == 4
    fresh.dispose()
