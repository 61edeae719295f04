"""The dialog state machine (checks.dialog), pure: transitions, typed input, progress, stored shapes."""

from __future__ import annotations

import itertools
import random
from datetime import date

import pytest

from checks import loader
from checks.dialog import (
    NEXT,
    TRANSITIONS,
    Action,
    Dialog,
    Event,
    Stage,
    View,
    progress,
    read_text,
    reads_as_question,
    step,
)
from checks.model import Checklist

LISTS = [loader.get(n) for n in ("lead-unit", "member", "formation")]
LEAD, MEMBER, FORMATION = LISTS


def asking(cl: Checklist, fact: str, answers: dict | None = None, **kw: object) -> Dialog:
    return Dialog.model_validate({"id": "d1", "stage": "ask", "checklist": cl.id, "current": fact,
                                  "answers": answers or {}, **kw})


def go(d: Dialog, ev: Event) -> tuple[Dialog | None, View]:
    s = step(d, ev, LISTS, "d2")
    return s.dialog, s.view


def test_the_table_covers_every_stage_and_cancel_always_leaves() -> None:
    stages = {s for s, _ in TRANSITIONS}
    assert stages == {Stage.PICKING, Stage.ASKING, Stage.DONE}
    for stage in stages:
        assert TRANSITIONS[(stage, Action.CANCEL)] == Stage.ENDED
        assert TRANSITIONS[(stage, Action.RESTART)] == Stage.PICKING
    assert all(target in (*Stage, NEXT) for target in TRANSITIONS.values())


def test_every_transition_lands_where_the_table_says() -> None:
    done = Dialog(id="d1", stage=Stage.DONE, checklist="lead-unit", answers={"entity_type": "enterprise"})
    first = asking(LEAD, "entity_type")
    multi = asking(FORMATION, "agreement_clauses", ticked=["goals"])
    date_q = asking(LEAD, "disqualified_on")
    second = asking(LEAD, "registered_in_yunnan", {"entity_type": "enterprise"})
    events = {
        (Stage.PICKING, Action.PICK): (Dialog.new("d1", "zh"), Event(Action.PICK, option=0)),
        (Stage.PICKING, Action.RESTART): (Dialog.new("d1", "zh"), Event(Action.RESTART)),
        (Stage.PICKING, Action.CANCEL): (Dialog.new("d1", "zh"), Event(Action.CANCEL)),
        (Stage.ASKING, Action.ANSWER): (first, Event(Action.ANSWER, question=0, option=0)),
        (Stage.ASKING, Action.NEVER): (date_q, Event(Action.NEVER, question=LEAD.index("disqualified_on"))),
        (Stage.ASKING, Action.FINISH): (multi, Event(Action.FINISH, question=FORMATION.index("agreement_clauses"))),
        (Stage.ASKING, Action.SKIP): (first, Event(Action.SKIP, question=0)),
        (Stage.ASKING, Action.TOGGLE): (multi, Event(Action.TOGGLE, question=FORMATION.index("agreement_clauses"),
                                                     option=1)),
        (Stage.ASKING, Action.BACK): (second, Event(Action.BACK, question=1)),
        (Stage.ASKING, Action.WHY): (first, Event(Action.WHY, question=3)),
        (Stage.ASKING, Action.RESUME): (first, Event(Action.RESUME)),
        (Stage.ASKING, Action.RESTART): (first, Event(Action.RESTART)),
        (Stage.ASKING, Action.CANCEL): (first, Event(Action.CANCEL)),
        (Stage.DONE, Action.REPORT): (done, Event(Action.REPORT, detail="md")),
        (Stage.DONE, Action.CHANGE): (done, Event(Action.CHANGE)),
        (Stage.DONE, Action.VERDICT): (done, Event(Action.VERDICT)),
        (Stage.DONE, Action.WHY): (done, Event(Action.WHY, question=0)),
        (Stage.DONE, Action.EDIT): (done, Event(Action.EDIT, question=0)),
        (Stage.DONE, Action.RESTART): (done, Event(Action.RESTART)),
        (Stage.DONE, Action.CANCEL): (done, Event(Action.CANCEL)),
    }
    assert set(events) == set(TRANSITIONS)
    for key, (d, ev) in events.items():
        before = d.stored()
        s = step(d, ev, LISTS, "d2")
        assert d.stored() == before, key  # the input dialog is never changed in place
        target = TRANSITIONS[key]
        got = s.dialog.stage if s.dialog is not None else Stage.ENDED
        assert s.view not in (View.STALE, View.FINISHED), key
        assert got in (Stage.ASKING, Stage.DONE) if target == NEXT else got == target, key
    assert go(Dialog.new("d1", "zh"), Event(Action.RESTART))[0].id == "d2"  # type: ignore[union-attr]


