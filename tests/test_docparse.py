"""Files → clauses by the document's own numbering: DOCX (paragraphs and tables), PDF, TXT, Markdown; bad files."""

from __future__ import annotations

import pytest

from knowledge import corpus
from knowledge.corpus import heading_line
from knowledge.docparse import DocumentError, read_document
from tests.docs_helpers import (
    NOTICE_LINES,
    docx_bytes,
    encrypted_pdf_bytes,
    notice_text,
    pdf_bytes,
    scanned_pdf_bytes,
    zip_of_something_else,
)

NOTICE_IDS = ["preamble", "1", "1.1", "1.1.1", "1.1.2", "1.2", "2", "3", "closing"]


def test_a_notice_in_text_gets_ids_and_labels_by_its_own_numbering() -> None:
    p = read_document(notice_text(), "notice.txt")
    c = p.corpus
    assert c.ids == NOTICE_IDS and p.numbered and p.format == "txt"
    assert c.title == "云南省科学技术厅关于组织申报2027年度云南省创新联合体的通知"
    assert (p.issuer, str(p.issued)) == ("云南省科学技术厅", "2027-02-20")  # the signature block
    assert [(c.clauses[i].label, c.clauses[i].label_en) for i in ("1", "1.1", "1.1.2", "1.2")] == [
        ("一、申报条件", "Section 1"), ("一、（一）", "Section 1(1)"), ("一、（一）2", "Section 1(1) item 2"),
        ("一、（二）", "Section 1(2)")]
    assert c.clauses["1.1"].children == ["1.1.1", "1.1.2"] and c.clauses["1.1.2"].parent == "1.1"
    assert c.clauses["1.1.2"].path == ["申报条件", "牵头单位"]
    assert c.clauses["1.2"].title == "经费配套" and "不低于1:1" in c.clauses["1.2"].text
    assert heading_line(c.clauses["1.2"]) == "（二）经费配套。企业按照不低于1:1的要求提供自筹经费。"
    assert c.clauses["closing"].text == "本通知自印发之日起施行，有效期1年。"
    assert "2027年3月1日至2027年4月30日" in c.clauses["2"].text
    assert not any("2027年2月20日" in x.text for x in c.clauses.values())  # the signature is not clause text


def test_deeper_levels_attachments_and_their_list() -> None:
    lines = [*NOTICE_LINES[:9], "（1）自筹经费须在申报书中列明。", "（2）财政资金每个联合体不超过500万元。",
             *NOTICE_LINES[9:14], "附件：1. 申报书模板", "2. 承诺书", *NOTICE_LINES[14:],
             "附件1", "创新联合体申报书", "一、基本情况", "二、建设目标", "附件2", "承诺书", "本单位承诺所报材料真实。"]
    c = read_document(notice_text(lines), "n.txt").corpus
    assert c.ids == [*NOTICE_IDS[:6], "1.2.1", "1.2.2", *NOTICE_IDS[6:], "attachments", "A1", "A1.1", "A1.2", "A2"]
    assert c.clauses["1.2.2"].label == "一、（二）（2）"
    assert c.clauses["attachments"].text == "1. 申报书模板\n2. 承诺书"
    assert (c.clauses["A1"].label, c.clauses["A1"].title) == ("附件1 创新联合体申报书", "创新联合体申报书")
    assert c.clauses["A1.2"].label == "附件1 二、建设目标" and c.clauses["A1.2"].parent == "A1"
    assert c.clauses["A2"].text == "本单位承诺所报材料真实。"


def test_chapters_and_articles() -> None:
    text = "\n".join(["云南省创新联合体建设管理办法", "第一章 总则", "第一条 为规范创新联合体建设，制定本办法。",
                      "第二条 本办法适用于省科技厅批复的创新联合体。", "第二章 组建条件",
                      "第三条 牵头单位应当具备下列条件：", "（一）在云南省内注册；", "（二）建有省级创新平台。",
                      "第四条 自筹经费不低于1:1。", "第三章 附则", "第五条 本办法自2026年6月1日起施行，有效期5年。"])
    c = read_document(text.encode(), "m.txt").corpus
    assert c.ids == ["preamble", "1", "1.1", "1.2", "2", "2.3", "2.3.1", "2.3.2", "2.4", "3", "3.5"]
    assert c.clauses["1"].label == "第一章 总则" and c.clauses["2.3"].label == "第三条"
    assert c.clauses["2.3.2"].label == "第三条（二）" and c.clauses["2.3.2"].label_en == "Article 3(2)"
    assert heading_line(c.clauses["2.4"]) == "第四条 自筹经费不低于1:1。"


def test_a_number_that_does_not_follow_on_is_text_not_a_clause() -> None:
    text = "\n".join(["通知", "一、申报条件", "1. 注册满一年。", "2. 有研发团队。", "5. 这一行只是正文里的编号",
                      "3.5亿元以上的项目另行通知。", "二、其他"])
    c = read_document(text.encode(), "t.txt").corpus
    assert c.ids == ["preamble", "1", "1.1", "1.2", "2"]
    assert "5. 这一行只是正文里的编号" in c.clauses["1.2"].text and "3.5亿元" in c.clauses["1.2"].text


