"""The pure checklist engine: validate answers, pick the next question, evaluate conditions.

No I/O and no clock: ``today`` is an argument. Rules are three-valued — true, false, or
``None`` when a fact they need is unknown (absent) — so nothing is ever guessed.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Collection, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Any

from checks import inputs
from checks.model import Checklist, Condition, Question, Rule


class AnswerError(ValueError):
    """An answer has the wrong type or value; the message names the fact."""

    def __init__(self, fact: str, message: str) -> None:
        super().__init__(f"{fact}: {message}")
        self.fact = fact
        self.detail = message


class _NA:
    """A fact whose question does not apply to this applicant."""

    def __repr__(self) -> str:
        return "n/a"


NA: Any = _NA()


# -- answers ----------------------------------------------------------------------------------

def parse_date(value: Any) -> date:
    """A date answer: a ``date``, or text in any form :func:`checks.inputs.parse_date` reads
    (2024-05-10, 2024/5/10, 2024.5.10, 2024年5月10日); ValueError with a readable cause otherwise.

    Numbers are refused: an Excel serial makes sense in a spreadsheet cell, not in an answers file
    or a chat (``2024`` is a year, not 1905-07-16)."""
    if isinstance(value, datetime):
        raise ValueError(f"{value!r} is not a date (use YYYY-MM-DD)")
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a date (use YYYY-MM-DD)")
    if re.fullmatch(r"\s*\d+(\.\d*)?\s*", value):
        raise ValueError(f"'{value.strip()}' is not a date (use YYYY-MM-DD)")
    return inputs.parse_date(value)


def _norm(text: str) -> str:
    return "".join(text.split()).casefold()


def match_option(q: Question, text: str) -> str | None:
    """The option value a typed word names (its value, Chinese or English label), if any."""
    key = _norm(text)
    if not key:
        return None
    for o in q.options:
        if key in (_norm(str(o.value)), _norm(o.zh), _norm(o.en)):
            return str(o.value)
    if q.type == "text":  # "生物医药产业" names 生物医药
        hits = [o for o in q.options if _norm(o.zh) in key]
        if len(hits) == 1:
            return str(hits[0].value)
    return None


def check_answer(q: Question, value: Any) -> Any:
    """One answer, cleaned; AnswerError naming the fact when it has the wrong type or value."""
    f = q.fact
    if q.type == "bool":
        if not isinstance(value, bool):
            raise AnswerError(f, f"expected true or false, got {value!r}")
        return value
    if q.type == "choice":
        if not isinstance(value, str) or q.option(value) is None:
            allowed = ", ".join(str(o.value) for o in q.options)
            raise AnswerError(f, f"{value!r} is not one of: {allowed}")
        return value
    if q.type == "multi":
        if not isinstance(value, (list, tuple)):
            raise AnswerError(f, f"expected a list of values, got {value!r}")
        out: list[str] = []
        for item in value:
            if not isinstance(item, str) or q.option(item) is None:
                allowed = ", ".join(str(o.value) for o in q.options)
                raise AnswerError(f, f"{item!r} is not one of: {allowed}")
            if item not in out:
                out.append(item)
        return [str(o.value) for o in q.options if o.value in out]  # the checklist's order
    if q.type in ("number", "int"):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise AnswerError(f, f"expected a number, got {value!r}")
        if q.type == "int":
            if isinstance(value, float) and not value.is_integer():
                raise AnswerError(f, f"expected a whole number, got {value!r}")
            value = int(value)
        if q.min is not None and value < q.min:
            what = "negative" if q.min == 0 and value < 0 else f"below {fmt_num(q.min)}"
            raise AnswerError(f, f"{fmt_num(value)} is {what}; it must be at least {fmt_num(q.min)}")
        if q.max is not None and value > q.max:
            raise AnswerError(f, f"{fmt_num(value)} is above the maximum {fmt_num(q.max)}")
        return value
    if q.type == "date":
        if value is None and q.nullable is not None:
            return None
        try:
            return parse_date(value)
        except ValueError as exc:
            raise AnswerError(f, str(exc)) from None
    # text
    if not isinstance(value, str) or not value.strip():
        raise AnswerError(f, f"expected some text, got {value!r}")
    return match_option(q, value) or value.strip()


def validate_answers(checklist: Checklist, answers: Mapping[str, Any]) -> dict[str, Any]:
    """Clean answers (dates parsed, lists ordered); absent or null facts are left out (unknown).

    Raises AnswerError for an unknown fact id or an ill-typed value.
    """
    if not isinstance(answers, Mapping):
        raise AnswerError("answers", "expected a mapping of fact ids to values")
    out: dict[str, Any] = {}
    unknown = [str(k) for k in answers if checklist.question(str(k)) is None]
    if unknown:
        known = ", ".join(q.fact for q in checklist.questions)
        raise AnswerError(unknown[0], f"unknown fact for checklist '{checklist.id}' (known: {known})")
    for key, value in answers.items():
        q = checklist.question(str(key))
        assert q is not None
        if value is None and q.nullable is None:
            continue  # null = not known
        out[q.fact] = check_answer(q, value)
    return out


# -- three-valued rules -------------------------------------------------------------------------

def add_years(d: date, years: int) -> date:
    """The same day ``years`` later; 29 February becomes 28 February in a common year
    (the period ends on the last day of that month)."""
    try:
        return d.replace(year=d.year + years)
    except ValueError:
        return d.replace(year=d.year + years, day=28)


def _value(facts: Mapping[str, Any], name: str) -> Any:
    v = facts.get(name)
    return None if v is NA else v


def _has(facts: Mapping[str, Any], name: str) -> bool:
    return name in facts and facts[name] is not NA


def truth(rule: Rule, facts: Mapping[str, Any], today: date) -> bool | None:
    """True, False, or None (a needed fact is unknown or does not apply)."""
    if rule.all is not None:
        results = [truth(r, facts, today) for r in rule.all]
        return False if False in results else (None if None in results else True)
    if rule.any is not None:
        results = [truth(r, facts, today) for r in rule.any]
        return True if True in results else (None if None in results else False)
    if rule.not_ is not None:
        inner = truth(rule.not_, facts, today)
        return None if inner is None else not inner
    if rule.ratio is not None:
        num, den = rule.ratio.num, rule.ratio.den
        if not (_has(facts, num) and _has(facts, den)):
            return None
        return inputs.funding(facts[den], facts[num], rule.ratio.min).holds
    if rule.sum is not None:
        if not all(_has(facts, n) for n in rule.sum):
            return None
        return _compare(rule, sum(facts[n] for n in rule.sum))
    assert rule.fact is not None
    if not _has(facts, rule.fact):
        return None
    v = facts[rule.fact]
    if rule.years_since is not None:
        return True if v is None else today >= add_years(v, rule.years_since)
    if rule.contains_all is not None:
        return set(rule.contains_all) <= set(v)
    if rule.is_ is not None:
        return bool(v) is rule.is_
    if rule.in_ is not None:
        return v in rule.in_
    return _compare(rule, v)


def _compare(rule: Rule, v: Any) -> bool:
    if rule.eq is not None:
        return bool(v == rule.eq)
    if rule.ne is not None:
        return bool(v != rule.ne)
    if rule.ge is not None:
        return bool(v >= rule.ge)
    if rule.gt is not None:
        return bool(v > rule.gt)
    if rule.le is not None:
        return bool(v <= rule.le)
    if rule.lt is not None:
        return bool(v < rule.lt)
    raise AssertionError("rule without comparator")


# -- the dialog's walk -----------------------------------------------------------------------------

def effective_facts(checklist: Checklist, answers: Mapping[str, Any], today: date | None = None) -> dict[str, Any]:
    """Answers with every question that does not apply marked :data:`NA` (in question order)."""
    facts: dict[str, Any] = {}
    ref = today or date.min
    for q in checklist.questions:
        if q.applies_when is not None and truth(q.applies_when, facts, ref) is False:
            facts[q.fact] = NA
        elif q.fact in answers:
            facts[q.fact] = answers[q.fact]
    return facts


def applicable_questions(checklist: Checklist, answers: Mapping[str, Any]) -> list[Question]:
    """The questions that apply (or may apply) given the answers so far, in order."""
    facts = effective_facts(checklist, answers)
    return [q for q in checklist.questions if facts.get(q.fact) is not NA]


def next_question(
    checklist: Checklist, answers: Mapping[str, Any], skipped: Collection[str] = (),
) -> Question | None:
    """The first question that applies and is neither answered nor skipped; None when done."""
    for q in applicable_questions(checklist, answers):
        if q.fact not in answers and q.fact not in skipped:
            return q
    return None


def progress(checklist: Checklist, answers: Mapping[str, Any], fact: str) -> tuple[int, int]:
    """(position of ``fact`` among the applicable questions, how many apply)."""
    qs = applicable_questions(checklist, answers)
    pos = next((i for i, q in enumerate(qs) if q.fact == fact), len(qs) - 1)
    return pos + 1, len(qs)


# -- formatting ---------------------------------------------------------------------------------

def fmt_num(v: float | int) -> str:
    """150 → "150", 1.5 → "1.5", 2/3 → "0.67"."""
    if isinstance(v, bool):
        return str(v)
    r = round(float(v), 2)
    return str(int(r)) if r.is_integer() else f"{r:.2f}".rstrip("0")


AMOUNT_PLACES = 4  # amounts in 万元: 0.0001 万元 is 1 元
RATIO_PLACES = 2
_CTX = Context(prec=800)  # exact for any finite float (≤ 309 integer digits) to 4 places, and their products


def _dec(v: float | int) -> Decimal:
    return Decimal(repr(float(v))) if isinstance(v, float) else Decimal(int(v))


_fmt_dec = inputs.fmt_decimal  # one decimal formatter


def fmt_amount(v: float | int | Decimal, rounding: str = ROUND_HALF_EVEN) -> str:
    """An amount in 万元 to 1 元 (4 places), without trailing zeros: 200.001 → "200.001", 150.0 → "150"."""
    if isinstance(v, bool):
        return str(v)
    return _fmt_dec(v if isinstance(v, Decimal) else _dec(v), AMOUNT_PLACES, rounding)


def fmt_money(v: float | int | Decimal | str, lang: str, rounding: str = ROUND_HALF_EVEN) -> str:
    """An amount in 万元 as people read it, to 1 元: "150 万元" in Chinese; "CNY 1.5 million",
    "CNY 50,000", "CNY 1.2 billion" in English."""
    wan = v if isinstance(v, str) else fmt_amount(v, rounding)
    if lang != "en":
        return f"{wan} 万元"
    yuan = Decimal(wan) * 10_000
    for size, word in ((Decimal(10) ** 9, "billion"), (Decimal(10) ** 6, "million")):
        if abs(yuan) >= size:
            return f"CNY {_fmt_dec(yuan / size, 9, ROUND_HALF_EVEN)} {word}"
    return f"CNY {yuan:,.0f}"


def fmt_value(q: Question, v: Any, lang: str) -> str:
    """An answer as a person reads it."""
    if v is NA:
        return "n/a"
    if q.type == "bool":
        return ("yes" if v else "no") if lang == "en" else ("是" if v else "否")
    if q.type == "choice" or (q.type == "text" and q.option(v) is not None):
        o = q.option(v)
        return o.label(lang) if o else str(v)
    if q.type == "multi":
        labels = [o.label(lang) for o in q.options if o.value in v]
        return ("; " if lang == "en" else "、").join(labels) or ("none" if lang == "en" else "无")
    if q.is_amount:
        return fmt_money(v, lang)
    if q.type in ("number", "int"):
        unit = q.unit.get(lang) if q.unit else ""
        return f"{fmt_amount(v) if q.type == 'number' else fmt_num(v)} {unit}".strip()
    if q.type == "date":
        return q.nullable.get(lang) if v is None and q.nullable else v.isoformat()
    return str(v)


class _Vars(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "?"


def _vars(checklist: Checklist, cond: Condition, facts: Mapping[str, Any], today: date, lang: str) -> _Vars:
    out = _Vars(today=today.isoformat())
    for name in cond.rule.facts() + (cond.applies_when.facts() if cond.applies_when else []):
        q = checklist.question(name)
        if q is not None and _has(facts, name):
            out[name] = fmt_value(q, facts[name], lang)
    _computed(checklist, cond.rule, facts, out, lang)
    return out


def _computed(checklist: Checklist, rule: Rule, facts: Mapping[str, Any], out: _Vars, lang: str) -> None:
    for r in (rule.all or []) + (rule.any or []) + ([rule.not_] if rule.not_ else []):
        _computed(checklist, r, facts, out, lang)
    if rule.ratio is not None:
        # the 2 : 1 calculator of checks.inputs: amounts to 1 元, the amount still needed rounded up
        # (raising it is enough), the ratio truncated; nothing requested has no ratio ("—")
        num, den, k = rule.ratio.num, rule.ratio.den, rule.ratio.min
        out["min_ratio"] = fmt_num(k)
        if _has(facts, den):
            f = inputs.funding(facts[den], facts[num] if _has(facts, num) else None, k)
            out["min_required"] = f.amount(f.min_required, up=True)
            if f.shortfall is not None:
                out["shortfall"] = f.amount(f.shortfall, up=True)
                out["ratio"] = f.ratio
        for key, name in (("num", num), ("den", den)):
            if _has(facts, name):
                out[key] = fmt_amount(facts[name])
        for key in ("num", "den", "min_required", "shortfall"):
            if key in out:
                out[f"{key}_amount"] = fmt_money(out[key], lang)
    if rule.sum is not None and all(_has(facts, n) for n in rule.sum):
        out["sum"] = fmt_num(sum(facts[n] for n in rule.sum))
    if rule.fact is not None and _has(facts, rule.fact):
        v = facts[rule.fact]
        q = checklist.question(rule.fact)
        if rule.contains_all is not None and q is not None:
            missing = [o.label(lang) for o in q.options if o.value in rule.contains_all and o.value not in v]
            out["missing"] = ("; " if lang == "en" else "、").join(missing)
        if rule.years_since is not None and v is not None:
            out["until"] = add_years(v, rule.years_since).isoformat()


def render(template: str, values: Mapping[str, str]) -> str:
    return string.Formatter().vformat(template, (), values)


# -- evaluation ---------------------------------------------------------------------------------

@dataclass
class ConditionResult:
    id: str
    clause: str
    status: str  # pass | fail | warn | unknown | n/a | info
    reason: str
    fix: str
    clauses: list[str] = field(default_factory=list)
    title: str = ""
    quote: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(d.pop("extra"))
        return d


@dataclass
class Evaluation:
    checklist: str
    verdict: str
    conditions: list[ConditionResult]
    answers: dict[str, Any] = field(default_factory=dict)  # the cleaned answers evaluated

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.conditions:
            out[c.status] = out.get(c.status, 0) + 1
        return out

    def to_dict(self, labels: Mapping[str, str] | None = None) -> dict[str, Any]:
        conds = []
        for c in self.conditions:
            d = c.to_dict()
            if labels is not None:
                d["label"] = labels.get(c.clause, c.clause)
            conds.append(d)
        return {"checklist": self.checklist, "verdict": self.verdict, "conditions": conds,
                "counts": self.counts()}


def verdict_of(statuses: Iterable[str]) -> str:
    s = set(statuses)
    if "fail" in s:
        return "not_eligible"
    if "unknown" in s:
        return "incomplete"
    if "warn" in s:
        return "needs_review"
    return "eligible"


def evaluate(checklist: Checklist, answers: Mapping[str, Any], today: date, lang: str = "zh") -> Evaluation:
    """Every condition's status, reason and fix, and the verdict (see self-assessment.md)."""
    clean = validate_answers(checklist, answers)
    facts = effective_facts(checklist, clean, today)
    results = [evaluate_condition(checklist, c, facts, today, lang) for c in checklist.conditions]
    return Evaluation(checklist.id, verdict_of(r.status for r in results), results, clean)


