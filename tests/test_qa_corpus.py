"""The scheme parsed into canonical clauses; the bundled copy; the lexicon's targets."""

from __future__ import annotations

import re

import pytest

from knowledge import corpus
from knowledge.text import Lexicon
from tests.qa_helpers import SHARED

SCHEME = corpus.load()

EXPECTED_IDS = (
    ["preamble", "1", "2", "2.1", "2.2", "2.3", "3", "4", "4.1", "4.1.1", "4.1.2", "4.1.3", "4.1.4",
     "4.2", "4.2.1", "4.2.2", "4.2.3", "4.2.4", "4.3", "4.4", "4.5", "5"]
    + [f"5.{i}" for i in range(1, 7)] + ["6"] + [f"6.{i}" for i in range(1, 6)]
    + ["7"] + [f"7.{i}" for i in range(1, 6)] + ["8"] + [f"8.{i}" for i in range(1, 5)]
    + ["closing", "attachments", "A1"] + [f"A1.note.{i}" for i in range(1, 6)]
    + [f"A1.form.{i}" for i in range(1, 8)] + ["A2"] + [f"A2.{i}" for i in range(1, 9)]
    + ["A3"] + [f"A3.{i}" for i in range(1, 8)]
)


def test_full_clause_inventory_in_document_order() -> None:
    assert SCHEME.ids == EXPECTED_IDS


def test_title_version_and_issuer_are_recorded() -> None:
    assert SCHEME.title == "云南省创新联合体建设管理工作方案（试行）"
    assert SCHEME.version == "试行"
    assert (SCHEME.issuer, SCHEME.year) == ("云南省科学技术厅", "2022")


@pytest.mark.parametrize(("cid", "label", "label_en"), [
    ("preamble", "前言", "Preamble"),
    ("1", "一、功能定位", "Section 1"),
    ("4.1", "四、（一）", "Section 4(1)"),
    ("4.1.1", "四、（一）1", "Section 4(1) item 1"),
    ("closing", "施行与有效期", "Entry into force and validity"),
    ("attachments", "附件目录", "List of attachments"),
    ("A1", "附件1 申请表", "Attachment 1 (application form)"),
    ("A1.note.1", "附件1 填表说明 一", "Attachment 1, filling note 1"),
    ("A1.form.1", "附件1 申请表 第一栏", "Attachment 1, form part 1"),
    ("A2.5", "附件2 协议模板 第五条", "Attachment 2, article 5"),
    ("A3.4", "附件3 建设方案提纲 四", "Attachment 3, item 4"),
])
def test_labels(cid: str, label: str, label_en: str) -> None:
    c = SCHEME.clauses[cid]
    assert (c.label, c.label_en) == (label, label_en)


def test_examples_from_clause_ids_md() -> None:
    assert "2:1" in SCHEME.clauses["4.4"].text and SCHEME.clauses["4.4"].title == "经费配套"
    assert "12月31日前" in SCHEME.clauses["8.3"].text
    assert "建设方案" in SCHEME.clauses["A1.note.4"].text
    assert SCHEME.clauses["4.3"].title == "鼓励民营企业参与"  # inline heading, text follows it
    assert SCHEME.clauses["4.5"].title == ""  # 4.5 has no heading of its own
    assert SCHEME.clauses["A1.form.3"].title == "科研团队情况"


def test_parents_children_and_heading_paths() -> None:
    assert SCHEME.clauses["4.1"].children == ["4.1.1", "4.1.2", "4.1.3", "4.1.4"]
    assert SCHEME.clauses["4.1.3"].parent == "4.1"
    assert SCHEME.clauses["4.1.3"].path == ["组建条件", "创新联合体牵头单位应具备的条件"]
    assert SCHEME.is_under("4.1.3", "4") and not SCHEME.is_under("4", "4.1.3")
    assert SCHEME.descendants("A2") == [f"A2.{i}" for i in range(1, 9)]


