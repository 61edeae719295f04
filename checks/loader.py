"""Load and validate the checklist files under ``checks/data``.

Pydantic checks the shape; then this module checks what the shape cannot, and fails loudly
with the file and the item named: a cited clause that does not exist, a rule that reads a
fact no question asks (or a value no option offers), a message placeholder that is never
filled, a question that can never be reached.
"""

from __future__ import annotations

import itertools
import string
from collections.abc import Collection, Mapping
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from checks.engine import truth
from checks.model import Checklist, Condition, Question, Rule, Text

DATA = Path(__file__).parent / "data"
NAMES = ("lead-unit", "member", "formation")

# placeholders every condition message may use besides its facts
_TODAY = date(2000, 1, 1)  # reachability does not depend on the day
COMPUTED = {"today", "ratio", "min_required", "shortfall", "min_ratio", "num", "den", "sum", "missing", "until",
            # the same amounts as people read them: 150 万元 / CNY 1.5 million
            "num_amount", "den_amount", "min_required_amount", "shortfall_amount"}


class ChecklistError(ValueError):
    """A checklist file is broken; the message names the file and the item."""


class _NoDatesLoader(yaml.SafeLoader):
    """YAML without implicit timestamps: dates stay text and are checked by the engine
    (so ``2025-02-30`` is reported as a bad date, not a YAML crash)."""


_NoDatesLoader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_NoDatesLoader)  # a SafeLoader subclass


def scheme_clause_ids() -> set[str]:
    """The canonical clause ids, from the parsed scheme (knowledge.corpus)."""
    from knowledge import corpus

    return set(corpus.load().ids)


def scheme_labels(lang: str = "zh") -> dict[str, str]:
    """Clause id → the label people read (四、（四） / Section 4(4)), from knowledge.corpus."""
    from knowledge import corpus

    return {c.id: (c.label_en if lang == "en" else c.label) for c in corpus.load().clauses.values()}


def parse_checklist(data: Any, source: str, known_clause_ids: Collection[str]) -> Checklist:
    """Validate one checklist's data; ChecklistError naming ``source`` and the item."""
    try:
        checklist = Checklist.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = _where(data, err.get("loc", ()))
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        raise ChecklistError(f"{source}: {where}: {msg}") from None
    _check(checklist, source, known_clause_ids)
    return checklist


def _where(data: Any, loc: tuple[Any, ...]) -> str:
    """A readable place for a pydantic error: ``question 'entity_type' → options``."""
    parts: list[str] = []
    node = data
    for key in loc:
        if isinstance(node, dict) and key in node:
            node = node[key]
            if key not in ("questions", "conditions"):
                parts.append(str(key))
        elif isinstance(node, list) and isinstance(key, int) and key < len(node):
            node = node[key]
            if isinstance(node, dict) and ("fact" in node or "id" in node):
                kind = "question" if "fact" in node else "condition"
                parts.append(f"{kind} '{node.get('fact') or node.get('id')}'")
            else:
                parts.append(f"[{key}]")
        else:
            parts.append(str(key))
    return " → ".join(parts) or "top level"


def _check(cl: Checklist, source: str, known: Collection[str]) -> None:
    def fail(item: str, msg: str) -> None:
        raise ChecklistError(f"{source}: {item}: {msg}")

    known = set(known)
    for cid in cl.clauses:
        if cid not in known:
            fail("clauses", f"cites clause '{cid}', which does not exist in the scheme")
    seen: dict[str, Question] = {}
    for q in cl.questions:
        item = f"question '{q.fact}'"
        if q.fact in seen:
            fail(item, "is asked twice")
        if q.why.clause not in known:
            fail(item, f"'why' cites clause '{q.why.clause}', which does not exist in the scheme")
        if q.applies_when is not None:
            for name in q.applies_when.facts():
                if name == q.fact:
                    fail(item, "its applies_when depends on its own answer")
                if name not in seen:
                    later = any(x.fact == name for x in cl.questions)
                    fail(item, f"applies_when reads fact '{name}', which is "
                               + ("only asked later" if later else "never asked"))
            _check_rule(cl, q.applies_when, item, fail)
        seen[q.fact] = q
    ids: set[str] = set()
    for c in cl.conditions:
        item = f"condition '{c.id}'"
        if c.id in ids:
            fail(item, "is defined twice")
        ids.add(c.id)
        for cid in c.clauses:
            if cid not in known:
                fail(item, f"cites clause '{cid}', which does not exist in the scheme")
        for rule in (c.rule, c.applies_when):
            if rule is not None:
                for name in rule.facts():
                    if name not in seen:
                        fail(item, f"rule reads fact '{name}', which no question asks")
                _check_rule(cl, rule, item, fail)
        _check_messages(c, item, fail)
    _check_reachable(cl, source)


