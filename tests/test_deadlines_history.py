"""History on import: deadlines due before a consortium's first import are kept, shown, never reminded
until an officer reopens one; reported_through; an export imported again changes nothing."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from bot.app import App
from bot.core import Document, Incoming, Outcome
from bot.notify import RecordingNotifier
from bot.reminders import run_once
from storage import registry_repo as rr
from storage.db import Database
from storage.registry_file import export_registry, import_registry
from tests.deadlines_helpers import csv_bytes, deadline_id, sent_ledger, utc

ROOT = Path(__file__).resolve().parent.parent
IMPORT_AT = utc(2026, 12, 1, 2)  # 10:00 on 2026-12-01 in Kunming
FIRST_PASS = utc(2026, 12, 1, 3)  # 11:00, within the send window
OFFICER = 901
HEADER_RT = "name,lead_unit,industry_field,route,recommending_unit,approved_on,ends_on,contact_chat_ids,reported_through"


def say(app: App, chat: int, text: str, now=IMPORT_AT) -> Outcome:  # type: ignore[no-untyped-def]
    return app.handle(Incoming(chat_id=chat, user_id=chat, text=text, language_code="zh-hans"), now)


def press(app: App, chat: int, data: str, now=IMPORT_AT) -> Outcome:  # type: ignore[no-untyped-def]
    return app.handle(Incoming(chat_id=chat, user_id=chat, callback_data=data, kind="callback", message_id=7), now)


def upload(app: App, chat: int, name: str, content: bytes) -> Outcome:
    return app.handle(Incoming(chat_id=chat, user_id=chat, document=Document(name, content), kind="document"),
                      IMPORT_AT)


def text_of(out: Outcome) -> str:
    return "\n".join(r.text for r in out.replies)


def statuses(db: Database) -> dict[tuple[str, str], str | None]:
    with db.session() as s:
        return {(c.name, d.rule_key or f"custom:{d.title}"): d.status for c in rr.all_consortia(s) for d in c.deadlines}


async def test_first_import_of_the_example_registry_sends_no_history(app: App) -> None:
    out = upload(app, OFFICER, "consortia.csv", (ROOT / "examples" / "consortia.csv").read_bytes())
    reply = text_of(out)
    # 绿色铝 2024: annual 2024, 2025; 光伏 2025: annual 2025; 生物医药 2023: annual 2023, 2024, 2025
    assert "新增 3" in reply and "6 项截止日期记为历史" in reply and "/reopen" in reply, reply
    st = statuses(app.db)
    assert st[("云南省生物医药创新联合体", "annual:2023")] == "history"
    assert st[("云南省生物医药创新联合体", "end_of_term")] is None  # not yet due: open
    assert st[("云南省绿色铝创新联合体", "annual:2026")] is None
    rec = RecordingNotifier()
    summary = await run_once(app.db, app.settings, rec, FIRST_PASS, officers=[900, 901], send_rate=0)
    texts = [r.text for _, r in rec.sent]
    assert summary.sent == len(texts) > 0
    assert not [x for x in texts if "已逾期" in x or "2025年度" in x or "2024年度" in x or "2023年度" in x]
    history_ids = {deadline_id(app.db, n, k) for (n, k), v in st.items() if v == "history"}
    assert not [x for x in sent_ledger(app.db) if x[0] in history_ids]
    assert {x[2] for x in sent_ledger(app.db)} == {"before:30"}  # the 2026 reports and the end of term
    # the officers see them, with their status unknown, and nothing overdue
    assert "逾期事项（0 项）" in text_of(say(app, OFFICER, "/overdue"))
    card = say(app, OFFICER, "/consortium 生物医药")
    assert "导入前·状态未知" in text_of(card)
    buttons = [b.data for r in card.replies for row in r.buttons for b in row]
    a23 = deadline_id(app.db, "云南省生物医药创新联合体", "annual:2023")
    assert f"dl:ro:{a23}" in buttons
    # a week later: still nothing about history
    again = await run_once(app.db, app.settings, rec, utc(2026, 12, 8, 3), officers=[900, 901], send_rate=0)
    assert again.sent >= 0 and not [r for _, r in rec.sent if "已逾期" in r.text]


async def test_reopen_by_button_and_command(app: App) -> None:
    upload(app, OFFICER, "consortia.csv", (ROOT / "examples" / "consortia.csv").read_bytes())
    a23 = deadline_id(app.db, "云南省生物医药创新联合体", "annual:2023")
    a24 = deadline_id(app.db, "云南省生物医药创新联合体", "annual:2024")
    out = say(app, 1004, f"/reopen {a23}")  # a contact may not
    assert "仅限省科技厅工作人员" in text_of(out)
    out = press(app, OFFICER, f"dl:ro:{a23}")
    assert "已重新开启" in text_of(out)
    out = press(app, OFFICER, f"dl:ro:{a23}")  # pressed again: says what it is now
    assert "不是导入前的历史事项" in text_of(out) and "已逾期" in text_of(out)
    out = say(app, OFFICER, f"/reopen {a24}")
    assert "已重新开启" in text_of(out)
    open_id = deadline_id(app.db, "云南省绿色铝创新联合体", "annual:2026")
    out = say(app, OFFICER, f"/reopen {open_id}")
    assert "不是导入前的历史事项" in text_of(out) and "即将到期" in text_of(out)
    assert "没有编号为 #999999" in text_of(say(app, OFFICER, "/reopen 999999"))
    assert "用法" in text_of(say(app, OFFICER, "/reopen abc"))
    rec = RecordingNotifier()
    await run_once(app.db, app.settings, rec, FIRST_PASS, officers=[], send_rate=0)
    reopened = [r.text for c, r in rec.sent if c == 1004 and "已逾期" in r.text]
    assert len(reopened) == 2  # the two reopened reports, nothing else from history
    with app.db.session() as s:
        entries = [(e.command, e.args) for e in rr_audit(s)]
    assert ("button", f"dl:ro:{a23} [done]") in entries and ("/reopen", "abc [usage]") in entries
    assert ("/reopen", f"{a23} [refused]") in entries


def rr_audit(s):  # type: ignore[no-untyped-def]
    from storage import repo

    return repo.audit_entries(s, 100)


def test_reported_through_marks_annual_reports_done(db: Database) -> None:
    data = csv_bytes("甲联合体,牵头,领域,top_down,,2023-05-01,2028-04-30,1,2024",
                     "乙联合体,牵头,领域,top_down,,2023-05-01,2028-04-30,2,", header=HEADER_RT)
    summary, errors = import_registry(db, data, "reg.csv", IMPORT_AT, today=date(2026, 12, 1))
    assert errors == [] and summary is not None and summary.history == 4 and summary.done == 2
    st = statuses(db)
    assert st[("甲联合体", "annual:2023")] == st[("甲联合体", "annual:2024")] == "submitted"
    assert st[("甲联合体", "annual:2025")] == "history" and st[("甲联合体", "annual:2026")] is None
    assert st[("乙联合体", "annual:2025")] == "history"
    # a later import with a higher reported_through closes history and open reports, never reopens
    data = csv_bytes("甲联合体,牵头,领域,top_down,,2023-05-01,2028-04-30,1,2026", header=HEADER_RT)
    summary, errors = import_registry(db, data, "reg.csv", utc(2027, 1, 5), today=date(2027, 1, 5))
    assert summary is not None and summary.updated == ["甲联合体"] and summary.done == 2
    st = statuses(db)
    assert st[("甲联合体", "annual:2025")] == st[("甲联合体", "annual:2026")] == "submitted"


def test_bad_reported_through(db: Database) -> None:
    data = csv_bytes("甲,牵头,领域,top_down,,2023-05-01,2028-04-30,1,2030",
                     "乙,牵头,领域,top_down,,2023-05-01,2028-04-30,1,去年", header=HEADER_RT)
    summary, errors = import_registry(db, data, "reg.csv", IMPORT_AT, today=date(2026, 12, 1))
    assert summary is None
    assert [(e.line, e.key) for e in errors] == [(2, "bad_reported_through"), (3, "bad_reported_through")]
    assert "2023–2028" in errors[0].message and "第 3 行" in errors[1].text("zh")


def test_export_then_import_keeps_every_status(db: Database, tmp_path: Path, any_db_url: str) -> None:
    data = csv_bytes("甲联合体,牵头,领域,top_down,,2023-05-01,2028-04-30,1;2,2023",
                     "乙联合体,牵头,领域,bottom_up,昆明市科技局,2024-02-01,2027-01-31,3,", header=HEADER_RT)
    import_registry(db, data, "reg.csv", IMPORT_AT, today=date(2026, 12, 1))
    with db.session() as s:
        c = rr.get_consortium(s, "乙联合体")
        assert c is not None
        rr.add_custom_deadline(s, c, date(2027, 3, 31), "中期评估, 材料=两份", 901, IMPORT_AT, basis="厅通知")
        rr.set_status(s, deadline_id(db, "甲联合体", "annual:2024"), "waived", 901, IMPORT_AT)
    with db.session() as s:  # an officer reopened one history deadline
        rr.apply_action(s, deadline_id(db, "乙联合体", "annual:2025"), "reopen", 901, IMPORT_AT)
    before = statuses(db)
    for suffix in (".csv", ".xlsx"):
        path = tmp_path / f"export{suffix}"
        export_registry(db, path)
        summary, errors = import_registry(db, path.read_bytes(), path.name, utc(2027, 2, 1), today=date(2027, 2, 1))
        assert errors == [] and summary is not None and len(summary.unchanged) == 2, (suffix, summary)
        assert statuses(db) == before
        # into an empty database, later: the same statuses (not "history up to the new import day")
        fresh = Database.from_url(f"sqlite:///{tmp_path / ('fresh' + suffix[1:] + '.sqlite3')}")
        summary, errors = import_registry(fresh, path.read_bytes(), path.name, utc(2027, 6, 1),
                                          today=date(2027, 6, 1))
        assert errors == [] and summary is not None, errors
        assert statuses(fresh) == before, suffix
        fresh.dispose()