@pytest.mark.parametrize(("stage", "action"), [
    (s, a) for s in (Stage.PICKING, Stage.ASKING, Stage.DONE) for a in Action if (s, a) not in TRANSITIONS])
def test_anything_else_changes_nothing(stage: Stage, action: Action) -> None:
    d = {Stage.PICKING: Dialog.new("d1", "zh"), Stage.ASKING: asking(LEAD, "entity_type"),
         Stage.DONE: Dialog(id="d1", stage=Stage.DONE, checklist="lead-unit")}[stage]
    s = step(d, Event(action, question=0, option=0), LISTS, "d2")
    assert s.view in (View.STALE, View.FINISHED) and not s.changed and s.dialog is d


def test_a_button_of_another_question_is_stale() -> None:
    d = asking(LEAD, "industry_leader", {"entity_type": "enterprise", "registered_in_yunnan": True})
    for ev in (Event(Action.ANSWER, question=1, option=1), Event(Action.SKIP, question=0),
               Event(Action.ANSWER, question=2, option=7), Event(Action.ANSWER, question=99, option=0),
               Event(Action.NEVER, question=2), Event(Action.TOGGLE, question=2, option=0)):
        assert go(d, ev)[1] == View.STALE, ev


def test_back_on_the_first_question() -> None:
    assert go(asking(LEAD, "entity_type"), Event(Action.BACK, question=0))[1] == View.FIRST


def test_answers_walk_to_the_verdict_and_edit_comes_back_to_it() -> None:
    d: Dialog | None = Dialog.new("d1", "zh")
    assert d is not None
    d, view = go(d, Event(Action.PICK, option=1))  # member
    assert d is not None and d.current == "entity_type" and view == View.QUESTION
    d, _ = go(d, Event(Action.ANSWER, question=0, option=3))  # a service organisation
    while d is not None and d.stage == Stage.ASKING:
        d, view = go(d, Event(Action.SKIP, question=MEMBER.index(d.current or "")))
    assert d is not None and view == View.VERDICT and d.stage == Stage.DONE
    assert d.skipped == ["cooperation_basis", "professional_service_capacity", "disqualified_on"]
    d, view = go(d, Event(Action.EDIT, question=MEMBER.index("cooperation_basis")))
    assert d is not None and d.stage == Stage.ASKING and view == View.QUESTION
    d, view = go(d, Event(Action.ANSWER, question=MEMBER.index("cooperation_basis"), option=1))
    assert d is not None and view == View.VERDICT and d.answers["cooperation_basis"] is True
    assert "cooperation_basis" not in d.skipped
    # a question that does not apply to a service organisation cannot be edited
    assert go(d, Event(Action.EDIT, question=MEMBER.index("in_industry_chain")))[1] == View.STALE


def _typed(cl: Checklist, fact: str, text: str, **kw: object) -> tuple[str, object]:
    r = read_text(asking(cl, fact, {"entity_type": "enterprise"}, **kw), cl, text)
    if r.question:
        return "question", None
    if r.problem:
        return "problem", r.problem
    assert r.event is not None
    return r.event.action.value, r.event.value


