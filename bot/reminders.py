"""The reminder scheduler: decides what is due, claims each send in the ledger, sends, records.

One pass is :func:`run_once`; the bot calls :func:`reminder_tick` from its job queue and cron calls
``consortium-bot reminders run-once``. Every message is claimed in ``reminder_sends`` (unique per
deadline, recipient and stage) in a committed transaction *before* it is sent, so two processes on
one database never both send it. A claim not marked sent within ``reminder_lease_seconds`` (the
process died between claim and send) is taken over by a later pass.

The remaining double-send window: if a process dies after Telegram accepted a message but before
it recorded "sent", the claim's lease expires and a later pass sends that message again
(at-least-once on that path only; the window is the few milliseconds between the Bot API answer
and the ledger update).
"""

from __future__ import annotations

import asyncio
import logging
import time as _time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import select

from bot.core import Button, Document, Reply, esc
from bot.i18n import t
from bot.notify import Notifier, SendStatus
from checks import deadlines as rules
from storage import registry_repo as rr

if TYPE_CHECKING:
    from bot.app import App
    from bot.config import Settings
    from storage.db import Database

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5  # per ledger row, over all passes
IN_PASS_TRIES = 3  # tries of one message within a pass before leaving it for a later pass
DIGEST_LIST_MAX = 15
CONTACT, ALERT, DIGEST, UNREACHABLE = "contact", "alert", "digest", "unreachable"

Sleep = Callable[[float], Awaitable[None]]


# -- formatting shared with the chat feature ---------------------------------------------------

WEEKDAYS = {"zh": "一二三四五六日", "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")}


def fmt_date(d: date, lang: str) -> str:
    wd = WEEKDAYS["zh" if lang == "zh" else "en"][d.weekday()]
    return f"{d.isoformat()}（周{wd}）" if lang == "zh" else f"{d.isoformat()} ({wd})"


def duty_text(kind: str, rule_key: str | None, title: str, lang: str) -> str:
    if kind == rules.ANNUAL and rule_key:
        return t("deadlines.duty_annual", lang, year=rule_key.split(":", 1)[1])
    if kind == rules.END_OF_TERM:
        return t("deadlines.duty_end", lang)
    return esc(title) or t("deadlines.duty_custom", lang)


def left_text(due: date, today: date, lang: str) -> str:
    n = rules.days_left(due, today)
    if n > 0:
        return t("deadlines.left_days", lang, n=n)
    if n == 0:
        return t("deadlines.left_today", lang)
    return t("deadlines.left_overdue", lang, n=-n)


def status_text(row: rr.DeadlineRow, today: date, lang: str) -> str:
    st = rules.deadline_status(row.due_on, row.status, today)
    text = t(f"deadlines.status_{st}", lang)
    if row.status is None and row.reported_by is not None:
        text += " · " + t("deadlines.status_reported", lang)
    return text


def deadline_line(row: rr.DeadlineRow, today: date, lang: str, *, with_name: bool = True) -> str:
    name = f"<b>{esc(row.consortium)}</b> · " if with_name else ""
    return (f"#{row.id} {name}{duty_text(row.kind, row.rule_key, row.title, lang)} — {row.due_on.isoformat()}"
            f" · {status_text(row, today, lang)}")


def reminder_buttons(deadline_id: int, lang: str) -> list[list[Button]]:
    return [[Button(t("deadlines.btn_submitted", lang), f"dl:rep:{deadline_id}"),
             Button(t("deadlines.btn_snooze", lang), f"dl:snz:{deadline_id}")],
            [Button(t("deadlines.btn_calendar", lang), f"dl:ics:{deadline_id}")]]


def officer_buttons(deadline_id: int, lang: str) -> list[list[Button]]:
    return [[Button(t("deadlines.btn_mark_submitted", lang), f"dl:sub:{deadline_id}"),
             Button(t("deadlines.btn_waive", lang), f"dl:wv:{deadline_id}")]]


