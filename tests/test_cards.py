"""Answer cards (knowledge/data/cards.yaml) through the public loader: coverage, alignment, honesty."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from knowledge.cards import Card, CardError, load_cards
from knowledge.corpus import load
from knowledge.index import sentences

CORPUS = load()
CARDS = load_cards(CORPUS)

CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")
PARENS = re.compile(r"\([^()]*\)")
DIGITS = re.compile(r"\d+")


def _has_cjk(text: str) -> bool:
    return bool(CJK.search(text))


def _outside_parens(text: str) -> str:
    """``text`` with every (possibly nested) ASCII-parenthesised part removed."""
    while True:
        stripped = PARENS.sub("", text)
        if stripped == text:
            return text
        text = stripped


def _subtree_text(cid: str) -> str:
    """Title and text of a clause and all its descendants."""
    clause = CORPUS.clauses[cid]
    return "\n".join([clause.title, clause.text, *(_subtree_text(child) for child in clause.children)])


def _english(card: Card) -> list[str]:
    out = [card.gist.en, card.title_en, *card.en]
    for facet in card.facets:
        out.append(facet.en)
        if facet.polar is not None:
            out.append(facet.polar.en)
    return out


def _chinese_answers(card: Card) -> list[str]:
    out = [card.gist.zh]
    for facet in card.facets:
        out.append(facet.zh)
        if facet.polar is not None:
            out.append(facet.polar.zh)
    return out


CIDS = list(CORPUS.ids)


def test_every_corpus_id_has_a_card_and_nothing_else() -> None:
    assert list(CARDS) == CIDS
    assert all(CARDS[cid].clause == cid for cid in CIDS)


@pytest.mark.parametrize("cid", CIDS)
def test_card_has_both_gists_and_a_facet(cid: str) -> None:
    card = CARDS[cid]
    assert card.gist.zh.strip() and card.gist.en.strip()
    assert _has_cjk(card.gist.zh)
    assert card.facets, f"{cid}: no facet"
    for facet in card.facets:
        assert facet.zh.strip() and facet.en.strip()


@pytest.mark.parametrize("cid", CIDS)
def test_translation_is_aligned_with_the_bot_sentence_split(cid: str) -> None:
    card = CARDS[cid]
    n = len(sentences(CORPUS.clauses[cid].text))
    assert len(card.en) == n
    assert all(item.strip() for item in card.en)


@pytest.mark.parametrize("cid", CIDS)
def test_quotes_point_at_real_sentences(cid: str) -> None:
    card = CARDS[cid]
    n = len(sentences(CORPUS.clauses[cid].text))
    for facet in card.facets:
        assert all(0 <= k < n for k in facet.quote), (cid, facet.quote)
        assert len(set(facet.quote)) == len(facet.quote)
    if n:  # a clause with a body is quoted by at least one facet (a parent's overview facet may quote none)
        assert any(facet.quote for facet in card.facets), f"{cid}: no facet quotes the clause"


@pytest.mark.parametrize("cid", CIDS)
def test_every_number_in_a_chinese_answer_is_in_the_clause(cid: str) -> None:
    allowed = set(DIGITS.findall(_subtree_text(cid)))
    for text in _chinese_answers(CARDS[cid]):
        for number in DIGITS.findall(text):
            assert number in allowed, f"{cid}: {number!r} in {text!r} is not in the clause"


@pytest.mark.parametrize("cid", CIDS)
def test_english_has_no_chinese_outside_parentheses(cid: str) -> None:
    for text in _english(CARDS[cid]):
        assert not _has_cjk(_outside_parens(text)), f"{cid}: {text!r}"


@pytest.mark.parametrize("cid", CIDS)
def test_facet_questions_are_bilingual(cid: str) -> None:
    for facet in CARDS[cid].facets:
        assert 2 <= len(facet.q) <= 16, (cid, facet.q)
        assert any(_has_cjk(q) for q in facet.q), (cid, facet.q)
        assert any(not _has_cjk(q) for q in facet.q), (cid, facet.q)
    questions = CARDS[cid].questions()
    assert questions == [q for f in CARDS[cid].facets for q in f.q]


@pytest.mark.parametrize(("cid", "polar_zh"), [
    ("4.1.3", "原则上不行"),
    ("4.3", "可以"),
    ("8.2", "不得"),
    ("A1.note.3", "是"),
])
def test_polar_answers_are_oriented(cid: str, polar_zh: str) -> None:
    polars = [f.polar.zh for f in CARDS[cid].facets if f.polar is not None]
    assert polar_zh in polars


@pytest.mark.parametrize(("cid", "facts"), [
    ("4.4", {"ratio": "2:1"}),
    ("8.2", {"term_years": [3, 5]}),
    ("8.3", {"annual_report_due": "12-31", "to": ["推荐单位", "省科技厅"]}),
    ("5.2", {"lead_units_per_field": [1, 2]}),
    ("8.4", {"bar_years": 3}),
    ("closing", {"valid_years": 3, "effective": "印发之日"}),
    ("A1.form.1", {"max_chars": 500}),
])
def test_facts_carry_the_scheme_values(cid: str, facts: dict[str, object]) -> None:
    for key, value in facts.items():
        assert CARDS[cid].facts[key] == value


def test_fact_keys_are_snake_case() -> None:
    for cid, card in CARDS.items():
        for key in card.facts:
            assert re.fullmatch(r"[a-z][a-z0-9_]*", key), (cid, key)


# ---- malformed files -------------------------------------------------------------------------

_GOOD_4_1_3 = """\
"4.1.3":
  gist: {zh: "原则上一个牵头单位只能牵头组建一个创新联合体。", en: "As a rule, one consortium per lead unit."}
  en: ["In principle, one lead unit may lead only one innovation consortium."]
  facets:
    - q: ["能牵头两个吗", "Can we lead two?"]
      zh: "原则上不行。"
      en: "As a rule, no."
      polar: {zh: "原则上不行", en: "As a rule, no"}
      quote: [0]
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cards.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_small_good_file_loads(tmp_path: Path) -> None:
    cards = load_cards(CORPUS, _write(tmp_path, _GOOD_4_1_3))
    assert list(cards) == ["4.1.3"]
    assert cards["4.1.3"].questions() == ["能牵头两个吗", "Can we lead two?"]


