"""Registry import/export: CSV (UTF-8, BOM, GBK), XLSX (dates as numbers or cells), bad rows, the CLI."""

from __future__ import annotations

import csv
import io
import os
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook

from checks.deadlines import SUBMITTED
from storage import registry_repo as rr
from storage.db import Database
from storage.registry_file import Limits, RegistryFileError, export_registry, import_registry, parse_registry
from tests.deadlines_helpers import HEADER, csv_bytes, deadline_id, utc

ROW_A = "云南高原特色农业创新联合体,云南某农业集团,高原特色农业,top_down,,2025-03-01,2028-06-30,1001;1002"
ROW_B = "绿色铝创新联合体,云南某铝业,绿色铝,bottom_up,曲靖市科技局,2024-12-20,2029-12-20,1003"


def registry(db: Database) -> dict[str, tuple[Any, ...]]:
    with db.session() as s:
        return {c.name: (c.lead_unit, c.route, c.approved_on, c.ends_on, tuple(ct.chat_id for ct in c.contacts),
                         tuple((d.rule_key, d.due_on, d.status) for d in c.deadlines))
                for c in rr.all_consortia(s)}


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
def test_csv_encodings(db: Database, encoding: str) -> None:
    summary, errors = import_registry(db, csv_bytes(ROW_A, ROW_B, encoding=encoding), "reg.csv", utc(2026, 1, 1))
    assert errors == [] and summary is not None and len(summary.created) == 2
    reg = registry(db)
    assert reg["云南高原特色农业创新联合体"][4] == (1001, 1002)
    assert [k for k, _, _ in reg["绿色铝创新联合体"][5]] == [
        "annual:2024", "annual:2025", "annual:2026", "annual:2027", "annual:2028", "end_of_term"]


def test_reimport_is_a_no_op_and_a_changed_row_updates_keeping_statuses(db: Database) -> None:
    data = csv_bytes(ROW_A, ROW_B)
    import_registry(db, data, "reg.csv", utc(2026, 1, 1))
    dl = deadline_id(db, "云南高原特色农业创新联合体", "annual:2025")
    with db.session() as s:
        rr.set_status(s, dl, SUBMITTED, 901, utc(2026, 1, 2))
    before = registry(db)
    summary, _ = import_registry(db, data, "reg.csv", utc(2026, 2, 1))
    assert summary is not None and len(summary.unchanged) == 2 and not summary.created and not summary.updated
    assert registry(db) == before
    longer = ROW_A.replace("2028-06-30", "2029-03-31").replace("1001;1002", "1002;1005")
    summary, _ = import_registry(db, csv_bytes(longer, ROW_B), "reg.csv", utc(2026, 3, 1))
    assert summary is not None and summary.updated == ["云南高原特色农业创新联合体"] and len(summary.unchanged) == 1
    after = registry(db)["云南高原特色农业创新联合体"]
    assert after[3] == date(2029, 3, 31) and after[4] == (1002, 1005)
    assert ("annual:2025", date(2025, 12, 31), SUBMITTED) in after[5]  # the status survived
    assert ("annual:2028", date(2028, 12, 31), None) in after[5]  # the longer term has one more report
    assert ("end_of_term", date(2029, 3, 31), None) in after[5]
    assert deadline_id(db, "云南高原特色农业创新联合体", "annual:2025") == dl


BAD_ROWS = [
    ("甲,牵头,领域,top_down,,2025-13-01,2028-06-30,1", "approved_on '2025-13-01' is not a date"),
    ("乙,牵头,领域,top_down,,2026-05-01,2026-04-30,1", "ends_on 2026-04-30 is before approved_on 2026-05-01"),
    ("丙,牵头,领域,sideways,,2025-01-01,2028-01-01,1", "unknown route 'sideways'"),
    ("丁,牵头,领域,top_down,,2025-01-01,2028-01-01,12ab", "'12ab' is not a Telegram chat id"),
    ("甲,牵头,领域,top_down,,2025-01-01,2028-01-01,1", "duplicate name '甲' (first on line 4)"),
    (",牵头,领域,top_down,,2025-01-01,2028-01-01,1", "name is empty"),
    ("己,牵头,领域,bottom_up,,2025-01-01,2028-01-01,1", "recommending_unit is empty: a bottom_up consortium needs"),
    ("庚,牵头,领域,top_down,某市科技局,2025-01-01,2028-01-01,1", "must be empty for route top_down"),
    ("辛,牵头,领域,open_competition,某市科技局,2025-01-01,2028-01-01,1", "must be empty for route open_competition"),
    ("壬,牵头,领域,top_down,,2025-01-01,2025-01-01,1", "the term must end after approved_on"),
    ("癸\x1b联合体,牵头,领域,top_down,,2025-01-01,2028-01-01,1", "name contains a line break or control character"),
    ("子,牵头\t单位,领域,top_down,,2025-01-01,2028-01-01,1", "lead_unit contains a line break or control character"),
    ("丑,牵头,领域,top_down,,01/03/2025,2028-01-01,1", "approved_on '01/03/2025' is not a date (use YYYY-MM-DD; "),
    ('"寅\n联合体",牵头,领域,top_down,,2025-01-01,2028-01-01,1', "name contains a line break"),  # last: 2 lines
]


