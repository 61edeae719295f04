"""The reminder scheduler: decides what is due, claims each send in the ledger, sends, records.

One pass is :func:`run_once`; the bot calls :func:`reminder_tick` from its job queue and cron calls
``consortium-bot reminders run-once``. Every message is claimed in ``reminder_sends`` (unique per
deadline, recipient and stage) in a committed transaction *before* it is sent, so two processes on
one database never both send it.

Claims live as long as their sender: a pass claims in small batches (``CLAIM_BATCH``) right before
sending them, stamps each claim with a wall-clock lease (``lease_until``, ``reminder_lease_seconds``
ahead) and renews the lease of every claim it still holds, in one statement, every few seconds. A
claim is taken over only when its lease ran out on the wall clock — its owner died — whatever the
``--now`` of the passes: two replicas with ``--now`` minutes apart never send a message twice.

Retries, one policy for the bot and the CLI (the notifier does not retry; the reminder job uses a
Bot without the rate limiter's own retries):

- flood control (429) is never a failed attempt: that chat waits what Telegram asked while the pass
  goes on with other chats, keeping its claim; a wait longer than ``MAX_PASS_WAIT`` is left to a
  later pass (no attempt counted);
- other errors (network, 5xx, a cut connection) release the claim for a later pass with a backoff
  of 1, 2, 4 … minutes (at most 6 h) counted from the pass time; after ``reminder_give_up_hours``
  (default 48) of failures, or at once for a permanent error (bad request), the message is given
  up: its row is ``failed``, and the next pass tells the officers in one grouped alert (who, what,
  why); ``/undelivered`` lists them.

The crash floor: if a process dies after Telegram accepted a message but before it recorded
"sent", that one message (the one in flight) is sent again once the lease has run out — Telegram
has no idempotency key, so at most one doubled message per crash, none lost.
"""

from __future__ import annotations

import asyncio
import logging
import time as _time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

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

CLAIM_BATCH = 20  # claims taken at a time, right before sending them
MAX_PASS_WAIT = 60.0  # longest flood-control wait a pass sits out; longer ones are left to a later pass
DIGEST_LIST_MAX = 15
CONTACT, ALERT, DIGEST, UNREACHABLE = rules.CONTACT_JOB, rules.ALERT_JOB, rules.DIGEST_JOB, "unreachable"

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


def basis_text(row: rr.DeadlineRow, lang: str) -> str:
    """The basis line: the scheme's clause for rule deadlines, a custom deadline's own basis, or nothing."""
    if row.clause:
        return t("deadlines.basis_clause", lang, clause=esc(rules.clause_label(row.clause))) + "\n"
    if row.basis:
        return t("deadlines.basis_text", lang, basis=esc(row.basis)) + "\n"
    return ""


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
             left=left_text(row.due_on, today, lang), basis=basis_text(row, lang), id=row.id)
    return Reply(text, buttons=reminder_buttons(row.id, lang))


def alert_reply(row: rr.DeadlineRow, today: date, lang: str) -> Reply:
    text = t("deadlines.alert_overdue", lang, consortium=esc(row.consortium),
             duty=duty_text(row.kind, row.rule_key, row.title, lang), due=fmt_date(row.due_on, lang),
             left=left_text(row.due_on, today, lang), basis=basis_text(row, lang), id=row.id)
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
        ev.add("description", _plain(basis_text(row, lang)) + t("deadlines.ics_description", lang, id=row.id))
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

Job = rules.Job


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


def plan(db: Database, settings: Settings, now: datetime, officers: Sequence[int],
         wall: datetime | None = None) -> Plan:
    """Read what the pure planner (:func:`checks.deadlines.plan_jobs`) needs — open deadlines in the
    window, their contacts and snoozes — then drop what the send ledger already holds."""
    started = _time.perf_counter()
    policy = rules.Policy.from_settings(settings)
    today = policy.local_date(now)
    p = Plan(now=now, today=today)
    lease_cutoff = now - timedelta(seconds=settings.reminder_lease_seconds)
    if wall is None:
        from storage.clock import utcnow

        wall = utcnow()
    wall_now = wall
    due_by = rules.horizon(today, policy)
    with db.session() as s:
        rows = rr.open_deadlines_due_by(s, due_by)
        contacts = rr.reachable_contacts(s, {r.consortium_id for r in rows})
        snoozes = rr.snoozes(s)
    wanted, used = rules.plan_jobs(rows, contacts, officers, now, policy, snoozes)
    p.rows = {r.id: r for r in rows if r.id in used}
    stages = sorted({j.stage for j in wanted if j.deadline_id})
    ids = sorted({j.deadline_id for j in wanted if j.deadline_id})
    digest_keys = sorted({j.stage for j in wanted if not j.deadline_id})
    with db.session() as s:
        ledger = rr.ledger_keys(s, ids if len(ids) <= 5000 else None, stages, due_by=due_by, now=now,
                                wall=wall_now, lease_cutoff=lease_cutoff)
        if digest_keys:
            ledger.update(rr.ledger_keys(s, [0], digest_keys, now=now, wall=wall_now, lease_cutoff=lease_cutoff))
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
    flood_waits: int = 0  # 429 answers waited out (never a failed attempt)
    given_up_reported: int = 0  # given-up messages told to the officers by this pass
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


