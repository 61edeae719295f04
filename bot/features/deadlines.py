"""The deadlines feature's chat handlers: officer commands, contacts' /mydeadlines, reminder buttons,
registry upload. Buttons all use the ``dl`` prefix: ``dl:<action>:<args>``."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from bot.core import CONTACT, OFFICER, Button, Ctx, Document, Outcome, Reply, esc, refusal
from bot.reminders import (
    deadline_line,
    digest_text,
    duty_text,
    fmt_date,
    ics_document,
    reminder_buttons,
    status_text,
)
from checks import deadlines as rules
from checks.inputs import parse_date
from storage import registry_file
from storage import registry_repo as rr

if TYPE_CHECKING:
    from bot.app import App

PAGE_LINES = 15
PAGE_CHARS = 3500
MAX_DUE_DAYS = 3660
MAX_IMPORT_ERRORS_SHOWN = 30


def _today(ctx: Ctx) -> date:
    return ctx.now.astimezone(ctx.app.settings.tz).date()


# -- paging ------------------------------------------------------------------------------------

def _pages(lines: Sequence[str]) -> list[list[str]]:
    pages: list[list[str]] = [[]]
    size = 0
    for line in lines:
        line = line[:PAGE_CHARS]
        if pages[-1] and (len(pages[-1]) >= PAGE_LINES or size + len(line) + 1 > PAGE_CHARS):
            pages.append([])
            size = 0
        pages[-1].append(line)
        size += len(line) + 1
    return pages


def _paged(ctx: Ctx, title: str, lines: Sequence[str], view: str, page: int, *, edit: bool = False,
           extra: list[list[Button]] | None = None, line_buttons: dict[str, Button] | None = None,
           per_row: int = 3) -> Reply:
    """A page of ``lines`` with ◀ ▶; ``line_buttons`` maps a line to its button, shown with its page."""
    if not lines:
        return Reply(f"{title}\n{ctx.t('deadlines.none')}", edit=edit)
    pages = _pages(lines)
    page = max(0, min(page, len(pages) - 1))
    text = title + "\n" + "\n".join(pages[page])
    buttons: list[list[Button]] = list(extra or [])
    if line_buttons:
        mine = [line_buttons[ln] for ln in pages[page] if ln in line_buttons]
        buttons.extend(mine[i:i + per_row] for i in range(0, len(mine), per_row))
    if len(pages) > 1:
        text += "\n\n" + ctx.t("deadlines.page", page=page + 1, pages=len(pages))
        nav = []
        if page > 0:
            nav.append(Button(ctx.t("deadlines.btn_prev"), f"dl:pg:{view}:{page - 1}"))
        if page + 1 < len(pages):
            nav.append(Button(ctx.t("deadlines.btn_next"), f"dl:pg:{view}:{page + 1}"))
        buttons.append(nav)
    return Reply(text, buttons=buttons, edit=edit)


def _view(ctx: Ctx, view: str, page: int, edit: bool = False) -> Reply | None:
    """Render a list view by name: due<days>, ovd, c<consortium id>, my."""
    today = _today(ctx)
    m = re.fullmatch(r"due(\d{1,4})", view)
    if m:
        days = int(m.group(1))
        with ctx.app.db.session() as s:
            rows = rr.due_between(s, today, today + timedelta(days=days))
        lines = [deadline_line(r, today, ctx.lang) for r in rows]
        return _paged(ctx, ctx.t("deadlines.due_title", days=days, n=len(rows)), lines, view, page, edit=edit,
                      line_buttons=_confirm_buttons(ctx, rows, lines))
    if view == "ovd":
        with ctx.app.db.session() as s:
            rows = rr.overdue(s, today)
            pending = rr.reported_pending(s)
        lines = [deadline_line(r, today, ctx.lang) for r in rows]
        buttons = _confirm_buttons(ctx, rows, lines)
        if pending:
            lines.append("")
            lines.append(ctx.t("deadlines.pending_title", n=len(pending)))
            pending_lines = [deadline_line(r, today, ctx.lang) + " " for r in pending]  # distinct from above
            lines.extend(pending_lines)
            buttons.update(_confirm_buttons(ctx, pending, pending_lines))
        return _paged(ctx, ctx.t("deadlines.overdue_title", n=len(rows)), lines, view, page, edit=edit,
                      line_buttons=buttons)
    m = re.fullmatch(r"c(\d{1,12})", view)
    if m:
        with ctx.app.db.session() as s:
            from storage.registry_models import Consortium

            c = s.get(Consortium, int(m.group(1)))
            if c is None:
                return None
            card = _card(ctx, s, c)
            rows = rr.deadlines_of(s, [c.id])
        lines = [deadline_line(r, today, ctx.lang, with_name=False) for r in rows]
        buttons = {}
        for r, ln in zip(rows, lines, strict=True):
            if r.status == rules.HISTORY:
                buttons[ln] = Button(ctx.t("deadlines.btn_reopen", id=r.id), f"dl:ro:{r.id}")
            elif r.status is None:
                buttons[ln] = Button(ctx.t("deadlines.btn_list_confirm", id=r.id), f"dl:ls:{r.id}")
        if any(r.status == rules.HISTORY for r in rows):
            lines.append("")
            lines.append(ctx.t("deadlines.history_title"))
        return _paged(ctx, card, lines, view, page, edit=edit, line_buttons=buttons)
    if view == "my":
        return _my(ctx, page, edit)
    if view == "cs":
        return _consortia_view(ctx, page, edit)
    return None


def _confirm_buttons(ctx: Ctx, rows: Sequence[rr.DeadlineRow], lines: Sequence[str]) -> dict[str, Button]:
    """A 「✅ #id」 button (mark submitted, the list stays) for each listed deadline."""
    return {ln: Button(ctx.t("deadlines.btn_list_confirm", id=r.id), f"dl:ls:{r.id}")
            for r, ln in zip(rows, lines, strict=True)}


