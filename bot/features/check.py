"""``/check``: the guided self-assessment in chat — parse what the person did, step the dialog, render.

The conversation itself (stages, what each button or typed word does, which question comes next)
is :mod:`checks.dialog`, a pure state machine; this module only turns a pressed button or a typed
line into a :class:`checks.dialog.Event`, stores the resulting :class:`checks.dialog.Dialog` in the
chat's durable state (key ``check``: it survives restarts) and renders the step's view. It does
not know whether it runs in Telegram or in the terminal shell; per-chat ordering is the adapter's
job (one update at a time per chat).

Callback data: ``chk:<dialog id>:<code>[:<question index>[:<option index>]]``; a button of an
ended dialog gets "this dialog has ended", one of an earlier step changes nothing.
"""

from __future__ import annotations

import logging
import secrets
from datetime import date
from typing import TYPE_CHECKING

from pydantic import ValidationError

from bot.core import Button, Ctx, Document, Outcome, Reply, esc
from checks import inputs, loader
from checks.dialog import (
    Action,
    Dialog,
    Event,
    Stage,
    Step,
    View,
    answered,
    current_question,
    progress,
    read_text,
)
from checks.dialog import step as dialog_step
from checks.engine import Evaluation, applicable_questions, evaluate, fmt_money, fmt_num, fmt_value
from checks.model import Checklist, Question
from checks.report import STATUS_MARKS, VERDICT_WORDS, ReportInput, render_docx, render_markdown

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

KEY = "check"
PREFIX = "chk"
ORDER = ("lead-unit", "member", "formation")

# button codes (short: callback data is at most 64 bytes) → actions
_CODES = {"p": Action.PICK, "a": Action.ANSWER, "n": Action.NEVER, "t": Action.TOGGLE, "d": Action.FINISH,
          "s": Action.SKIP, "b": Action.BACK, "w": Action.WHY, "res": Action.RESUME, "v": Action.VERDICT,
          "r": Action.REPORT, "new": Action.RESTART, "g": Action.RESTART, "x": Action.CANCEL}
_EDITS = {"g"}  # codes whose answer is a new message rather than the pressed one, edited


# -- the checklists -------------------------------------------------------------------------------

def checklists() -> dict[str, Checklist]:
    lists = loader.bundled()
    return {name: lists[name] for name in sorted(lists, key=lambda n: (*ORDER, n).index(n))}


def _checklist(d: Dialog) -> Checklist | None:
    return checklists().get(d.checklist or "")


def today_of(ctx: Ctx) -> date:
    return ctx.now.astimezone(ctx.app.settings.tz).date()


_LABELS: dict[str, dict[str, str]] = {}


def labels(lang: str) -> dict[str, str]:
    return _LABELS.setdefault(lang, loader.scheme_labels(lang))


def cb(d: Dialog, *parts: object) -> str:
    return ":".join([PREFIX, d.id, *(str(p) for p in parts)])


def _new_id() -> str:
    return secrets.token_urlsafe(6)


# -- the stored dialog ----------------------------------------------------------------------------

class _Lost:
    """A stored dialog that no longer loads (an older, incompatible shape): it was cleared."""


LOST = _Lost()


def load(ctx: Ctx) -> Dialog | _Lost | None:
    raw = ctx.get_state(KEY)
    if not raw:
        return None
    try:
        return Dialog.model_validate(raw)
    except ValidationError as exc:
        log.warning("chat %s: stored self-assessment does not load, cleared (%s)", ctx.msg.chat_id,
                    exc.errors()[0].get("msg"))
        ctx.set_state(KEY, None)
        return LOST


def save(ctx: Ctx, d: Dialog | None) -> None:
    ctx.set_state(KEY, d.stored() if d is not None else None)


def _keep_lang(ctx: Ctx, d: Dialog) -> None:
    """A dialog stays in the language it started in, unless the person chose one with /lang."""
    if ctx.user.chosen_lang is None:
        ctx.user.lang = d.lang


def run(ctx: Ctx, d: Dialog, ev: Event, *, edit: bool) -> Outcome:
    """One step of the dialog: store it, render it."""
    result = dialog_step(d, ev, list(checklists().values()), _new_id())
    if result.changed:
        save(ctx, result.dialog)
    return render(ctx, result, edit=edit)