class SharedPacer(Pacer):
    """At most ``rate`` sends per second across every process sending with one bot token: each send
    takes the next slot from the database (``send_pace``), so two replicas share Telegram's limit.
    ``clock`` must be comparable across processes (the wall clock, seconds)."""

    def __init__(self, db: Database, key: str, rate: float | None, sleep: Sleep,
                 clock: Callable[[], float] = _time.time) -> None:
        super().__init__(rate, sleep, clock)
        self.db, self.key = db, key

    async def wait(self) -> None:
        if not self.gap:
            return
        now = self.clock()
        with self.db.session() as s:
            slot = rr.take_send_slot(s, self.key, now, self.gap)
        if slot > now:
            await self.sleep(slot - now)


def pace_key(settings: Settings) -> str:
    """Which bot the pace belongs to: the token's bot id (its part before ':'), never the secret."""
    token = settings.token or ""
    return "bot:" + (token.split(":", 1)[0] if token else "console")


def recipient_langs(db: Database, chat_ids: set[int]) -> dict[int, str]:
    """Each chat's language by the one rule (:func:`bot.i18n.user_lang`); Chinese for unknown chats."""
    from bot.i18n import user_lang
    from storage.models import User

    out: dict[int, str] = {}
    ids = list(chat_ids)
    with db.session() as s:
        for i in range(0, len(ids), 900):
            for uid, chosen, code in s.execute(
                select(User.id, User.chosen_lang, User.language_code).where(User.id.in_(ids[i : i + 900]))
            ):
                out[uid] = user_lang(chosen, code)
    return out


async def run_once(
    db: Database, settings: Settings, notifier: Notifier, now: datetime, *, officers: Sequence[int] | None = None,
    send_rate: float | None = None, sleep: Sleep = asyncio.sleep, clock: Callable[[], float] = _time.monotonic,
    wall: Callable[[], datetime] | None = None, batch: int = CLAIM_BATCH,
) -> RunSummary:
    """One pass: plan, then claim in small batches, send (paced), record. Safe to run concurrently.

    ``officers`` defaults to the configured and granted officers; ``send_rate`` (messages/s) to
    ``settings.reminder_send_rate`` (0: unpaced); ``sleep``/``clock`` (monotonic seconds) and ``wall``
    (the wall clock for leases, aware UTC) are injectable for tests.
    """
    if now.tzinfo is None:
        raise ValueError("run_once needs an aware datetime")
    from storage.clock import utcnow

    wall = wall or utcnow
    if officers is None:
        from bot.app import officer_ids

        officers = officer_ids(db, settings)
    officers = list(officers)
    p = await asyncio.to_thread(plan, db, settings, now, officers, wall())
    summary = RunSummary(due=p.due, plan_seconds=p.seconds, skipped=p.done)
    rate = send_rate if send_rate is not None else settings.reminder_send_rate
    pacer: Pacer = (Pacer(rate, sleep, clock) if clock is not _time.monotonic
                    else SharedPacer(db, pace_key(settings), rate, sleep))
    sender = _Sender(db, settings, notifier, p, summary, officers, now, wall, sleep, clock, pacer, batch)
    await sender.run()
    if sender.newly_unreachable:
        summary.unreachable = sorted(sender.newly_unreachable)
        await _tell_officers_unreachable(db, notifier, officers, sender.newly_unreachable, now, p.today,
                                         sender.pacer, summary)
    await _tell_officers_undelivered(db, notifier, officers, now, p.today, sender.pacer, summary)
    return summary