def _check_rule(cl: Checklist, rule: Rule, item: str, fail: Any) -> None:
    for sub in (rule.all or []) + (rule.any or []) + ([rule.not_] if rule.not_ else []):
        _check_rule(cl, sub, item, fail)
    if rule.ratio is not None:
        for name in (rule.ratio.num, rule.ratio.den):
            q = cl.question(name)
            if q is not None and q.type not in ("number", "int"):
                fail(item, f"ratio needs numbers, but '{name}' is a {q.type} question")
        return
    names = rule.sum or ([rule.fact] if rule.fact else [])
    for name in names:
        q = cl.question(name)
        if q is None:
            continue
        comp = rule.comparator
        ok_types = {
            "is": ("bool",), "in": ("choice", "text"), "contains_all": ("multi",), "years_since": ("date",),
            "ge": ("number", "int"), "gt": ("number", "int"), "le": ("number", "int"), "lt": ("number", "int"),
            "eq": ("bool", "choice", "number", "int", "text"), "ne": ("bool", "choice", "number", "int", "text"),
        }[comp or ""]
        if q.type not in ok_types:
            fail(item, f"'{comp}' cannot be applied to '{name}' (a {q.type} question)")
        values: list[Any] = []
        if rule.in_ is not None:
            values = list(rule.in_)
            if not values:
                fail(item, f"'in' for '{name}' lists no values, so it can never hold")
        if rule.contains_all is not None:
            values = list(rule.contains_all)
        if rule.eq is not None and q.type == "choice":
            values = [rule.eq]
        if q.options and q.type in ("choice", "multi", "text"):
            for v in values:
                if q.option(v) is None:
                    fail(item, f"value {v!r} is not an option of question '{name}'")


def _check_messages(c: Condition, item: str, fail: Any) -> None:
    allowed = set(c.rule.facts()) | (set(c.applies_when.facts()) if c.applies_when else set()) | COMPUTED
    texts: list[tuple[str, Text | None]] = [("pass", c.messages.pass_), ("fail", c.messages.fail),
                                             ("fix", c.messages.fix), ("unknown", c.messages.unknown),
                                             ("zero", c.messages.zero)]
    for key, text in texts:
        if text is None:
            continue
        for lang in ("zh", "en"):
            try:
                names = [f for _, f, _, _ in string.Formatter().parse(text.get(lang)) if f is not None]
            except ValueError as exc:
                fail(item, f"message '{key}' ({lang}) is not a valid template: {exc}")
                continue
            for name in names:
                if name not in allowed:
                    fail(item, f"message '{key}' ({lang}) uses {{{name}}}, which is neither a fact of "
                               f"its rule nor a computed value ({', '.join(sorted(COMPUTED))})")


def _domain(q: Question) -> list[Any] | None:
    if q.type == "bool":
        return [True, False]
    if q.type in ("choice", "text") and q.options:
        return [o.value for o in q.options]
    return None


def _check_reachable(cl: Checklist, source: str) -> None:
    """Every question applies for at least one combination of earlier answers."""
    reachable: set[str] = set()
    for q in cl.questions:
        if q.applies_when is None:
            reachable.add(q.fact)
            continue
        names = q.applies_when.facts()
        if any(n not in reachable for n in names):
            bad = next(n for n in names if n not in reachable)
            raise ChecklistError(f"{source}: question '{q.fact}' can never be reached: "
                                 f"it depends on '{bad}', which can never be reached")
        domains: list[list[Any]] = []
        for n in names:
            dq = cl.question(n)
            assert dq is not None
            dom = _domain(dq)
            if dom is None:  # a number or a date: any comparison may hold
                domains = []
                break
            domains.append(dom)
        else:
            if not any(truth(q.applies_when, dict(zip(names, combo, strict=True)), _TODAY)
                       for combo in itertools.product(*domains)):
                raise ChecklistError(f"{source}: question '{q.fact}' can never be reached: "
                                     f"its applies_when is false for every answer to {', '.join(names)}")
        reachable.add(q.fact)


def load_checklist_file(path: Path, known_clause_ids: Collection[str]) -> Checklist:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ChecklistError(f"{path.name}: cannot be read ({exc.strerror or exc})") from None
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise ChecklistError(f"{path.name}: is not valid YAML{at}: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise ChecklistError(f"{path.name}: top level must be a mapping")
    cl = parse_checklist(data, path.name, known_clause_ids)
    if cl.id != path.stem:
        raise ChecklistError(f"{path.name}: id '{cl.id}' does not match the file name '{path.stem}'")
    return cl


def load_checklists(
    known_clause_ids: Collection[str] | None = None, directory: Path | None = None,
) -> dict[str, Checklist]:
    """Every ``*.yaml`` checklist in ``directory`` (default: the bundled ones), by id.

    ``known_clause_ids``: the canonical clause ids cited clauses must belong to (default: the
    ids of the parsed scheme, :mod:`knowledge.corpus`).
    """
    known = scheme_clause_ids() if known_clause_ids is None else known_clause_ids
    folder = directory or DATA
    out: dict[str, Checklist] = {}
    for path in sorted(folder.glob("*.yaml")):
        cl = load_checklist_file(path, known)
        out[cl.id] = cl
    if not out:
        raise ChecklistError(f"{folder}: no checklist files (*.yaml)")
    return out


@lru_cache(maxsize=1)
def bundled() -> Mapping[str, Checklist]:
    """The bundled checklists, validated against the scheme's clause ids (loaded once)."""
    return load_checklists()


def get(name: str) -> Checklist:
    """A bundled checklist by id; KeyError with the known names."""
    lists = bundled()
    if name not in lists:
        raise KeyError(f"unknown checklist '{name}' (known: {', '.join(lists)})")
    return lists[name]
