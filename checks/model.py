"""The checklist schema (pydantic): questions, declarative rules, conditions, messages.

A checklist file is plain data; :mod:`checks.loader` validates it with these models and then
checks what a schema alone cannot (cited clauses exist, rules only use asked facts, every
question can be reached).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

FACT_RE = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
ID_RE = re.compile(r"^[a-z][a-z0-9-]{0,31}$")

QuestionType = Literal["bool", "choice", "multi", "number", "int", "date", "text"]
STATUSES = ("pass", "fail", "warn", "unknown", "n/a", "info")
VERDICTS = ("not_eligible", "incomplete", "needs_review", "eligible")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Text(_Strict):
    """One message in both languages."""

    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)

    def get(self, lang: str) -> str:
        return self.en if lang == "en" else self.zh


class Option(_Strict):
    value: str | bool
    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)

    def label(self, lang: str) -> str:
        return self.en if lang == "en" else self.zh


class Why(_Strict):
    """Why a question is asked: the clause and the scheme's own words."""

    clause: str
    quote: str = Field(min_length=1)  # verbatim from the scheme
    note: Text | None = None  # a plain explanation


class Ratio(_Strict):
    num: str
    den: str
    min: float = Field(gt=0)


class Rule(_Strict):
    """A declarative rule; exactly one operator.

    * combinators: ``all: [rules]``, ``any: [rules]``, ``not: rule``
    * a subject — ``fact: name`` or ``sum: [names]`` — with one comparator:
      ``is: true|false``, ``eq``/``ne``, ``in: [values]``, ``ge``/``gt``/``le``/``lt``,
      ``contains_all: [values]`` (multi-select), ``years_since: N`` (a date; holds when
      ``today >= date + N years``; a null date — "never" — holds)
    * ``ratio: {num, den, min}`` — ``num >= min * den`` (the 2 : 1 funding rule)
    """

    all: list[Rule] | None = None
    any: list[Rule] | None = None
    not_: Rule | None = Field(None, alias="not")
    ratio: Ratio | None = None
    fact: str | None = None
    sum: list[str] | None = None
    is_: bool | None = Field(None, alias="is")
    eq: str | float | bool | None = None
    ne: str | float | bool | None = None
    in_: list[str | bool] | None = Field(None, alias="in")
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    contains_all: list[str] | None = None
    years_since: int | None = Field(None, ge=1, le=100)

    @property
    def comparator(self) -> str | None:
        for name in ("is_", "eq", "ne", "in_", "ge", "gt", "le", "lt", "contains_all", "years_since"):
            if getattr(self, name) is not None:
                return name.rstrip("_")
        return None

    @property
    def combinator(self) -> str | None:
        for name in ("all", "any", "not_", "ratio"):
            if getattr(self, name) is not None:
                return name.rstrip("_")
        return None

    @model_validator(mode="after")
    def _one_operator(self) -> Rule:
        combos = [n for n in ("all", "any", "not_", "ratio") if getattr(self, n) is not None]
        comps = [n for n in ("is_", "eq", "ne", "in_", "ge", "gt", "le", "lt", "contains_all", "years_since")
                 if getattr(self, n) is not None]
        subjects = [n for n in ("fact", "sum") if getattr(self, n) is not None]
        if combos:
            if len(combos) > 1 or comps or subjects:
                raise ValueError("a rule has exactly one operator (all / any / not / ratio / a comparison)")
            if combos[0] in ("all", "any") and not getattr(self, combos[0]):
                raise ValueError(f"'{combos[0]}' needs at least one rule")
            return self
        if len(subjects) != 1:
            raise ValueError("a comparison needs exactly one subject: 'fact' or 'sum'")
        if len(comps) != 1:
            raise ValueError("a comparison needs exactly one comparator "
                             "(is, eq, ne, in, ge, gt, le, lt, contains_all, years_since)")
        if self.sum is not None and comps[0] not in ("ge", "gt", "le", "lt", "eq", "ne"):
            raise ValueError("'sum' can only be compared with ge/gt/le/lt/eq/ne")
        return self

    def facts(self) -> list[str]:
        """Every fact the rule reads, in order, without repeats."""
        out: list[str] = []
        for r in self.all or []:
            out += r.facts()
        for r in self.any or []:
            out += r.facts()
        if self.not_ is not None:
            out += self.not_.facts()
        if self.ratio is not None:
            out += [self.ratio.num, self.ratio.den]
        if self.fact is not None:
            out.append(self.fact)
        out += self.sum or []
        return list(dict.fromkeys(out))