def test_unknown_id_is_refused(tmp_path: Path) -> None:
    text = _GOOD_4_1_3.replace('"4.1.3":', '"4.1.9":')
    with pytest.raises(CardError, match=r"4\.1\.9"):
        load_cards(CORPUS, _write(tmp_path, text))


def test_misaligned_translation_is_refused(tmp_path: Path) -> None:
    text = _GOOD_4_1_3.replace('  en: ["In principle', '  en: ["Extra.", "In principle')
    with pytest.raises(CardError, match=r"4\.1\.3"):
        load_cards(CORPUS, _write(tmp_path, text))


def test_out_of_range_quote_is_refused(tmp_path: Path) -> None:
    text = _GOOD_4_1_3.replace("quote: [0]", "quote: [0, 3]")
    with pytest.raises(CardError, match=r"4\.1\.3"):
        load_cards(CORPUS, _write(tmp_path, text))


def test_empty_gist_is_refused(tmp_path: Path) -> None:
    text = _GOOD_4_1_3.replace('en: "As a rule, one consortium per lead unit."', 'en: "  "')
    with pytest.raises(CardError, match=r"4\.1\.3"):
        load_cards(CORPUS, _write(tmp_path, text))


def test_unknown_field_is_refused(tmp_path: Path) -> None:
    text = _GOOD_4_1_3 + "  source: somewhere\n"
    with pytest.raises(CardError, match=r"4\.1\.3"):
        load_cards(CORPUS, _write(tmp_path, text))


def test_duplicate_card_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CardError, match=r"4\.1\.3"):
        load_cards(CORPUS, _write(tmp_path, _GOOD_4_1_3 + _GOOD_4_1_3))
