"""Retrieval and refusal quality: floors on the train and the frozen held-out questions, and the
regression baseline (any changed rank-1 clause or outcome fails until `python -m knowledge.baseline`
is run and its diff committed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from knowledge.baseline import BASELINE, SETS, diff, snapshot
from knowledge.evaluate import evaluate, load_questions
from tests.qa_helpers import service

# floors at the measured values (README, benchmarks/qa_eval.py); held-out: never tuned on
FLOORS = {
    "dev": {"hit@1": 0.96, "hit@3": 1.0, "oos_refusal_rate": 1.0, "false_refusal_rate": 0.0},
    "paraphrases": {"hit@1": 0.93, "hit@3": 0.98, "oos_refusal_rate": 0.97, "false_refusal_rate": 0.013},
    "train_extra": {"hit@1": 0.92, "hit@3": 0.98, "oos_refusal_rate": 0.96, "false_refusal_rate": 0.011},
    "train_more": {"hit@1": 0.85, "hit@3": 0.92, "oos_refusal_rate": 0.82, "false_refusal_rate": 0.045},
    "heldout": {"hit@1": 0.89, "hit@3": 0.93, "oos_refusal_rate": 0.89, "false_refusal_rate": 0.03},
}


def _ask(questions: list[str]) -> list[tuple[list[str], bool, str]]:
    return [(a.ranked, a.kind == "refused", a.kind) for a in service().answer_many(questions)]


@pytest.mark.parametrize("name", list(FLOORS))
def test_quality_floors(name: str) -> None:
    path: Path = SETS[name]
    if not path.exists():
        pytest.skip(f"{path} is not available")
    m = evaluate(service().corpus, load_questions(path), _ask).metrics()
    f = FLOORS[name]
    assert m["hit@1"] >= f["hit@1"] and m["hit@3"] >= f["hit@3"], m
    assert m["oos_refusal_rate"] >= f["oos_refusal_rate"] and m["false_refusal_rate"] <= f["false_refusal_rate"], m


def test_held_out_file_is_frozen_and_separate() -> None:
    text = SETS["heldout"].read_text(encoding="utf-8")
    assert text.startswith("# FROZEN held-out")
    from knowledge.fit import TRAIN_SETS

    assert SETS["heldout"] not in TRAIN_SETS


def test_no_rank_1_or_outcome_changed_against_the_baseline() -> None:
    old = json.loads(BASELINE.read_text(encoding="utf-8"))
    new = snapshot(service())
    if "dev" not in new:  # ../shared absent
        old.pop("dev", None)
    changes = diff(old, new)
    assert not changes, "rank-1 or outcome changed; run `python -m knowledge.baseline` and commit the diff:\n" + \
        "\n".join(changes[:40])
