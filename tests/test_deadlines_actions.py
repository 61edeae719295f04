"""One status state machine; idempotent officer actions; copies edited; per-contact snooze; custom
deadlines' basis and past dates; the send window and the digest weekday; audit outcomes."""

from __future__ import annotations

import threading
from datetime import date

import pytest

from bot.app import App
from bot.core import Incoming, Outcome
from bot.notify import RecordingNotifier
from bot.reminders import run_once
from checks import deadlines as d
from storage import registry_repo as rr
from storage import repo
from tests.deadlines_helpers import deadline_id, record, seed, sent_ledger, utc

NOW = utc(2026, 12, 24, 2)  # Thursday 10:00 in Kunming
A, B = 1001, 1002  # two contacts of one consortium


def say(app: App, chat: int, text: str) -> Outcome:
    return app.handle(Incoming(chat_id=chat, user_id=chat, text=text, language_code="zh-hans",
                               first_name=f"U{chat}"), NOW)


def press(app: App, chat: int, data: str, message_id: int = 50) -> Outcome:
    return app.handle(Incoming(chat_id=chat, user_id=chat, callback_data=data, kind="callback",
                               message_id=message_id, first_name=f"U{chat}"), NOW)


def text_of(out: Outcome) -> str:
    return "\n".join(r.text for r in out.replies)


def setup(app: App) -> int:
    seed(app.db, record("滇中新材料创新联合体", date(2026, 3, 1), date(2028, 6, 30), (A, B)), now=utc(2026, 3, 1))
    return deadline_id(app.db, "滇中新材料创新联合体", "annual:2026")


@pytest.mark.parametrize(("state", "action", "after"), [
    ("open", "report", "reported"), ("reported", "report", "reported"), ("open", "confirm", "submitted"),
    ("reported", "confirm", "submitted"), ("history", "confirm", "submitted"), ("submitted", "confirm", "submitted"),
    ("reported", "return", "open"), ("open", "return", "open"), ("open", "waive", "waived"),
    ("history", "waive", "waived"), ("waived", "waive", "waived"), ("history", "reopen", "open"),
])
def test_state_machine_transitions(state: str, action: str, after: str) -> None:
    tr = d.transition(state, action)
    assert tr.after == after and tr.changed == (state != after)


@pytest.mark.parametrize(("state", "action", "reason"), [
    ("open", "reopen", "not_history"), ("submitted", "reopen", "not_history"), ("submitted", "return", "closed"),
    ("waived", "confirm", "closed"), ("submitted", "waive", "closed"), ("history", "report", "closed"),
    ("submitted", "report", "closed"), ("open", "fly", "bad_action"),
])
def test_state_machine_refusals(state: str, action: str, reason: str) -> None:
    with pytest.raises(d.TransitionError) as exc:
        d.transition(state, action)
    assert exc.value.reason == reason


def test_report_confirm_edits_other_officers_copies_and_tells_every_contact(app: App) -> None:
    dl = setup(app)
    out = press(app, A, f"dl:rep:{dl}")
    officers = app.officer_chat_ids()
    assert sorted(c for c, _ in out.others) == officers == [900, 901]
    for i, (chat, reply) in enumerate(out.others):  # what the adapter does once each copy is delivered
        assert reply.notice == (dl, "report")
        app.after_send(chat, 700 + i, reply)
    again = press(app, A, f"dl:rep:{dl}")  # a repeat press does not notify the officers again
    assert not again.others and "无需再按" in text_of(again)
    # officer 901 confirms from its copy: 900's copy is edited (no buttons), every contact told
    out = press(app, 901, f"dl:ok:{dl}", message_id=701)
    assert "已标记为已报送" in text_of(out) and out.replies[0].edit
    assert [(c, m) for c, m, _ in out.edits] == [(900, 700)]
    assert "U901 (901) 已确认报送" in out.edits[0][2].text and not out.edits[0][2].buttons
    assert sorted(c for c, _ in out.others) == [A, B]
    # 900's stale button answers with the state now and changes nothing
    stale = press(app, 900, f"dl:no:{dl}", message_id=700)
    assert "已报送" in (stale.toast or "") and not stale.others and not stale.edits
    with app.db.session() as s:
        row = rr.deadline_row(s, dl)
        assert row is not None and row.status == "submitted" and row.status_by == 901
    same = press(app, 900, f"dl:ok:{dl}", message_id=700)  # idempotent: nothing new
    assert "已是" in (same.toast or "") and not same.others


def test_return_goes_to_every_contact_with_the_reminder_buttons(app: App) -> None:
    dl = setup(app)
    press(app, B, f"dl:rep:{dl}")
    out = say(app, 901, f"/submitted {dl}")  # the command works as the button
    assert sorted(c for c, _ in out.others) == [A, B]
    dl2 = deadline_id(app.db, "滇中新材料创新联合体", "annual:2027")
    with app.db.session() as s:
        rr.apply_action(s, dl2, "report", A, NOW)
    out = press(app, 900, f"dl:no:{dl2}")
    assert sorted(c for c, _ in out.others) == [A, B]
    assert all(f"dl:rep:{dl2}" in [b.data for row in r.buttons for b in row] for _, r in out.others)


