"""Reports (DOCX read back with python-docx, Markdown) and the ``consortium-bot check`` command."""

from __future__ import annotations

import io
import json
from datetime import date
from pathlib import Path

import pytest
from docx import Document

from bot.cli import main
from checks import loader
from checks.engine import evaluate
from checks.report import ReportInput, render_docx, render_markdown

TODAY = date(2026, 11, 26)
ANSWERS = {"entity_type": "enterprise", "registered_in_yunnan": True, "self_raised_funds": 150,
           "requested_funds": 100, "disqualified_on": None}


def _report(lang: str = "zh") -> ReportInput:
    cl = loader.get("lead-unit")
    return ReportInput(cl, evaluate(cl, ANSWERS, TODAY, lang), TODAY, "Li Wei (id 5)", lang,
                       loader.scheme_labels(lang))


def docx_text(content: bytes) -> str:
    doc = Document(io.BytesIO(content))
    parts = [p.text for p in doc.paragraphs]
    for table in doc.tables:
        for row in table.rows:
            parts.append(" | ".join(c.text for c in row.cells))
    return "\n".join(parts)


@pytest.mark.parametrize("render", [render_docx, render_markdown])
def test_report_has_everything(render: object) -> None:
    rep = _report()
    out = render(rep)  # type: ignore[operator]
    text = docx_text(out) if isinstance(out, bytes) else out
    assert "Li Wei (id 5)" in text and "2026-11-26" in text
    assert "牵头单位自评" in text and "不符合条件" in text
    for q in rep.checklist.questions:
        assert q.text.zh in text
    assert "150 万元" in text and "（未回答）" in text
    for c in rep.evaluation.conditions:
        assert c.title in text and c.quote in text and c.reason in text
        if c.fix:
            assert c.fix in text
    assert "四、（四）" in text and "八、（四）" in text and "四、（一）1" in text
    assert "自筹经费至少 200 万元" in text
    for word in ("符合", "不符合", "待补充", "提示"):
        assert word in text


def test_docx_opens_with_the_verdict_then_one_table_of_conditions_then_the_answers() -> None:
    rep = _report("en")
    doc = Document(io.BytesIO(render_docx(rep)))
    paragraphs = [p.text for p in doc.paragraphs if p.text]
    assert paragraphs[0] == "Lead unit self-assessment — Self-assessment report"
    assert paragraphs[1].startswith("Verdict: not eligible")
    headings = [p.text for p in doc.paragraphs if p.style is not None and p.style.name.startswith("Heading")]
    assert headings == ["Conditions", "Questions and answers"]
    conditions, answers = doc.tables
    assert [c.text for c in conditions.rows[0].cells] == ["Status", "Condition (clause)", "Finding",
                                                           "What would fix it"]
    assert len(conditions.rows) == 1 + len(rep.evaluation.conditions)
    first = [c.text for c in conditions.rows[1].cells]  # the worst first
    assert first[0] == "❌ fail" and first[1].startswith("Self-raised funds at least 2 : 1（Section 4(4)")
    assert "“牵头单位、成员单位中的企业应具备项目配套经费的财务能力" in first[1]
    assert first[2] == "Self-raised CNY 1.5 million : requested CNY 1 million = 1.5 : 1, below 2 : 1"
    assert first[3] == "Raise at least CNY 2 million yourselves (CNY 500,000 more)"
    statuses = [row.cells[0].text.split()[-1] for row in conditions.rows[1:]]
    assert statuses.index("unknown") < statuses.index("pass")
    assert len(answers.rows) == 1 + len(loader.get("lead-unit").questions)
    assert answers.rows[1].cells[1].text == "What kind of organisation are you?"
    assert answers.rows[1].cells[2].text == "Enterprise"
    funds = {row.cells[1].text: row.cells[2].text for row in answers.rows[1:]}
    assert funds["How much will you raise yourselves, in 万元? (type a number)"] == "CNY 1.5 million"


def test_markdown_is_the_twin_of_the_docx() -> None:
    md = render_markdown(_report())
    lines = md.splitlines()
    assert lines[0] == "# 牵头单位自评 — 自评报告"
    assert lines[2] == "**结论：不符合条件** (`not_eligible`)"
    table = lines.index("| 状态 | 条件（条款） | 说明 | 改进建议 |")
    assert lines.index("## 逐项条件") < table < lines.index("## 问题与回答")
    assert lines[table + 2].startswith("| ❌ 不符合 | **自筹经费不低于 2:1**（四、（四））<br>*“牵头单位")
    assert "| 自筹 150 万元 : 申请 100 万元 = 1.5 : 1，低于 2 : 1 | 自筹经费至少 200 万元（还差 50 万元） |" in md
    assert "| 8 | 贵单位可提供的自筹经费是多少万元？（输入数字） | 150 万元 |" in md


