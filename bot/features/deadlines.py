"""The deadlines feature's chat handlers: officer commands, contacts' /mydeadlines, reminder buttons,
registry upload. Buttons all use the ``dl`` prefix: ``dl:<action>:<args>``."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from bot.core import CONTACT, OFFICER, Button, Ctx, Document, Outcome, Reply, esc
from bot.reminders import (
    deadline_line,
    digest_text,
    duty_text,
    fmt_date,
    ics_document,
    officer_buttons,
    reminder_buttons,
)
from checks import deadlines as rules
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
           extra: list[list[Button]] | None = None) -> Reply:
    if not lines:
        return Reply(f"{title}\n{ctx.t('deadlines.none')}", edit=edit)
    pages = _pages(lines)
    page = max(0, min(page, len(pages) - 1))
    text = title + "\n" + "\n".join(pages[page])
    buttons: list[list[Button]] = list(extra or [])
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
        return _paged(ctx, ctx.t("deadlines.due_title", days=days, n=len(rows)), lines, view, page, edit=edit)
    if view == "ovd":
        with ctx.app.db.session() as s:
            rows = rr.overdue(s, today)
            pending = rr.reported_pending(s)
        lines = [deadline_line(r, today, ctx.lang) for r in rows]
        if pending:
            lines.append("")
            lines.append(ctx.t("deadlines.pending_title", n=len(pending)))
            lines.extend(deadline_line(r, today, ctx.lang) for r in pending)
        return _paged(ctx, ctx.t("deadlines.overdue_title", n=len(rows)), lines, view, page, edit=edit)
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
        return _paged(ctx, card, lines, view, page, edit=edit)
    if view == "my":
        return _my(ctx, page, edit)
    return None


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
    parts = [p.strip() for p in ctx.args.split("|")]
    if len(parts) != 3 or not all(parts):
        return Reply(ctx.t("deadlines.add_usage"))
    name, when, title = parts
    from bot.registry_io import parse_date

    try:
        due_on = parse_date(when)
    except (ValueError, OverflowError):
        return Reply(ctx.t("deadlines.bad_date", value=esc(when[:40])))
    with ctx.app.db.session() as s:
        c, refusal = _one_consortium(ctx, s, name)
        if refusal is not None:
            return refusal
        dl = rr.add_custom_deadline(s, c, due_on, title, ctx.user.id, ctx.now)
        text = ctx.t("deadlines.added", id=dl.id, name=esc(c.name), title=esc(title[:300]), due=fmt_date(due_on, ctx.lang))
    return Reply(text)


def _parse_id(ctx: Ctx, raw: str) -> int | None:
    raw = raw.strip().lstrip("#")
    return int(raw) if re.fullmatch(r"\d{1,12}", raw) else None


def _set_status(ctx: Ctx, deadline_id: int, status: str, *, edit: bool = False) -> Outcome:
    today = _today(ctx)
    with ctx.app.db.session() as s:
        dl = rr.get_deadline(s, deadline_id)
        if dl is None:
            return Outcome([Reply(ctx.t("deadlines.no_deadline", id=deadline_id))],
                           toast=ctx.t("deadlines.no_deadline", id=deadline_id)[:190])
        if dl.status is not None:
            msg = ctx.t("deadlines.already", status=ctx.t(f"deadlines.status_{dl.status}"))
            return Outcome([Reply(msg)], toast=msg)
        reporter = dl.reported_by
        rr.set_status(s, deadline_id, status, ctx.user.id, ctx.now)
    with ctx.app.db.session() as s:
        row = rr.deadline_row(s, deadline_id)
    assert row is not None
    key = "deadlines.marked_submitted" if status == rules.SUBMITTED else "deadlines.marked_waived"
    reply = Reply(ctx.t(key, line=deadline_line(row, today, ctx.lang)), edit=edit)
    others: list[tuple[int, Reply]] = []
    if reporter is not None and status == rules.SUBMITTED:
        others.append((reporter, Reply(ctx.t("deadlines.confirmed_note", line=deadline_line(row, today, ctx.lang)))))
    return Outcome([reply], toast=ctx.t(f"deadlines.status_{status}"), others=others)


def _status_command(status: str) -> Callable[[Ctx], Outcome]:
    def handler(ctx: Ctx) -> Outcome:
        deadline_id = _parse_id(ctx, ctx.args)
        if deadline_id is None:
            return Outcome([Reply(ctx.t("deadlines.id_usage", command=ctx.command or "submitted"))])
        return _set_status(ctx, deadline_id, status)

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
    if not rr.is_contact(s, user_id):
        return set()
    rr.mark_reachable(s, user_id)
    return {CONTACT}


# -- buttons -----------------------------------------------------------------------------------

def _may_touch(ctx: Ctx, s: Session, consortium_id: int) -> bool:
    if ctx.has_role(OFFICER):
        return True
    return any(c.id == consortium_id for c in rr.consortia_of_contact(s, ctx.msg.chat_id))


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
            return Outcome(toast=ctx.t("core.not_allowed")[:190])
        reply = _view(ctx, parts[2], int(parts[3]), edit=True)
        return Outcome([reply]) if reply is not None else stale
    deadline_id = _parse_id(ctx, parts[2])
    if deadline_id is None or len(parts) != 3:
        return stale
    if action in ("sub", "wv", "ok", "no"):
        if not ctx.has_role(OFFICER):
            return Outcome(toast=ctx.t("core.not_allowed")[:190])
        if action == "sub" or action == "ok":
            return _set_status(ctx, deadline_id, rules.SUBMITTED)
        if action == "wv":
            return _set_status(ctx, deadline_id, rules.WAIVED)
        return _reject(ctx, deadline_id)
    handlers = {"rep": _report, "snz": _snooze, "ics": _ics}
    handler = handlers.get(action)
    if handler is None:
        return stale
    return handler(ctx, deadline_id)


def _refuse_open_action(ctx: Ctx, s: Session, deadline_id: int, done_key: str | None = None) -> Outcome | None:
    """The toast that refuses a button on a deadline (unknown, not this person's, already closed), or None."""
    dl = rr.get_deadline(s, deadline_id)
    if dl is None:
        return Outcome(toast=ctx.t("deadlines.no_deadline", id=deadline_id)[:190])
    if not _may_touch(ctx, s, dl.consortium_id):
        return Outcome(toast=ctx.t("deadlines.not_yours"))
    if dl.status is not None:
        if done_key is not None:
            return Outcome(toast=ctx.t(done_key))
        return Outcome(toast=ctx.t("deadlines.already", status=ctx.t(f"deadlines.status_{dl.status}")))
    return None


def _report(ctx: Ctx, deadline_id: int) -> Outcome:
    today = _today(ctx)
    with ctx.app.db.session() as s:
        refused = _refuse_open_action(ctx, s, deadline_id)
        if refused is not None:
            return refused
    if ctx.has_role(OFFICER):
        return _set_status(ctx, deadline_id, rules.SUBMITTED)
    with ctx.app.db.session() as s:
        rr.report_submitted(s, deadline_id, ctx.user.id, ctx.now)
        row = rr.deadline_row(s, deadline_id)
    assert row is not None
    who = esc(ctx.msg.first_name or ctx.user.id)
    others = []
    from bot.i18n import t
    from bot.reminders import recipient_langs

    officers = ctx.app.officer_chat_ids()
    langs = recipient_langs(ctx.app.db, set(officers))
    for officer in officers:
        lang = langs.get(officer, "zh")
        text = t("deadlines.reported_note", lang, who=f"{who} ({ctx.user.id})", line=deadline_line(row, today, lang))
        buttons = [[Button(t("deadlines.btn_confirm", lang), f"dl:ok:{deadline_id}"),
                    Button(t("deadlines.btn_reject", lang), f"dl:no:{deadline_id}")]]
        others.append((officer, Reply(text, buttons=buttons)))
    return Outcome([Reply(ctx.t("deadlines.reported_ok", id=deadline_id))], toast=ctx.t("deadlines.reported_toast"),
                   others=others)


def _reject(ctx: Ctx, deadline_id: int) -> Outcome:
    with ctx.app.db.session() as s:
        dl = rr.get_deadline(s, deadline_id)
        if dl is None:
            return Outcome(toast=ctx.t("deadlines.no_deadline", id=deadline_id)[:190])
        reporter = dl.reported_by
        rr.reject_report(s, deadline_id)
    others = []
    if reporter is not None:
        from bot.i18n import t
        from bot.reminders import recipient_langs

        lang = recipient_langs(ctx.app.db, {reporter}).get(reporter, "zh")
        others.append((reporter, Reply(t("deadlines.rejected_note", lang, id=deadline_id),
                                       buttons=reminder_buttons(deadline_id, lang))))
    return Outcome([Reply(ctx.t("deadlines.rejected", id=deadline_id))], others=others)


def _snooze(ctx: Ctx, deadline_id: int) -> Outcome:
    with ctx.app.db.session() as s:
        refused = _refuse_open_action(ctx, s, deadline_id, done_key="deadlines.snooze_done")
        if refused is not None:
            return refused
        rr.snooze(s, deadline_id, ctx.now + timedelta(days=1))
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


# -- registry upload ---------------------------------------------------------------------------

def upload(ctx: Ctx) -> Reply | list[Reply]:
    if not ctx.has_role(OFFICER):
        ctx.app.audit(ctx.user.id, "upload", ctx.msg.document.filename if ctx.msg.document else "", False, ctx.now)
        return Reply(ctx.t("deadlines.import_refused"))
    doc = ctx.msg.document
    if doc is None or not doc.content:  # the adapter passes no content for files over its upload limit
        return Reply(ctx.t("deadlines.import_empty"))
    ctx.app.audit(ctx.user.id, "upload", doc.filename, True, ctx.now)
    from bot.registry_io import RegistryFileError, import_registry

    try:
        summary, errors = import_registry(ctx.app.db, doc.content, doc.filename, ctx.now)
    except RegistryFileError as exc:
        return Reply(ctx.t("deadlines.import_bad_file", error=esc(str(exc))))
    if errors:
        shown = "\n".join(esc(str(e)) for e in errors[:MAX_IMPORT_ERRORS_SHOWN])
        if len(errors) > MAX_IMPORT_ERRORS_SHOWN:
            shown += "\n" + ctx.t("deadlines.import_more", n=len(errors) - MAX_IMPORT_ERRORS_SHOWN)
        from bot.core import split_text

        return [Reply(part) for part in split_text(ctx.t("deadlines.import_errors", n=len(errors), errors=shown))]
    assert summary is not None
    return Reply(ctx.t("deadlines.import_ok", created=len(summary.created), updated=len(summary.updated),
                       unchanged=len(summary.unchanged)))


def register(app: App) -> None:
    r = app.router
    officer = {OFFICER}
    r.command("due", due, roles=officer, help_key="deadlines.cmd_due")
    r.command("overdue", overdue, roles=officer, help_key="deadlines.cmd_overdue")
    r.command("consortium", consortium, roles=officer, help_key="deadlines.cmd_consortium")
    r.command("adddeadline", add_deadline, roles=officer, help_key="deadlines.cmd_adddeadline")
    r.command("submitted", _status_command(rules.SUBMITTED), roles=officer, help_key="deadlines.cmd_submitted")
    r.command("waive", _status_command(rules.WAIVED), roles=officer, help_key="deadlines.cmd_waive")
    r.command("digest", digest, roles=officer, help_key="deadlines.cmd_digest")
    r.command("calendar", calendar, roles=officer, help_key="deadlines.cmd_calendar")
    r.command("mydeadlines", my_deadlines, help_key="deadlines.cmd_mydeadlines")
    r.callback("dl", button)
    r.menu_button("menu.deadlines", "mydeadlines")
    r.document_handler = upload
    app.role_providers.append(contact_roles)
    _ = officer_buttons
