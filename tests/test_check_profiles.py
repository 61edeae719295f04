"""The profile table (tests/check_profiles.yaml): verdicts and every condition's status."""

from __future__ import annotations

from collections import defaultdict

import pytest

from checks import loader
from checks.engine import evaluate, parse_date
from tests.check_helpers import Profile, profiles

PROFILES = profiles()


@pytest.mark.parametrize("p", PROFILES, ids=[p.name for p in PROFILES])
def test_profile(p: Profile) -> None:
    checklist = loader.get(p.checklist)
    result = evaluate(checklist, p.answers, parse_date(p.today))
    got = {c.id: c.status for c in result.conditions}
    assert set(p.statuses) == set(got), "the table must name every condition of the checklist"
    assert got == p.statuses
    assert result.verdict == p.verdict
    by_id = {c.id: c for c in result.conditions}
    for cid, text in p.reason_equals.items():
        assert by_id[cid].reason == text
    for cid, text in p.reason_contains.items():
        assert text in by_id[cid].reason
    for cid, text in p.fix_contains.items():
        assert text in by_id[cid].fix
    for cid, values in p.extra.items():
        assert {k: by_id[cid].extra.get(k) for k in values} == values
    for c in result.conditions:  # a failed or warned condition always says what would fix it
        if c.status in ("fail", "warn", "unknown"):
            assert c.fix, c.id
        assert c.reason and "?" not in c.reason, (c.id, c.reason)


def test_table_covers_pass_fail_and_unknown_of_every_condition() -> None:
    seen: dict[tuple[str, str], set[str]] = defaultdict(set)
    for p in PROFILES:
        for cid, status in p.statuses.items():
            seen[(p.checklist, cid)].add(status)
    missing = []
    for name, checklist in loader.bundled().items():
        for cond in checklist.conditions:
            statuses = seen[(name, cond.id)]
            want = {"info"} if cond.kind == "info" else {cond.on_true, cond.on_false, "unknown"}
            if not want <= statuses:
                missing.append(f"{name}/{cond.id}: {sorted(want - statuses)}")
    assert not missing, missing


def test_table_covers_every_verdict() -> None:
    assert {p.verdict for p in PROFILES} == {"eligible", "needs_review", "incomplete", "not_eligible"}
