"""The self-assessment report, as DOCX (python-docx) and its Markdown twin. Pure: data in, text/bytes out.

Both open with the verdict (and who, when, which checklist), then one table of every condition —
status, the condition with its clause label and the scheme's words, the finding, what would fix
it; worst first — then every question with the answer given.
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
           "condition": "条件（条款）", "counts": "符合 {pass} · 不符合 {fail} · 需说明 {warn} · 待补充 {unknown}",
           "note": "本报告依据《云南省创新联合体建设管理工作方案（试行）》自动生成，仅供自查参考，"
                   "以省科技厅审核结果为准。"},
    "en": {"title": "Self-assessment report", "applicant": "Applicant", "date": "Date", "checklist": "Checklist",
           "verdict": "Verdict", "answers": "Questions and answers", "conditions": "Conditions",
           "question": "Question", "answer": "Answer", "status": "Status", "clause": "Clause",
           "quote": "Scheme text", "reason": "Finding", "fix": "What would fix it",
           "unanswered": "(not answered)", "not_asked": "(does not apply, not asked)",
           "condition": "Condition (clause)", "counts": "pass {pass} · fail {fail} · warning {warn} · unknown {unknown}",
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


_ORDER = {"fail": 0, "warn": 1, "unknown": 2, "pass": 3, "info": 4, "n/a": 5}


def _conds(r: ReportInput) -> list[dict[str, Any]]:
    """Every condition, worst first (the checklist's order within a status)."""
    out = []
    for c in sorted(r.evaluation.conditions, key=lambda c: _ORDER.get(c.status, 9)):
        out.append({
            "title": c.title, "status": STATUS_WORDS[r.lang][c.status], "mark": STATUS_MARKS[c.status],
            "clause": " / ".join(r.label(x) for x in c.clauses), "quote": c.quote, "reason": c.reason,
            "fix": c.fix, "raw": c.status,
        })
    return out


def _head(r: ReportInput) -> tuple[str, str, str, list[tuple[str, str]]]:
    """(title, verdict line, counts line, the facts about the report)."""
    w = _L[r.lang]
    counts = r.evaluation.counts()
    verdict = f"{w['verdict']}{'：' if r.lang == 'zh' else ': '}{VERDICT_WORDS[r.lang][r.evaluation.verdict]}"
    return (f"{r.checklist.title.get(r.lang)} — {w['title']}", verdict,
            w["counts"].format(**{k: counts.get(k, 0) for k in ("pass", "fail", "warn", "unknown")}),
            [(w["applicant"], r.applicant), (w["date"], r.today.isoformat()),
             (w["checklist"], f"{r.checklist.title.get(r.lang)} ({r.checklist.id})")])


def render_markdown(r: ReportInput) -> str:
    w = _L[r.lang]
    title, verdict, counts, meta = _head(r)
    lines = [f"# {_md(title)}", "", f"**{verdict}** (`{r.evaluation.verdict}`)", "", counts, ""]
    lines += [f"- {key}: {_md(value)}" for key, value in meta]
    lines += ["", f"## {w['conditions']}", "",
              f"| {w['status']} | {w['condition']} | {w['reason']} | {w['fix']} |", "| --- | --- | --- | --- |"]
    for c in _conds(r):
        cond = f"**{_cell(c['title'])}**（{_cell(c['clause'])}）<br>*“{_cell(c['quote'])}”*"
        lines.append(f"| {c['mark']} {c['status']} | {cond} | {_cell(c['reason'])} | {_cell(c['fix']) or '—'} |")
    lines += ["", f"## {w['answers']}", "", f"| # | {w['question']} | {w['answer']} |", "| --- | --- | --- |"]
    for i, (question, answer) in enumerate(_rows(r), 1):
        lines.append(f"| {i} | {_cell(question)} | {_cell(answer)} |")
    lines += ["", f"*{w['note']}*"]
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return text.replace("\n", " ")


def _cell(text: str) -> str:
    return _md(text).replace("|", "\\|")


def render_docx(r: ReportInput) -> bytes:
    from docx import Document
    from docx.shared import Pt

    w = _L[r.lang]
    title, verdict, counts, meta = _head(r)
    doc = Document()
    styles = doc.styles  # looked up once: python-docx finds a style by name slowly
    styles["Normal"].font.size = Pt(10.5)
    heading, grid = styles["Heading 1"], styles["Table Grid"]
    doc.add_paragraph(title, styles["Title"])
    p = doc.add_paragraph()
    run = p.add_run(verdict)
    run.bold = True
    run.font.size = Pt(16)
    p.add_run(f"  ({r.evaluation.verdict})").font.size = Pt(9)
    doc.add_paragraph(counts)
    doc.add_paragraph(" · ".join(f"{key}: {value}" for key, value in meta))

    doc.add_paragraph(w["conditions"], heading)
    conds = _conds(r)
    table = doc.add_table(rows=1 + len(conds), cols=4)
    table.style = grid
    rows = table.rows
    for cell, text in zip(rows[0].cells, (w["status"], w["condition"], w["reason"], w["fix"]), strict=True):
        cell.paragraphs[0].add_run(text).bold = True
    for row, c in zip(rows[1:], conds, strict=True):
        cells = row.cells
        cells[0].paragraphs[0].add_run(f"{c['mark']} {c['status']}")
        head = cells[1].paragraphs[0]
        head.add_run(c["title"]).bold = True
        head.add_run(f"（{c['clause']}）")
        cells[1].add_paragraph().add_run(f"“{c['quote']}”").italic = True
        cells[2].paragraphs[0].add_run(c["reason"])
        cells[3].paragraphs[0].add_run(c["fix"] or "—")

    doc.add_paragraph(w["answers"], heading)
    answered = _rows(r)
    answers = doc.add_table(rows=1 + len(answered), cols=3)
    answers.style = grid
    arows = answers.rows
    for row, values in zip(arows, [("#", w["question"], w["answer"])] + [
            (str(i), q, a) for i, (q, a) in enumerate(answered, 1)], strict=True):
        for cell, text in zip(row.cells, values, strict=True):
            cell.paragraphs[0].add_run(text)
    doc.add_paragraph(w["note"]).runs[0].italic = True
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()