class _Sender:
    """The sending loop of one pass (see the module docstring)."""

    def __init__(self, db: Database, settings: Settings, notifier: Notifier, p: Plan, summary: RunSummary,
                 officers: Sequence[int], now: datetime, wall: Callable[[], datetime], sleep: Sleep,
                 clock: Callable[[], float], pacer: Pacer, batch: int) -> None:
        self.db, self.settings, self.notifier, self.p, self.summary = db, settings, notifier, p, summary
        self.officers, self.now, self.wall, self.sleep, self.clock, self.pacer = officers, now, wall, sleep, clock, pacer
        self.batch = max(1, batch)
        self.token = uuid.uuid4().hex
        self.lease = timedelta(seconds=settings.reminder_lease_seconds)
        self.lease_cutoff = now - self.lease
        self.renew_every = max(1.0, settings.reminder_lease_seconds / 5)
        self.last_renew = clock()
        self.chat_wait: dict[int, float] = {}  # chat → monotonic time its flood wait ends
        self.newly_unreachable: dict[int, list[str]] = {}
        self.langs: dict[int, str] = {}
        self.digest_rows: tuple[list[rr.DeadlineRow], list[rr.DeadlineRow]] | None = None
        self.gap_extras: dict[str, tuple[str, Document | None]] = {}  # lang → knowledge-gaps section and chart
        self.stale = {j.key for j in p.stale}

    async def run(self) -> None:
        pending: deque[Job] = deque([*self.p.new, *self.p.stale])
        waiting: list[tuple[float, Job, int | None]] = []  # (ready at, job, ledger id if claimed)
        while pending or waiting:
            self._renew_if_due()
            t = self.clock()
            ready = [w for w in waiting if w[0] <= t]
            if ready:
                waiting = [w for w in waiting if w[0] > t]
                items = [(job, lid) for _, job, lid in ready]
            elif pending:
                items = [(pending.popleft(), None) for _ in range(min(self.batch, len(pending)))]
            else:
                first = min(w[0] for w in waiting)
                if first - t > MAX_PASS_WAIT:
                    break
                await self._wait(first - t)
                # after the wait, what was due by then is ready (also with a fake sleep)
                waiting = [(min(w[0], t), w[1], w[2]) if w[0] <= first else w for w in waiting]
                for chat in [c for c, until in self.chat_wait.items() if until <= first]:
                    self.chat_wait[chat] = t
                continue
            waiting.extend(await self._send_items(items))
        await asyncio.to_thread(self._release_waiting, waiting)

    async def _wait(self, seconds: float) -> None:
        """Sleep, renewing the leases of the claims held meanwhile."""
        while seconds > 0:
            step = min(seconds, self.renew_every)
            await self.sleep(step)
            seconds -= step
            self._renew_if_due(force=True)

    def _renew_if_due(self, force: bool = False) -> None:
        if force or self.clock() - self.last_renew >= self.renew_every:
            with self.db.session() as s:
                rr.renew(s, self.token, self.wall() + self.lease)
            self.last_renew = self.clock()

    def _claim(self, jobs: Sequence[Job]) -> dict[tuple[int, int, str], int]:
        won: dict[tuple[int, int, str], int] = {}
        if not jobs:
            return won
        until = self.wall() + self.lease
        with self.db.session() as s:  # committed before anything of this batch is sent
            new = [j.key for j in jobs if j.key not in self.stale]
            for d, r, st, lid in rr.claim_new(s, new, self.token, self.now, until):
                won[(d, r, st)] = lid
            for job in jobs:
                if job.key in self.stale:
                    lid2 = rr.reclaim(s, job.key, self.token, self.now, wall=self.wall(),
                                      lease_cutoff=self.lease_cutoff, lease_until=until)
                    if lid2 is not None:
                        won[job.key] = lid2
        self.last_renew = self.clock()
        return won

    async def _send_items(self, items: list[tuple[Job, int | None]]) -> list[tuple[float, Job, int | None]]:
        later: list[tuple[float, Job, int | None]] = []
        t = self.clock()
        to_claim = [job for job, lid in items if lid is None and self.chat_wait.get(job.recipient, 0.0) <= t]
        won = await asyncio.to_thread(self._claim, to_claim)
        need = {job.recipient for job, lid in items if (lid is not None or job.key in won)} - set(self.langs)
        if need:
            self.langs.update(await asyncio.to_thread(recipient_langs, self.db, need))
        for job, lid in items:
            wait_until = self.chat_wait.get(job.recipient, 0.0)
            if lid is None:
                if wait_until > self.clock() and job.key not in won:
                    later.append((wait_until, job, None))  # flood wait: claim when it ends
                    continue
                lid = won.get(job.key)
                if lid is None:
                    self.summary.skipped += 1  # another pass holds it
                    continue
            if wait_until > self.clock():
                later.append((wait_until, job, lid))
                continue
            self._renew_if_due()
            outcome = await self._send_one(job)
            if outcome.status is SendStatus.RETRY and outcome.retry_after is not None:
                # flood control: not a failed attempt; this chat waits, the others go on
                self.summary.flood_waits += 1
                self.chat_wait[job.recipient] = self.clock() + max(0.0, outcome.retry_after)
                later.append((self.chat_wait[job.recipient], job, lid))
                continue
            await asyncio.to_thread(self._record, job, lid, outcome)
        return later

    async def _send_one(self, job: Job) -> Any:
        reply = self._render(job)
        await self.pacer.wait()
        try:
            outcome = await self.notifier.send(job.recipient, reply)
        except Exception as exc:  # a notifier bug must not stop the pass
            log.exception("notifier failed for chat %s", job.recipient)
            from bot.notify import SendOutcome

            return SendOutcome(SendStatus.RETRY, error=f"{type(exc).__name__}: {exc}")
        if job.kind == DIGEST and outcome.status is SendStatus.OK:  # the digest's picture, best effort
            chart = self.gap_extras.get(self.langs.get(job.recipient, "zh"), ("", None))[1]
            if chart is not None:
                await self.pacer.wait()
                try:
                    await self.notifier.send(job.recipient, Reply(chart.caption, document=chart))
                except Exception:  # the ledger counts the digest itself; the chart is extra
                    log.exception("digest chart not sent to chat %s", job.recipient)
        return outcome

    def _render(self, job: Job) -> Reply:
        lang = self.langs.get(job.recipient, "zh")
        if job.kind == DIGEST:
            if self.digest_rows is None:
                today = self.p.today
                with self.db.session() as s:
                    self.digest_rows = (rr.due_between(s, today, today + timedelta(days=rules.DUE_SOON_DAYS)),
                                        rr.overdue(s, today))
            text = digest_text(self.digest_rows[0], self.digest_rows[1], self.p.today, lang)
            if lang not in self.gap_extras:
                self.gap_extras[lang] = gaps_digest(self.db, self.settings, self.now, lang)
            gap_text = self.gap_extras[lang][0]
            return Reply(text + ("\n\n" + gap_text if gap_text else ""))
        if job.kind == ALERT:
            return alert_reply(self.p.rows[job.deadline_id], self.p.today, lang)
        return reminder_reply(self.p.rows[job.deadline_id], self.p.today, lang)

    def _record(self, job: Job, lid: int, outcome: Any) -> None:
        now, token, summary = self.now, self.token, self.summary
        with self.db.session() as s:
            if outcome.status is SendStatus.OK:
                rr.mark(s, lid, token, rr.SENT, now)
                if job.kind == ALERT and outcome.message_id is not None:
                    rr.record_notice(s, job.deadline_id, job.recipient, outcome.message_id, "alert", now)
                summary.sent += 1
                summary.by_stage[job.stage] = summary.by_stage.get(job.stage, 0) + 1
            elif outcome.status is SendStatus.FORBIDDEN:
                rr.mark(s, lid, token, rr.FORBIDDEN, now, outcome.error)
                summary.forbidden += 1
                if job.kind == CONTACT:
                    names = rr.mark_unreachable(s, job.recipient, now)
                    if names:
                        self.newly_unreachable[job.recipient] = names
            elif outcome.status is SendStatus.RETRY:
                attempts, first = rr.failure_state(s, lid)
                give_up = timedelta(hours=self.settings.reminder_give_up_hours)
                if first is not None and now - first >= give_up:
                    rr.mark(s, lid, token, rr.FAILED, now, f"given up after {attempts + 1} attempts: {outcome.error}")
                    summary.failed += 1
                else:
                    rr.mark_retry(s, lid, token, retry_at=now + backoff(attempts), error=outcome.error,
                                  counted=True, now=now)
                    summary.retry_later += 1
            else:  # a permanent error: give up at once (reported to the officers)
                rr.mark(s, lid, token, rr.FAILED, now, outcome.error)
                summary.failed += 1

    def _release_waiting(self, waiting: list[tuple[float, Job, int | None]]) -> None:
        """Claims still waiting on flood control when the pass ends: released for a later pass,
        due when the wait ends; no attempt counted."""
        t = self.clock()
        with self.db.session() as s:
            for ready_at, _job, lid in waiting:
                if lid is None:
                    continue
                retry_at = self.now + timedelta(seconds=max(1.0, ready_at - t))
                rr.mark_retry(s, lid, self.token, retry_at=retry_at, error="flood control (429)", counted=False,
                              now=self.now)
                self.summary.retry_later += 1