def test_docx_paragraphs_and_tables_in_document_order() -> None:
    table = [["序号", "材料", "份数"], ["1", "申报书", "2"], ["2", "承诺书", "1"]]
    p = read_document(docx_bytes(table=table, table_after=8), "notice.docx")
    c = p.corpus
    assert p.format == "docx" and c.ids == NOTICE_IDS
    assert c.clauses["1.1.2"].text == "建有省级及以上创新平台。\n序号 | 材料 | 份数\n1 | 申报书 | 2\n2 | 承诺书 | 1"
    assert (p.issuer, str(p.issued)) == ("云南省科学技术厅", "2027-02-20")


def test_pdf_text_layer_pages_and_wrapped_lines() -> None:
    lines = list(NOTICE_LINES)
    long = "为贯彻落实《云南省创新联合体建设管理工作方案（试行）》，现将2027年度创新联合体申报工作通知如下。"
    i = lines.index(long)
    lines[i:i + 1] = [long[:30], long[30:]]  # a printed line break inside the paragraph
    pages = [[*lines[:8], "- 1 -"], [*lines[8:], "- 2 -"]]
    seen: list[tuple[int, int]] = []
    p = read_document(pdf_bytes(pages), "notice.pdf", progress=lambda d, t: seen.append((d, t)))
    assert p.format == "pdf" and p.pages == 2 and p.corpus.ids == NOTICE_IDS
    assert long in p.corpus.clauses["preamble"].text
    assert "- 1 -" not in p.corpus.text and seen[-1] == (2, 2)


def test_markdown() -> None:
    md = "\n".join(["# 2027年度创新联合体申报通知", "", "## 一、申报条件", "", "**（一）牵头单位**", "",
                    "- 1. 为云南省内注册的行业龙头企业。", "", "## 二、申报时间", "", "| 批次 | 时间 |", "|---|---|",
                    "| 第一批 | 3月 |", "", "---", "```", "原文照录", "```"])
    c = read_document(md.encode(), "notice.md").corpus
    assert c.title == "2027年度创新联合体申报通知"
    assert c.ids == ["preamble", "1", "1.1", "1.1.1", "2"]
    assert c.clauses["2"].text == "批次 | 时间\n第一批 | 3月\n原文照录"  # fenced text is kept, fences not


def test_gbk_text_and_no_numbered_structure() -> None:
    text = "关于创新联合体的说明\n创新联合体由龙头企业牵头。\n成员单位包括高校和科研院所。\n"
    p = read_document(text.encode("gbk"), "faq.txt")
    assert not p.numbered and p.warnings == ["no_structure"]
    assert p.corpus.ids == ["p1", "p2"] and p.corpus.clauses["p2"].label == "第2段"
    assert p.corpus.title == "关于创新联合体的说明"


def test_the_scheme_read_as_a_new_document_keeps_the_canonical_body_ids() -> None:
    scheme = corpus.load()
    c = read_document(corpus.SCHEME_FILE.read_bytes(), "scheme.txt").corpus
    body = [i for i in scheme.ids if i[0].isdigit() or i in ("preamble", "closing", "attachments")]
    assert [i for i in c.ids if i in set(body)] == body
    for cid in ("4.4", "8.3", "4.1.1"):
        assert c.clauses[cid].label == scheme.clauses[cid].label
        assert c.clauses[cid].text == scheme.clauses[cid].text


@pytest.mark.parametrize(("name", "data", "code"), [
    ("scan.pdf", scanned_pdf_bytes(), "scanned_pdf"),
    ("secret.pdf", encrypted_pdf_bytes(), "encrypted_pdf"),
    ("notice.docx", zip_of_something_else(), "not_docx"),
    ("notice.docx", b"this is plain text, not a docx", "not_docx"),
    ("old.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "old_doc"),
    ("broken.pdf", b"%PDF-1.4\nnot really", "bad_pdf"),
    ("fake.pdf", b"hello", "bad_pdf"),
    ("empty.txt", b"", "empty"),
    ("blank.md", b"  \n\n ", "empty"),
    ("photo.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 20, "unsupported"),
    ("data.txt", b"\x00\x01\x02binary", "not_text"),
    ("big.txt", b"x" * (2 * 1024 * 1024 + 1), "too_large"),
])
def test_files_that_cannot_be_documents(name: str, data: bytes, code: str) -> None:
    with pytest.raises(DocumentError) as err:
        read_document(data, name, max_bytes=2 * 1024 * 1024)
    assert err.value.code == code
    assert "\n" not in str(err.value) and str(err.value)


def test_a_date_alone_in_the_body_stays_text() -> None:
    text = "\n".join(["通知", "一、截止时间", "2027年4月30日", "二、其他", "逾期不予受理。", "2027年2月20日"])
    p = read_document(text.encode(), "t.txt")
    assert p.corpus.clauses["1"].text == "2027年4月30日"
    assert str(p.issued) == "2027-02-20" and "2027年2月20日" not in p.corpus.clauses["2"].text


def test_docx_with_words_automatic_list_numbers() -> None:
    from tests.docs_helpers import auto_numbered_docx

    c = read_document(auto_numbered_docx(), "auto.docx").corpus
    assert c.ids == ["preamble", "1", "1.1", "1.1.1", "1.1.2", "1.2", "2"]
    assert c.clauses["1"].label == "一、申报条件" and c.clauses["1.2"].title == "经费配套"
    assert heading_line(c.clauses["1.1.2"]) == "2.建有省级及以上创新平台。"
    assert c.clauses["2"].text == "2027年3月1日至4月30日。"
