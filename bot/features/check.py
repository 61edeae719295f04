"""``/check``: the guided self-assessment dialog (one question per message, inline buttons).

The whole dialog lives in the chat's durable state (``ctx.set_state("check", …)``), so it
resumes exactly where it was after a restart. Every button carries the dialog's random id
and the index of the question it belongs to: a button of an ended dialog gets a polite
"this dialog has ended", and pressing a button twice (or one of an older question) changes
nothing. Typed answers (numbers, dates, free text) go through an interceptor that only acts
while this chat's dialog is waiting for an answer.

Callback data: ``chk:<dialog id>:<action>[:<question index>[:<option index>]]``.
"""

from __future__ import annotations

import re
import secrets
import threading
from datetime import date
from typing import TYPE_CHECKING, Any

from bot.core import Button, Ctx, Document, Outcome, Reply, esc
from checks import loader
from checks.engine import (
    AnswerError,
    Evaluation,
    applicable_questions,
    check_answer,
    evaluate,
    fmt_num,
    fmt_value,
    match_option,
    next_question,
    progress,
    validate_answers,
)
from checks.model import Checklist, Question
from checks.report import STATUS_MARKS, VERDICT_WORDS, ReportInput, render_docx, render_markdown

if TYPE_CHECKING:
    from bot.app import App

KEY = "check"
PREFIX = "chk"
ORDER = ("lead-unit", "member", "formation")
_YES = {"是", "是的", "有", "对", "yes", "y", "true", "1"}
_NO = {"否", "不是", "没有", "无", "不", "no", "n", "false", "0"}
_NEVER = {"从未", "没有", "无", "never", "none", "no", "否"}
_NAV = {"跳过": "s", "skip": "s", "上一题": "b", "返回": "b", "back": "b", "取消": "x", "cancel": "x",
        "为什么": "w", "why": "w"}


# -- helpers --------------------------------------------------------------------------------------

def checklists() -> dict[str, Checklist]:
    lists = loader.bundled()
    return {name: lists[name] for name in sorted(lists, key=lambda n: (*ORDER, n).index(n))}


def today_of(ctx: Ctx) -> date:
    return ctx.now.astimezone(ctx.app.settings.tz).date()


def labels(lang: str) -> dict[str, str]:
    return _LABELS.setdefault(lang, loader.scheme_labels(lang))


_LABELS: dict[str, dict[str, str]] = {}


def cb(st: dict[str, Any], *parts: object) -> str:
    return ":".join([PREFIX, st["id"], *(str(p) for p in parts)])


def _new_id() -> str:
    return secrets.token_urlsafe(6)


def _answers(cl: Checklist, st: dict[str, Any]) -> dict[str, Any]:
    """The stored answers, decoded (dates parsed); anything no longer valid is dropped."""
    raw = {k: v for k, v in st.get("answers", {}).items() if cl.question(k) is not None}
    try:
        return validate_answers(cl, raw)
    except AnswerError:
        out = {}
        for k, v in raw.items():
            q = cl.question(k)
            assert q is not None
            try:
                out[k] = check_answer(q, v)
            except AnswerError:
                continue
        return out