@pytest.mark.parametrize(("fact", "text", "kind", "value"), [
    ("consortia_already_led", "两个", "answer", 2),
    ("consortia_already_led", "3", "answer", 3),
    ("consortia_already_led", "0个", "answer", 0),
    ("consortia_already_led", "1.5", "problem", "not_whole"),
    ("consortia_already_led", "1000", "problem", "out_of_range"),
    ("consortia_already_led", "-3", "problem", "out_of_range"),
    ("consortia_already_led", "abc", "problem", "bad_number"),
    ("consortia_already_led", "大概两三个吧", "problem", "bad_number"),
    ("consortia_already_led", "2:1 是什么意思？", "question", None),
    ("consortia_already_led", "牵头单位可以同时牵头两个联合体吗", "question", None),
    ("consortia_already_led", "what does one consortium per lead mean", "question", None),
    ("requested_funds", "一百五十万", "answer", 150),
    ("requested_funds", "1.5亿", "answer", 15000),
    ("requested_funds", "150w", "answer", 150),
    ("requested_funds", "1,500,000元", "answer", 150),
    ("requested_funds", "150万元", "answer", 150),
    ("requested_funds", "100", "answer", 100),
    ("requested_funds", "-1", "problem", "out_of_range"),
    ("disqualified_on", "2024年5月10日", "answer", date(2024, 5, 10)),
    ("disqualified_on", "2024/5/10", "answer", date(2024, 5, 10)),
    ("disqualified_on", "2024.5.10", "answer", date(2024, 5, 10)),
    ("disqualified_on", "2024-05-10", "answer", date(2024, 5, 10)),
    ("disqualified_on", "45422", "problem", "bad_date"),  # an Excel serial is for files, not chat
    ("disqualified_on", "2025-02-30", "problem", "bad_date"),
    ("disqualified_on", "从未", "never", None),
    ("disqualified_on", "never", "never", None),
    ("disqualified_on", "被取消资格以后多久可以再申报？", "question", None),
    ("registered_in_yunnan", "是的", "answer", True),
    ("registered_in_yunnan", "没有", "answer", False),
    ("registered_in_yunnan", "是吗？", "question", None),
    ("registered_in_yunnan", "我们是企业吧", "problem", "use_buttons"),
    ("registered_in_yunnan", "我们公司在昆明高新区注册已经很多年了", "question", None),  # long: not a short answer
    ("entity_type", "企业", "answer", "enterprise"),
    ("entity_type", "University", "answer", "university"),
    ("registered_in_yunnan", "跳过", "skip", None),
    ("registered_in_yunnan", "上一题", "back", None),
    ("registered_in_yunnan", "为什么？", "why", None),
    ("registered_in_yunnan", "取消", "cancel", None),
    ("registered_in_yunnan", "Cancel.", "cancel", None),
])
def test_typed_lines(fact: str, text: str, kind: str, value: object) -> None:
    got_kind, got = _typed(LEAD, fact, text)
    assert got_kind == kind
    if kind == "answer" and isinstance(value, (int, float)) and not isinstance(value, bool):
        assert got == value and type(got) in (int, float)
    elif kind in ("answer", "problem"):
        assert got == value


@pytest.mark.parametrize(("text", "kind"), [
    ("生物医药产业", "answer"), ("区块链", "answer"), ("产业领域有哪些？", "question"),
    ("请问哪些产业领域可以申报", "question"), ("什么是创新联合体", "question"),
])
def test_typed_text_question(text: str, kind: str) -> None:
    assert _typed(FORMATION, "industry_field", text)[0] == kind


def test_after_another_command_free_text_is_for_the_qa() -> None:
    assert _typed(LEAD, "registered_in_yunnan", "牵头单位条件")[0] == "problem"
    assert _typed(LEAD, "registered_in_yunnan", "牵头单位条件", aside=True)[0] == "question"
    assert _typed(LEAD, "registered_in_yunnan", "是", aside=True) == ("answer", True)  # answers still count


def test_reads_as_question() -> None:
    for text in ("2:1是什么意思？", "要准备哪些材料吗", "请问牵头单位的条件", "How do we apply?",
                 "can a university lead a consortium"):
        assert reads_as_question(text), text
    for text in ("是", "100万", "企业", "yes", "no idea", "2024年5月10日", ""):
        assert not reads_as_question(text), text