CONSORTIA_PAGE = 10


def _consortia_view(ctx: Ctx, page: int, edit: bool = False) -> Reply:
    """/consortia [word]: every consortium (or those whose name, lead unit or field has the word), paged,
    with a button to open each."""
    state = ctx.get_state("dl_cs") or {}
    word = str(state.get("q") or "")
    today = _today(ctx)
    with ctx.app.db.session() as s:
        found = rr.list_consortia(s, word)
        counts = rr.open_counts(s, [c[0] for c in found], today)
    title = ctx.t("deadlines.consortia_title", n=len(found)) if not word else \
        ctx.t("deadlines.consortia_search_title", n=len(found), word=esc(word))
    if not found:
        return Reply(f"{title}\n{ctx.t('deadlines.none')}", edit=edit)
    pages = max(1, -(-len(found) // CONSORTIA_PAGE))
    page = max(0, min(page, pages - 1))
    chunk = found[page * CONSORTIA_PAGE:(page + 1) * CONSORTIA_PAGE]
    lines = []
    for i, (cid, name, lead, ends) in enumerate(chunk, start=page * CONSORTIA_PAGE + 1):
        overdue_n, open_n = counts.get(cid, (0, 0))
        lines.append(ctx.t("deadlines.consortia_line", i=i, name=esc(name), lead=esc(lead), ends=ends.isoformat(),
                           open=open_n, overdue=overdue_n))
    text = title + "\n" + "\n".join(lines)
    buttons = [[Button(f"{i}. {name[:20]}", f"dl:open:{cid}") for i, (cid, name, _, _) in
                list(enumerate(chunk, start=page * CONSORTIA_PAGE + 1))[j:j + 2]] for j in range(0, len(chunk), 2)]
    if pages > 1:
        text += "\n\n" + ctx.t("deadlines.page", page=page + 1, pages=pages)
        nav = []
        if page > 0:
            nav.append(Button(ctx.t("deadlines.btn_prev"), f"dl:pg:cs:{page - 1}"))
        if page + 1 < pages:
            nav.append(Button(ctx.t("deadlines.btn_next"), f"dl:pg:cs:{page + 1}"))
        buttons.append(nav)
    return Reply(text, buttons=buttons, edit=edit)


def consortia(ctx: Ctx) -> Reply:
    word = ctx.args.strip()[:50]
    ctx.set_state("dl_cs", {"q": word} if word else None)
    return _consortia_view(ctx, 0)


def _card(ctx: Ctx, s: Session, c: object) -> str:
    from storage.registry_models import Consortium

    assert isinstance(c, Consortium)
    contacts = ", ".join(
        f"{ct.chat_id}{ctx.t('deadlines.unreachable_mark') if ct.unreachable else ''}" for ct in c.contacts
    ) or "—"
    route = ctx.t(f"deadlines.route_{c.route}") if c.route in rules.ROUTES else esc(c.route)
    return ctx.t("deadlines.consortium_card", name=esc(c.name), lead=esc(c.lead_unit), field=esc(c.industry_field or "—"),
                 route=route, rec=esc(c.recommending_unit or "—"), approved=c.approved_on.isoformat(),
                 ends=c.ends_on.isoformat(), contacts=contacts)


# -- officer commands --------------------------------------------------------------------------

def due(ctx: Ctx) -> Reply:
    arg = ctx.args.strip()
    days = 30
    if arg:
        if not re.fullmatch(r"\d{1,4}", arg) or not 1 <= int(arg) <= MAX_DUE_DAYS:
            return Reply(ctx.t("deadlines.bad_days"))
        days = int(arg)
    reply = _view(ctx, f"due{days}", 0)
    assert reply is not None
    return reply


def overdue(ctx: Ctx) -> Reply:
    reply = _view(ctx, "ovd", 0)
    assert reply is not None
    return reply


def _one_consortium(ctx: Ctx, s: Session, name: str) -> tuple[Any, Reply | None]:
    """The one consortium ``name`` finds, or the reply saying none or several matched."""
    found = rr.find_consortia(s, name)
    if len(found) == 1:
        return found[0], None
    if not found:
        return None, Reply(ctx.t("deadlines.no_consortium", name=esc(name[:100])))
    names = "\n".join(f"• {esc(c.name)}" for c in found)
    return None, Reply(ctx.t("deadlines.many_consortia", name=esc(name[:100]), names=names))


def consortium(ctx: Ctx) -> Reply:
    name = ctx.args.strip()
    if not name:
        return Reply(ctx.t("deadlines.need_name"))
    with ctx.app.db.session() as s:
        c, refusal = _one_consortium(ctx, s, name)
        if refusal is not None:
            return refusal
        cid = c.id
    reply = _view(ctx, f"c{cid}", 0)
    assert reply is not None
    return reply


def add_deadline(ctx: Ctx) -> Reply:
    """/adddeadline NAME | DATE | TITLE [| BASIS] — a custom deadline with its own basis text (or none).
    A date before today is refused unless the officer confirms it as history (a button)."""
    parts = [p.strip() for p in ctx.args.split("|")]
    if len(parts) not in (3, 4) or not all(parts[:3]):
        return ctx.usage(Reply(ctx.t("deadlines.add_usage")))
    name, when, title = parts[:3]
    basis = parts[3] if len(parts) == 4 else ""
    try:
        due_on = parse_date(when)
    except (ValueError, OverflowError):
        return ctx.usage(Reply(ctx.t("deadlines.bad_date", value=esc(when[:40]))))
    today = _today(ctx)
    if not today.year - 10 <= due_on.year <= today.year + 10:
        return ctx.usage(Reply(ctx.t("deadlines.date_out_of_range", value=due_on.isoformat())))
    with ctx.app.db.session() as s:
        c, refusal = _one_consortium(ctx, s, name)
        if refusal is not None:
            ctx.result = "usage"
            return refusal
        if due_on < today:
            ctx.set_state("dl_add", {"c": c.id, "due": due_on.isoformat(), "title": title[:300], "basis": basis[:300]})
            ctx.result = "usage"
            return Reply(ctx.t("deadlines.past_date", due=fmt_date(due_on, ctx.lang), name=esc(c.name)),
                         buttons=[[Button(ctx.t("deadlines.btn_add_history"), "dl:addh:0")]])
        dl = rr.add_custom_deadline(s, c, due_on, title, ctx.user.id, ctx.now, basis=basis)
        text = ctx.t("deadlines.added", id=dl.id, name=esc(c.name), title=esc(title[:300]), due=fmt_date(due_on, ctx.lang))
    return Reply(text)


def _add_history(ctx: Ctx) -> Outcome:
    """The officer confirmed a past custom deadline as history (recorded, never reminded)."""
    pending = ctx.get_state("dl_add")
    if not pending:
        return Outcome(toast=ctx.t("core.stale_button"))
    ctx.set_state("dl_add", None)
    from storage.registry_models import Consortium

    with ctx.app.db.session() as s:
        c = s.get(Consortium, int(pending["c"]))
        if c is None:
            return Outcome([Reply(ctx.t("deadlines.consortium_gone"))])
        due_on = date.fromisoformat(pending["due"])
        dl = rr.add_custom_deadline(s, c, due_on, pending["title"], ctx.user.id, ctx.now, basis=pending["basis"],
                                    status=rules.HISTORY)
        text = ctx.t("deadlines.added_history", id=dl.id, name=esc(c.name), title=esc(pending["title"]),
                     due=fmt_date(due_on, ctx.lang))
    return Outcome([Reply(text, edit=True)])


def _parse_id(ctx: Ctx, raw: str) -> int | None:
    raw = raw.strip().lstrip("#")
    return int(raw) if re.fullmatch(r"\d{1,12}", raw) else None


def _state_word(ctx: Ctx, row: rr.DeadlineRow, lang: str | None = None) -> str:
    return status_text(row, _today(ctx), lang or ctx.lang)


def _who(ctx: Ctx) -> str:
    name = ctx.msg.first_name or ""
    return esc(f"{name} ({ctx.user.id})" if name else str(ctx.user.id))


_DONE_KEYS = {rules.CONFIRM: "deadlines.marked_submitted", rules.WAIVE: "deadlines.marked_waived",
              rules.RETURN: "deadlines.rejected_line", rules.REOPEN: "deadlines.reopened"}
_EDIT_KEYS = {rules.CONFIRM: "deadlines.settled_confirmed", rules.WAIVE: "deadlines.settled_waived",
              rules.RETURN: "deadlines.settled_returned", rules.REOPEN: "deadlines.settled_reopened"}


def act(ctx: Ctx, deadline_id: int, action: str, *, edit: bool = False) -> Outcome:
    """An officer's action on a deadline (confirm / return / waive / reopen), by command or button.

    Idempotent: pressing again, or a second officer pressing the same, changes nothing and says so.
    When it changes the state, the other officers' copies of the notifications about this deadline
    are edited to say who did what (without buttons), and confirmations and returns go to every
    contact of the consortium.
    """
    from bot.i18n import t
    from bot.reminders import recipient_langs

    today = _today(ctx)
    try:
        with ctx.app.db.session() as s:
            res = rr.apply_action(s, deadline_id, action, ctx.user.id, ctx.now)
            notices = rr.take_notices(s, deadline_id) if res is not None and res.transition.changed else []
            contacts = rr.contacts_of(s, res.consortium_id) if res is not None else []
    except rules.TransitionError as exc:
        with ctx.app.db.session() as s:
            row = rr.deadline_row(s, deadline_id)
        assert row is not None
        ctx.result = "refused"
        key = "deadlines.not_history" if exc.reason == "not_history" else "deadlines.cannot"
        msg = ctx.t(key, id=deadline_id, status=_state_word(ctx, row))
        return Outcome([Reply(msg)], toast=msg[:190])
    if res is None:
        ctx.result = "refused"
        msg = ctx.t("deadlines.no_deadline", id=deadline_id)
        return Outcome([Reply(msg)], toast=msg[:190])
    with ctx.app.db.session() as s:
        row = rr.deadline_row(s, deadline_id)
    assert row is not None
    if not res.transition.changed:
        msg = ctx.t("deadlines.already", status=_state_word(ctx, row))
        return Outcome([Reply(msg, edit=edit)], toast=msg[:190])
    reply = Reply(ctx.t(_DONE_KEYS[action], line=deadline_line(row, today, ctx.lang), id=deadline_id), edit=edit)
    out = Outcome([reply], toast=ctx.t(f"deadlines.status_{rules.stored(res.transition.after) or 'open'}")
                  if res.transition.after != rules.OPEN else None)
    langs = recipient_langs(ctx.app.db, {c for c, _ in notices} | set(contacts))
    for chat, message_id in notices:
        if edit and chat == ctx.msg.chat_id and message_id == ctx.msg.message_id:
            continue  # the pressed message itself is replaced by the reply
        lang = langs.get(chat, "zh")
        out.edits.append((chat, message_id, Reply(t(_EDIT_KEYS[action], lang, who=_who(ctx),
                                                     line=deadline_line(row, today, lang)))))
    if action in (rules.CONFIRM, rules.RETURN, rules.WAIVE):
        note_key = {rules.CONFIRM: "deadlines.confirmed_note", rules.RETURN: "deadlines.rejected_note",
                    rules.WAIVE: "deadlines.waived_note"}[action]
        for chat in contacts:
            lang = langs.get(chat, "zh")
            buttons = reminder_buttons(deadline_id, lang) if action == rules.RETURN else []
            out.others.append((chat, Reply(t(note_key, lang, id=deadline_id, line=deadline_line(row, today, lang)),
                                           buttons=buttons)))
    return out


def _status_command(action: str) -> Callable[[Ctx], Outcome]:
    def handler(ctx: Ctx) -> Outcome:
        deadline_id = _parse_id(ctx, ctx.args)
        if deadline_id is None:
            ctx.result = "usage"
            return Outcome([Reply(ctx.t("deadlines.id_usage", command=ctx.command or "submitted"))])
        return act(ctx, deadline_id, action)

    return handler


def digest(ctx: Ctx) -> list[Reply]:
    today = _today(ctx)
    with ctx.app.db.session() as s:
        soon = rr.due_between(s, today, today + timedelta(days=rules.DUE_SOON_DAYS))
        late = rr.overdue(s, today)
        empty = rr.count_consortia(s) == 0
    text = digest_text(soon, late, today, ctx.lang)
    if empty:
        text += "\n\n" + ctx.t("deadlines.digest_empty_note")
    from bot.reminders import gaps_digest

    gap_text, chart = gaps_digest(ctx.app.db, ctx.app.settings, ctx.now, ctx.lang)
    replies = [Reply(text + ("\n\n" + gap_text if gap_text else ""))]
    if chart is not None:
        replies.append(Reply(chart.caption, document=chart))
    return replies


def undelivered(ctx: Ctx) -> Reply:
    """/undelivered: reminders given up as undeliverable (who, what, why), newest first."""
    from bot.reminders import undelivered_line

    with ctx.app.db.session() as s:
        rows = rr.undelivered(s, 30)
    if not rows:
        return Reply(ctx.t("deadlines.undelivered_title", n=0) + "\n" + ctx.t("deadlines.none"))
    return Reply(ctx.t("deadlines.undelivered_title", n=len(rows)) + "\n"
                 + "\n".join(undelivered_line(u, ctx.lang) for u in rows))


def calendar(ctx: Ctx) -> Reply:
    name = ctx.args.strip()
    with ctx.app.db.session() as s:
        if name:
            c, refusal = _one_consortium(ctx, s, name)
            if refusal is not None:
                return refusal
            rows = rr.deadlines_of(s, [c.id])
            filename = f"deadlines-{c.id}.ics"
        else:
            rows = [r for r in rr.all_deadline_rows(s) if r.status is None]
            filename = "deadlines.ics"
    if not rows:
        return Reply(ctx.t("deadlines.calendar_none"))
    doc = ics_document(rows, ctx.lang, ctx.now, filename)
    return Reply(doc.caption, document=doc)


# -- contacts ----------------------------------------------------------------------------------

def _my(ctx: Ctx, page: int = 0, edit: bool = False) -> Reply:
    today = _today(ctx)
    with ctx.app.db.session() as s:
        cons = rr.consortia_of_contact(s, ctx.msg.chat_id)
        rows = rr.deadlines_of(s, [c.id for c in cons])
    if not cons:
        return Reply(ctx.t("deadlines.not_contact", id=ctx.msg.chat_id), edit=edit)
    lines: list[str] = []
    for c in cons:
        lines.append(ctx.t("deadlines.my_title", name=esc(c.name)))
        lines.extend("• " + deadline_line(r, today, ctx.lang, with_name=False) for r in rows if r.consortium_id == c.id)
    open_rows = [r for r in rows if r.status is None and r.reported_by is None]
    nearest = sorted(open_rows, key=lambda r: r.due_on)[:3]
    extra = [[Button(f"{ctx.t('deadlines.btn_submitted')} #{r.id}", f"dl:rep:{r.id}"),
              Button(f"📅 #{r.id}", f"dl:ics:{r.id}")] for r in nearest]
    return _paged(ctx, "📅", lines, "my", page, edit=edit, extra=extra)


def my_deadlines(ctx: Ctx) -> Reply:
    return _my(ctx)


def contact_roles(s: Session, user_id: int) -> set[str]:
    """CONTACT for registered consortium contacts. It runs for every incoming message, so a contact
    flagged unreachable (it had blocked the bot) that writes again is made reachable here."""
    flagged = rr.contact_flagged(s, user_id)
    if flagged is None:
        return set()
    if flagged:  # the UPDATE only then: for every other message of a contact, one read
        rr.mark_reachable(s, user_id)
    return {CONTACT}


# -- buttons -----------------------------------------------------------------------------------

def _may_touch(ctx: Ctx, s: Session, consortium_id: int) -> bool:
    if ctx.has_role(OFFICER):
        return True
    return any(c.id == consortium_id for c in rr.consortia_of_contact(s, ctx.msg.chat_id))


_OFFICER_BUTTONS = {"sub": rules.CONFIRM, "ok": rules.CONFIRM, "wv": rules.WAIVE, "no": rules.RETURN,
                    "ro": rules.REOPEN, "ls": rules.CONFIRM}
_LIST_BUTTONS = ("ro", "ls")  # pressed under a list: the list stays, the result comes as a new message


def button(ctx: Ctx) -> Outcome:
    parts = (ctx.msg.callback_data or "").split(":")
    stale = Outcome(toast=ctx.t("core.stale_button"))
    if len(parts) < 3:
        return stale
    action = parts[1]
    if action == "pg":
        if len(parts) != 4 or not parts[3].isdigit():
            return stale
        if parts[2] != "my" and not ctx.has_role(OFFICER):
            return Outcome(toast=refusal(ctx, {OFFICER})[:190])
        reply = _view(ctx, parts[2], int(parts[3]), edit=True)
        return Outcome([reply]) if reply is not None else stale
    if action in ("cs", "open"):
        return _consortia_button(ctx, parts)
    if action == "addh":
        if not ctx.has_role(OFFICER):
            ctx.app.audit(ctx.user.id, "button", "dl:addh", False, ctx.now, result="refused")
            return Outcome(toast=refusal(ctx, {OFFICER})[:190])
        out = _add_history(ctx)
        ctx.app.audit(ctx.user.id, "button", "dl:addh", True, ctx.now, result="done" if out.replies else "usage")
        return out
    deadline_id = _parse_id(ctx, parts[2])
    if deadline_id is None or len(parts) != 3:
        return stale
    if action in _OFFICER_BUTTONS:
        data = ctx.msg.callback_data or ""
        if not ctx.has_role(OFFICER):
            ctx.app.audit(ctx.user.id, "button", data, False, ctx.now, result="refused")
            return Outcome(toast=refusal(ctx, {OFFICER})[:190])
        out = act(ctx, deadline_id, _OFFICER_BUTTONS[action], edit=action not in _LIST_BUTTONS)
        ctx.app.audit(ctx.user.id, "button", data, ctx.result != "refused", ctx.now, result=ctx.result)
        return out
    handlers = {"rep": _report, "snz": _snooze, "ics": _ics}
    handler = handlers.get(action)
    if handler is None:
        return stale
    return handler(ctx, deadline_id)


def _refuse_open_action(ctx: Ctx, s: Session, deadline_id: int, done_key: str | None = None) -> Outcome | None:
    """The toast that refuses a button on a deadline (unknown, not this person's, already closed) —
    a stale button answers with the deadline's current state — or None."""
    row = rr.deadline_row(s, deadline_id)
    if row is None:
        return Outcome(toast=ctx.t("deadlines.no_deadline", id=deadline_id)[:190])
    if not _may_touch(ctx, s, row.consortium_id):
        return Outcome(toast=ctx.t("deadlines.not_yours"))
    if row.status is not None:
        if done_key is not None:
            return Outcome(toast=ctx.t(done_key))
        return Outcome(toast=ctx.t("deadlines.already", status=_state_word(ctx, row))[:190])
    return None


def _report(ctx: Ctx, deadline_id: int) -> Outcome:
    """A contact says it is submitted: the officers get a copy each with confirm / return buttons."""
    today = _today(ctx)
    with ctx.app.db.session() as s:
        refused = _refuse_open_action(ctx, s, deadline_id)
        if refused is not None:
            return refused
    if ctx.has_role(OFFICER):
        return act(ctx, deadline_id, rules.CONFIRM)
    try:
        with ctx.app.db.session() as s:
            res = rr.apply_action(s, deadline_id, rules.REPORT, ctx.user.id, ctx.now)
            row = rr.deadline_row(s, deadline_id)
    except rules.TransitionError:
        return Outcome(toast=ctx.t("deadlines.snooze_done"))
    assert res is not None and row is not None
    if not res.transition.changed:  # pressed again: the officers were told already
        return Outcome([Reply(ctx.t("deadlines.reported_already", id=deadline_id))],
                       toast=ctx.t("deadlines.reported_toast"))
    from bot.i18n import t
    from bot.reminders import recipient_langs

    others = []
    officers = ctx.app.officer_chat_ids()
    langs = recipient_langs(ctx.app.db, set(officers))
    for officer in officers:
        lang = langs.get(officer, "zh")
        text = t("deadlines.reported_note", lang, who=_who(ctx), line=deadline_line(row, today, lang))
        buttons = [[Button(t("deadlines.btn_confirm", lang), f"dl:ok:{deadline_id}"),
                    Button(t("deadlines.btn_reject", lang), f"dl:no:{deadline_id}")]]
        others.append((officer, Reply(text, buttons=buttons, notice=(deadline_id, "report"))))
    return Outcome([Reply(ctx.t("deadlines.reported_ok", id=deadline_id))], toast=ctx.t("deadlines.reported_toast"),
                   others=others)


def _snooze(ctx: Ctx, deadline_id: int) -> Outcome:
    """This contact's reminders of this deadline pause for a day; other contacts' do not move."""
    with ctx.app.db.session() as s:
        refused = _refuse_open_action(ctx, s, deadline_id, done_key="deadlines.snooze_done")
        if refused is not None:
            return refused
        rr.snooze(s, deadline_id, ctx.msg.chat_id, ctx.now + timedelta(days=1))
    return Outcome(toast=ctx.t("deadlines.snoozed"))


def _ics(ctx: Ctx, deadline_id: int) -> Outcome:
    with ctx.app.db.session() as s:
        row = rr.deadline_row(s, deadline_id)
        if row is None:
            return Outcome(toast=ctx.t("deadlines.no_deadline", id=deadline_id)[:190])
        if not _may_touch(ctx, s, row.consortium_id):
            return Outcome(toast=ctx.t("deadlines.not_yours"))
    doc = ics_document([row], ctx.lang, ctx.now, f"deadline-{row.id}.ics")
    caption = f"{esc(row.consortium)}：{duty_text(row.kind, row.rule_key, row.title, ctx.lang)} — {row.due_on.isoformat()}"
    return Outcome([Reply(caption, document=Document(doc.filename, doc.content, caption=caption))])


def _consortia_button(ctx: Ctx, parts: list[str]) -> Outcome:
    """dl:open:<consortium id>: the consortium's card, as /consortium shows it."""
    if not ctx.has_role(OFFICER):
        return Outcome(toast=refusal(ctx, {OFFICER})[:190])
    cid = _parse_id(ctx, parts[2]) if len(parts) == 3 else None
    reply = _view(ctx, f"c{cid}", 0) if cid is not None else None
    if reply is None:
        return Outcome(toast=ctx.t("deadlines.consortium_gone")[:190])
    return Outcome([reply])


def record_notice(app: App, chat_id: int, message_id: int, reply: Reply) -> None:
    """An officer's copy of a notification went out: remember it, to edit it once someone acts."""
    if reply.notice is None:
        return
    deadline_id, kind = reply.notice
    from storage.clock import utcnow

    with app.db.session() as s:
        rr.record_notice(s, deadline_id, chat_id, message_id, kind, utcnow())


# -- registry upload ---------------------------------------------------------------------------

def upload(ctx: Ctx) -> Reply | list[Reply]:
    if not ctx.has_role(OFFICER):
        ctx.app.audit(ctx.user.id, "upload", ctx.msg.document.filename if ctx.msg.document else "", False, ctx.now,
                      result="refused")
        return Reply(ctx.t("deadlines.import_refused"))
    doc = ctx.msg.document
    if doc is None or not doc.content:  # the adapter passes no content for files over its upload limit
        ctx.app.audit(ctx.user.id, "upload", doc.filename if doc else "", True, ctx.now, result="usage")
        return Reply(ctx.t("deadlines.import_empty", limit=round(ctx.app.settings.registry_max_bytes / 1024 / 1024, 1)))
    try:
        summary, errors = registry_file.import_registry(ctx.app.db, doc.content, doc.filename, ctx.now,
                                                        today=_today(ctx), limits=ctx.app.settings.registry_limits())
    except registry_file.RegistryFileError as exc:
        ctx.app.audit(ctx.user.id, "upload", doc.filename, True, ctx.now, result="usage")
        return Reply(ctx.t("deadlines.import_bad_file", error=esc(exc.text(ctx.lang))))
    if errors:
        ctx.app.audit(ctx.user.id, "upload", doc.filename, True, ctx.now, result="usage")
        shown = "\n".join(esc(e.text(ctx.lang)) for e in errors[:MAX_IMPORT_ERRORS_SHOWN])
        if len(errors) > MAX_IMPORT_ERRORS_SHOWN:
            shown += "\n" + ctx.t("deadlines.import_more", n=len(errors) - MAX_IMPORT_ERRORS_SHOWN)
        from bot.core import split_text

        return [Reply(part) for part in split_text(ctx.t("deadlines.import_errors", n=len(errors), errors=shown))]
    assert summary is not None
    ctx.app.audit(ctx.user.id, "upload", doc.filename, True, ctx.now, result="done")
    return Reply(import_summary_text(summary, ctx.lang))


def import_summary_text(summary: rr.ImportSummary, lang: str) -> str:
    from bot.i18n import t

    history = t("deadlines.import_history", lang, n=summary.history) if summary.history else ""
    if summary.done:
        history += t("deadlines.import_done", lang, n=summary.done)
    return t("deadlines.import_ok", lang, created=len(summary.created), updated=len(summary.updated),
             unchanged=len(summary.unchanged), history=history)


def register(app: App) -> None:
    r = app.router
    officer = {OFFICER}
    r.command("due", due, roles=officer, help_key="deadlines.cmd_due")
    r.command("overdue", overdue, roles=officer, help_key="deadlines.cmd_overdue")
    r.command("consortia", consortia, roles=officer, help_key="deadlines.cmd_consortia")
    r.command("consortium", consortium, roles=officer, help_key="deadlines.cmd_consortium")
    r.command("adddeadline", add_deadline, roles=officer, help_key="deadlines.cmd_adddeadline")
    r.command("submitted", _status_command(rules.CONFIRM), roles=officer, help_key="deadlines.cmd_submitted")
    r.command("waive", _status_command(rules.WAIVE), roles=officer, help_key="deadlines.cmd_waive")
    r.command("reopen", _status_command(rules.REOPEN), roles=officer, help_key="deadlines.cmd_reopen")
    r.command("digest", digest, roles=officer, help_key="deadlines.cmd_digest")
    r.command("calendar", calendar, roles=officer, help_key="deadlines.cmd_calendar")
    r.command("undelivered", undelivered, roles=officer, help_key="deadlines.cmd_undelivered")
    r.command("mydeadlines", my_deadlines, help_key="deadlines.cmd_mydeadlines")
    r.callback("dl", button)
    r.menu_button("menu.deadlines", "mydeadlines")
    r.document_handler = upload
    app.role_providers.append(contact_roles)
    app.sent_hooks.append(lambda chat, message, reply: record_notice(app, chat, message, reply))