def evaluate_condition(
    checklist: Checklist, cond: Condition, facts: Mapping[str, Any], today: date, lang: str,
) -> ConditionResult:
    msgs = cond.messages
    values = _vars(checklist, cond, facts, today, lang)
    status, reason, fix = "", "", ""
    applies = truth(cond.applies_when, facts, today) if cond.applies_when is not None else True
    if applies is False:
        status = "n/a"
        reason = "does not apply" if lang == "en" else "不适用"
    elif (ratio := cond.rule.ratio) is not None and _has(facts, ratio.den) and facts[ratio.den] == 0:
        # nothing to match (e.g. no provincial funds requested): the ratio rule does not apply
        status = "n/a"
        reason = render(msgs.zero.get(lang), values) if msgs.zero else (
            f"{ratio.den} is 0: the ratio does not apply" if lang == "en" else f"{ratio.den} 为 0，比例要求不适用")
    else:
        ok = truth(cond.rule, facts, today) if applies else None
        if ok is None:
            status = "info" if cond.kind == "info" else "unknown"
            reason = render(msgs.unknown.get(lang), values) if msgs.unknown else _unknown_reason(
                checklist, cond, facts, lang)
            if cond.kind == "check" and msgs.fix is not None:
                fix = _unknown_fix(checklist, cond, facts, lang)
        elif ok:
            status = "info" if cond.kind == "info" else cond.on_true
            reason = render(msgs.pass_.get(lang), values)
        else:
            status = "info" if cond.kind == "info" else cond.on_false
            reason = render(msgs.fail.get(lang), values)
            if msgs.fix is not None and cond.kind == "check":
                fix = render(msgs.fix.get(lang), values)
    extra: dict[str, str] = {}
    if cond.rule.ratio is not None:
        for key in ("ratio", "min_required", "shortfall"):
            if key in values:
                extra[key] = values[key]
    return ConditionResult(cond.id, cond.clause, status, reason, fix, list(cond.clauses),
                           cond.title.get(lang), cond.quote, extra)


def _missing_facts(checklist: Checklist, cond: Condition, facts: Mapping[str, Any]) -> list[Question]:
    names = (cond.applies_when.facts() if cond.applies_when else []) + cond.rule.facts()
    out = []
    for name in dict.fromkeys(names):
        q = checklist.question(name)
        if q is not None and name not in facts:
            out.append(q)
    return out


def _unknown_reason(checklist: Checklist, cond: Condition, facts: Mapping[str, Any], lang: str) -> str:
    missing = [q.short(lang) for q in _missing_facts(checklist, cond, facts)]
    if lang == "en":
        return "Not answered yet: " + "; ".join(missing) if missing else "Not enough information."
    return "尚未回答：" + "；".join(missing) if missing else "信息不足。"


def _unknown_fix(checklist: Checklist, cond: Condition, facts: Mapping[str, Any], lang: str) -> str:
    missing = [q.short(lang) for q in _missing_facts(checklist, cond, facts)]
    if lang == "en":
        return "Answer: " + "; ".join(missing) if missing else ""
    return "请补充回答：" + "；".join(missing) if missing else ""