def _store(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def _checklist(st: dict[str, Any]) -> Checklist | None:
    return checklists().get(st.get("list") or "")


# -- rendering ------------------------------------------------------------------------------------

def _type_hint(ctx: Ctx, q: Question) -> str:
    if q.hint is not None:
        return q.hint.get(ctx.lang)
    if q.type == "number":
        return ctx.t("check.hint_number", unit=q.unit.get(ctx.lang) if q.unit else "")
    if q.type == "int":
        return ctx.t("check.hint_int")
    if q.type == "date":
        return ctx.t("check.hint_date")
    if q.type == "text":
        return ctx.t("check.hint_text")
    if q.type == "multi":
        return ctx.t("check.hint_multi")
    return ""


def _calculator(ctx: Ctx, cl: Checklist, q: Question, answers: dict[str, Any]) -> str:
    """The funding calculator: asking for self-raised funds once the request is known."""
    for cond in cl.conditions:
        ratio = cond.rule.ratio
        if ratio is not None and ratio.num == q.fact and ratio.den in answers:
            den = answers[ratio.den]
            return ctx.t("check.calc", den=fmt_num(den), need=fmt_num(ratio.min * den))
    return ""


def ask(ctx: Ctx, st: dict[str, Any], *, edit: bool = False, prefix: str = "") -> Reply:
    cl = _checklist(st)
    assert cl is not None
    q = cl.question(st.get("current") or "")
    if q is None:  # the checklist changed under a stored dialog: carry on from the first open question
        q = next_question(cl, _answers(cl, st), st.get("skipped", [])) or cl.questions[0]
        _goto(st, cl, q)
        ctx.set_state(KEY, st)
    qi = cl.index(q.fact)
    answers = _answers(cl, st)
    pos, total = progress(cl, answers, q.fact)
    lines = [f"<b>{esc(cl.title.get(ctx.lang))}</b> · {pos}/{total}", "", f"<b>{esc(q.text.get(ctx.lang))}</b>"]
    hint = _type_hint(ctx, q)
    if hint:
        lines.append(f"<i>{esc(hint)}</i>")
    calc = _calculator(ctx, cl, q, answers)
    if calc:
        lines.append(esc(calc))
    if q.fact in answers and q.type != "multi":
        lines.append(esc(ctx.t("check.current_answer", value=fmt_value(q, answers[q.fact], ctx.lang))))
    if prefix:
        lines.insert(0, prefix + "\n")
    rows: list[list[Button]] = []
    current = answers.get(q.fact)
    if q.type == "bool":
        mark = {True: "✓ ", False: "✓ "}
        rows.append([Button((mark[True] if current is True else "") + ctx.t("check.yes"), cb(st, "a", qi, 1)),
                     Button((mark[False] if current is False else "") + ctx.t("check.no"), cb(st, "a", qi, 0))])
    elif q.type in ("choice", "text"):
        row: list[Button] = []
        for oi, o in enumerate(q.options):
            row.append(Button(("✓ " if current == o.value else "") + o.label(ctx.lang), cb(st, "a", qi, oi)))
            if len(row) == (1 if q.type == "choice" else 3):
                rows.append(row)
                row = []
        if row:
            rows.append(row)
    elif q.type == "multi":
        picked = set(st.get("multi") or [])
        for oi, o in enumerate(q.options):
            rows.append([Button(("☑ " if o.value in picked else "☐ ") + o.label(ctx.lang), cb(st, "t", qi, oi))])
        rows.append([Button(ctx.t("check.done_button"), cb(st, "d", qi))])
    elif q.type == "date" and q.nullable is not None:
        rows.append([Button(("✓ " if q.fact in answers and current is None else "") + ctx.t("check.never"),
                            cb(st, "n", qi))])
    if ctx.app.shell and q.type in ("number", "int"):
        # the terminal shell reads a typed number as a button's number: no buttons here,
        # navigation is typed instead
        lines.append(esc(ctx.t("check.shell_nav")))
        return Reply("\n".join(lines), edit=edit, menu=True)
    rows.append([Button(ctx.t("check.back"), cb(st, "b", qi)), Button(ctx.t("check.skip"), cb(st, "s", qi)),
                 Button(ctx.t("check.why"), cb(st, "w", qi))])
    rows.append([Button(ctx.t("check.cancel"), cb(st, "x"))])
    return Reply("\n".join(lines), buttons=rows, edit=edit)


def evaluation(ctx: Ctx, st: dict[str, Any]) -> tuple[Checklist, Evaluation]:
    cl = _checklist(st)
    assert cl is not None
    return cl, evaluate(cl, _answers(cl, st), today_of(ctx), ctx.lang)


def result_reply(ctx: Ctx, st: dict[str, Any], *, edit: bool = False) -> Reply:
    cl, ev = evaluation(ctx, st)
    lab = labels(ctx.lang)
    counts = ev.counts()
    lines = [ctx.t("check.result_head", title=esc(cl.title.get(ctx.lang)),
                   verdict=esc(VERDICT_WORDS[ctx.lang][ev.verdict])),
             ctx.t("check.result_counts", **{k: counts.get(k, 0) for k in ("pass", "fail", "warn", "unknown")}), ""]
    attention = [c for c in ev.conditions if c.status in ("fail", "warn", "unknown")]
    rest = [c for c in ev.conditions if c.status not in ("fail", "warn", "unknown")]
    if attention:
        lines.append(ctx.t("check.result_attention"))
        for c in attention:
            label = " / ".join(lab.get(x, x) for x in c.clauses)
            lines.append(f"{STATUS_MARKS[c.status]} <b>{esc(c.title)}</b>（{esc(label)}）")
            lines.append(esc(c.reason))
            if c.fix:
                lines.append(f"→ {ctx.t('check.fix')}：{esc(c.fix)}")
            lines.append(f"<i>“{esc(c.quote)}”</i>")
            lines.append("")
    if rest:
        lines.append(ctx.t("check.result_ok"))
        for c in rest:
            label = " / ".join(lab.get(x, x) for x in c.clauses)
            lines.append(f"{STATUS_MARKS[c.status]} {esc(c.title)}（{esc(label)}）：{esc(c.reason)}")
            lines.append(f"<i>“{esc(c.quote)}”</i>")
        lines.append("")
    lines.append(ctx.t("check.result_note"))
    buttons = [[Button(ctx.t("check.report_docx"), cb(st, "r", "d")),
                Button(ctx.t("check.report_md"), cb(st, "r", "m"))],
               [Button(ctx.t("check.change"), cb(st, "e"))],
               [Button(ctx.t("check.again"), cb(st, "g"))]]
    return Reply("\n".join(lines).strip(), buttons=buttons, edit=edit)


def pick_reply(ctx: Ctx, st: dict[str, Any], *, edit: bool = False) -> Reply:
    rows = [[Button(cl.title.get(ctx.lang), cb(st, "p", i))] for i, cl in enumerate(checklists().values())]
    rows.append([Button(ctx.t("check.cancel"), cb(st, "x"))])
    return Reply(ctx.t("check.pick"), buttons=rows, edit=edit)


# -- state transitions ---------------------------------------------------------------------------

def _advance(ctx: Ctx, st: dict[str, Any], *, edit: bool, prefix: str = "") -> Reply:
    """Move to the next open question, or to the verdict when none is left."""
    cl = _checklist(st)
    assert cl is not None
    nxt = next_question(cl, _answers(cl, st), st.get("skipped", []))
    if nxt is None:
        st.update(stage="done", current=None, multi=None)
        ctx.set_state(KEY, st)
        reply = result_reply(ctx, st, edit=edit)
        if prefix:
            reply.text = prefix + "\n\n" + reply.text
        return reply
    _goto(st, cl, nxt)
    ctx.set_state(KEY, st)
    return ask(ctx, st, edit=edit, prefix=prefix)


def _goto(st: dict[str, Any], cl: Checklist, q: Question) -> None:
    st.update(stage="ask", current=q.fact)
    st["multi"] = list(st.get("answers", {}).get(q.fact) or []) if q.type == "multi" else None


def _set_answer(st: dict[str, Any], fact: str, value: Any) -> None:
    st.setdefault("answers", {})[fact] = _store(value)
    st["skipped"] = [f for f in st.get("skipped", []) if f != fact]


def start(ctx: Ctx, name: str, *, edit: bool = False, dialog_id: str | None = None) -> Reply:
    cl = checklists()[name]
    st: dict[str, Any] = {"id": dialog_id or _new_id(), "list": name, "answers": {}, "skipped": [], "stage": "ask",
                          "lang": ctx.lang}
    _goto(st, cl, cl.questions[0])
    ctx.set_state(KEY, st)
    return ask(ctx, st, edit=edit, prefix=esc(cl.intro.get(ctx.lang)))


def new_pick(ctx: Ctx, *, edit: bool = False) -> Reply:
    st: dict[str, Any] = {"id": _new_id(), "stage": "pick", "lang": ctx.lang}
    ctx.set_state(KEY, st)
    return pick_reply(ctx, st, edit=edit)


# -- handlers -------------------------------------------------------------------------------------

def cmd_check(ctx: Ctx) -> Reply:
    arg = ctx.args.strip().lower()
    lists = checklists()
    if arg:
        if arg not in lists:
            return Reply(ctx.t("check.unknown_list", name=esc(arg), names=", ".join(lists)))
        return start(ctx, arg)
    st = ctx.get_state(KEY)
    cl = _checklist(st) if st else None
    if st and cl is not None and st.get("stage") == "ask":
        answers = _answers(cl, st)
        total = len(applicable_questions(cl, answers))
        done = sum(1 for q in applicable_questions(cl, answers) if q.fact in answers)
        return Reply(ctx.t("check.in_progress", title=esc(cl.title.get(ctx.lang)), done=done, total=total),
                     buttons=[[Button(ctx.t("check.resume"), cb(st, "res")),
                               Button(ctx.t("check.restart"), cb(st, "new"))]])
    return new_pick(ctx)


def _keep_lang(ctx: Ctx, st: dict[str, Any] | None) -> None:
    """A dialog stays in the language it started in, unless the person chose one with /lang."""
    if st and ctx.user.chosen_lang is None and st.get("lang") in ("zh", "en"):
        ctx.user.lang = st["lang"]


_LOCKS: dict[int, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _chat_lock(chat_id: int) -> threading.Lock:
    """Updates of one chat may run in parallel (two quick taps): a dialog step is read-modify-write."""
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(chat_id, threading.Lock())


def on_button(ctx: Ctx) -> Outcome:
    with _chat_lock(ctx.msg.chat_id):
        return _on_button(ctx)


def _on_button(ctx: Ctx) -> Outcome:
    parts = (ctx.msg.callback_data or "").split(":")
    st = ctx.get_state(KEY)
    if len(parts) < 3 or not st or st.get("id") != parts[1]:
        return Outcome(toast=ctx.t("check.ended"))
    _keep_lang(ctx, st)
    return act(ctx, st, parts[2], parts[3:])


def act(ctx: Ctx, st: dict[str, Any], action: str, args: list[str]) -> Outcome:
    """One dialog action (a button, or a typed navigation word) on the stored dialog ``st``."""
    nums = [int(a) for a in args if a.isdigit() and len(a) < 4]
    stage = st.get("stage")
    moved = Outcome(toast=ctx.t("check.moved"))
    if action == "x":
        ctx.set_state(KEY, None)
        return Outcome([Reply(ctx.t("check.cancelled"), edit=True, menu=False)])
    if action == "new":
        return Outcome([new_pick(ctx, edit=True)])
    if action == "g":
        return Outcome([new_pick(ctx)])
    if action == "p":
        if stage != "pick" or not nums or not 0 <= nums[0] < len(checklists()):
            return moved
        return Outcome([start(ctx, list(checklists())[nums[0]], edit=True, dialog_id=st["id"])])
    cl = _checklist(st)
    if cl is None:
        return Outcome(toast=ctx.t("check.ended"))
    if action == "res":
        if stage != "ask":
            return moved
        return Outcome([ask(ctx, st, edit=True)])
    if action == "w":
        if not nums or not 0 <= nums[0] < len(cl.questions):
            return moved
        return Outcome([why_reply(ctx, cl.questions[nums[0]])])
    if action == "r":
        if stage != "done":
            return moved
        return Outcome([report_reply(ctx, st, "md" if args[:1] == ["m"] else "docx")])
    if action == "e":
        if stage != "done":
            return moved
        if not nums:
            return Outcome([change_reply(ctx, st, cl)])
        if not 0 <= nums[0] < len(cl.questions):
            return moved
        _goto(st, cl, cl.questions[nums[0]])
        ctx.set_state(KEY, st)
        return Outcome([ask(ctx, st, edit=True)])
    if action == "v":
        return Outcome([result_reply(ctx, st, edit=True)]) if stage == "done" else moved
    # the rest act on the current question, named by its index
    if (stage != "ask" or not nums or not 0 <= nums[0] < len(cl.questions)
            or st.get("current") != cl.questions[nums[0]].fact):
        return moved
    q = cl.questions[nums[0]]
    if action == "a" and len(nums) == 2:
        if q.type == "bool" and nums[1] in (0, 1):
            value: Any = nums[1] == 1
        elif q.type in ("choice", "text") and 0 <= nums[1] < len(q.options):
            value = q.options[nums[1]].value
        else:
            return moved
        _set_answer(st, q.fact, value)
        return Outcome([_advance(ctx, st, edit=True)])
    if action == "t" and len(nums) == 2 and q.type == "multi" and 0 <= nums[1] < len(q.options):
        picked = list(st.get("multi") or [])
        v = str(q.options[nums[1]].value)
        picked = [p for p in picked if p != v] if v in picked else [*picked, v]
        st["multi"] = [str(o.value) for o in q.options if o.value in picked]
        ctx.set_state(KEY, st)
        return Outcome([ask(ctx, st, edit=True)])
    if action == "d" and q.type == "multi":
        _set_answer(st, q.fact, list(st.get("multi") or []))
        return Outcome([_advance(ctx, st, edit=True)])
    if action == "n" and q.type == "date" and q.nullable is not None:
        _set_answer(st, q.fact, None)
        return Outcome([_advance(ctx, st, edit=True)])
    if action == "s":
        st.setdefault("answers", {}).pop(q.fact, None)
        st["skipped"] = [*[f for f in st.get("skipped", []) if f != q.fact], q.fact]
        return Outcome([_advance(ctx, st, edit=True)])
    if action == "b":
        qs = applicable_questions(cl, _answers(cl, st))
        pos = next((i for i, x in enumerate(qs) if x.fact == q.fact), 0)
        if pos == 0:
            return Outcome(toast=ctx.t("check.first"))
        _goto(st, cl, qs[pos - 1])
        ctx.set_state(KEY, st)
        return Outcome([ask(ctx, st, edit=True)])
    return moved


def why_reply(ctx: Ctx, q: Question) -> Reply:
    label = labels(ctx.lang).get(q.why.clause, q.why.clause)
    lines = [ctx.t("check.why_head"), f"{esc(label)}：<i>“{esc(q.why.quote)}”</i>"]
    if q.why.note is not None:
        lines.append(esc(q.why.note.get(ctx.lang)))
    return Reply("\n".join(lines))


def change_reply(ctx: Ctx, st: dict[str, Any], cl: Checklist) -> Reply:
    answers = _answers(cl, st)
    skipped = set(st.get("skipped", []))
    rows = []
    for q in applicable_questions(cl, answers):
        if q.fact in answers:
            shown = fmt_value(q, answers[q.fact], ctx.lang)
        else:
            shown = ctx.t("check.skipped") if q.fact in skipped else ctx.t("check.unanswered")
        label = f"{q.short(ctx.lang)}: {shown}"
        rows.append([Button(label if len(label) <= 48 else label[:47] + "…", cb(st, "e", cl.index(q.fact)))])
    rows.append([Button(ctx.t("check.to_result"), cb(st, "v"))])
    return Reply(ctx.t("check.change_pick"), buttons=rows, edit=True)


def report_input(ctx: Ctx, st: dict[str, Any]) -> ReportInput:
    cl, ev = evaluation(ctx, st)
    name = ctx.msg.first_name or (f"@{ctx.msg.username}" if ctx.msg.username else "")
    applicant = f"{name} (id {ctx.user.id})" if name else f"id {ctx.user.id}"
    return ReportInput(cl, ev, today_of(ctx), applicant, ctx.lang, labels(ctx.lang))


def report_reply(ctx: Ctx, st: dict[str, Any], kind: str) -> Reply:
    rep = report_input(ctx, st)
    day = rep.today.isoformat()
    caption = ctx.t("check.report_caption", title=esc(rep.checklist.title.get(ctx.lang)), date=day)
    if kind == "md":
        doc = Document(f"self-assessment-{rep.checklist.id}-{day}.md", render_markdown(rep).encode("utf-8"), caption)
    else:
        doc = Document(f"self-assessment-{rep.checklist.id}-{day}.docx", render_docx(rep), caption)
    return Reply(document=doc)


_NUM_RE = re.compile(r"^[+-]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?$")


def _parse_number(text: str) -> float | None:
    t = text.strip().replace("，", ",").replace("．", ".")
    for unit in ("万元", "万", "个", "家", "所"):
        t = t.removesuffix(unit).strip()
    if not _NUM_RE.match(t):
        return None
    v = float(t.replace(",", ""))
    return int(v) if v.is_integer() else v


def on_text(ctx: Ctx) -> Outcome | None:
    """Typed answers while this chat's dialog waits for one; None otherwise."""
    with _chat_lock(ctx.msg.chat_id):
        return _on_text(ctx)


def _on_text(ctx: Ctx) -> Outcome | None:
    st = ctx.get_state(KEY)
    if not st or st.get("stage") != "ask" or not st.get("current"):
        return None
    cl = _checklist(st)
    q = cl.question(st["current"]) if cl is not None else None
    if cl is None or q is None:
        return None
    _keep_lang(ctx, st)
    text = (ctx.msg.text or "").strip()
    word = text.casefold().rstrip("。.!！?？")
    if word in _NAV:  # typed navigation: 跳过 / 上一题 / 取消 / 为什么
        action = _NAV[word]
        out = act(ctx, st, action, [] if action == "x" else [str(cl.index(q.fact))])
        for reply in out.replies:
            reply.edit = False
        return out
    shown = esc(text[:40])
    hint = _type_hint(ctx, q)
    value: Any
    if q.type in ("number", "int"):
        num = _parse_number(text)
        if num is None:
            return _again(ctx, st, ctx.t("check.bad_number", text=shown, hint=esc(hint)))
        if q.type == "int" and not float(num).is_integer():
            return _again(ctx, st, ctx.t("check.bad_number", text=shown, hint=esc(hint)))
        if q.min is not None and num < q.min:
            return _again(ctx, st, ctx.t("check.too_small", text=shown, min=fmt_num(q.min), hint=esc(hint)))
        if q.max is not None and num > q.max:
            return _again(ctx, st, ctx.t("check.too_big", text=shown, max=fmt_num(q.max), hint=esc(hint)))
        value = check_answer(q, num)
    elif q.type == "date":
        if q.nullable is not None and text.casefold() in _NEVER:
            value = None
        else:
            try:
                value = check_answer(q, text)
            except AnswerError:
                return _again(ctx, st, ctx.t("check.bad_date", text=shown, hint=esc(hint)))
    elif q.type == "text":
        value = check_answer(q, text[:200])
    elif q.type == "bool":
        word = text.casefold().rstrip("。.!！")
        if word in _YES:
            value = True
        elif word in _NO:
            value = False
        else:
            return _again(ctx, st, ctx.t("check.use_buttons"))
    elif q.type == "choice":
        value = match_option(q, text)
        if value is None:
            return _again(ctx, st, ctx.t("check.use_buttons"))
    else:  # multi: toggles only
        return _again(ctx, st, ctx.t("check.use_buttons"))
    _set_answer(st, q.fact, value)
    return Outcome([_advance(ctx, st, edit=False)])


def _again(ctx: Ctx, st: dict[str, Any], problem: str) -> Outcome:
    return Outcome([ask(ctx, st, prefix=f"⚠️ {problem}")])


def register(app: App) -> None:
    loader.bundled()  # validate the checklist files at start: a broken file fails loudly here
    r = app.router
    r.command("check", cmd_check, help_key="check.cmd_help")
    r.callback(PREFIX, on_button)
    r.intercept(on_text)
    r.menu_button("menu.check", "check")