# -- rendering ------------------------------------------------------------------------------------

def render(ctx: Ctx, s: Step, *, edit: bool) -> Outcome:
    d = s.dialog
    if s.view == View.CANCELLED:
        return Outcome([Reply(ctx.t("check.cancelled"), edit=edit)])
    if s.view in (View.STALE, View.FIRST, View.FINISHED):
        key = {View.STALE: "check.moved", View.FIRST: "check.first", View.FINISHED: "check.finished"}[s.view]
        return Outcome(toast=ctx.t(key))
    assert d is not None
    if s.view == View.PICKER:
        return Outcome([pick_reply(ctx, d, edit=edit)])
    cl = _checklist(d)
    assert cl is not None
    if s.view == View.QUESTION:
        intro = esc(cl.intro.get(ctx.lang)) if s.started else ""
        return Outcome([ask_reply(ctx, d, cl, edit=edit, prefix=intro)])
    if s.view == View.VERDICT:
        return Outcome([result_reply(ctx, d, cl, edit=edit)])
    if s.view == View.CHANGE_LIST:
        return Outcome([change_reply(ctx, d, cl)])
    if s.view == View.WHY:
        assert s.question is not None
        return Outcome([why_reply(ctx, cl.questions[s.question])])
    return Outcome([report_reply(ctx, d, cl, "md" if s.event.detail == "md" else "docx")])


def _type_hint(ctx: Ctx, q: Question) -> str:
    if q.hint is not None:
        return q.hint.get(ctx.lang)
    if q.is_amount:
        return ctx.t("check.hint_amount")
    key = {"number": "check.hint_number", "int": "check.hint_int", "date": "check.hint_date",
           "text": "check.hint_text", "multi": "check.hint_multi"}.get(q.type)
    if key is None:
        return ""
    return ctx.t(key, unit=q.unit.get(ctx.lang) if q.unit else "")


def _calculator(ctx: Ctx, cl: Checklist, q: Question, answers: dict[str, object]) -> str:
    """The 2 : 1 calculator, when self-raised funds are asked and the request is known."""
    for cond in cl.conditions:
        ratio = cond.rule.ratio
        if ratio is not None and ratio.num == q.fact and answers.get(ratio.den):
            f = inputs.funding(answers[ratio.den], None, ratio.min)
            return ctx.t("check.calc", ratio=fmt_num(ratio.min), den=fmt_money(answers[ratio.den], ctx.lang),  # type: ignore[arg-type]
                         need=fmt_money(f.amount(f.min_required, up=True), ctx.lang))
    return ""


def _progress_line(ctx: Ctx, d: Dialog, cl: Checklist) -> tuple[str, bool]:
    p = progress(d, cl)
    if p.left == 0:
        return ctx.t("check.progress_last", number=p.number), p.first
    return ctx.t("check.progress", number=p.number, left=p.left), p.first


def ask_reply(ctx: Ctx, d: Dialog, cl: Checklist, *, edit: bool = False, prefix: str = "") -> Reply:
    q = current_question(d, cl)
    qi = cl.index(q.fact)
    answers = d.answers_of(cl)
    where, first = _progress_line(ctx, d, cl)
    lines = [f"<b>{esc(cl.title.get(ctx.lang))}</b> · {esc(where)}", "", f"<b>{esc(q.text.get(ctx.lang))}</b>"]
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
        rows.append([Button(("✓ " if current is True else "") + ctx.t("check.yes"), cb(d, "a", qi, 1)),
                     Button(("✓ " if current is False else "") + ctx.t("check.no"), cb(d, "a", qi, 0))])
    elif q.type in ("choice", "text"):
        row: list[Button] = []
        for oi, o in enumerate(q.options):
            row.append(Button(("✓ " if current == o.value else "") + o.label(ctx.lang), cb(d, "a", qi, oi)))
            if len(row) == (1 if q.type == "choice" else 3):
                rows.append(row)
                row = []
        if row:
            rows.append(row)
    elif q.type == "multi":
        for oi, o in enumerate(q.options):
            rows.append([Button(("☑ " if o.value in d.ticked else "☐ ") + o.label(ctx.lang), cb(d, "t", qi, oi))])
        rows.append([Button(ctx.t("check.done_button"), cb(d, "d", qi))])
    elif q.type == "date" and q.nullable is not None:
        rows.append([Button(("✓ " if q.fact in answers and current is None else "") + ctx.t("check.never"),
                            cb(d, "n", qi))])
    nav = [Button(ctx.t("check.skip"), cb(d, "s", qi)), Button(ctx.t("check.why"), cb(d, "w", qi))]
    if not first:
        nav.insert(0, Button(ctx.t("check.back"), cb(d, "b", qi)))
    rows.append(nav)
    rows.append([Button(ctx.t("check.cancel"), cb(d, "x"))])
    typed = q.type in ("number", "int", "date", "text")
    return Reply("\n".join(lines), buttons=rows, edit=edit, typed=typed)


