"""Officer commands, contacts' /mydeadlines, reminder buttons and the registry upload, through app.handle."""

from __future__ import annotations

from datetime import date, timedelta

from bot.app import App
from bot.core import Document, Incoming, Outcome
from bot.notify import RecordingNotifier
from bot.reminders import run_once
from checks.deadlines import SUBMITTED
from storage import registry_repo as rr
from tests.deadlines_helpers import csv_bytes, deadline_id, record, seed, utc

NOW = utc(2026, 12, 24, 2)  # 10:00 in Kunming
OFFICER, CONTACT, STRANGER = 901, 1001, 5555


def say(app: App, chat: int, text: str) -> Outcome:
    return app.handle(Incoming(chat_id=chat, user_id=chat, text=text, language_code="zh-hans"), NOW)


def press(app: App, chat: int, data: str) -> Outcome:
    return app.handle(Incoming(chat_id=chat, user_id=chat, callback_data=data, kind="callback"), NOW)


def upload(app: App, chat: int, name: str, content: bytes) -> Outcome:
    return app.handle(Incoming(chat_id=chat, user_id=chat, document=Document(name, content), kind="document"), NOW)


def text_of(out: Outcome) -> str:
    return "\n".join(r.text for r in out.replies)


def setup_registry(app: App) -> None:
    """Imported on 2024-12-01, before any deadline fell due: none is history."""
    seed(app.db, record("滇中新材料创新联合体", date(2026, 3, 1), date(2028, 6, 30), (CONTACT,)),
         record("绿色铝创新联合体", date(2024, 12, 20), date(2029, 12, 20), (1003,), route="bottom_up"),
         now=utc(2024, 12, 1))


def test_officer_commands_are_refused_to_others(app: App) -> None:
    setup_registry(app)
    for cmd in ("/due", "/overdue", "/consortium 绿色铝", "/adddeadline a | 2027-01-01 | b", "/submitted 1",
                "/waive 1", "/digest", "/calendar"):
        out = say(app, STRANGER, cmd)
        assert "仅限省科技厅工作人员" in text_of(out), cmd
    out = upload(app, STRANGER, "reg.csv", csv_bytes("x,y,z,top_down,,2025-01-01,2028-01-01,1"))
    assert "只有省科技厅工作人员可以上传" in text_of(out)
    with app.db.session() as s:
        assert rr.count_consortia(s) == 2  # unchanged


def test_due_overdue_consortium_and_status(app: App) -> None:
    setup_registry(app)
    out = say(app, OFFICER, "/due 30")
    assert "滇中新材料创新联合体" in text_of(out) and "2026-12-31" in text_of(out)
    assert "绿色铝创新联合体" in text_of(out)
    out = say(app, OFFICER, "/due abc")
    assert "用法" in text_of(out)
    out = say(app, OFFICER, "/overdue")
    assert "2025年度总结" in text_of(out) and "绿色铝" in text_of(out)
    out = say(app, OFFICER, "/consortium 绿色铝")
    assert "自下而上" in text_of(out) and "绿色铝创新联合体牵头单位" in text_of(out)
    assert "2029-12-20" in text_of(out)
    assert "没有找到" in text_of(say(app, OFFICER, "/consortium 不存在的联合体"))
    assert "多个" in text_of(say(app, OFFICER, "/consortium 创新联合体"))
    dl = deadline_id(app.db, "绿色铝创新联合体", "annual:2025")
    out = say(app, OFFICER, f"/submitted {dl}")
    assert "已标记为已报送" in text_of(out)
    assert "已是" in text_of(say(app, OFFICER, f"/submitted {dl}"))
    out = say(app, OFFICER, "/submitted 99999")
    assert "没有编号为 #99999 的截止日期" in text_of(out)
    assert "用法" in text_of(say(app, OFFICER, "/submitted"))
    assert "用法" in text_of(say(app, OFFICER, "/waive abc"))
    assert "已豁免" in text_of(say(app, OFFICER, f"/waive {deadline_id(app.db, '绿色铝创新联合体', 'annual:2024')}"))


def test_adddeadline(app: App) -> None:
    setup_registry(app)
    out = say(app, OFFICER, "/adddeadline 滇中新材料 | 2027-03-31 | 中期评估材料")
    assert "已添加" in text_of(out) and "中期评估材料" in text_of(out)
    assert "用法" in text_of(say(app, OFFICER, "/adddeadline 只有名称"))
    assert "不是有效日期" in text_of(say(app, OFFICER, "/adddeadline 滇中新材料 | 2027-02-30 | x"))
    assert "没有找到" in text_of(say(app, OFFICER, "/adddeadline 无此 | 2027-02-01 | x"))
    out = say(app, OFFICER, "/consortium 滇中新材料")
    assert "中期评估材料" in text_of(out)


