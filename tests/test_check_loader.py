"""The checklist loader fails loudly, naming the file and the item, on broken data."""

from __future__ import annotations

from pathlib import Path

import pytest

from checks import loader
from checks.loader import ChecklistError, load_checklists

KNOWN = {"4.1.1", "4.4", "8.4", "5.5"}

GOOD = """\
id: tiny
title: {zh: 小清单, en: Tiny}
intro: {zh: 说明, en: Intro}
questions:
  - fact: entity_type
    type: choice
    text: {zh: 类型？, en: Type}
    options:
      - {value: enterprise, zh: 企业, en: Enterprise}
      - {value: university, zh: 高校, en: University}
    why: {clause: "4.1.1", quote: 企业}
  - fact: funds
    type: number
    min: 0
    applies_when: {fact: entity_type, in: [enterprise]}
    text: {zh: 经费？, en: Funds}
    why: {clause: "4.4", quote: 经费}
conditions:
  - id: is-enterprise
    clauses: ["4.1.1"]
    title: {zh: 企业, en: Enterprise}
    quote: 企业
    rule: {fact: entity_type, in: [enterprise]}
    messages:
      pass: {zh: 是企业, en: "yes"}
      fail: {zh: 不是企业, en: "no"}
      fix: {zh: 找企业, en: find one}
"""


def write(tmp_path: Path, text: str, name: str = "tiny.yaml") -> Path:
    (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def test_a_good_file_loads(tmp_path: Path) -> None:
    lists = load_checklists(known_clause_ids=KNOWN, directory=write(tmp_path, GOOD))
    assert list(lists) == ["tiny"]
    assert [q.fact for q in lists["tiny"].questions] == ["entity_type", "funds"]


@pytest.mark.parametrize(("old", "new", "words"), [
    ('clauses: ["4.1.1"]', 'clauses: ["4.9.9"]', "condition 'is-enterprise': cites clause '4.9.9', which does not exist"),
    ('why: {clause: "4.4", quote: 经费}', 'why: {clause: "9.9", quote: 经费}',
     "question 'funds': 'why' cites clause '9.9'"),
    ("rule: {fact: entity_type, in: [enterprise]}", "rule: {fact: turnover, ge: 5}",
     "condition 'is-enterprise': rule reads fact 'turnover', which no question asks"),
    ("rule: {fact: entity_type, in: [enterprise]}", "rule: {fact: entity_type, in: [company]}",
     "value 'company' is not an option of question 'entity_type'"),
    ("rule: {fact: entity_type, in: [enterprise]}", "rule: {fact: funds, is: true}",
     "'is' cannot be applied to 'funds' (a number question)"),
    ("rule: {fact: entity_type, in: [enterprise]}", "rule: {fact: entity_type}",
     "condition 'is-enterprise' → rule: a comparison needs exactly one comparator"),
    ("applies_when: {fact: entity_type, in: [enterprise]}", "applies_when: {fact: entity_type, in: []}",
     "question 'funds'"),
    ("applies_when: {fact: entity_type, in: [enterprise]}",
     "applies_when: {all: [{fact: entity_type, in: [enterprise]}, {fact: entity_type, in: [university]}]}",
     "question 'funds' can never be reached"),
    ("applies_when: {fact: entity_type, in: [enterprise]}", "applies_when: {fact: funds, ge: 1}",
     "question 'funds': its applies_when depends on its own answer"),
    ("      fix: {zh: 找企业, en: find one}\n", "",
     "condition 'is-enterprise': a checked condition needs a 'fix' message"),
    ('fail: {zh: 不是企业, en: "no"}', "fail: {zh: '不是企业 {shortfall_x}', en: x}",
     "uses {shortfall_x}"),
    ("    type: number\n", "    type: money\n", "question 'funds' → type"),
    ("  - fact: funds\n", "  - fact: Funds\n", "must be lower_snake_case"),
    ("    text: {zh: 经费？, en: Funds}\n", "    text: {zh: 经费？}\n", "question 'funds' → text → en"),
])
def test_broken_files_fail_loudly(tmp_path: Path, old: str, new: str, words: str) -> None:
    assert old in GOOD
    write(tmp_path, GOOD.replace(old, new))
    with pytest.raises(ChecklistError) as err:
        load_checklists(known_clause_ids=KNOWN, directory=tmp_path)
    assert str(err.value).startswith("tiny.yaml: ")
    assert words in str(err.value)


def test_a_question_depending_on_a_later_one(tmp_path: Path) -> None:
    text = GOOD.replace("    applies_when: {fact: entity_type, in: [enterprise]}\n", "")
    text = text.replace("    why: {clause: \"4.1.1\", quote: 企业}\n",
                        "    why: {clause: \"4.1.1\", quote: 企业}\n    applies_when: {fact: funds, ge: 1}\n")
    write(tmp_path, text)
    with pytest.raises(ChecklistError, match="question 'entity_type': applies_when reads fact 'funds', which is only asked later"):
        load_checklists(known_clause_ids=KNOWN, directory=tmp_path)


def test_a_question_behind_an_unreachable_one(tmp_path: Path) -> None:
    text = GOOD.replace("applies_when: {fact: entity_type, in: [enterprise]}",
                        "applies_when: {all: [{fact: entity_type, in: [enterprise]}, {not: {fact: entity_type, in: [enterprise]}}]}")
    text = text.replace("conditions:", """  - fact: more
    type: bool
    applies_when: {fact: funds, ge: 1}
    text: {zh: 更多？, en: More}
    why: {clause: "4.4", quote: 经费}
conditions:""")
    write(tmp_path, text)
    with pytest.raises(ChecklistError, match="question 'funds' can never be reached"):
        load_checklists(known_clause_ids=KNOWN, directory=tmp_path)


@pytest.mark.parametrize(("text", "words"), [
    ("id: tiny\n  bad: [indent\n", "is not valid YAML"),
    ("- a list\n", "top level must be a mapping"),
    (GOOD.replace("id: tiny", "id: other"), "does not match the file name"),
    (GOOD + "unexpected: 1\n", "unexpected: Extra inputs are not permitted"),
])
def test_unreadable_files(tmp_path: Path, text: str, words: str) -> None:
    write(tmp_path, text)
    with pytest.raises(ChecklistError, match=words):
        load_checklists(known_clause_ids=KNOWN, directory=tmp_path)


def test_duplicate_condition_and_fact(tmp_path: Path) -> None:
    cond = GOOD[GOOD.index("  - id: is-enterprise"):]
    write(tmp_path, GOOD + cond)
    with pytest.raises(ChecklistError, match="condition 'is-enterprise': is defined twice"):
        load_checklists(known_clause_ids=KNOWN, directory=tmp_path)


def test_bundled_checklists_validate_against_the_scheme() -> None:
    lists = load_checklists()
    assert set(lists) == {"lead-unit", "member", "formation"}
    with pytest.raises(ChecklistError, match=r"^\w[\w-]*\.yaml: .*cites clause '[\w.]+', which does not exist"):
        load_checklists(known_clause_ids={"4.4"})
    with pytest.raises(KeyError, match="unknown checklist 'nope'"):
        loader.get("nope")