def evaluation(ctx: Ctx, d: Dialog, cl: Checklist) -> Evaluation:
    return evaluate(cl, d.answers_of(cl), today_of(ctx), ctx.lang)


def _clause_label(ctx: Ctx, clauses: list[str]) -> str:
    lab = labels(ctx.lang)
    return " / ".join(lab.get(x, x) for x in clauses)


def result_reply(ctx: Ctx, d: Dialog, cl: Checklist, *, edit: bool = False) -> Reply:
    ev = evaluation(ctx, d, cl)
    counts = ev.counts()
    lines = [ctx.t("check.result_head", title=esc(cl.title.get(ctx.lang)),
                   verdict=esc(VERDICT_WORDS[ctx.lang][ev.verdict])),
             ctx.t("check.result_counts", **{k: counts.get(k, 0) for k in ("pass", "fail", "warn", "unknown")}), ""]
    attention = [c for c in ev.conditions if c.status in ("fail", "warn", "unknown")]
    rest = [c for c in ev.conditions if c.status not in ("fail", "warn", "unknown")]
    if attention:
        lines.append(ctx.t("check.result_attention"))
        for c in attention:
            lines.append(f"{STATUS_MARKS[c.status]} <b>{esc(c.title)}</b>（{esc(_clause_label(ctx, c.clauses))}）")
            lines.append(esc(c.reason))
            if c.fix:
                lines.append(f"→ {ctx.t('check.fix')}：{esc(c.fix)}")
            lines.append(f"<i>“{esc(c.quote)}”</i>")
            lines.append("")
    if rest:
        lines.append(ctx.t("check.result_ok"))
        for c in rest:
            lines.append(f"{STATUS_MARKS[c.status]} {esc(c.title)}（{esc(_clause_label(ctx, c.clauses))}）："
                         f"{esc(c.reason)}")
            lines.append(f"<i>“{esc(c.quote)}”</i>")
        lines.append("")
    lines.append(ctx.t("check.result_note"))
    buttons = [[Button(ctx.t("check.report_docx"), cb(d, "r", "d")), Button(ctx.t("check.report_md"), cb(d, "r", "m"))],
               [Button(ctx.t("check.change"), cb(d, "e"))],
               [Button(ctx.t("check.again"), cb(d, "g"))]]
    return Reply("\n".join(lines).strip(), buttons=buttons, edit=edit)


def pick_reply(ctx: Ctx, d: Dialog, *, edit: bool = False, prefix: str = "") -> Reply:
    rows = [[Button(cl.title.get(ctx.lang), cb(d, "p", i))] for i, cl in enumerate(checklists().values())]
    rows.append([Button(ctx.t("check.cancel"), cb(d, "x"))])
    text = ctx.t("check.pick")
    return Reply(f"{prefix}\n\n{text}" if prefix else text, buttons=rows, edit=edit)


def why_reply(ctx: Ctx, q: Question) -> Reply:
    label = labels(ctx.lang).get(q.why.clause, q.why.clause)
    lines = [ctx.t("check.why_head"), f"{esc(label)}：<i>“{esc(q.why.quote)}”</i>"]
    if q.why.note is not None:
        lines.append(esc(q.why.note.get(ctx.lang)))
    return Reply("\n".join(lines))


