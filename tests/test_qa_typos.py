"""One-character typos of the documents' words are repaired before ranking (same or south-western sound,
a phrase the documents write, a character that makes no word where it was typed); ordinary words are not."""

from __future__ import annotations

import pytest

from knowledge import corpus
from knowledge.index import search_text
from knowledge.text import Analyzer
from knowledge.typos import TypoRepairer, sound_alike

SCHEME = corpus.load()


@pytest.fixture(scope="module")
def repairer() -> TypoRepairer:
    analyzer = Analyzer()
    return TypoRepairer([search_text(SCHEME, cid) for cid in SCHEME.ids], analyzer.is_word, analyzer.common_char)


@pytest.mark.parametrize(("typed", "meant"), [
    ("牵投单位要在云南注册吗", "牵头单位要在云南注册吗"),
    ("自筹经废按什么标准", "自筹经费按什么标准"),
    ("成原单位要啥条件", "成员单位要啥条件"),
    ("组建协意谁来签字", "组建协议谁来签字"),
    ("只有龙头企叶才能牵头吗", "只有龙头企业才能牵头吗"),
    ("遵循市厂机制是啥意思", "遵循市场机制是啥意思"),
    ("联合体建的中式平台是干什么用的", "联合体建的中试平台是干什么用的"),  # 中式 is a word, 中式平台 a scheme phrase's typo
])
def test_a_typo_of_a_scheme_phrase_is_repaired(repairer: TypoRepairer, typed: str, meant: str) -> None:
    assert repairer.repair(typed) == meant


@pytest.mark.parametrize("text", [
    "我们公司已经牵头了一个联合体，现在另一个领域又想牵头，能行吗",  # 想 is not 限 (xiang/xian)
    "有个成员单位想退出，不影响项目，需要签点什么吗",  # 个 (a most common character) is not 各
    "联合体至少要牵头几个省重大专项",  # 要 is a word of its own
    "建筑施工联合体投标需要什么资质",
    "我们喜欢中式风格的装修",  # 中式 outside a four-character scheme phrase stays
    "What is the match-funding ratio?",
    "",
])
def test_ordinary_words_are_left_as_typed(repairer: TypoRepairer, text: str) -> None:
    assert repairer.repair(text) == text


def test_sounds_are_compared_the_south_western_way() -> None:
    assert sound_alike("投", "头") and sound_alike("废", "费")
    assert sound_alike("南", "蓝") and sound_alike("是", "四")  # n/l, sh/s
    assert not sound_alike("是", "体") and not sound_alike("想", "限")


def test_a_typed_question_is_answered_from_the_clause_it_meant() -> None:
    from tests.qa_helpers import service

    svc = service()
    for typed, gold in (("牵投单位要在云南注册吗", "4.1.1"), ("自筹经废比例是多少", "4.4"), ("首席砖家有什么要求", "4.5")):
        ans = svc.answer(typed)
        assert ans.kind == "answer" and ans.ranked[0] == gold, (typed, ans.kind, ans.ranked[:3])
        assert ans.question == typed  # what people typed is kept as typed


@pytest.mark.parametrize(("text", "words", "content"), [
    ("首席专家的津贴一般发多少 咋整", ["津贴", "一般", "咋整"], ["津贴"]),  # a noun names what is asked; filler does not
    ("联合体的牌匾弄丢了能不能补发", ["牌匾", "弄", "不能"], ["牌匾"]),
    ("where is the plaque ceremony usually held", ["ceremony", "the", "150w"], ["ceremony"]),
    ("我们申请150w 自己要出多少", ["150w", "要出"], []),
])
def test_content_words_are_the_unknown_words_that_name_a_thing(text: str, words: list[str], content: list[str]) -> None:
    from knowledge.text import default_analyzer

    assert default_analyzer().content_words(text, words) == content