def reminder_reply(row: rr.DeadlineRow, today: date, lang: str) -> Reply:
    text = t("deadlines.reminder", lang, consortium=esc(row.consortium),
             duty=duty_text(row.kind, row.rule_key, row.title, lang), due=fmt_date(row.due_on, lang),
             left=left_text(row.due_on, today, lang), clause=esc(rules.clause_label(row.clause)), id=row.id)
    return Reply(text, buttons=reminder_buttons(row.id, lang))


def alert_reply(row: rr.DeadlineRow, today: date, lang: str) -> Reply:
    text = t("deadlines.alert_overdue", lang, consortium=esc(row.consortium),
             duty=duty_text(row.kind, row.rule_key, row.title, lang), due=fmt_date(row.due_on, lang),
             left=left_text(row.due_on, today, lang), clause=esc(rules.clause_label(row.clause)), id=row.id)
    return Reply(text, buttons=officer_buttons(row.id, lang))


def digest_text(soon: Sequence[rr.DeadlineRow], late: Sequence[rr.DeadlineRow], today: date, lang: str) -> str:
    lines = [t("deadlines.digest_title", lang, date=fmt_date(today, lang))]
    for title_key, rows in (("deadlines.digest_soon", soon), ("deadlines.digest_overdue", late)):
        lines.append("")
        lines.append(t(title_key, lang, n=len(rows)))
        for row in rows[:DIGEST_LIST_MAX]:
            lines.append("• " + deadline_line(row, today, lang))
        if len(rows) > DIGEST_LIST_MAX:
            lines.append(t("deadlines.digest_more", lang, n=len(rows) - DIGEST_LIST_MAX))
    return "\n".join(lines)


def calendar_ics(rows: Sequence[rr.DeadlineRow], lang: str, now: datetime) -> bytes:
    """An iCalendar file with one all-day event per deadline (and a reminder a week before)."""
    from icalendar import Alarm, Calendar, Event

    cal = Calendar()
    cal.add("prodid", "-//consortium-bot//deadlines//ZH")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", t("deadlines.ics_calname", lang))
    for row in rows:
        ev = Event()
        ev.add("uid", f"deadline-{row.id}@consortium-bot")
        ev.add("dtstamp", now)
        ev.add("dtstart", row.due_on)
        ev.add("dtend", row.due_on + timedelta(days=1))
        duty = _plain(duty_text(row.kind, row.rule_key, row.title, lang))
        ev.add("summary", f"{row.consortium}：{duty}" if lang == "zh" else f"{row.consortium}: {duty}")
        ev.add("description", t("deadlines.ics_description", lang, clause=rules.clause_label(row.clause), id=row.id))
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", duty)
        alarm.add("trigger", timedelta(days=-7))
        ev.add_component(alarm)
        cal.add_component(ev)
    return bytes(cal.to_ical())


def _plain(text: str) -> str:
    from bot.notify import html_to_plain

    return html_to_plain(text)


def ics_document(rows: Sequence[rr.DeadlineRow], lang: str, now: datetime, filename: str = "deadlines.ics") -> Document:
    return Document(filename, calendar_ics(rows, lang, now), caption=t("deadlines.ics_caption", lang, n=len(rows)))


# -- planning ----------------------------------------------------------------------------------

class Job(NamedTuple):
    deadline_id: int  # 0 for digest / unreachable
    recipient: int
    stage: str
    kind: str  # contact | alert | digest | unreachable

    @property
    def key(self) -> tuple[int, int, str]:
        return (self.deadline_id, self.recipient, self.stage)


@dataclass
class Plan:
    now: datetime
    today: date
    new: list[Job] = field(default_factory=list)  # never claimed
    stale: list[Job] = field(default_factory=list)  # claimed by a process that died, or a due retry
    done: int = 0  # already sent / in flight elsewhere / given up
    rows: dict[int, rr.DeadlineRow] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def due(self) -> int:
        return len(self.new) + len(self.stale)


def officer_ids(db: Database, settings: Settings) -> list[int]:
    from storage import repo

    with db.session() as s:
        granted = set(repo.role_holders(s, "officer")) | set(repo.role_holders(s, "admin"))
    return sorted(set(settings.officer_chat_ids) | set(settings.admin_chat_ids) | granted)