class Question(_Strict):
    fact: str
    type: QuestionType
    text: Text
    label: Text | None = None  # short name (lists, reports); defaults to the text
    hint: Text | None = None  # shown under typed questions
    options: list[Option] = Field(default_factory=list)
    min: float | None = None
    max: float | None = None
    unit: Text | None = None
    nullable: Text | None = None  # a "none / never" answer (stored as null), with its button label
    why: Why
    applies_when: Rule | None = None

    @field_validator("fact")
    @classmethod
    def _fact(cls, v: str) -> str:
        if not FACT_RE.match(v):
            raise ValueError(f"fact id '{v}' must be lower_snake_case (at most 48 characters)")
        return v

    @model_validator(mode="after")
    def _shape(self) -> Question:
        if self.type in ("choice", "multi") and not self.options:
            raise ValueError(f"a {self.type} question needs options")
        if self.type in ("bool", "number", "int", "date") and self.options:
            raise ValueError(f"a {self.type} question takes no options")
        if self.options:
            values = [o.value for o in self.options]
            if len(set(values)) != len(values):
                raise ValueError("option values repeat")
            if any(not isinstance(v, str) for v in values):
                raise ValueError("option values are strings")
        if self.nullable is not None and self.type != "date":
            raise ValueError("only a date question can be nullable")
        if (self.min is not None or self.max is not None) and self.type not in ("number", "int"):
            raise ValueError("min/max apply to number and int questions")
        return self

    @property
    def is_amount(self) -> bool:
        """A number in 万元: typed as 150 / 150万 / 1.5亿 / 1,500,000元, shown as 150 万元 / CNY 1.5 million."""
        return self.type == "number" and self.unit is not None and self.unit.zh == "万元"

    def short(self, lang: str) -> str:
        return (self.label or self.text).get(lang)

    def option(self, value: Any) -> Option | None:
        return next((o for o in self.options if o.value == value), None)


class Messages(_Strict):
    pass_: Text = Field(alias="pass")
    fail: Text
    fix: Text | None = None
    unknown: Text | None = None
    zero: Text | None = None  # ratio rules: the reason when the denominator is 0 (the rule does not apply)


class Condition(_Strict):
    id: str
    clauses: list[str] = Field(min_length=1)
    title: Text
    quote: str = Field(min_length=1)  # the scheme's words the condition rests on (verbatim)
    rule: Rule
    applies_when: Rule | None = None
    kind: Literal["check", "info"] = "check"
    on_false: Literal["fail", "warn"] = "fail"
    on_true: Literal["pass", "info"] = "pass"  # info: true is only information, false still warns/fails
    messages: Messages

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not ID_RE.match(v):
            raise ValueError(f"condition id '{v}' must be lower-kebab-case")
        return v

    @model_validator(mode="after")
    def _fix(self) -> Condition:
        if self.kind == "check" and self.messages.fix is None:
            raise ValueError("a checked condition needs a 'fix' message")
        if self.messages.zero is not None and self.rule.ratio is None:
            raise ValueError("a 'zero' message needs a ratio rule")
        return self

    @property
    def clause(self) -> str:
        return self.clauses[0]


class Checklist(_Strict):
    id: str
    title: Text
    intro: Text
    clauses: list[str] = Field(default_factory=list)
    questions: list[Question] = Field(min_length=1)
    conditions: list[Condition] = Field(min_length=1)

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not ID_RE.match(v):
            raise ValueError(f"checklist id '{v}' must be lower-kebab-case")
        return v

    _facts: dict[str, Question] = PrivateAttr(default_factory=dict)
    _index: dict[str, int] = PrivateAttr(default_factory=dict)

    def model_post_init(self, context: Any, /) -> None:
        self._facts = {q.fact: q for q in self.questions}
        self._index = {q.fact: i for i, q in enumerate(self.questions)}

    def question(self, fact: str) -> Question | None:
        # straight to the private storage: pydantic's __getattr__ for private attributes is slow
        # and this is the engine's hottest call
        facts: dict[str, Question] = self.__pydantic_private__["_facts"]  # type: ignore[index]
        return facts.get(fact)

    def index(self, fact: str) -> int:
        return self._index[fact]

    def condition(self, cid: str) -> Condition | None:
        return next((c for c in self.conditions if c.id == cid), None)


Rule.model_rebuild()
