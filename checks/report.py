"""The self-assessment report, as Markdown and as DOCX (python-docx). Pure: data in, text/bytes out.

The report lists the applicant, the date, the checklist, every question with its answer,
and every condition with its status, clause label, the scheme's words and the fix.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from checks.engine import Evaluation, fmt_value
from checks.model import Checklist

STATUS_WORDS = {
    "zh": {"pass": "符合", "fail": "不符合", "warn": "需说明", "unknown": "待补充", "n/a": "不适用", "info": "提示"},
    "en": {"pass": "pass", "fail": "fail", "warn": "warning", "unknown": "unknown", "n/a": "n/a", "info": "info"},
}
STATUS_MARKS = {"pass": "✅", "fail": "❌", "warn": "⚠️", "unknown": "❔", "n/a": "➖", "info": "ℹ️"}
VERDICT_WORDS = {
    "zh": {"eligible": "符合条件", "needs_review": "基本符合，个别事项需说明", "incomplete": "信息不全，暂无法判断",
           "not_eligible": "不符合条件"},
    "en": {"eligible": "eligible", "needs_review": "eligible, but some points need justification",
           "incomplete": "incomplete: some answers are missing", "not_eligible": "not eligible"},
}

_L = {
    "zh": {"title": "自评报告", "applicant": "申请人", "date": "自评日期", "checklist": "自评清单",
           "verdict": "结论", "answers": "问题与回答", "conditions": "逐项条件", "question": "问题",
           "answer": "回答", "status": "状态", "clause": "条款", "quote": "方案原文", "reason": "说明",
           "fix": "改进建议", "unanswered": "（未回答）", "not_asked": "（不适用，未询问）",
           "note": "本报告依据《云南省创新联合体建设管理工作方案（试行）》自动生成，仅供自查参考，"
                   "以省科技厅审核结果为准。"},
    "en": {"title": "Self-assessment report", "applicant": "Applicant", "date": "Date", "checklist": "Checklist",
           "verdict": "Verdict", "answers": "Questions and answers", "conditions": "Conditions",
           "question": "Question", "answer": "Answer", "status": "Status", "clause": "Clause",
           "quote": "Scheme text", "reason": "Finding", "fix": "What would fix it",
           "unanswered": "(not answered)", "not_asked": "(does not apply, not asked)",
           "note": "Generated from the Yunnan innovation-consortium scheme (trial) for self-checking only; "
                   "the provincial science department's review decides."},
}


@dataclass
class ReportInput:
    checklist: Checklist
    evaluation: Evaluation
    today: date
    applicant: str
    lang: str = "zh"
    labels: Mapping[str, str] | None = None  # clause id -> label (四、（四）)

    def label(self, cid: str) -> str:
        return (self.labels or {}).get(cid, cid)


def _rows(r: ReportInput) -> list[tuple[str, str]]:
    from checks.engine import NA, effective_facts

    facts = effective_facts(r.checklist, r.evaluation.answers, r.today)
    w = _L[r.lang]
    out = []
    for q in r.checklist.questions:
        v = facts.get(q.fact)
        if v is NA:
            shown = w["not_asked"]
        elif q.fact not in facts:
            shown = w["unanswered"]
        else:
            shown = fmt_value(q, v, r.lang)
        out.append((q.text.get(r.lang), shown))
    return out


def _conds(r: ReportInput) -> list[dict[str, Any]]:
    out = []
    for c in r.evaluation.conditions:
        out.append({
            "title": c.title, "status": STATUS_WORDS[r.lang][c.status], "mark": STATUS_MARKS[c.status],
            "clause": " / ".join(r.label(x) for x in c.clauses), "quote": c.quote, "reason": c.reason,
            "fix": c.fix, "raw": c.status,
        })
    return out


def render_markdown(r: ReportInput) -> str:
    w = _L[r.lang]
    verdict = VERDICT_WORDS[r.lang][r.evaluation.verdict]
    lines = [
        f"# {r.checklist.title.get(r.lang)} — {w['title']}",
        "",
        f"- {w['applicant']}: {_md(r.applicant)}",
        f"- {w['date']}: {r.today.isoformat()}",
        f"- {w['checklist']}: {r.checklist.title.get(r.lang)} (`{r.checklist.id}`)",
        f"- **{w['verdict']}: {verdict}** (`{r.evaluation.verdict}`)",
        "",
        f"## {w['answers']}",
        "",
        f"| # | {w['question']} | {w['answer']} |",
        "| --- | --- | --- |",
    ]
    for i, (question, answer) in enumerate(_rows(r), 1):
        lines.append(f"| {i} | {_cell(question)} | {_cell(answer)} |")
    lines += ["", f"## {w['conditions']}", ""]
    for c in _conds(r):
        lines.append(f"### {c['mark']} {_md(c['title'])} — {c['status']}")
        lines.append("")
        lines.append(f"- {w['clause']}: {c['clause']}")
        lines.append(f"- {w['quote']}: “{_md(c['quote'])}”")
        lines.append(f"- {w['reason']}: {_md(c['reason'])}")
        if c["fix"]:
            lines.append(f"- {w['fix']}: {_md(c['fix'])}")
        lines.append("")
    lines.append(f"*{w['note']}*")
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return text.replace("\n", " ")


def _cell(text: str) -> str:
    return _md(text).replace("|", "\\|")


def render_docx(r: ReportInput) -> bytes:
    from docx import Document
    from docx.shared import Pt

    w = _L[r.lang]
    doc = Document()
    style = doc.styles["Normal"]
    style.font.size = Pt(10.5)
    doc.add_heading(f"{r.checklist.title.get(r.lang)} — {w['title']}", level=0)
    meta = doc.add_table(rows=0, cols=2)
    meta.style = "Table Grid"
    verdict = VERDICT_WORDS[r.lang][r.evaluation.verdict]
    for key, value in ((w["applicant"], r.applicant), (w["date"], r.today.isoformat()),
                       (w["checklist"], f"{r.checklist.title.get(r.lang)} ({r.checklist.id})"),
                       (w["verdict"], f"{verdict} ({r.evaluation.verdict})")):
        cells = meta.add_row().cells
        cells[0].text, cells[1].text = key, value
    doc.add_heading(w["answers"], level=1)
    table = doc.add_table(rows=1, cols=3)
    table.style = "Table Grid"
    head = table.rows[0].cells
    head[0].text, head[1].text, head[2].text = "#", w["question"], w["answer"]
    for i, (question, answer) in enumerate(_rows(r), 1):
        cells = table.add_row().cells
        cells[0].text, cells[1].text, cells[2].text = str(i), question, answer
    doc.add_heading(w["conditions"], level=1)
    for c in _conds(r):
        doc.add_heading(f"{c['mark']} {c['title']} — {c['status']}", level=2)
        for key, value in ((w["clause"], c["clause"]), (w["quote"], c["quote"]), (w["reason"], c["reason"]),
                           (w["fix"], c["fix"])):
            if not value:
                continue
            p = doc.add_paragraph()
            p.add_run(f"{key}: ").bold = True
            run = p.add_run(value)
            if key == w["quote"]:
                run.italic = True
    doc.add_paragraph(w["note"]).runs[0].italic = True
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()