def change_reply(ctx: Ctx, d: Dialog, cl: Checklist) -> Reply:
    answers = d.answers_of(cl)
    rows = []
    for q in applicable_questions(cl, answers):
        if q.fact in answers:
            shown = fmt_value(q, answers[q.fact], ctx.lang)
        else:
            shown = ctx.t("check.skipped") if q.fact in d.skipped else ctx.t("check.unanswered")
        label = f"{q.short(ctx.lang)}: {shown}"
        rows.append([Button(label if len(label) <= 48 else label[:47] + "…", cb(d, "e", cl.index(q.fact)))])
    rows.append([Button(ctx.t("check.to_result"), cb(d, "v"))])
    return Reply(ctx.t("check.change_pick"), buttons=rows, edit=True)


def report_input(ctx: Ctx, d: Dialog, cl: Checklist) -> ReportInput:
    name = ctx.msg.first_name or (f"@{ctx.msg.username}" if ctx.msg.username else "")
    applicant = f"{name} (id {ctx.user.id})" if name else f"id {ctx.user.id}"
    return ReportInput(cl, evaluation(ctx, d, cl), today_of(ctx), applicant, ctx.lang, labels(ctx.lang))


def report_reply(ctx: Ctx, d: Dialog, cl: Checklist, kind: str) -> Reply:
    rep = report_input(ctx, d, cl)
    day = rep.today.isoformat()
    caption = ctx.t("check.report_caption", title=esc(cl.title.get(ctx.lang)), date=day)
    if kind == "md":
        doc = Document(f"self-assessment-{cl.id}-{day}.md", render_markdown(rep).encode("utf-8"), caption)
    else:
        doc = Document(f"self-assessment-{cl.id}-{day}.docx", render_docx(rep), caption)
    return Reply(document=doc)


def _problem_text(ctx: Ctx, q: Question, problem: str, text: str) -> str:
    shown, hint = esc(text[:40]), esc(_type_hint(ctx, q))
    if problem == "out_of_range":
        def limit(v: float) -> str:
            return fmt_money(v, ctx.lang) if q.is_amount else fmt_num(v)

        if q.min is not None and q.max is not None:
            allowed = ctx.t("check.range_between", min=limit(q.min), max=limit(q.max))
        elif q.min is not None:
            allowed = ctx.t("check.range_min", min=limit(q.min))
        else:
            allowed = ctx.t("check.range_max", max=limit(q.max or 0))
        return ctx.t("check.out_of_range", text=shown, allowed=esc(allowed))
    return ctx.t(f"check.{problem}", text=shown, hint=hint)


# -- handlers -------------------------------------------------------------------------------------

def _start_new(ctx: Ctx, *, prefix: str = "") -> Outcome:
    d = Dialog.new(_new_id(), ctx.lang)
    save(ctx, d)
    return Outcome([pick_reply(ctx, d, prefix=prefix)])


def cmd_check(ctx: Ctx) -> Outcome:
    arg = ctx.args.strip().lower()
    lists = checklists()
    if arg and arg not in lists:
        return Outcome([Reply(ctx.t("check.unknown_list", name=esc(arg), names=", ".join(lists)))])
    d = load(ctx)
    if arg:
        fresh = Dialog.new(_new_id(), ctx.lang)
        out = run(ctx, fresh, Event(Action.PICK, option=list(lists).index(arg)), edit=False)
        if d is LOST:
            out.replies[0].text = ctx.t("check.lost") + "\n\n" + out.replies[0].text
        return out
    if isinstance(d, Dialog) and d.stage == Stage.ASKING and (cl := _checklist(d)) is not None:
        _keep_lang(ctx, d)
        done, total = answered(d, cl)
        return Outcome([Reply(ctx.t("check.in_progress", title=esc(cl.title.get(ctx.lang)), done=done, total=total),
                              buttons=[[Button(ctx.t("check.resume"), cb(d, "res")),
                                        Button(ctx.t("check.restart"), cb(d, "new"))]])])
    return _start_new(ctx, prefix=ctx.t("check.lost") if d is LOST else "")


def cmd_cancel(ctx: Ctx) -> Outcome:
    d = load(ctx)
    if not isinstance(d, Dialog):
        return Outcome([Reply(ctx.t("check.nothing_to_cancel"), menu=True)])
    _keep_lang(ctx, d)
    return run(ctx, d, Event(Action.CANCEL), edit=False)