def test_markdown_escapes_table_cells() -> None:
    cl = loader.get("formation")
    rep = ReportInput(cl, evaluate(cl, {"industry_field": "a|b"}, TODAY), TODAY, "x", "zh")
    assert "a\\|b" in render_markdown(rep)


# -- the CLI -------------------------------------------------------------------------------------

def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_json_is_the_documented_shape(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "a.json"
    f.write_text(json.dumps({"self_raised_funds": 150, "requested_funds": 100}), encoding="utf-8")
    code, out, err = run(capsys, "check", "lead-unit", "--answers", str(f), "--today", "2026-11-26", "--json")
    assert code == 0 and not err
    doc = json.loads(out)
    assert doc["checklist"] == "lead-unit" and doc["verdict"] == "not_eligible"
    funding = next(c for c in doc["conditions"] if c["id"] == "funding-ratio")
    assert funding["clause"] == "4.4" and funding["status"] == "fail"
    assert funding["reason"] == "自筹 150 万元 : 申请 100 万元 = 1.5 : 1，低于 2 : 1"
    assert funding["fix"].startswith("自筹经费至少 200 万元")
    assert len(doc["conditions"]) == len(loader.get("lead-unit").conditions)


def test_cli_yaml_answers_human_output_and_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "member.yaml"
    f.write_text("entity_type: university\ncooperation_basis: yes\nstrong_research_team: yes\n"
                 "frontier_level: yes\nlab_conditions: yes\ndisqualified_on: 2024-02-29\n", encoding="utf-8")
    docx, md = tmp_path / "r.docx", tmp_path / "r.md"
    code, out, _ = run(capsys, "check", "member", "--answers", str(f), "--today", "2027-02-28",
                       "--docx", str(docx), "--markdown", str(md), "--applicant", "云南大学")
    assert code == 0
    assert "符合条件" in out and "eligible" in out and "八、（四）" in out
    assert "云南大学" in docx_text(docx.read_bytes()) and "云南大学" in md.read_text(encoding="utf-8")
    code, out, _ = run(capsys, "check", "member", "--answers", str(f), "--today", "2027-02-27", "--lang", "en")
    assert "not eligible" in out and "barred as a core member until 2027-02-28" in out


@pytest.mark.parametrize(("content", "extra", "words"), [
    ('{"turnover": 3}', [], "turnover: unknown fact for checklist 'lead-unit'"),
    ('{"self_raised_funds": -1}', [], "self_raised_funds: -1 is negative"),
    ('{"disqualified_on": "2025-02-30"}', [], "disqualified_on: '2025-02-30' is not a real date"),
    ("disqualified_on: 2025-02-30\n", [], "disqualified_on: '2025-02-30' is not a real date"),
    ('{"entity_type": "company"}', [], "entity_type: 'company' is not one of"),
    ("[1, 2]", [], "must hold a mapping"),
    ("a: [unclosed", [], "neither JSON nor YAML"),
    ("{}", ["--today", "2026-13-01"], "--today: '2026-13-01' is not a real date"),
    ("", [], "answers.txt' is empty"),  # a zero-byte file is not "no answers"
    (" \n\t\n", [], "answers.txt' is empty"),
    ("# only a comment\n", [], "answers.txt' holds no answers"),
])
def test_cli_bad_input_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, extra: list[str], words: str,
) -> None:
    f = tmp_path / "answers.txt"
    f.write_text(content, encoding="utf-8")
    code, out, err = run(capsys, "check", "lead-unit", "--answers", str(f), *extra)
    assert code == 2 and not out
    assert words in err and err.count("\n") == 1 and "Traceback" not in err


def test_cli_unknown_checklist_and_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "a.json"
    f.write_text("{}", encoding="utf-8")
    code, _, err = run(capsys, "check", "leader", "--answers", str(f))
    assert code == 2 and "unknown checklist 'leader'" in err and "lead-unit" in err
    code, _, err = run(capsys, "check", "member", "--answers", str(tmp_path / "nope.json"))
    assert code == 2 and "does not exist" in err
    code, _, err = run(capsys, "check", "member", "--answers", str(tmp_path))
    assert code == 2 and "cannot be read" in err


def test_cli_unwritable_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "a.json"
    f.write_text("{}", encoding="utf-8")
    code, _, err = run(capsys, "check", "member", "--answers", str(f), "--today", "2026-11-26",
                       "--docx", str(tmp_path / "no" / "dir" / "r.docx"))
    assert code == 2 and "cannot write" in err


@pytest.mark.parametrize("stdin", ["", "  \n", "---\n"])
def test_cli_empty_stdin_is_bad_input(stdin: str, capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code, out, err = run(capsys, "check", "lead-unit", "--answers", "-", "--today", "2026-11-26")
    assert code == 2 and not out and err.count("\n") == 1
    assert "the answers on standard input" in err and "Traceback" not in err
