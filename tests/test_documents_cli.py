"""``consortium-bot docs list|add|remove|diff`` as a person runs them (real subprocesses, a SQLite file)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.docs_helpers import docx_bytes, encrypted_pdf_bytes, scanned_pdf_bytes, zip_of_something_else
from tests.test_documents_meta import revised_scheme_text
from tests.test_foundation_cli import run_cli

KEYS = {"id", "title", "issued", "valid_until", "status", "supersedes"}


@pytest.fixture
def cwd(tmp_path: Path) -> Path:
    (tmp_path / "notice.docx").write_bytes(docx_bytes())
    (tmp_path / "revised.txt").write_text(revised_scheme_text(), encoding="utf-8")
    return tmp_path


def docs(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("docs", *args, cwd=cwd)


def listed(cwd: Path, today: str = "2026-12-01") -> list[dict[str, object]]:
    res = docs(cwd, "list", "--json", "--today", today)
    assert res.returncode == 0, res.stderr
    rows: list[dict[str, object]] = json.loads(res.stdout)
    assert all(set(r) == KEYS for r in rows)
    return rows


def one_line_error(res: subprocess.CompletedProcess[str], needle: str) -> None:
    assert res.returncode == 2, (res.stdout, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in res.stderr, res.stderr


def test_list_the_bundled_scheme_with_its_status_on_a_date(cwd: Path) -> None:
    assert listed(cwd) == [{"id": "scheme", "title": "云南省创新联合体建设管理工作方案（试行）", "issued": "2022",
                            "valid_until": "2025", "status": "lapsed", "supersedes": None}]
    assert listed(cwd, "2024-05-01")[0]["status"] == "in_force"
    assert listed(cwd, "2025-05-01")[0]["status"] == "unknown"
    one_line_error(docs(cwd, "list", "--json", "--today", "2026-13-01"), "--today")
    res = docs(cwd, "list")
    assert res.returncode == 0 and "scheme" in res.stdout and "lapsed" in res.stdout


def test_add_remove_and_every_bad_input(cwd: Path) -> None:
    res = docs(cwd, "add", "notice.docx", "--title", "2027年度申报通知", "--issued", "2027-02-20")
    assert res.returncode == 0, res.stderr
    assert "added notice-2027" in res.stdout and "9 clauses" in res.stdout
    rows = listed(cwd, "2027-03-01")
    assert rows[1] == {"id": "notice-2027", "title": "2027年度申报通知", "issued": "2027-02-20",
                       "valid_until": "2028-02-19", "status": "in_force", "supersedes": None}  # 有效期1年 in its text

    (cwd / "scan.pdf").write_bytes(scanned_pdf_bytes())
    (cwd / "secret.pdf").write_bytes(encrypted_pdf_bytes())
    (cwd / "fake.docx").write_bytes(zip_of_something_else())
    (cwd / "empty.txt").write_bytes(b"")
    (cwd / "big.txt").write_bytes(b"x" * (1024 * 1024 + 10))
    bad = [
        (("notice.docx", "--title", "2027年度申报通知", "--issued", "2027-02-20"), "already exists"),
        (("notice.docx", "--title", "另一个", "--issued", "2027-02-20", "--supersedes", "nope"), "nope"),
        (("scan.pdf", "--title", "扫描件", "--issued", "2027-02-20"), "no text layer"),
        (("secret.pdf", "--title", "加密", "--issued", "2027-02-20"), "password"),
        (("fake.docx", "--title", "压缩包", "--issued", "2027-02-20"), "ZIP archive"),
        (("empty.txt", "--title", "空", "--issued", "2027-02-20"), "empty"),
        (("big.txt", "--title", "大", "--issued", "2027-02-20", "--max-mb", "1"), "too large"),
        (("missing.docx", "--title", "无", "--issued", "2027-02-20"), "no such file"),
        (("notice.docx", "--title", "日期错", "--issued", "2027-02-30"), "--issued"),
        (("notice.docx", "--title", "日期错", "--issued", "2027-02-20", "--valid-until", "2026-01-01"), "before"),
        (("notice.docx", "--title", " ", "--issued", "2027-02-20"), "--title"),
    ]
    for args, needle in bad:
        one_line_error(docs(cwd, "add", *args), needle)
    assert [r["id"] for r in listed(cwd)] == ["scheme", "notice-2027"]  # nothing half-added

    one_line_error(docs(cwd, "remove", "scheme"), "only superseded")
    one_line_error(docs(cwd, "remove", "nope"), "nope")
    res = docs(cwd, "remove", "notice-2027")
    assert res.returncode == 0 and "withdrew notice-2027" in res.stdout
    assert [r["id"] for r in listed(cwd)] == ["scheme"]
    one_line_error(docs(cwd, "remove", "notice-2027"), "already withdrawn")


def test_a_revised_scheme_supersedes_and_diff_shows_what_changed(cwd: Path) -> None:
    res = docs(cwd, "add", "revised.txt", "--title", "云南省创新联合体建设管理办法", "--issued", "2026-06-01",
               "--supersedes", "scheme")
    assert res.returncode == 0, res.stderr
    rows = {r["id"]: r for r in listed(cwd)}
    assert rows["scheme"]["status"] == "superseded"
    assert rows["revised-2026"] == {"id": "revised-2026", "title": "云南省创新联合体建设管理办法",
                                    "issued": "2026-06-01", "valid_until": "2029-05-31", "status": "in_force",
                                    "supersedes": "scheme"}
    res = docs(cwd, "diff", "scheme", "revised-2026")
    assert res.returncode == 0, res.stderr
    assert "~ 4.4" in res.stdout and "2:1" in res.stdout and "1:1" in res.stdout
    assert "- 4.3" in res.stdout and "+ 5 五、申报时间" in res.stdout
    data = json.loads(docs(cwd, "diff", "scheme", "revised-2026", "--json").stdout)
    c44 = next(c for c in data["changes"] if c["new_clause"] == "4.4")
    assert c44["kind"] == "changed" and c44["old_clause"] == "4.4" and "1:1" in c44["new_text"]
    assert data["counts"]["removed"] >= 1 and data["old"] == "scheme" and data["new"] == "revised-2026"
    one_line_error(docs(cwd, "diff", "scheme", "nope"), "nope")
