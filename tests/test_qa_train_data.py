"""The train question files are well formed: gold ids are canonical, questions are not repeated."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
import yaml

from knowledge import corpus

DATA = Path(__file__).parent / "data"
TRAIN_FILES = ["qa_train_extra.yaml", "qa_paraphrases.yaml", "qa_train_more.yaml", "qa_train_new.yaml", "qa_train_en.yaml",
               "qa_train_seven.yaml", "qa_train_eight.yaml", "qa_train_nine.yaml",
               "qa_train_ten.yaml", "qa_train_eleven.yaml",
               "qa_train_twelve.yaml", "qa_train_thirteen.yaml", "qa_train_fourteen.yaml",
               "qa_train_fifteen.yaml", "qa_train_sixteen.yaml"]
IDS = set(corpus.load().ids)


def _norm(q: str) -> str:
    return re.sub(r"[\s\W_]+", "", q.lower())


def _questions(name: str) -> tuple[list[dict[str, object]], list[str]]:
    d = yaml.safe_load((DATA / name).read_text(encoding="utf-8"))
    return d["in_scope"], [str(q) for q in d["out_of_scope"]]


@pytest.mark.parametrize("name", TRAIN_FILES)
def test_every_gold_id_is_a_canonical_clause_id(name: str) -> None:
    ins, _ = _questions(name)
    bad = [(it["q"], g) for it in ins for g in it["gold"] if g not in IDS]  # type: ignore[attr-defined]
    assert ins and not bad, bad


@pytest.mark.parametrize("name", ["qa_train_more.yaml", "qa_train_new.yaml", "qa_train_en.yaml", "qa_train_seven.yaml",
                                  "qa_train_eight.yaml", "qa_train_nine.yaml",
                                  "qa_train_ten.yaml", "qa_train_eleven.yaml",
                                  "qa_train_twelve.yaml", "qa_train_thirteen.yaml", "qa_train_fourteen.yaml",
               "qa_train_fifteen.yaml", "qa_train_sixteen.yaml"])
def test_new_train_questions_are_not_repeated_within_or_across_train_files(name: str) -> None:
    ins, outs = _questions(name)
    mine = [str(it["q"]) for it in ins] + outs
    counts = Counter(_norm(q) for q in mine)
    assert [q for q, n in counts.items() if n > 1] == []
    others: set[str] = set()
    for other in TRAIN_FILES[:TRAIN_FILES.index(name)]:
        o_in, o_out = _questions(other)
        others |= {_norm(str(it["q"])) for it in o_in} | {_norm(q) for q in o_out}
    assert [q for q in mine if _norm(q) in others] == []


@pytest.mark.parametrize("name", ["qa_train_more.yaml", "qa_train_new.yaml"])
def test_new_train_file_covers_every_clause_twice(name: str) -> None:
    ins, outs = _questions(name)
    cover = Counter(g for it in ins for g in it["gold"])  # type: ignore[attr-defined]
    assert [i for i in IDS if cover[i] < 2] == [] and len(outs) >= 50


def test_the_train_anchor_file_holds_the_train_files_out_of_scope_questions() -> None:
    """knowledge/data/oos_train.yaml is written by the fit from its train files: every out-of-scope train question
    is an anchor (there or among the written anchors), and nothing else is (no held-out question)."""
    from knowledge.fit import TRAIN_SETS, _questions
    from knowledge.service import OOS_ANCHORS_FILE, OOS_TRAIN_FILE

    written = {_norm(str(q)) for q in yaml.safe_load(OOS_ANCHORS_FILE.read_text(encoding="utf-8"))["anchors"]}
    train = {_norm(str(q)) for q in yaml.safe_load(OOS_TRAIN_FILE.read_text(encoding="utf-8"))["anchors"]}
    outs = {_norm(q) for q in _questions([p for p in TRAIN_SETS if p.exists()])[1]} - {""}
    assert outs - written - train == set()  # the fit was run after the train files last changed
    if all(p.exists() for p in TRAIN_SETS):  # (without ../shared the dev file's questions are not read here)
        assert train - outs == set()
    assert not train & written
