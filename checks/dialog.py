"""The self-assessment dialog as a typed state machine. Pure: no Telegram, no storage, no clock.

The conversation, as :data:`TRANSITIONS` spells it out::

    /check ─► PICKING ──pick──► ASKING ──answer / never / finish / skip──► NEXT ─┬─► ASKING (next open question)
                                  │  ▲                                            └─► DONE (the verdict)
                                  └──┘ toggle, back, why, resume                        │
                                  ▲                                                      │ report, change, verdict, why
                                  └───────────────── edit (re-ask one answer) ◄──────────┘
    restart from anywhere ─► PICKING (a new dialog id)        cancel from anywhere ─► ENDED

An adapter (the bot feature) only turns what a person did into an :class:`Event` — a pressed
button, or a typed line read by :func:`read_text` — calls :func:`step`, stores the new
:class:`Dialog` and renders the :class:`Step`'s :class:`View`. It never decides a transition.

A button names the question it belongs to; a step for any other question (an older message, a
second device, a double tap) is :attr:`View.STALE` and changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

from checks import inputs
from checks.engine import (
    AnswerError,
    applicable_questions,
    check_answer,
    match_option,
    next_question,
    parse_date,
)
from checks.model import Checklist, Question


class Stage(StrEnum):
    PICKING = "pick"  # which checklist?
    ASKING = "ask"  # one question waits for its answer
    DONE = "done"  # the verdict is shown
    ENDED = "ended"  # cancelled: nothing is stored any more


class Action(StrEnum):
    PICK = "pick"  # a checklist from the picker
    ANSWER = "answer"  # an option button, or a typed value
    NEVER = "never"  # "never" on a date question that allows it
    TOGGLE = "toggle"  # tick / untick one option of a multi-select
    FINISH = "finish"  # a multi-select is complete
    SKIP = "skip"  # leave it unknown; the verdict says what is missing
    BACK = "back"  # the previous question that applies
    WHY = "why"  # the clause and the scheme's words (an extra message)
    RESUME = "resume"  # /check while a checklist is under way: carry on
    CHANGE = "change"  # after the verdict: the list of answers
    EDIT = "edit"  # after the verdict: re-ask one answer
    VERDICT = "verdict"  # back to the verdict
    REPORT = "report"  # the Word or Markdown report
    RESTART = "restart"  # a new picker (and a new dialog id)
    CANCEL = "cancel"


Next = Literal["next"]
NEXT: Final[Next] = "next"  # the next open question, or the verdict when none is left

#: (where the dialog is, what the person did) → where it goes.
TRANSITIONS: Final[Mapping[tuple[Stage, Action], Stage | Next]] = MappingProxyType({
    # /check: which checklist?
    (Stage.PICKING, Action.PICK): Stage.ASKING,  # its first question
    (Stage.PICKING, Action.RESTART): Stage.PICKING,
    (Stage.PICKING, Action.CANCEL): Stage.ENDED,
    # a question waits for its answer
    (Stage.ASKING, Action.ANSWER): NEXT,
    (Stage.ASKING, Action.NEVER): NEXT,
    (Stage.ASKING, Action.FINISH): NEXT,
    (Stage.ASKING, Action.SKIP): NEXT,
    (Stage.ASKING, Action.TOGGLE): Stage.ASKING,
    (Stage.ASKING, Action.BACK): Stage.ASKING,
    (Stage.ASKING, Action.WHY): Stage.ASKING,
    (Stage.ASKING, Action.RESUME): Stage.ASKING,
    (Stage.ASKING, Action.RESTART): Stage.PICKING,
    (Stage.ASKING, Action.CANCEL): Stage.ENDED,
    # the verdict is shown
    (Stage.DONE, Action.REPORT): Stage.DONE,
    (Stage.DONE, Action.CHANGE): Stage.DONE,
    (Stage.DONE, Action.VERDICT): Stage.DONE,
    (Stage.DONE, Action.WHY): Stage.DONE,
    (Stage.DONE, Action.EDIT): Stage.ASKING,  # one answer again, then straight back to the verdict
    (Stage.DONE, Action.RESTART): Stage.PICKING,
    (Stage.DONE, Action.CANCEL): Stage.ENDED,
})

# actions that belong to the question on screen: the event must name the current question
_ON_CURRENT = {Action.ANSWER, Action.NEVER, Action.TOGGLE, Action.FINISH, Action.SKIP, Action.BACK}

AnswerValue = bool | int | float | str | list[str] | None


class Dialog(BaseModel):
    """One chat's self-assessment, as stored (JSON). Answers are kept as stored values (dates as
    ISO text); :meth:`answers_of` decodes them against the checklist.

    The first stored shape (``list`` for the checklist, ``multi`` for the ticked options) still loads.
    """

    model_config = ConfigDict(extra="ignore", validate_assignment=False)

    id: str = Field(min_length=1, max_length=24)
    stage: Stage
    checklist: str | None = Field(None, validation_alias=AliasChoices("checklist", "list"))
    answers: dict[str, AnswerValue] = Field(default_factory=dict)
    skipped: list[str] = Field(default_factory=list)
    current: str | None = None  # the fact of the question on screen (ASKING)
    ticked: list[str] = Field(default_factory=list, validation_alias=AliasChoices("ticked", "multi"))
    lang: Literal["zh", "en"] = "zh"
    aside: bool = False  # the person turned to another command mid-question: free text is for the Q&A
    version: int = 2

    @field_validator("ticked", "skipped", mode="before")
    @classmethod
    def _none_is_empty(cls, v: Any) -> Any:
        return [] if v is None else v

    @model_validator(mode="after")
    def _shape(self) -> Dialog:
        if self.stage in (Stage.ASKING, Stage.DONE) and not self.checklist:
            raise ValueError(f"a dialog at stage '{self.stage}' needs its checklist")
        return self

    @classmethod
    def new(cls, dialog_id: str, lang: str) -> Dialog:
        return cls(id=dialog_id, stage=Stage.PICKING, checklist=None, lang="en" if lang == "en" else "zh")

    def stored(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def answers_of(self, cl: Checklist) -> dict[str, Any]:
        """The stored answers, decoded (dates parsed); an answer that no longer fits the checklist is dropped."""
        out: dict[str, Any] = {}
        for fact, value in self.answers.items():
            q = cl.question(fact)
            if q is None or (value is None and q.nullable is None):
                continue
            try:
                out[fact] = check_answer(q, value)
            except AnswerError:
                continue
        return out


@dataclass(frozen=True)
class Event:
    """What a person did: ``question`` is the index of the question a button belongs to (a typed
    answer names the current one), ``option`` an option index, ``value`` a typed answer."""

    action: Action
    question: int | None = None
    option: int | None = None
    value: Any = None
    detail: str = ""  # REPORT: "docx" or "md"


class View(StrEnum):
    QUESTION = "question"  # the current question
    VERDICT = "verdict"
    PICKER = "picker"
    CHANGE_LIST = "change"  # the answers, to change one
    WHY = "why"  # an extra message about Step.question
    REPORT = "report"
    CANCELLED = "cancelled"
    STALE = "stale"  # a button of an earlier step (another device, a double tap): nothing changed
    FIRST = "first"  # "back" on the first question
    FINISHED = "finished"  # a question's button after the verdict


@dataclass(frozen=True)
class Step:
    dialog: Dialog | None  # None once cancelled
    view: View
    event: Event
    changed: bool = False  # the dialog must be stored
    question: int | None = None  # WHY: the question asked about

    @property
    def started(self) -> bool:
        """The first question of a checklist just picked (show its introduction)."""
        return self.event.action == Action.PICK and self.view == View.QUESTION


def step(d: Dialog, ev: Event, checklists: Sequence[Checklist], new_id: str) -> Step:
    """Where ``ev`` takes dialog ``d``. ``checklists`` in picker order; ``new_id`` names the dialog a
    restart begins (the old one's buttons then say it has ended)."""
    target = TRANSITIONS.get((d.stage, ev.action))
    if target is None:
        finished = d.stage == Stage.DONE and ev.action in _ON_CURRENT
        return Step(d, View.FINISHED if finished else View.STALE, ev)
    if ev.action == Action.CANCEL:
        return Step(None, View.CANCELLED, ev, changed=True)
    if ev.action == Action.RESTART:
        return Step(Dialog.new(new_id, d.lang), View.PICKER, ev, changed=True)
    if ev.action == Action.PICK:
        if ev.option is None or not 0 <= ev.option < len(checklists):
            return Step(d, View.STALE, ev)
        picked = checklists[ev.option]
        nd = Dialog(id=d.id, stage=Stage.ASKING, checklist=picked.id, lang=d.lang)
        return Step(_at(nd, picked, picked.questions[0]), View.QUESTION, ev, changed=True)
    cl = next((c for c in checklists if c.id == d.checklist), None)
    if cl is None:  # the checklist is gone (renamed): nothing to carry on with
        return Step(d, View.STALE, ev)
    q = _question(cl, ev.question)
    if ev.action == Action.WHY:
        return Step(d, View.WHY, ev, question=ev.question) if q is not None else Step(d, View.STALE, ev)
    if d.stage == Stage.DONE:
        return _after_verdict(d, ev, cl, q)
    current = current_question(d, cl)
    if ev.action == Action.RESUME:
        return Step(d, View.QUESTION, ev)
    if q is None or q.fact != current.fact:
        return Step(d, View.STALE, ev)
    nd = d.model_copy(deep=True)
    nd.aside = False
    if ev.action == Action.BACK:
        qs = applicable_questions(cl, d.answers_of(cl))
        pos = next((i for i, x in enumerate(qs) if x.fact == q.fact), 0)
        if pos == 0:
            return Step(d, View.FIRST, ev)
        return Step(_at(nd, cl, qs[pos - 1]), View.QUESTION, ev, changed=True)
    if ev.action == Action.TOGGLE:
        if q.type != "multi" or ev.option is None or not 0 <= ev.option < len(q.options):
            return Step(d, View.STALE, ev)
        value = str(q.options[ev.option].value)
        ticked = [v for v in nd.ticked if v != value] if value in nd.ticked else [*nd.ticked, value]
        nd.ticked = [str(o.value) for o in q.options if o.value in ticked]
        return Step(nd, View.QUESTION, ev, changed=True)
    if ev.action == Action.SKIP:
        nd.answers.pop(q.fact, None)
        nd.skipped = [*[f for f in nd.skipped if f != q.fact], q.fact]
        return _next(nd, cl, ev)
    value = _value(q, ev, nd)
    if value is _INVALID:
        return Step(d, View.STALE, ev)
    nd.answers[q.fact] = value.isoformat() if hasattr(value, "isoformat") else value
    nd.skipped = [f for f in nd.skipped if f != q.fact]
    return _next(nd, cl, ev)


def _after_verdict(d: Dialog, ev: Event, cl: Checklist, q: Question | None) -> Step:
    if ev.action == Action.REPORT:
        return Step(d, View.REPORT, ev)
    if ev.action == Action.CHANGE:
        return Step(d, View.CHANGE_LIST, ev)
    if ev.action == Action.VERDICT:
        return Step(d, View.VERDICT, ev)
    # EDIT: re-ask one answer that applies
    if q is None or q.fact not in {x.fact for x in applicable_questions(cl, d.answers_of(cl))}:
        return Step(d, View.STALE, ev)
    nd = d.model_copy(deep=True)
    nd.stage = Stage.ASKING
    return Step(_at(nd, cl, q), View.QUESTION, ev, changed=True)


_INVALID: Any = object()


def _value(q: Question, ev: Event, d: Dialog) -> Any:
    """The answer an ANSWER / NEVER / FINISH event gives, checked against the question; _INVALID otherwise."""
    if ev.action == Action.NEVER:
        return None if q.type == "date" and q.nullable is not None else _INVALID
    if ev.action == Action.FINISH:
        return list(d.ticked) if q.type == "multi" else _INVALID
    if ev.option is not None:  # a button
        if q.type == "bool" and ev.option in (0, 1):
            return ev.option == 1
        if q.type in ("choice", "text") and 0 <= ev.option < len(q.options):
            return q.options[ev.option].value
        return _INVALID
    try:  # a typed value (read_text already parsed it)
        return check_answer(q, ev.value)
    except AnswerError:
        return _INVALID


def _next(d: Dialog, cl: Checklist, ev: Event) -> Step:
    nxt = next_question(cl, d.answers_of(cl), d.skipped)
    if nxt is None:
        d.stage, d.current, d.ticked = Stage.DONE, None, []
        return Step(d, View.VERDICT, ev, changed=True)
    return Step(_at(d, cl, nxt), View.QUESTION, ev, changed=True)


def _at(d: Dialog, cl: Checklist, q: Question) -> Dialog:
    d.stage, d.current = Stage.ASKING, q.fact
    stored = d.answers.get(q.fact)
    d.ticked = [str(v) for v in stored] if q.type == "multi" and isinstance(stored, list) else []
    return d


def _question(cl: Checklist, index: int | None) -> Question | None:
    return cl.questions[index] if index is not None and 0 <= index < len(cl.questions) else None


def current_question(d: Dialog, cl: Checklist) -> Question:
    """The question on screen; when the stored one no longer fits (the checklist changed), the first
    open question."""
    q = cl.question(d.current or "")
    if q is None:
        q = next_question(cl, d.answers_of(cl), d.skipped) or cl.questions[0]
        _at(d, cl, q)
    return q


# -- progress ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Progress:
    number: int  # 第 k 题: the question's place among those that apply (or may still apply)
    left: int  # 约剩 n 题: the other questions still open that apply or may apply
    first: bool  # nothing to go back to


def progress(d: Dialog, cl: Checklist) -> Progress:
    """Counted over the questions still reachable: answering one never moves the number back, and
    ``left`` only shrinks as answers rule questions out."""
    q = current_question(d, cl)
    answers = d.answers_of(cl)
    qs = applicable_questions(cl, answers)
    pos = next((i for i, x in enumerate(qs) if x.fact == q.fact), 0)
    skipped = set(d.skipped)
    left = sum(1 for x in qs if x.fact != q.fact and x.fact not in answers and x.fact not in skipped)
    return Progress(pos + 1, left, pos == 0)


# -- typed input ---------------------------------------------------------------------------------

Problem = Literal["bad_number", "not_whole", "out_of_range", "bad_date", "use_buttons"]

NAV_WORDS: Final[Mapping[str, Action]] = MappingProxyType({
    "跳过": Action.SKIP, "skip": Action.SKIP, "不知道": Action.SKIP, "不清楚": Action.SKIP,
    "上一题": Action.BACK, "返回": Action.BACK, "back": Action.BACK, "previous": Action.BACK,
    "取消": Action.CANCEL, "退出": Action.CANCEL, "结束": Action.CANCEL, "cancel": Action.CANCEL,
    "quit": Action.CANCEL, "stop": Action.CANCEL, "exit": Action.CANCEL,
    "为什么": Action.WHY, "为啥": Action.WHY, "why": Action.WHY,
})
YES: Final = frozenset({"是", "是的", "有", "有的", "对", "对的", "可以", "具备", "符合", "yes", "y", "yeah", "true", "1"})
NO: Final = frozenset({"否", "不是", "没有", "无", "不", "不对", "不具备", "不符合", "no", "n", "false", "0"})
NEVER_WORDS: Final = frozenset({"从未", "从来没有", "从没", "没有", "无", "never", "none", "no", "否"})

_TRAILING = "。.!！~～ \t"
_QUESTION_END = ("?", "？", "吗", "呢", "么", "嘛")
_QUESTION_START = ("请问", "请教", "想问", "问一下", "咨询", "如何", "怎么", "怎样", "为何", "什么", "哪些", "哪个",
                   "哪里", "多少", "是否", "能否", "可否")
_EN_QUESTION_WORDS = frozenset({"what", "how", "why", "which", "when", "where", "who", "whom", "whose", "can",
                                "could", "does", "do", "did", "is", "are", "should", "may", "must", "will", "would"})
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
SHORT_CJK = 12  # a typed answer longer than this (no digits, not understood) is taken as a question
SHORT_WORDS = 5


@dataclass(frozen=True)
class Reading:
    """How a typed line is understood while a question waits: exactly one of the three."""

    event: Event | None = None  # an answer or a navigation word: step it
    problem: Problem | None = None  # meant as an answer but not one: say why, ask again
    question: bool = False  # a question for the Q&A: answer it, then show the checklist question again


def reads_as_question(text: str) -> bool:
    """Free text that asks something: ends with ？/吗/呢…, or starts with 请问/如何/什么… or an English
    question word (three words or more)."""
    t = text.strip().rstrip(_TRAILING)
    if not t:
        return False
    if t.endswith(_QUESTION_END) or t.startswith(_QUESTION_START):
        return True
    words = t.split()
    return len(words) >= 3 and words[0].casefold() in _EN_QUESTION_WORDS


def _long(text: str) -> bool:
    """Longer than a short answer, and no digits in it (a mistyped number or date stays an answer)."""
    if any(ch.isdigit() for ch in text):
        return False
    return len(_CJK.findall(text)) > SHORT_CJK or len(text.split()) > SHORT_WORDS


def _word(text: str) -> str:
    return text.strip().rstrip(_TRAILING + "?？").casefold()


def read_text(d: Dialog, cl: Checklist | None, text: str) -> Reading:
    """A typed line, read against the dialog's stage and its current question.

    Order: a navigation word (跳过 / 上一题 / 为什么 / 取消) → an answer that parses (so 100, 两个,
    2024年5月10日 are always answers) → a question (see :func:`reads_as_question`; also any line too long
    to be a short answer, and any line at all after the person turned to another command) → otherwise the
    problem with the answer. On a text question a line shaped as a question is a question first.
    """
    word = _word(text)
    nav = NAV_WORDS.get(word)
    if d.stage != Stage.ASKING:
        return Reading(Event(Action.CANCEL)) if nav == Action.CANCEL else Reading(question=True)
    if cl is None:
        raise ValueError("a question waits: read_text needs its checklist")
    q = current_question(d, cl)
    qi = cl.index(q.fact)
    if nav is not None:
        return Reading(Event(nav, question=qi))
    if q.type == "text" and reads_as_question(text):
        return Reading(question=True)
    value, problem = _parse(q, text)
    if problem is None:
        if value is _NEVER:
            return Reading(Event(Action.NEVER, question=qi))
        return Reading(Event(Action.ANSWER, question=qi, value=value))
    if d.aside or reads_as_question(text) or _long(text):
        return Reading(question=True)
    return Reading(problem=problem)


_NEVER: Any = object()


def _parse(q: Question, text: str) -> tuple[Any, Problem | None]:
    """A typed answer to ``q``: (value, None) or (None, the problem)."""
    word = _word(text)
    if q.type == "bool":
        if word in YES:
            return True, None
        if word in NO:
            return False, None
        return None, "use_buttons"
    if q.type == "choice":
        value = match_option(q, text)
        return (value, None) if value is not None else (None, "use_buttons")
    if q.type == "multi":
        return None, "use_buttons"
    if q.type == "text":
        clean = text.strip()[:200]
        return (clean, None) if clean else (None, "use_buttons")
    if q.type == "date":
        if q.nullable is not None and word in NEVER_WORDS:
            return _NEVER, None
        try:
            return parse_date(text.strip().rstrip(_TRAILING)), None
        except ValueError:
            return None, "bad_date"
    # number / int
    try:
        number = inputs.parse_amount_wan(text) if q.is_amount else inputs.parse_number(text)
    except ValueError:
        return None, "bad_number"
    if q.type == "int" and number != number.to_integral_value():
        return None, "not_whole"
    if (q.min is not None and number < Decimal(repr(q.min))) or (q.max is not None and number > Decimal(repr(q.max))):
        return None, "out_of_range"
    return (int(number) if number == number.to_integral_value() else float(number)), None


def answered(d: Dialog, cl: Checklist) -> tuple[int, int]:
    """(answered, applying) — for "you have answered 3 of 10"."""
    answers = d.answers_of(cl)
    qs = applicable_questions(cl, answers)
    return sum(1 for q in qs if q.fact in answers), len(qs)


__all__ = [
    "NAV_WORDS", "NEXT", "TRANSITIONS", "Action", "Dialog", "Event", "Progress", "Reading", "Stage", "Step", "View",
    "answered", "current_question", "progress", "read_text", "reads_as_question", "step",
]