def plan(db: Database, settings: Settings, now: datetime, officers: Sequence[int]) -> Plan:
    """Decide what is due at ``now``: three reads (open deadlines in the window, their contacts, the
    ledger), the rest in memory."""
    started = _time.perf_counter()
    policy = rules.Policy.from_settings(settings)
    today = policy.local_date(now)
    p = Plan(now=now, today=today)
    lease_cutoff = now - timedelta(seconds=settings.reminder_lease_seconds)
    digest = rules.digest_stage(now, policy)
    due_by = rules.horizon(today, policy)
    with db.session() as s:
        rows = rr.open_deadlines_due_by(s, due_by)
        contacts = rr.reachable_contacts(s, {r.consortium_id for r in rows})
    wanted: list[Job] = []
    # many deadlines share a due date (every annual report is due 12-31): compute each stage once
    contact_stages: dict[date, rules.Stage | None] = {}
    alert_stages: dict[date, rules.Stage | None] = {}
    for row in rows:
        if row.reported_by is None and row.snoozed_until is None:
            if row.due_on not in contact_stages:
                contact_stages[row.due_on] = rules.contact_stage(row.due_on, now, policy)
            st = contact_stages[row.due_on]
        else:
            st = rules.contact_stage(row.due_on, now, policy, status=row.status,
                                     reported=row.reported_by is not None, snoozed_until=row.snoozed_until)
        if row.due_on not in alert_stages:
            alert_stages[row.due_on] = rules.officer_alert_stage(row.due_on, now, policy)
        al = alert_stages[row.due_on]
        if st is not None:
            key = st.key
            wanted.extend(Job(row.id, chat, key, CONTACT) for chat in contacts.get(row.consortium_id, ()))
        if al is not None:
            wanted.extend(Job(row.id, o, al.key, ALERT) for o in officers)
        if st is not None or al is not None:
            p.rows[row.id] = row
    wanted.extend(Job(0, o, digest.key, DIGEST) for o in officers)
    stages = sorted({j.stage for j in wanted if j.deadline_id})
    ids = sorted({j.deadline_id for j in wanted if j.deadline_id})
    with db.session() as s:
        ledger = rr.ledger_keys(s, ids if len(ids) <= 5000 else None, stages, due_by=due_by, now=now,
                                lease_cutoff=lease_cutoff, max_attempts=MAX_ATTEMPTS)
        ledger.update(rr.ledger_keys(s, [0], [digest.key], now=now, lease_cutoff=lease_cutoff,
                                     max_attempts=MAX_ATTEMPTS))
    for job in wanted:
        may = ledger.get((job.deadline_id, job.recipient, job.stage))
        if may is None:
            p.new.append(job)
        elif may:
            p.stale.append(job)
        else:
            p.done += 1
    p.seconds = _time.perf_counter() - started
    return p


# -- sending -----------------------------------------------------------------------------------

@dataclass
class RunSummary:
    due: int = 0
    sent: int = 0
    failed: int = 0
    forbidden: int = 0
    retry_later: int = 0
    skipped: int = 0  # already handled, or claimed by another process
    unreachable: list[int] = field(default_factory=list)
    plan_seconds: float = 0.0
    by_stage: dict[str, int] = field(default_factory=dict)

    def line(self) -> str:
        return (f"due {self.due}, sent {self.sent}, failed {self.failed}, forbidden {self.forbidden}, "
                f"retry later {self.retry_later}, skipped {self.skipped}")


class Pacer:
    """At most ``rate`` sends per second (a fixed gap between send starts)."""

    def __init__(self, rate: float | None, sleep: Sleep, clock: Callable[[], float] = _time.monotonic) -> None:
        self.gap = 1.0 / rate if rate else 0.0
        self.sleep = sleep
        self.clock = clock
        self.next_at = 0.0

    async def wait(self) -> None:
        if not self.gap:
            return
        now = self.clock()
        if self.next_at > now:
            await self.sleep(self.next_at - now)
            now = self.next_at
        self.next_at = now + self.gap


