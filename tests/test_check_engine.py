"""The pure engine: answer validation, the dialog's walk, rules, and the cited clauses."""

from __future__ import annotations

from datetime import date

import pytest

from checks import loader
from checks.engine import AnswerError, add_years, evaluate, next_question, progress, validate_answers
from knowledge import corpus

LEAD = loader.get("lead-unit")
MEMBER = loader.get("member")
FORMATION = loader.get("formation")
TODAY = date(2026, 11, 26)


@pytest.mark.parametrize(("answers", "fact", "words"), [
    ({"self_raised_funds": -5}, "self_raised_funds", "negative"),
    ({"requested_funds": "100"}, "requested_funds", "expected a number"),
    ({"requested_funds": True}, "requested_funds", "expected a number"),
    ({"requested_funds": float("nan")}, "requested_funds", "expected a number"),
    ({"consortia_already_led": 1.5}, "consortia_already_led", "whole number"),
    ({"consortia_already_led": -1}, "consortia_already_led", "negative"),
    ({"disqualified_on": "2025-02-30"}, "disqualified_on", "not a real date"),
    ({"disqualified_on": "yesterday"}, "disqualified_on", "YYYY-MM-DD"),
    ({"disqualified_on": 20240101}, "disqualified_on", "not a date"),
    ({"entity_type": "company"}, "entity_type", "not one of"),
    ({"registered_in_yunnan": "yes"}, "registered_in_yunnan", "true or false"),
    ({"registered_in_yunnan": 1}, "registered_in_yunnan", "true or false"),
    ({"turnover": 5}, "turnover", "unknown fact"),
])
def test_ill_typed_answers_are_rejected_naming_the_fact(answers: dict, fact: str, words: str) -> None:
    with pytest.raises(AnswerError) as err:
        evaluate(LEAD, answers, TODAY)
    assert err.value.fact == fact
    assert str(err.value).startswith(f"{fact}: ")
    assert words in str(err.value)


@pytest.mark.parametrize(("answers", "fact", "words"), [
    ({"agreement_clauses": ["goals", "nda"]}, "agreement_clauses", "'nda' is not one of"),
    ({"agreement_clauses": "goals"}, "agreement_clauses", "a list"),
    ({"route": "sideways"}, "route", "not one of"),
    ({"industry_field": ""}, "industry_field", "some text"),
    ({"lead_unit_count": 51}, "lead_unit_count", "maximum"),
])
def test_formation_answers_are_checked(answers: dict, fact: str, words: str) -> None:
    with pytest.raises(AnswerError, match=words) as err:
        validate_answers(FORMATION, answers)
    assert err.value.fact == fact


def test_answers_are_cleaned() -> None:
    clean = validate_answers(FORMATION, {
        "agreement_clauses": ["dispute_resolution", "goals", "goals"], "industry_field": " 光伏 ",
        "lead_unit_count": 2.0, "has_chief_expert": None,
    })
    assert clean == {"agreement_clauses": ["goals", "dispute_resolution"], "industry_field": "光伏",
                     "lead_unit_count": 2}
    assert validate_answers(LEAD, {"disqualified_on": None}) == {"disqualified_on": None}
    assert validate_answers(LEAD, {"disqualified_on": date(2024, 2, 29)}) == {"disqualified_on": date(2024, 2, 29)}


def test_null_is_unknown_except_for_a_nullable_date() -> None:
    result = evaluate(LEAD, {"registered_in_yunnan": None, "disqualified_on": None}, TODAY)
    status = {c.id: c.status for c in result.conditions}
    assert status["lead-registered-yunnan"] == "unknown"
    assert status["disqualification"] == "pass"  # null = never disqualified


def test_add_years_handles_29_february() -> None:
    assert add_years(date(2024, 2, 29), 3) == date(2027, 2, 28)
    assert add_years(date(2024, 2, 29), 4) == date(2028, 2, 29)
    assert add_years(date(2023, 5, 10), 3) == date(2026, 5, 10)


def test_next_question_skips_what_does_not_apply() -> None:
    walk = []
    answers: dict = {"entity_type": "university"}
    while (q := next_question(MEMBER, answers)) is not None:
        walk.append(q.fact)
        answers[q.fact] = True if q.type == "bool" else None
    assert walk == ["cooperation_basis", "strong_research_team", "frontier_level", "lab_conditions",
                    "disqualified_on"]
    answers = {"entity_type": "enterprise", "cooperation_basis": True}
    assert next_question(MEMBER, answers).fact == "in_industry_chain"  # type: ignore[union-attr]
    assert next_question(MEMBER, answers, skipped={"in_industry_chain"}).fact == "rd_capability"  # type: ignore[union-attr]


def test_local_recommendation_is_asked_only_bottom_up() -> None:
    facts = [q.fact for q in FORMATION.questions]
    before = {f: None for f in facts[: facts.index("route")]}
    assert next_question(FORMATION, {**before, "route": "top_down"}).fact == "form_sealed"  # type: ignore[union-attr]
    assert next_question(FORMATION, {**before, "route": "bottom_up"}).fact == "local_recommendation"  # type: ignore[union-attr]