def test_every_body_clause_reads_exactly_as_the_scheme() -> None:
    flat = re.sub(r"\s+", "", SCHEME.text)
    for cid in SCHEME.ids:
        if cid[0].isdigit() or cid in ("closing", "attachments"):
            assert re.sub(r"\s+", "", SCHEME.full_text(cid)) in flat, cid


def test_bundled_scheme_is_a_byte_identical_copy_of_the_seed() -> None:
    seed = SHARED / "seeds" / "yunnan-innovation-consortium-scheme.txt"
    if not seed.exists():
        pytest.skip(f"{seed} is not available")
    assert corpus.SCHEME_FILE.read_bytes() == seed.read_bytes()


def test_every_lexicon_target_occurs_in_the_scheme() -> None:
    lex = Lexicon.load()
    missing = sorted(t for t in lex.targets() if t not in SCHEME.text)
    assert not missing


def test_lexicon_maps_colloquial_and_english_phrasings() -> None:
    lex = Lexicon.load()
    assert "省内注册" in lex.expand("外省公司能牵头吗")[1]
    assert "解散" in lex.expand("联合体能不能散伙")[1]
    assert {"自筹经费", "2:1"} <= set(lex.expand("what's the match funding ratio")[1])
    assert "总结" in lex.expand("When is the annual report due?")[1]
    assert "高等学校" in lex.expand("Can a university join?")[1]
    assert lex.out_of_scope("如何申请国家自然科学基金") and not lex.out_of_scope("牵头单位应具备哪些条件")


def test_out_of_scope_shapes_need_the_question_to_ask_that() -> None:
    """Contact details and lists are fields of the application form and the agreement: asked about those, they are
    in scope; a number the scheme does not give is its own family; another programme applied for on its own is out,
    the same programme under the scheme's support is in; topic words match their plural."""
    lex = Lexicon.load()
    assert lex.out_of_scope_shapes("省科技厅的联系电话是多少") and not lex.out_of_scope_shapes("申请表上的联系电话写谁的")
    assert lex.out_of_scope_shapes("已经批了的创新联合体名单在哪看") and not lex.out_of_scope_shapes("协议里要列成员名单吗")
    assert lex.out_of_scope_shapes("what's the department's email address")
    assert not lex.out_of_scope_shapes("how do we submit the paperwork, by email?")
    assert not lex.out_of_scope_shapes("Does the lead company need influence at national level?")
    assert lex.number_not_given("一个联合体最多能有多少家成员单位") and lex.number_not_given("评审一般多久出结果")
    assert not lex.out_of_scope_shapes("自筹比例是多少") and not lex.out_of_scope_shapes("联合体存续几年")
    assert lex.out_of_scope_shapes("云南实验室怎么申报")
    assert not lex.out_of_scope_shapes("联合体成员能参与建设云南实验室吗")
    assert not lex.out_of_scope_shapes("众创空间能优先认定吗")
    assert lex.out_of_scope("can the department help our engineers get work visas")
    # the scheme's own questions beside those words stay in scope
    for q in ("成员单位最少要有一家高校吗", "获批的联合体有哪些义务", "现在有哪些联合体支持政策", "方案什么时候公布的",
              "帮我做个判断，我们能牵头吗", "do we need at least one university member?",
              "how many members need to sign the agreement?", "联合体批复后多久要交第一份年度总结", "登录系统后怎么提交申请"):
        assert not lex.out_of_scope_shapes(q), q


def test_the_lexicon_repeats_no_key() -> None:
    """YAML keeps the last of two equal keys silently: a phrase added twice would lose its first mapping."""
    import re
    from collections import Counter

    from knowledge.text import LEXICON_FILE

    text = LEXICON_FILE.read_text(encoding="utf-8")
    for section in ("zh", "en"):
        body = text.split(f"\n{section}:\n", 1)[1]
        body = body[:re.search(r"\n\S", body).start()] if re.search(r"\n\S", body) else body  # type: ignore[union-attr]
        keys = re.findall(r"(?m)^  ([^:#\n][^:\n]*):", body)
        assert keys and [k for k, n in Counter(keys).items() if n > 1] == [], section