def test_every_bad_row_is_reported_with_its_line_and_nothing_is_written(db: Database) -> None:
    import_registry(db, csv_bytes(ROW_B), "reg.csv", utc(2026, 1, 1))
    before = registry(db)
    rows = [ROW_A, ""] + [r for r, _ in BAD_ROWS]  # line 2 is good, line 3 is blank (skipped)
    summary, errors = import_registry(db, csv_bytes(*rows), "reg.csv", utc(2026, 2, 1))
    assert summary is None
    got = {(e.line, e.message) for e in errors}
    for i, (_, message) in enumerate(BAD_ROWS):
        line = 4 + i
        assert any(ln == line and message in m for ln, m in got), (line, message, got)
    assert registry(db) == before  # all or nothing


def test_file_level_problems() -> None:
    with pytest.raises(RegistryFileError, match="missing required column"):
        parse_registry(csv_bytes(ROW_A, header="name,lead_unit,route"))
    with pytest.raises(RegistryFileError, match="empty"):
        parse_registry(b"\n\n")
    with pytest.raises(RegistryFileError, match="neither UTF-8 nor GBK"):
        parse_registry(b"name\xff\xfe\xfa\x80\x81,x\n")
    with pytest.raises(RegistryFileError, match="too large"):
        parse_registry(b"x" * (10 * 1024 * 1024 + 1))
    with pytest.raises(RegistryFileError, match=r"not a readable \.xlsx"):
        parse_registry(b"PK\x03\x04garbage", "reg.xlsx")
    with pytest.raises(RegistryFileError, match="too many rows"):
        rows = [f"名{i},牵头,领域,top_down,,2025-01-01,2028-01-01,{i + 1}" for i in range(101)]
        parse_registry(csv_bytes(*rows), limits=Limits(max_rows=100))


def _xlsx(rows: list[list[object]]) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(HEADER.split(","))
    for row in rows:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_xlsx_with_excel_dates(db: Database) -> None:
    data = _xlsx([
        ["数值日期联合体", "牵头", "领域", "open_competition", None, 45717, 47299, 1001],  # serial day numbers
        ["日期单元格联合体", "牵头", "领域", "top_down", "", datetime(2025, 3, 1), date(2028, 6, 30), "1002;1003"],
        [None, None, None, None, None, None, None, None],  # a blank row
        ["文字日期联合体", "牵头", "领域", "bottom_up", "昆明市科技局", "2025/3/1", "2028年6月30日", 1004.0],
    ])
    summary, errors = import_registry(db, data, "reg.xlsx", utc(2026, 1, 1))
    assert errors == [] and summary is not None and len(summary.created) == 3
    reg = registry(db)
    assert reg["数值日期联合体"][2:4] == (date(2025, 3, 1), date(2029, 6, 30))
    assert reg["日期单元格联合体"][2:5] == (date(2025, 3, 1), date(2028, 6, 30), (1002, 1003))
    assert reg["文字日期联合体"][2:5] == (date(2025, 3, 1), date(2028, 6, 30), (1004,))


def test_xlsx_bad_rows_have_sheet_row_numbers(db: Database) -> None:
    data = _xlsx([["好", "牵头", "领域", "top_down", None, 45717, 47299, 1],
                  ["坏", "牵头", "领域", "top_down", None, "明年", 47299, 1]])
    summary, errors = import_registry(db, data, "reg.xlsx", utc(2026, 1, 1))
    assert summary is None and [(e.line, "approved_on" in e.message) for e in errors] == [(3, True)]
    assert registry(db) == {}


