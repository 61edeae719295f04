"""Documents as data (pure): validity from the text, status on a date, notices, clause-by-clause diff."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date

import pytest

from knowledge import corpus
from knowledge.docparse import read_document
from knowledge.documents import (
    DocumentMeta,
    bundled_scheme,
    diff,
    guess_kind,
    notice,
    notice_on,
    status_on,
    valid_until_from_text,
)

SCHEME, SCHEME_CORPUS = bundled_scheme()


def meta(doc_id: str = "notice-2027", **kw: object) -> DocumentMeta:
    values: dict[str, object] = {"id": doc_id, "title": "关于组织申报2027年度创新联合体的通知",
                                 "issuer": "云南省科学技术厅", "issued": date(2027, 2, 20)}
    values.update(kw)
    return DocumentMeta(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "issued", "precision", "expected"), [
    ("本方案自印发之日起施行，有效期3年。", date(2026, 3, 1), "day", date(2029, 2, 28)),
    ("本办法有效期为五年。", date(2024, 2, 29), "day", date(2029, 2, 27)),
    ("本通知有效期两年", date(2026, 1, 1), "day", date(2027, 12, 31)),
    ("本方案自印发之日起施行，有效期3年。", date(2022, 1, 1), "year", date(2025, 12, 31)),
    ("本通知自印发之日起施行，有效期至2027年12月31日。", date(2026, 3, 1), "day", date(2027, 12, 31)),
    ("本通知自印发之日起施行。", date(2026, 3, 1), "day", None),
    ("有效期内的项目按原规定执行。", date(2026, 3, 1), "day", None),
])
def test_valid_until_from_the_texts_own_validity_clause(text: str, issued: date, precision: str,
                                                        expected: date | None) -> None:
    assert valid_until_from_text(text, issued, precision) == expected  # type: ignore[arg-type]


def test_the_bundled_scheme_is_document_scheme_issued_2022_valid_3_years() -> None:
    assert (SCHEME.id, SCHEME.title, SCHEME.issuer, SCHEME.kind) == (
        "scheme", "云南省创新联合体建设管理工作方案（试行）", "云南省科学技术厅", "scheme")
    assert (SCHEME.issued, SCHEME.issued_precision) == (date(2022, 1, 1), "year")
    assert (SCHEME.valid_until, SCHEME.valid_until_precision, SCHEME.validity_years) == (date(2025, 12, 31), "year", 3)
    assert (SCHEME.iso_issued(), SCHEME.iso_valid_until()) == ("2022", "2025")
    assert SCHEME_CORPUS.ids[0] == "preamble" and "4.4" in SCHEME_CORPUS.clauses


@pytest.mark.parametrize(("today", "status"), [
    (date(2022, 6, 1), "in_force"), (date(2024, 12, 31), "in_force"),
    (date(2025, 6, 1), "unknown"),  # issued some day of 2022 + 3 years: lapsed some day of 2025
    (date(2026, 1, 1), "lapsed"), (date(2026, 12, 1), "lapsed"),
])
def test_scheme_status_by_date(today: date, status: str) -> None:
    assert status_on(SCHEME, today, [SCHEME]) == status


def test_day_precision_status_and_supersession() -> None:
    n = meta(valid_until=date(2027, 12, 31))
    assert status_on(n, date(2027, 2, 19), [n]) == "unknown"  # not issued yet
    assert status_on(n, date(2027, 2, 20), [n]) == "in_force"
    assert status_on(n, date(2027, 12, 31), [n]) == "in_force"
    assert status_on(n, date(2028, 1, 1), [n]) == "lapsed"
    assert status_on(meta(valid_until=None), date(2040, 1, 1), []) == "in_force"  # no end stated

    revised = meta("revised-2026", title="云南省创新联合体建设管理办法", issued=date(2026, 6, 1), supersedes="scheme")
    metas = [SCHEME, revised]
    assert status_on(SCHEME, date(2026, 5, 31), metas) == "lapsed"
    assert status_on(SCHEME, date(2026, 6, 1), metas) == "superseded"
    assert status_on(SCHEME, date(2024, 6, 1), metas) == "in_force"  # the successor is not issued yet
    assert status_on(revised, date(2026, 6, 1), metas) == "in_force"
    withdrawn = replace(revised, withdrawn=True)
    assert status_on(SCHEME, date(2026, 6, 1), [SCHEME, withdrawn]) == "lapsed"
    assert status_on(withdrawn, date(2026, 6, 1), [SCHEME, withdrawn]) == "lapsed"


def test_notices() -> None:
    today = date(2026, 12, 1)
    assert notice(SCHEME, "lapsed", "zh") == "提示：该方案2022年印发、有效期3年，可能已到期，请以省科技厅最新文件为准。"
    en = notice(SCHEME, "lapsed", "en")
    assert "2022" in en and "3 year" in en and "may have expired" in en and "省科技厅" in en
    assert notice(SCHEME, "in_force", "zh") == ""
    assert notice_on(SCHEME, date(2024, 1, 1), [SCHEME]) == ""

    n = meta(issued=date(2025, 3, 1), valid_until=date(2026, 2, 28), validity_years=1)
    assert notice_on(n, today, [n]) == "提示：该通知2025年3月1日印发、有效期1年，已于2026年2月28日到期，请以省科技厅最新文件为准。"
    n2 = meta(issued=date(2025, 3, 1), valid_until=date(2026, 6, 30))
    assert notice_on(n2, today, [n2]) == "提示：该通知有效期至2026年6月30日，已到期，请以省科技厅最新文件为准。"

    revised = meta("revised-2026", title="云南省创新联合体建设管理办法", issued=date(2026, 6, 1), supersedes="scheme")
    text = notice_on(SCHEME, today, [SCHEME, revised])
    assert text.startswith("提示：该方案已被《云南省创新联合体建设管理办法》（2026年6月1日印发）取代")
    assert "replaced by 《云南省创新联合体建设管理办法》" in notice_on(SCHEME, today, [SCHEME, revised], "en")
    future = meta(issued=date(2027, 2, 20))
    assert notice_on(future, today, [future]) == "提示：该通知自2027年2月20日起施行，目前尚未施行。"


@pytest.mark.parametrize(("title", "kind"), [
    ("关于组织申报2027年度云南省创新联合体的通知", "notice"), ("云南省创新联合体建设管理办法", "revised"),
    ("创新联合体申报常见问题解答", "faq"), ("创新联合体政策问答", "faq"), ("会议纪要", "other"),
])
def test_kind_from_title(title: str, kind: str) -> None:
    assert guess_kind(title) == kind


def revised_scheme_text() -> str:
    t = corpus.SCHEME_FILE.read_text(encoding="utf-8")
    t = t.replace("云南省创新联合体建设管理\n\n工作方案（试行）", "云南省创新联合体建设管理办法")
    t = t.replace("不低于2:1", "不低于1:1")
    t = t.replace("（三）鼓励民营企业参与。鼓励民营企业牵头或作为成员单位参与创新联合体建设。\n", "")
    t = t.replace("五、组建程序\n", "五、申报时间\n每年3月集中申报。\n六、组建程序\n")
    for a, b in (("六、创新联合体主要任务", "七、创新联合体主要任务"), ("七、支持措施", "八、支持措施"),
                 ("八、绩效和监督管理", "九、绩效和监督管理")):
        t = t.replace(a, b)
    return t


def test_diff_clause_by_clause() -> None:
    new = read_document(revised_scheme_text().encode(), "revised.txt").corpus
    changes = diff(SCHEME_CORPUS, new)
    by_old = {c.old_id: c for c in changes if c.old_id}
    by_new = {c.new_id: c for c in changes if c.new_id}
    c44 = by_new["4.4"]
    assert c44.kind == "changed" and c44.old_id == "4.4" and c44.text_changed
    assert any("2:1" in a and "1:1" in b for a, b in c44.fragments())
    assert by_old["4.3"].kind == "removed" and "鼓励民营企业" in by_old["4.3"].old_text
    assert by_new["5"].kind == "added" and "申报时间" in by_new["5"].new_text
    # 五、组建程序 moved to 六: matched by its heading, its sub-clauses follow it, text unchanged
    assert by_new["6"].old_id == "5" and not by_new["6"].text_changed
    assert by_new["6.3"].old_id == "5.3" and not by_new["6.3"].text_changed
    assert by_new["9.3"].old_id == "8.3" and not by_new["9.3"].text_changed
    assert "2.1" not in by_new and "4.1.1" not in by_new  # unchanged clauses are not listed
    # the order follows the new document, removed clauses where they stood
    order = [c.new_id or c.old_id for c in changes]
    assert order.index("4.3") < order.index("4.4") < order.index("5")
    assert diff(SCHEME_CORPUS, SCHEME_CORPUS) == []


def test_validity_summary_answers_is_it_still_valid() -> None:
    from knowledge.documents import validity_summary

    today = date(2026, 12, 1)
    assert validity_summary(SCHEME, today, [SCHEME]) == (
        "《云南省创新联合体建设管理工作方案（试行）》由云南省科学技术厅于2022年印发，有效期自印发之日起3年（2025年内到期）；"
        "按2026年12月1日判断：已失效。")
    assert "As of 2025-06-01: it may have expired" in validity_summary(SCHEME, date(2025, 6, 1), [SCHEME], "en")
    # English: the issuer's English name, "in" a year or "on" a day, no Chinese outside 《》 and parentheses
    en = validity_summary(SCHEME, today, [SCHEME], "en")
    assert "was issued by the Yunnan Provincial Department of Science and Technology (省科技厅) in 2022;" in en, en
    assert not re.search(r"[\u4e00-\u9fff]", re.sub(r"\([^)]*\)|《[^》]*》", "", en)), en
    other = meta(issuer="某州科技局", issued=date(2026, 3, 1))
    assert "was issued by the issuer (某州科技局) on " in validity_summary(other, today, [other], "en")
    revised = meta("revised-2026", title="云南省创新联合体建设管理办法", issued=date(2026, 6, 1), supersedes="scheme")
    assert validity_summary(SCHEME, today, [SCHEME, revised]).endswith("已被《云南省创新联合体建设管理办法》取代。")
    assert "未规定有效期" in validity_summary(revised, today, [SCHEME, revised])
    n = meta(valid_until=date(2027, 12, 31))
    assert validity_summary(n, today, [n]).endswith("有效期至2027年12月31日；按2026年12月1日判断：尚未施行。")