def test_typed_cancel_leaves_from_the_picker_and_the_verdict() -> None:
    for d in (Dialog.new("d1", "zh"), Dialog(id="d1", stage=Stage.DONE, checklist="member")):
        r = read_text(d, MEMBER, "取消")
        assert r.event is not None and go(d, r.event) == (None, View.CANCELLED)
        assert read_text(d, MEMBER, "100").question  # anything else is not for the dialog


def _walk(cl: Checklist, rng: random.Random) -> list[tuple[int, int]]:
    """A random walk forward (answers and skips): the progress shown at each question."""
    d: Dialog | None = Dialog(id="d1", stage=Stage.ASKING, checklist=cl.id, current=cl.questions[0].fact)
    seen = []
    while d is not None and d.stage == Stage.ASKING:
        p = progress(d, cl)
        seen.append((p.number, p.left))
        q = cl.question(d.current or "")
        assert q is not None
        qi = cl.index(q.fact)
        if rng.random() < 0.15:
            ev = Event(Action.SKIP, question=qi)
        elif q.type == "bool":
            ev = Event(Action.ANSWER, question=qi, option=rng.randrange(2))
        elif q.type in ("choice", "text"):
            ev = Event(Action.ANSWER, question=qi, option=rng.randrange(len(q.options)))
        elif q.type == "multi":
            ev = Event(Action.FINISH, question=qi)
        elif q.type == "date":
            ev = Event(Action.NEVER, question=qi)
        else:
            ev = Event(Action.ANSWER, question=qi, value=rng.randrange(3))
        d, _ = go(d, ev)
    assert d is not None and d.stage == Stage.DONE
    return seen


@pytest.mark.parametrize("cl", LISTS, ids=[c.id for c in LISTS])
def test_progress_never_jumps_backwards(cl: Checklist) -> None:
    rng = random.Random(7)
    for _ in range(200):
        seen = _walk(cl, rng)
        assert seen[0] == (1, len(cl.questions) - 1)
        for (n1, left1), (n2, left2) in itertools.pairwise(seen):
            assert n2 == n1 + 1, seen  # the next question is the next number
            assert left2 < left1, seen  # what is left only shrinks
        assert seen[-1][1] == 0


def test_progress_on_the_first_question() -> None:
    p = progress(asking(LEAD, "entity_type"), LEAD)
    assert (p.number, p.left, p.first) == (1, 9, True)
    p = progress(asking(MEMBER, "cooperation_basis", {"entity_type": "service_org"}), MEMBER)
    assert (p.number, p.left, p.first) == (2, 2, False)


def test_a_dialog_of_the_first_stored_shape_loads() -> None:
    old = {"id": "AbC_123", "list": "formation", "answers": {"lead_unit_count": 1, "industry_field": "光伏"},
           "skipped": [], "stage": "ask", "lang": "en", "current": "agreement_clauses",
           "multi": ["goals", "task_division"]}
    d = Dialog.model_validate(old)
    assert (d.checklist, d.ticked, d.lang, d.stage) == ("formation", ["goals", "task_division"], "en", Stage.ASKING)
    assert Dialog.model_validate({**old, "multi": None}).ticked == []
    assert Dialog.model_validate(d.stored()) == d
    pick = Dialog.model_validate({"id": "x", "stage": "pick", "lang": "zh"})
    assert pick.stage == Stage.PICKING and pick.checklist is None
    for broken in ({"id": "x", "stage": "ask"}, {"stage": "ask", "list": "member"}, {"id": "x", "stage": "??"},
                   {"id": "x", "stage": "ask", "list": "member", "answers": [1, 2]}):
        with pytest.raises(ValueError):
            Dialog.model_validate(broken)


def test_a_stored_answer_that_no_longer_fits_is_dropped() -> None:
    d = asking(LEAD, "industry_leader", {"entity_type": "company", "registered_in_yunnan": True, "gone": 1,
                                          "disqualified_on": "2024-02-30"})
    assert d.answers_of(LEAD) == {"registered_in_yunnan": True}