def test_contact_flow_report_confirm_snooze_calendar(app: App) -> None:
    setup_registry(app)
    dl = deadline_id(app.db, "滇中新材料创新联合体", "annual:2026")
    out = say(app, STRANGER, "/mydeadlines")
    assert "还不是任何创新联合体的登记联系人" in text_of(out)
    out = say(app, CONTACT, "/mydeadlines")
    assert "滇中新材料创新联合体" in text_of(out)
    assert any(b.data == f"dl:rep:{dl}" for r in out.replies for row in r.buttons for b in row)
    # the menu button works too
    out = say(app, CONTACT, "📅 我的截止日期")
    assert "滇中新材料创新联合体" in text_of(out)
    # a stranger cannot press a contact's buttons
    assert press(app, STRANGER, f"dl:rep:{dl}").toast == "这个事项不属于您所在的创新联合体。"
    # calendar file
    out = press(app, CONTACT, f"dl:ics:{dl}")
    doc = out.replies[0].document
    assert doc is not None and doc.filename.endswith(".ics") and b"BEGIN:VEVENT" in doc.content
    assert b"DTSTART;VALUE=DATE:20261231" in doc.content
    # snooze
    assert press(app, CONTACT, f"dl:snz:{dl}").toast == "好的，明天此时再提醒您。"
    with app.db.session() as s:
        assert rr.snoozes(s) == {(dl, CONTACT): NOW + timedelta(days=1)}  # this contact's only
    # report submitted → officers are told, with confirm buttons
    out = press(app, CONTACT, f"dl:rep:{dl}")
    assert "工作人员确认后即停止提醒" in text_of(out)
    assert {chat for chat, _ in out.others} == set(app.officer_chat_ids())
    note = out.others[0][1]
    assert f"dl:ok:{dl}" in [b.data for row in note.buttons for b in row]
    # the contact cannot confirm it; an officer can
    assert press(app, CONTACT, f"dl:ok:{dl}").toast is not None
    with app.db.session() as s:
        got = rr.get_deadline(s, dl)
        assert got is not None and got.status is None and got.reported_by == CONTACT
    out = press(app, OFFICER, f"dl:ok:{dl}")
    assert "已标记为已报送" in text_of(out)
    assert [chat for chat, _ in out.others] == [CONTACT]
    with app.db.session() as s:
        got = rr.get_deadline(s, dl)
        assert got is not None and got.status == SUBMITTED and got.status_by == OFFICER


def test_officer_rejects_a_report(app: App) -> None:
    setup_registry(app)
    dl = deadline_id(app.db, "滇中新材料创新联合体", "annual:2026")
    press(app, CONTACT, f"dl:rep:{dl}")
    out = press(app, OFFICER, f"dl:no:{dl}")
    assert "提醒将继续" in text_of(out) and [c for c, _ in out.others] == [CONTACT]
    with app.db.session() as s:
        got = rr.get_deadline(s, dl)
        assert got is not None and got.reported_by is None and got.status is None


def test_stale_and_forged_buttons(app: App) -> None:
    setup_registry(app)
    for data in ("dl", "dl:", "dl:rep:abc", "dl:zzz:1", "dl:pg:nope:0", "dl:pg:due30:x", "dl:rep:1:2"):
        out = press(app, OFFICER, data)
        assert out.toast and not out.replies, data
    assert press(app, OFFICER, "dl:sub:99999").toast
    assert press(app, STRANGER, "dl:pg:ovd:0").toast  # officer lists are not for strangers


def test_long_lists_are_paged_under_the_limit(app: App) -> None:
    seed(app.db, *(record(f"联合体{i:03d}" + "很长的名称" * 8, date(2026, 3, 1), date(2028, 6, 30), (7000 + i,))
                   for i in range(120)))
    out = say(app, OFFICER, "/due 30")
    first = out.replies[0]
    assert len(first.text) <= 4096 and "第 1/" in first.text
    pages = int(first.text.rsplit("第 1/", 1)[1].split(" ")[0])
    seen = set()
    data = [b.data for row in first.buttons for b in row][-1]
    for _ in range(pages - 1):
        out = press(app, OFFICER, data)
        reply = out.replies[0]
        assert reply.edit and len(reply.text) <= 4096
        seen |= {line.split(" ")[0] for line in reply.text.splitlines() if line.startswith("#")}
        data = [b.data for row in reply.buttons for b in row][-1]
    assert len(seen) + first.text.count("\n#") == 120