def backoff(failed_attempts: int) -> timedelta:
    """1, 2, 4, 8 … minutes after the n-th failure, at most 6 hours."""
    return min(timedelta(minutes=2 ** max(0, failed_attempts)), timedelta(hours=6))


async def _send_simple(notifier: Notifier, chat: int, reply: Reply, pacer: Pacer) -> Any:
    await pacer.wait()
    try:
        return await notifier.send(chat, reply)
    except Exception as exc:
        from bot.notify import SendOutcome

        log.exception("notifier failed for chat %s", chat)
        return SendOutcome(SendStatus.RETRY, error=f"{type(exc).__name__}: {exc}")


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


async def _alert_officers(
    db: Database, notifier: Notifier, officers: Sequence[int], stage: str, render: Callable[[str], Reply],
    now: datetime, pacer: Pacer, summary: RunSummary, count_as: str | None = None,
) -> None:
    """One alert to every officer, exactly once per ``stage`` (a ledger row each), in the officer's language."""
    token = uuid.uuid4().hex
    with db.session() as s:
        won = rr.claim_new(s, [(0, o, stage) for o in officers], token, now)
    langs = recipient_langs(db, {o for _, o, _, _ in won})
    for _, officer, _, ledger_id in won:
        out = await _send_simple(notifier, officer, render(langs.get(officer, "zh")), pacer)
        with db.session() as s:
            rr.mark(s, ledger_id, token, rr.SENT if out.ok else rr.FORBIDDEN, now, out.error)
        if out.ok:
            summary.sent += 1
            if count_as:
                summary.by_stage[count_as] = summary.by_stage.get(count_as, 0) + 1