def recipient_langs(db: Database, chat_ids: set[int]) -> dict[int, str]:
    """Each chat's language: chosen with /lang, else its Telegram client's, else Chinese."""
    from storage.models import User

    out: dict[int, str] = {}
    ids = list(chat_ids)
    with db.session() as s:
        for i in range(0, len(ids), 900):
            for uid, chosen, code in s.execute(
                select(User.id, User.chosen_lang, User.language_code).where(User.id.in_(ids[i : i + 900]))
            ):
                out[uid] = chosen or ("en" if (code or "").lower().startswith("en") else "zh")
    return out


async def run_once(
    db: Database, settings: Settings, notifier: Notifier, now: datetime, *, officers: Sequence[int] | None = None,
    send_rate: float | None = None, sleep: Sleep = asyncio.sleep, clock: Callable[[], float] = _time.monotonic,
) -> RunSummary:
    """One pass: plan, claim, send (paced, with bounded retries), record. Safe to run concurrently.

    ``officers`` defaults to the configured and granted officers; ``send_rate`` (messages/s) to
    ``settings.reminder_send_rate`` (0: unpaced); ``sleep``/``clock`` are injectable for tests.
    """
    if now.tzinfo is None:
        raise ValueError("run_once needs an aware datetime")
    officers = list(officers) if officers is not None else officer_ids(db, settings)
    p = await asyncio.to_thread(plan, db, settings, now, officers)
    summary = RunSummary(due=p.due, plan_seconds=p.seconds, skipped=p.done)
    token = uuid.uuid4().hex
    lease_cutoff = now - timedelta(seconds=settings.reminder_lease_seconds)
    claimed: list[tuple[Job, int]] = []
    with db.session() as s:  # claims are committed before anything is sent
        by_key = {j.key: j for j in p.new}
        for d, r, st, ledger_id in rr.claim_new(s, [j.key for j in p.new], token, now):
            claimed.append((by_key[(d, r, st)], ledger_id))
        for job in p.stale:
            again = rr.reclaim(s, job.key, token, now, lease_cutoff, MAX_ATTEMPTS)
            if again is not None:
                claimed.append((job, again))
    summary.skipped += p.due - len(claimed)
    if not claimed:
        return summary
    langs = recipient_langs(db, {j.recipient for j, _ in claimed})
    digest_rows: tuple[list[rr.DeadlineRow], list[rr.DeadlineRow]] | None = None
    if any(j.kind == DIGEST for j, _ in claimed):
        with db.session() as s:
            digest_rows = (rr.due_between(s, p.today, p.today + timedelta(days=rules.DUE_SOON_DAYS)),
                           rr.overdue(s, p.today))
    pacer = Pacer(send_rate if send_rate is not None else settings.reminder_send_rate, sleep, clock)
    gap_extras: dict[str, tuple[str, Document | None]] = {}
    newly_unreachable: dict[int, list[str]] = {}
    for job, ledger_id in claimed:
        lang = langs.get(job.recipient, "zh")
        chart = None
        if job.kind == DIGEST:
            assert digest_rows is not None
            text = digest_text(digest_rows[0], digest_rows[1], p.today, lang)
            if lang not in gap_extras:
                gap_extras[lang] = gaps_digest(db, settings, now, lang)
            gap_text, chart = gap_extras[lang]
            reply = Reply(text + ("\n\n" + gap_text if gap_text else ""))
        elif job.kind == ALERT:
            reply = alert_reply(p.rows[job.deadline_id], p.today, lang)
        else:
            reply = reminder_reply(p.rows[job.deadline_id], p.today, lang)
        status = await _deliver(notifier, job.recipient, reply, pacer, sleep)
        if chart is not None and status.status is SendStatus.OK:  # the digest's picture, best effort
            await _deliver(notifier, job.recipient, Reply(chart.caption, document=chart), pacer, sleep)
        with db.session() as s:
            if status.status is SendStatus.OK:
                rr.mark(s, ledger_id, token, rr.SENT, now)
                summary.sent += 1
                summary.by_stage[job.stage] = summary.by_stage.get(job.stage, 0) + 1
            elif status.status is SendStatus.FORBIDDEN:
                rr.mark(s, ledger_id, token, rr.FORBIDDEN, now, status.error)
                summary.forbidden += 1
                if job.kind == CONTACT:
                    names = rr.mark_unreachable(s, job.recipient, now)
                    if names:
                        newly_unreachable[job.recipient] = names
            elif status.status is SendStatus.RETRY:
                rr.mark(s, ledger_id, token, rr.RETRY, now, status.error,
                        retry_at=now + timedelta(seconds=max(60.0, status.retry_after or 0.0)))
                summary.retry_later += 1
            else:
                rr.mark(s, ledger_id, token, rr.FAILED, now, status.error)
                summary.failed += 1
    if newly_unreachable:
        summary.unreachable = sorted(newly_unreachable)
        await _tell_officers_unreachable(db, notifier, officers, newly_unreachable, now, p.today, pacer, sleep, summary)
    return summary