def test_two_officers_at_the_same_instant(app: App) -> None:
    dl = setup(app)
    results: list[Outcome] = []
    threads = [threading.Thread(target=lambda o=o: results.append(press(app, o, f"dl:ok:{dl}"))) for o in (900, 901)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    contacts_told = [r for r in results if r.others]
    assert len(contacts_told) == 1  # one changed the state; the other was told it is already done


def test_an_action_on_a_deleted_consortium(app: App) -> None:
    dl = setup(app)
    with app.db.session() as s:
        s.delete(rr.get_consortium(s, "滇中新材料创新联合体"))
    out = press(app, 901, f"dl:ok:{dl}")
    assert "没有编号为" in (out.toast or "")
    assert "没有编号为" in text_of(say(app, 901, f"/waive {dl}"))


async def test_snooze_is_one_contacts(app: App) -> None:
    dl = setup(app)
    assert press(app, A, f"dl:snz:{dl}").toast == "好的，明天此时再提醒您。"
    rec = RecordingNotifier()
    await run_once(app.db, app.settings, rec, utc(2026, 12, 24, 3), officers=[], send_rate=0)  # 11:00
    assert [c for c, _ in rec.sent] == [B]  # A's reminder waits for its snooze, B's does not move
    await run_once(app.db, app.settings, rec, utc(2026, 12, 25, 2, 1), officers=[], send_rate=0)
    assert [(x[1], x[2].split(":")[0]) for x in sent_ledger(app.db) if x[0] == dl] == [(B, "before"), (A, "snooze")]


def test_custom_deadline_basis_and_past_dates(app: App) -> None:
    setup(app)
    out = say(app, 901, "/adddeadline 滇中新材料 | 2027-03-31 | 中期评估材料 | 省科技厅通知（2026）12号")
    assert "已添加" in text_of(out)
    out = say(app, 901, "/adddeadline 滇中新材料 | 2020-03-31 | 旧材料")
    assert "已经过去，未添加" in text_of(out)
    assert [b.data for r in out.replies for row in r.buttons for b in row] == ["dl:addh:0"]
    out = press(app, 901, "dl:addh:0")
    assert "已记为历史" in text_of(out)
    assert press(app, 901, "dl:addh:0").toast  # a second press: nothing pending
    with app.db.session() as s:
        rows = {r.title: r for r in rr.all_deadline_rows(s) if r.kind == "custom"}
    assert rows["旧材料"].status == "history" and rows["中期评估材料"].clause == ""
    from bot.reminders import reminder_reply

    text = reminder_reply(rows["中期评估材料"], date(2027, 3, 24), "zh").text
    assert "依据：省科技厅通知（2026）12号" in text and "八、（三）" not in text
    no_basis = say(app, 901, "/adddeadline 滇中新材料 | 2027-05-31 | 补充材料")
    assert "已添加" in text_of(no_basis)
    with app.db.session() as s:
        row = next(r for r in rr.all_deadline_rows(s) if r.title == "补充材料")
    assert "依据" not in reminder_reply(row, date(2027, 5, 24), "zh").text
    assert "不在合理范围" in text_of(say(app, 901, "/adddeadline 滇中新材料 | 2090-05-31 | 远期"))


async def test_catch_up_waits_for_the_send_hour_and_the_digest_for_its_weekday(app: App) -> None:
    setup(app)
    rec = RecordingNotifier()
    late = await run_once(app.db, app.settings, rec, utc(2026, 12, 24, 12, 29), officers=[901], send_rate=0)
    assert late.sent == 0  # 20:29 in Kunming after downtime: nothing until the next send hour
    early = await run_once(app.db, app.settings, rec, utc(2026, 12, 25, 0, 59), officers=[901], send_rate=0)
    assert early.sent == 0
    on_time = await run_once(app.db, app.settings, rec, utc(2026, 12, 25, 1, 0), officers=[901], send_rate=0)
    assert on_time.sent == 2 and not [r for c, r in rec.sent if c == 901]  # Friday: no digest
    monday = await run_once(app.db, app.settings, rec, utc(2026, 12, 28, 1, 5), officers=[901], send_rate=0)
    assert [c for c, r in rec.sent if "每周截止日期汇总" in r.text] == [901] and monday.sent >= 1


def test_audit_records_outcomes(app: App) -> None:
    setup(app)
    say(app, 900, "/grant abc")
    say(app, 900, "/grant 777")
    say(app, A, "/grant 777")
    say(app, A, "/due")
    press(app, A, "dl:sub:1")
    with app.db.session() as s:
        entries = [(e.user_id, e.command, e.args, e.allowed) for e in repo.audit_entries(s, 50)]
    assert (900, "/grant", "abc [usage]", True) in entries
    assert (900, "/grant", "777 [done]", True) in entries
    assert (A, "/grant", "777 [refused]", False) in entries
    assert (A, "/due", "[refused]", False) in entries
    assert (A, "button", "dl:sub:1 [refused]", False) in entries


def test_refusals_name_who_may(app: App) -> None:
    setup(app)
    assert "仅限管理员" in text_of(say(app, 901, "/grant 5"))
    assert "/mydeadlines" in text_of(say(app, A, "/due"))
    assert "仅限省科技厅工作人员" in text_of(say(app, 5555, "/due"))