def test_progress_counts_only_questions_that_apply() -> None:
    assert progress(MEMBER, {}, "entity_type") == (1, 11)  # type unknown: everything may apply
    assert progress(MEMBER, {"entity_type": "university"}, "frontier_level") == (4, 6)
    assert progress(MEMBER, {"entity_type": "enterprise"}, "disqualified_on") == (7, 7)


def test_english_messages() -> None:
    result = evaluate(LEAD, {"self_raised_funds": 150, "requested_funds": 100}, TODAY, lang="en")
    funding = next(c for c in result.conditions if c.id == "funding-ratio")
    assert funding.reason == "Self-raised CNY 1.5 million : requested CNY 1 million = 1.5 : 1, below 2 : 1"
    assert funding.fix == "Raise at least CNY 2 million yourselves (CNY 500,000 more)"
    assert funding.title == "Self-raised funds at least 2 : 1"


def test_json_shape_has_the_documented_keys() -> None:
    result = evaluate(LEAD, {"self_raised_funds": 150, "requested_funds": 100}, TODAY)
    doc = result.to_dict(loader.scheme_labels())
    assert set(doc) >= {"checklist", "verdict", "conditions"}
    assert doc["checklist"] == "lead-unit" and doc["verdict"] == "not_eligible"
    for c in doc["conditions"]:
        assert {"id", "clause", "status", "reason", "fix"} <= set(c)
        assert c["status"] in ("pass", "fail", "warn", "unknown", "n/a", "info")
    funding = next(c for c in doc["conditions"] if c["id"] == "funding-ratio")
    assert funding["clause"] == "4.4" and funding["label"] == "四、（四）"


# -- cited clauses -------------------------------------------------------------------------------

SCHEME = corpus.load()


def _flat(cid: str) -> str:
    return SCHEME.full_text(cid).replace("\n", "")


@pytest.mark.parametrize("name", ["lead-unit", "member", "formation"])
def test_every_cited_clause_exists_and_every_quote_is_verbatim(name: str) -> None:
    checklist = loader.get(name)
    ids = set(SCHEME.ids)
    for q in checklist.questions:
        assert q.why.clause in ids, q.fact
        assert q.why.quote in _flat(q.why.clause), (q.fact, q.why.quote)
    for c in checklist.conditions:
        assert set(c.clauses) <= ids, c.id
        assert any(c.quote in _flat(cid) for cid in c.clauses), (c.id, c.quote)
    assert set(checklist.clauses) <= ids


def test_conditions_cite_the_clauses_self_assessment_md_fixes() -> None:
    cites = {(name, c.id): c.clauses for name, cl in loader.bundled().items() for c in cl.conditions}
    assert cites[("lead-unit", "funding-ratio")] == ["4.4"]
    assert cites[("lead-unit", "lead-one-consortium")] == ["4.1.3"]
    assert cites[("lead-unit", "disqualification")] == ["8.4"]
    assert cites[("lead-unit", "private-enterprise")] == ["4.3"]
    assert cites[("member", "member-cooperation")] == ["4.2.1"]
    assert cites[("member", "member-service-capacity")] == ["4.2.4"]
    assert set(cites[("formation", "agreement-clauses")]) == {"5.3", "A2"}
    assert set(cites[("formation", "agreement-signed")]) == {"5.3", "A2.8"}
    assert set(cites[("formation", "plan-sections")]) == {"5.4", "A3"}
    assert set(cites[("formation", "route-recommendation")]) == {"5.1", "5.5"}
    assert cites[("formation", "form-attachments")] == ["A1.note.4"]


def test_facts_match_self_assessment_md() -> None:
    facts = {name: [q.fact for q in cl.questions] for name, cl in loader.bundled().items()}
    assert set(facts["lead-unit"]) == {
        "entity_type", "registered_in_yunnan", "industry_leader", "research_cooperation", "highest_platform_level",
        "consortia_already_led", "self_raised_funds", "requested_funds", "private_enterprise", "disqualified_on"}
    assert set(facts["member"]) == {
        "entity_type", "cooperation_basis", "strong_research_team", "frontier_level", "lab_conditions",
        "in_industry_chain", "rd_capability", "professional_service_capacity", "self_raised_funds",
        "requested_funds", "disqualified_on"}
    assert set(facts["formation"]) == {
        "lead_unit_count", "enterprise_members", "university_members", "institute_members", "service_members",
        "industry_field", "has_decision_body", "has_advisory_body", "has_standing_executive_body",
        "has_funding_rules", "has_chief_expert", "agreement_clauses", "agreement_signed_by_all_legal_reps",
        "agreement_sealed", "plan_sections", "route", "local_recommendation", "form_sealed",
        "form_attachments_complete"}