def gaps_digest(db: Database, settings: Settings, now: datetime, lang: str) -> tuple[str, Document | None]:
    """The weekly digest's knowledge-gaps section and chart; ("", None) when they cannot be made."""
    try:
        from bot.gaps import GapService
        from bot.gaps_report import digest_extra

        svc = GapService(db, backend=settings.embedding_backend, model=settings.embedding_model)
        return digest_extra(svc, now, settings.tz, lang)
    except Exception:  # the deadline digest goes out even when the gaps part fails
        log.exception("knowledge-gaps section of the digest failed")
        return "", None


async def _deliver(notifier: Notifier, chat_id: int, reply: Reply, pacer: Pacer, sleep: Sleep) -> Any:
    """Send with bounded retries: RetryAfter waits what Telegram asked, network errors back off 1, 2, 4 s."""
    outcome = None
    for attempt in range(IN_PASS_TRIES):
        await pacer.wait()
        try:
            outcome = await notifier.send(chat_id, reply)
        except Exception as exc:  # a notifier bug must not stop the pass
            log.exception("notifier failed for chat %s", chat_id)
            from bot.notify import SendOutcome

            outcome = SendOutcome(SendStatus.RETRY, error=f"{type(exc).__name__}: {exc}")
        if outcome.status is not SendStatus.RETRY:
            return outcome
        if attempt + 1 < IN_PASS_TRIES:
            await sleep(min(30.0, outcome.retry_after if outcome.retry_after is not None else 2.0**attempt))
    return outcome


async def _tell_officers_unreachable(
    db: Database, notifier: Notifier, officers: Sequence[int], unreachable: dict[int, list[str]], now: datetime,
    today: date, pacer: Pacer, sleep: Sleep, summary: RunSummary,
) -> None:
    token = uuid.uuid4().hex
    for chat, names in unreachable.items():
        stage = f"unreachable:{chat}:{today.isoformat()}"
        with db.session() as s:
            won = rr.claim_new(s, [(0, o, stage) for o in officers], token, now)
        langs = recipient_langs(db, {o for _, o, _, _ in won})
        for _, officer, _, ledger_id in won:
            lang = langs.get(officer, "zh")
            reply = Reply(t("deadlines.unreachable_alert", lang, chat=chat,
                            names="、".join(esc(n) for n in names) if lang == "zh" else ", ".join(esc(n) for n in names)))
            out = await _deliver(notifier, officer, reply, pacer, sleep)
            with db.session() as s:
                rr.mark(s, ledger_id, token, rr.SENT if out.ok else rr.FAILED, now, out.error)
            if out.ok:
                summary.sent += 1
                summary.by_stage["unreachable"] = summary.by_stage.get("unreachable", 0) + 1


async def reminder_tick(app: App, notifier: Notifier, now: datetime) -> RunSummary:
    """What the bot's job queue calls every ``reminder_tick_seconds``."""
    summary = await run_once(app.db, app.settings, notifier, now, officers=app.officer_chat_ids())
    if summary.due:
        log.info("reminder pass: %s", summary.line())
    return summary