def test_digest_and_calendar_commands(app: App) -> None:
    setup_registry(app)
    out = say(app, OFFICER, "/digest")
    assert "每周截止日期汇总" in text_of(out) and "30天内到期：2 项" in text_of(out)
    out = say(app, OFFICER, "/calendar")
    doc = out.replies[0].document
    assert doc is not None and doc.content.count(b"BEGIN:VEVENT") >= 8
    out = say(app, OFFICER, "/calendar 滇中新材料")
    doc = out.replies[0].document
    assert doc is not None and doc.content.count(b"BEGIN:VEVENT") == 3  # 2026, 2027, end of term


def test_officer_upload(app: App) -> None:
    bad = csv_bytes("甲,牵头,领域,top_down,,2025-01-01,2028-01-01,1", "甲,牵头,领域,top_down,,2025-01-01,2028-01-01,2",
                    encoding="gbk")
    out = upload(app, OFFICER, "reg.csv", bad)
    assert "1 处错误" in text_of(out) and "第 3 行：名称“甲”重复（首次出现在第 2 行）" in text_of(out)
    with app.db.session() as s:
        assert rr.count_consortia(s) == 0
    good = csv_bytes("甲,牵头,领域,top_down,,2025-01-01,2028-01-01,1",
                     "乙,牵头,领域,top_down,,2025-01-01,2028-01-01,2").replace(b"\n", b"\r\n")
    out = upload(app, OFFICER, "reg.csv", b"\xef\xbb\xbf" + good)
    assert "新增 2，更新 0，未变 0" in text_of(out)
    out = upload(app, OFFICER, "reg.csv", good)
    assert "新增 0，更新 0，未变 2" in text_of(out)
    out = upload(app, OFFICER, "photo.xlsx", b"\x89PNG....")
    assert "无法读取该文件" in text_of(out)


async def test_contact_role_and_reminder_buttons_end_to_end(app: App) -> None:
    setup_registry(app)
    out = say(app, CONTACT, "/whoami")
    assert "contact" in text_of(out)
    rec = RecordingNotifier()
    await run_once(app.db, app.settings, rec, utc(2026, 12, 24, 1), officers=app.officer_chat_ids(), send_rate=0)
    reminder = next(r for chat, r in rec.sent if chat == CONTACT)
    rep = next(b.data for row in reminder.buttons for b in row if b.data.startswith("dl:rep:"))
    out = press(app, CONTACT, rep)
    assert out.others
    # reported: no more contact reminders while the officers confirm
    rec2 = RecordingNotifier()
    await run_once(app.db, app.settings, rec2, utc(2026, 12, 28, 1), officers=[], send_rate=0)
    assert CONTACT not in [c for c, _ in rec2.sent]


async def test_reminders_follow_the_recipients_language(app: App) -> None:
    setup_registry(app)
    say(app, CONTACT, "/lang en")
    rec = RecordingNotifier()
    await run_once(app.db, app.settings, rec, utc(2026, 12, 24, 1), officers=[], send_rate=0)
    text = next(r.text for chat, r in rec.sent if chat == CONTACT)
    assert "7 day(s) left" in text and "2026 annual summary" in text and "八、（三）" in text
    other = [r.text for chat, r in rec.sent if chat == 1003 and "2026年度总结" in r.text]
    assert len(other) == 1 and "还剩 7 天" in other[0]


async def test_a_blocked_contact_that_writes_again_gets_reminders_again(app: App) -> None:
    setup_registry(app)
    blocked = RecordingNotifier(blocked={CONTACT})
    summary = await run_once(app.db, app.settings, blocked, utc(2026, 12, 24, 1), officers=[OFFICER], send_rate=0)
    assert summary.unreachable == [CONTACT]
    assert any("已屏蔽机器人" in r.text for chat, r in blocked.sent if chat == OFFICER)
    rec = RecordingNotifier()
    await run_once(app.db, app.settings, rec, utc(2026, 12, 28, 1), officers=[], send_rate=0)
    assert CONTACT not in [c for c, _ in rec.sent]  # unreachable: skipped
    say(app, CONTACT, "/start")  # the contact unblocked the bot and wrote to it
    await run_once(app.db, app.settings, rec, utc(2026, 12, 30, 1), officers=[], send_rate=0)
    assert CONTACT in [c for c, _ in rec.sent]