def test_export_round_trip(db: Database, tmp_path: Path) -> None:
    import_registry(db, csv_bytes(ROW_A, ROW_B), "reg.csv", utc(2026, 1, 1))
    with db.session() as s:
        rr.set_status(s, deadline_id(db, "绿色铝创新联合体", "annual:2024"), SUBMITTED, 901, utc(2025, 1, 2))
    out_csv, out_xlsx = tmp_path / "out.csv", tmp_path / "out.xlsx"
    assert export_registry(db, out_csv) == 2 and export_registry(db, out_xlsx) == 2
    text = out_csv.read_text(encoding="utf-8-sig")
    assert text.splitlines()[0] == HEADER + ",reported_through,deadlines"
    assert "annual:2024@2024-12-31=submitted" in text and "end_of_term@2029-12-20=open" in text
    wb = load_workbook(out_xlsx)
    assert wb.sheetnames == ["registry", "deadlines"]
    statuses = {(r[1], r[3]): r[7] for r in wb["deadlines"].iter_rows(min_row=2, values_only=True)}
    assert statuses[("绿色铝创新联合体", "annual:2024")] == "submitted"
    # the same words as the CSV export: an unmarked deadline is "open" in both, never empty / None
    assert statuses[("绿色铝创新联合体", "end_of_term")] == "open"
    assert statuses[("绿色铝创新联合体", "annual:2025")] == "history"  # due before the first import
    assert set(statuses.values()) == {"submitted", "open", "history"}
    xlsx_cells = {r[0]: r[9] for r in wb["registry"].iter_rows(min_row=2, values_only=True)}
    csv_cells = {r[0]: r[9] for r in csv.reader(io.StringIO(text)) if r[0] != "name"}
    assert xlsx_cells == csv_cells
    before = registry(db)
    for path in (out_csv, out_xlsx):  # the export imports back unchanged
        summary, errors = import_registry(db, path.read_bytes(), path.name, utc(2026, 5, 1))
        assert errors == [] and summary is not None and len(summary.unchanged) == 2
    assert registry(db) == before


def run_cli(args: list[str], env_db: str, cwd: Path, monkeypatch: pytest.MonkeyPatch,
            capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``consortium-bot ARGS`` in-process through its entry point (``bot.cli.main``)."""
    from bot.cli import main

    for key in list(os.environ):
        if key.startswith(("TELEGRAM_", "DATABASE_", "OFFICER_", "ADMIN_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("DATABASE_URL", env_db)
    monkeypatch.setenv("OFFICER_CHAT_IDS", "901")
    monkeypatch.chdir(cwd)
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_import_export_and_run_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"

    def cli(*args: str) -> tuple[int, str, str]:
        return run_cli(list(args), url, tmp_path, monkeypatch, capsys)

    good = tmp_path / "reg.csv"
    good.write_bytes(csv_bytes(ROW_A, ROW_B, encoding="gbk"))
    bad = tmp_path / "bad.csv"
    bad.write_bytes(csv_bytes(ROW_A, "乙,牵头,领域,top_down,,2026-05-01,2026-04-30,1"))
    code, out, err = cli("consortia", "import", str(bad))
    assert code == 2 and "bad.csv:3: ends_on 2026-04-30 is before approved_on" in err and "nothing was imported" in err
    code, out, err = cli("consortia", "import", str(tmp_path / "missing.csv"))
    assert code == 2 and "no such file" in err
    code, out, err = cli("consortia", "import", str(good))
    assert code == 0 and "2 created" in out, err
    code, out, err = cli("consortia", "import", str(good))
    assert code == 0 and "2 unchanged" in out
    code, out, err = cli("consortia", "export", str(tmp_path / "out.xlsx"))
    assert code == 0 and (tmp_path / "out.xlsx").exists()
    code, out, err = cli("consortia", "export", str(tmp_path / "out.pdf"))
    assert code == 2 and ".csv or .xlsx" in err
    code, out, err = cli("reminders", "run-once", "--now", "2026-12-24T09:00")
    assert code == 0, err
    assert "TELEGRAM_BOT_TOKEN is not set" in err and "→ [1001]" in out and "还剩 7 天" in out
    assert "sent " in out and "skipped 0" in out
    code, out, err = cli("reminders", "run-once", "--now", "2026-12-24T09:00")
    assert code == 0 and "sent 0" in out and "→ [" not in out
    code, out, err = cli("reminders", "run-once", "--now", "tomorrow")
    assert code == 2 and "not an ISO date-time" in err and "Traceback" not in err


def test_slash_dates_are_read_and_a_multiline_name_reports_its_first_line(db: Database) -> None:
    summary, errors = import_registry(db, csv_bytes("斜杠日期联合体,牵头,领域,top_down,,2024/03/01,2027/2/28,1"),
                                      "reg.csv", utc(2026, 1, 1))
    assert errors == [] and summary is not None
    assert registry(db)["斜杠日期联合体"][2:4] == (date(2024, 3, 1), date(2027, 2, 28))
    data = _xlsx([["好", "牵头", "领域", "bottom_up", "昆明市科技局", 45717, 47299, 1],
                  ["两行\n名称", "牵头", "领域", "top_down", None, 45717, 47299, 1],
                  ["自下而上", "牵头", "领域", "bottom_up", None, 45717, 47299, 1]])
    summary, errors = import_registry(db, data, "reg.xlsx", utc(2026, 1, 1))
    assert summary is None
    assert [(e.line, e.message.split(" ")[0]) for e in errors] == [(3, "name"), (4, "recommending_unit")]