async def _tell_officers_unreachable(
    db: Database, notifier: Notifier, officers: Sequence[int], unreachable: dict[int, list[str]], now: datetime,
    today: date, pacer: Pacer, summary: RunSummary,
) -> None:
    for chat, names in unreachable.items():
        def render(lang: str, chat: int = chat, names: list[str] = names) -> Reply:
            sep = "、" if lang == "zh" else ", "
            return Reply(t("deadlines.unreachable_alert", lang, chat=chat, names=sep.join(esc(n) for n in names)))

        await _alert_officers(db, notifier, officers, f"unreachable:{chat}:{today.isoformat()}", render, now, pacer,
                              summary, "unreachable")


def undelivered_line(u: rr.Undelivered, lang: str) -> str:
    what = duty_text(u.kind or "", u.rule_key, u.title or "", lang) if u.kind else u.stage.split(":")[0]
    name = f"<b>{esc(u.consortium)}</b> · " if u.consortium else ""
    return t("deadlines.undelivered_line", lang, chat=u.recipient, name=name, what=what, stage=esc(u.stage),
             why=esc((u.error or "?")[:160]))


async def _tell_officers_undelivered(
    db: Database, notifier: Notifier, officers: Sequence[int], now: datetime, today: date, pacer: Pacer,
    summary: RunSummary,
) -> None:
    """One grouped alert to every officer about the messages given up since the last one."""
    with db.session() as s:
        gone = rr.take_unreported_failures(s, now)
    gone = [u for u in gone if not u.stage.startswith(("undelivered:", "unreachable:"))]
    if not gone or not officers:
        return
    summary.given_up_reported = len(gone)

    def render(lang: str) -> Reply:
        lines = [undelivered_line(u, lang) for u in gone[:DIGEST_LIST_MAX]]
        if len(gone) > DIGEST_LIST_MAX:
            lines.append(t("deadlines.digest_more_undelivered", lang, n=len(gone) - DIGEST_LIST_MAX))
        return Reply(t("deadlines.undelivered_alert", lang, n=len(gone)) + "\n" + "\n".join(lines))

    await _alert_officers(db, notifier, officers, f"undelivered:{gone[0].id}:{len(gone)}", render, now, pacer, summary)


async def reminder_tick(app: App, notifier: Notifier, now: datetime) -> RunSummary:
    """What the bot's job queue calls every ``reminder_tick_seconds``."""
    summary = await run_once(app.db, app.settings, notifier, now, officers=app.officer_chat_ids())
    if summary.due:
        log.info("reminder pass: %s", summary.line())
    return summary