def _event(parts: list[str]) -> Event | None:
    """``<code>[:<question>[:<option>]]`` → an event; None for a code no button carries."""
    code, args = parts[0], parts[1:]
    nums = [int(a) for a in args if a.isdigit() and len(a) < 4]
    first = nums[0] if nums else None
    if code == "e":
        return Event(Action.EDIT, question=first) if args else Event(Action.CHANGE)
    if code == "r":
        return Event(Action.REPORT, detail="md" if args[:1] == ["m"] else "docx")
    action = _CODES.get(code)
    if action is None:
        return None
    if action == Action.PICK:
        return Event(action, option=first if first is not None else -1)
    if action in (Action.ANSWER, Action.TOGGLE):
        return Event(action, question=first, option=nums[1] if len(nums) > 1 else -1)
    return Event(action, question=first)


def on_button(ctx: Ctx) -> Outcome:
    parts = (ctx.msg.callback_data or "").split(":")
    d = load(ctx)
    if d is LOST:
        return Outcome([pick_reply(ctx, _fresh(ctx), prefix=ctx.t("check.lost"))], toast=ctx.t("check.ended"))
    if len(parts) < 3 or not isinstance(d, Dialog) or d.id != parts[1]:
        return Outcome(toast=ctx.t("check.ended"))
    _keep_lang(ctx, d)
    ev = _event(parts[2:])
    if ev is None:
        return Outcome(toast=ctx.t("check.moved"))
    return run(ctx, d, ev, edit=parts[2] not in _EDITS and ev.action != Action.WHY)


def _fresh(ctx: Ctx) -> Dialog:
    d = Dialog.new(_new_id(), ctx.lang)
    save(ctx, d)
    return d


def on_text(ctx: Ctx) -> Outcome | None:
    """Typed input while this chat's dialog is under way; None leaves the text to the router (the Q&A)."""
    d = load(ctx)
    if d is LOST:
        return Outcome([pick_reply(ctx, _fresh(ctx), prefix=ctx.t("check.lost"))])
    if not isinstance(d, Dialog) or d.stage == Stage.ENDED:
        return None
    cl = _checklist(d)
    if d.stage != Stage.PICKING and cl is None:
        return None
    text = (ctx.msg.text or "").strip()
    reading = read_text(d, cl, text)
    if d.stage != Stage.ASKING:  # picking or done: only 取消 is for the dialog
        if reading.event is None:
            return None
        _keep_lang(ctx, d)
        return run(ctx, d, reading.event, edit=False)
    assert cl is not None
    if reading.question:  # a question in the middle of a checklist: answer it (in its own language),
        out = ctx.app.router.free_text(ctx)  # then ask ours again (in the dialog's)
        _keep_lang(ctx, d)
        out.replies.append(ask_reply(ctx, d, cl, prefix=ctx.t("check.back_to_check")))
        return out
    _keep_lang(ctx, d)
    if reading.problem is not None:
        q = current_question(d, cl)
        return Outcome([ask_reply(ctx, d, cl, prefix="⚠️ " + _problem_text(ctx, q, reading.problem, text))])
    assert reading.event is not None
    out = run(ctx, d, reading.event, edit=False)
    if out.toast and not out.replies:  # typed text has no button to show a toast on: say it, ask again
        current = load(ctx)
        if isinstance(current, Dialog) and current.stage == Stage.ASKING:
            out = Outcome([ask_reply(ctx, current, cl, prefix=esc(out.toast))])
        else:
            out = Outcome([Reply(esc(out.toast))])
    return out


def on_command(ctx: Ctx) -> None:
    """Another command in the middle of a question (❓ 政策问答, /help …): the next line that is not an
    answer goes to the Q&A rather than being refused."""
    if ctx.command in ("check", "cancel"):
        return
    d = load(ctx)
    if isinstance(d, Dialog) and d.stage == Stage.ASKING and not d.aside:
        d.aside = True
        save(ctx, d)


def register(app: App) -> None:
    loader.bundled()  # validate the checklist files at start: a broken file fails loudly here
    r = app.router
    r.command("check", cmd_check, help_key="check.cmd_help")
    r.command("cancel", cmd_cancel, help_key="check.cmd_cancel")
    r.callback(PREFIX, on_button)
    r.intercept(on_text)
    r.on_command(on_command)
    r.menu_button("menu.check", "check")
