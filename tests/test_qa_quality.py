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
    "paraphrases": {"hit@1": 0.918, "hit@3": 0.968, "oos_refusal_rate": 0.978, "false_refusal_rate": 0.019},
    "train_extra": {"hit@1": 0.915, "hit@3": 0.978, "oos_refusal_rate": 0.981, "false_refusal_rate": 0.022},
    "train_more": {"hit@1": 0.863, "hit@3": 0.924, "oos_refusal_rate": 0.857, "false_refusal_rate": 0.045},
    "heldout": {"hit@1": 0.897, "hit@3": 0.946, "oos_refusal_rate": 0.913, "false_refusal_rate": 0.021},
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


def test_the_fast_path_changes_no_rank_1_or_outcome_on_the_train_questions() -> None:
    """Questions whose lexical ranking is decisive skip the query embedding; its thresholds were fit so that
    on every train question the full path (dense included) has the same best clause and the gate answers, or
    was only unsure (clarify) of a right answer."""
    svc = service()
    qs: list[str] = []
    golds: list[list[str] | None] = []
    for name in ("paraphrases", "train_extra", "train_more"):
        d = load_questions(SETS[name])
        qs += [it["q"] for it in d["in_scope"]] + [str(q) for q in d["out_of_scope"]]
        golds += [list(it["gold"]) for it in d["in_scope"]] + [None] * len(d["out_of_scope"])
    fast = svc.answer_many(qs)
    svc.fast_path = False
    try:
        full = svc.answer_many(qs)
    finally:
        svc.fast_path = True
    taken = [(q, g, a, b) for q, g, a, b in zip(qs, golds, fast, full, strict=True) if a.features.get("fast")]
    assert len(taken) >= 0.08 * len(qs), f"only {len(taken)} of {len(qs)} took the fast path"
    changed = [(q, a.ranked[:1], b.ranked[:1]) for q, _, a, b in taken if a.ranked[:1] != b.ranked[:1]]
    assert not changed, changed
    assert all(a.kind == "answer" for _, _, a, _ in taken)
    unsure = [(q, g, a.ranked[:1]) for q, g, a, b in taken if b.kind != "answer"]
    wrong = [(q, g, r) for q, g, r in unsure if g is None or not any(svc.corpus.is_under(r[0], x) for x in g)]
    assert not wrong, wrong


def test_out_of_scope_words_never_take_the_fast_path() -> None:
    """A question naming an out-of-scope topic always meets the gate (the dense out-of-scope anchors), however
    decisive its scheme words are; the same words without it may go fast."""
    svc = service()
    plain, oos = svc.answer_many(["牵头单位应具备哪些条件？", "牵头单位申报高新技术企业认定要具备哪些条件？"])
    assert plain.features.get("fast") and plain.kind == "answer"
    assert oos.features["oos"] > 0 and not oos.features.get("fast")


def test_the_shipped_ranker_file_reads_back_as_it_is_written() -> None:
    """``knowledge.fit`` writes each model with ``Linear.to_dict``; ``load_model`` reads the same form back."""
    import yaml

    from knowledge.retrieve import FEATURES, LEX_FEATURES, RANKER_FILE, Linear, load_model

    model = load_model()
    assert model.lexical is not None and {"answer", "refuse", "fast", "fast_margin"} <= set(model.thresholds)
    on_disk = yaml.safe_load(RANKER_FILE.read_text(encoding="utf-8"))
    assert model.fusion.to_dict() == on_disk["fusion"] and model.lexical.to_dict() == on_disk["lexical"]
    again = Linear.from_dict(model.fusion.to_dict(), FEATURES)
    assert again.names == FEATURES and again.to_dict() == model.fusion.to_dict()
    assert model.lexical.names == LEX_FEATURES
