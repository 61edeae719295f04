"""The /check dialog end to end through ``app.handle`` (the same path Telegram and the shell take)."""

from __future__ import annotations

from pathlib import Path

from bot.app import App, build_app
from bot.config import Settings
from bot.core import Ctx, Incoming
from bot.features import check as feature
from tests.check_helpers import NOW, Chat
from tests.conftest import make_settings
from tests.test_check_report import docx_text


def start(chat: Chat, which: str = "牵头单位") -> str:
    out = chat.say("/check")
    assert "条件自评" in chat.text(out)
    chat.press(chat.button(which))
    return chat.text()


def state(app: App, user: int = 5) -> dict:
    with app.db.session() as s:
        from storage import repo

        return repo.get_state(s, user, "check") or {}


def test_lead_unit_walk_with_buttons_typed_numbers_and_verdict(app: App) -> None:
    chat = Chat(app)
    text = start(chat)
    assert "1/10" in text and "贵单位属于哪一类" in text
    assert chat.last and chat.last.replies[0].edit  # the picker message is replaced
    chat.press(chat.button("企业"))
    assert "2/10" in chat.text() and chat.last.replies[0].edit
    for _ in range(3):  # registered, leader, cooperation
        chat.press(chat.button("是"))
    assert "5/10" in chat.text()
    chat.press(chat.button("省部级"))
    assert "6/10" in chat.text() and "整数" in chat.text()
    chat.say("0")
    assert "7/10" in chat.text()
    chat.say("100")
    assert "按 2:1 计算：申请 100 万元，自筹经费至少需要 200 万元" in chat.text()  # the funding calculator
    chat.say("150万")
    assert "9/10" in chat.text() and "民营企业" in chat.text()
    chat.press(chat.button("是"))
    assert "10/10" in chat.text()
    chat.press(chat.button("从未"))
    result = chat.text()
    assert "结论：<b>不符合条件</b>" in result
    assert "自筹 150 万元 : 申请 100 万元 = 1.5 : 1，低于 2 : 1" in result
    assert "自筹经费至少 200 万元（还差 50 万元）" in result
    assert "四、（四）" in result and "不低于2:1的要求" in result  # clause label and the scheme's words
    assert state(app)["stage"] == "done"
    labels = [label for label, _ in chat.buttons()]
    assert any("Word" in x for x in labels) and any("Markdown" in x for x in labels)
    assert any("修改" in x for x in labels) and any("重新" in x for x in labels)

    out = chat.press(chat.button("Word"))
    doc = out.replies[0].document
    assert doc is not None and doc.filename == "self-assessment-lead-unit-2026-11-26.docx"
    body = docx_text(doc.content)
    assert "Li (id 5)" in body and "2026-11-26" in body and "自筹经费至少 200 万元" in body
    out = chat.press(chat.button("Markdown"))
    md = out.replies[0].document
    assert md is not None and md.filename.endswith(".md") and "不符合条件" in md.content.decode()


def test_change_one_answer_re_evaluates(app: App) -> None:
    chat = Chat(app)
    start(chat)
    chat.press(chat.button("企业"))
    for _ in range(3):
        chat.press(chat.button("是"))
    chat.press(chat.button("国家级"))
    chat.say("0")
    chat.say("100")
    chat.say("150")
    chat.press(chat.button("否"))
    chat.press(chat.button("从未"))
    assert "不符合条件" in chat.text()
    chat.press(chat.button("修改"))
    assert "要修改哪一题" in chat.text()
    chat.press(chat.button("自筹经费: 150 万元"))
    assert "当前回答：150 万元" in chat.text() and "8/10" in chat.text()
    chat.say("200")
    assert "结论：<b>符合条件</b>" in chat.text()
    assert state(app)["answers"]["self_raised_funds"] == 200


def test_bad_typed_answers_are_re_asked_and_nothing_is_lost(app: App) -> None:
    chat = Chat(app)
    start(chat)
    chat.press(chat.button("企业"))
    before = state(app)
    chat.say("我们是企业吧")  # text where a button is expected
    assert "请点击下方按钮作答" in chat.text() and "2/10" in chat.text()
    assert state(app)["answers"] == before["answers"]
    chat.say("是")  # a typed yes is understood
    assert "3/10" in chat.text()
    for label in ("是", "是"):
        chat.press(chat.button(label))
    chat.press(chat.button("国家级"))
    for bad, words in (("abc", "“abc”不是有效的数字"), ("-3", "不能小于 0"), ("1.5", "不是有效的数字"),
                       ("1000", "不能大于 100")):
        chat.say(bad)
        assert words in chat.text() and "6/10" in chat.text(), bad
        assert "整数" in chat.text()  # the hint
    chat.say("1")
    chat.say("1,000")
    assert state(app)["answers"]["requested_funds"] == 1000
    chat.say("2000")
    chat.press(chat.button("是"))
    assert "10/10" in chat.text()
    for bad in ("2025-02-30", "yesterday", "2024/01/01"):
        chat.say(bad)
        assert f"“{bad}”不是有效的日期" in chat.text() and "YYYY-MM-DD" in chat.text()
    chat.say("2024-02-29")
    assert "2027-02-28 前不得牵头组建" in chat.text()
    assert "需说明" in chat.text()  # already leads one consortium


def test_back_skip_cancel_and_why(app: App) -> None:
    chat = Chat(app)
    start(chat)
    out = chat.press(chat.button("上一题"))
    assert out.toast == "这已经是第一题了。"
    chat.press(chat.button("高等学校"))
    assert "2/9" in chat.text()  # a university is not asked whether it is a private enterprise
    chat.press(chat.button("上一题"))
    assert "1/9" in chat.text() and "当前回答：高等学校" in chat.text()
    assert "✓ 高等学校" in [label for label, _ in chat.buttons()]
    chat.press(chat.button("企业"))
    chat.press(chat.button("跳过"))
    assert "3/10" in chat.text()
    assert "registered_in_yunnan" in state(app)["skipped"]
    out = chat.press(chat.button("为什么"))
    assert "四、（一）1" in chat.text(out) and "在国内具备一定的行业影响力和带动力" in chat.text(out)
    assert not out.replies[0].edit  # an extra message; the question stays
    assert state(app)["current"] == "industry_leader"
    old = chat.button("是")
    out = chat.press(chat.button("取消"))
    assert "已取消" in chat.text(out)
    assert state(app) == {}
    out = chat.press(old)
    assert out.toast and "已经结束" in out.toast and not out.replies


def test_skipped_questions_make_the_verdict_incomplete(app: App) -> None:
    chat = Chat(app)
    start(chat, "成员单位")
    chat.press(chat.button("科技服务"))
    assert "2/4" in chat.text()  # a service organisation gets 4 questions
    for _ in range(3):
        chat.press(chat.button("跳过"))
    result = chat.text()
    assert "信息不全" in result and "待补充" in result
    assert "请补充回答：与牵头企业的合作基础" in result
    assert "四、（二）4" in result


def test_double_presses_and_forged_buttons_are_harmless(app: App) -> None:
    chat = Chat(app)
    start(chat)
    first = chat.button("企业")
    chat.press(first)
    after = state(app)
    out = chat.press(first)
    assert out.toast == "这一题已经处理过了，请看最新的消息。" and not out.replies
    assert state(app) == after
    dialog = after["id"]
    for data in (f"chk:{dialog}:a:1:9", f"chk:{dialog}:a:99:0", f"chk:{dialog}:zz", f"chk:{dialog}",
                 "chk", "chk:nope:a:0:0", f"chk:{dialog}:a:x:y", f"chk:{dialog}:p:0", f"chk:{dialog}:r:d",
                 f"chk:{dialog}:e:1", f"chk:{dialog}:w:77"):
        out = chat.press(data)
        assert out.toast and not out.replies, data
        assert state(app) == after, data


def test_picker_pressed_twice_and_check_while_in_progress(app: App) -> None:
    chat = Chat(app)
    chat.say("/check")
    pick = chat.button("成员单位")
    chat.press(pick)
    out = chat.press(pick)
    assert out.toast and not out.replies
    chat.press(chat.button("企业"))
    out = chat.say("/check")
    assert "未完成的自评" in chat.text(out) and "1/7" in chat.text(out)
    chat.press(chat.button("继续"))
    assert "2/7" in chat.text() and "合作基础" in chat.text()
    chat.say("/check")
    chat.press(chat.button("重新开始"))
    assert "请选择" in chat.text()
    chat.press(chat.button("组建申报"))
    assert "1/19" in chat.text()


def test_menu_button_and_direct_start(app: App) -> None:
    chat = Chat(app)
    out = chat.say("📋 条件自评")
    assert "请选择要自评的内容" in chat.text(out)
    out = chat.say("/check formation")
    assert "1/19" in chat.text(out)
    out = chat.say("/check nonsense")
    assert "没有这个自评清单" in chat.text(out)


def test_formation_multi_select_and_bottom_up(app: App) -> None:
    chat = Chat(app)
    chat.say("/check formation")
    for n in ("1", "3", "1", "0", "0"):
        chat.say(n)
    assert "产业领域" in chat.text()
    chat.say("区块链")
    for _ in range(5):
        chat.press(chat.button("是"))
    assert "协议" in chat.text() and "☐ 技术创新目标" in str(chat.buttons())
    toggle = chat.button("技术创新目标")
    chat.press(toggle)
    assert "☑ 技术创新目标" in str(chat.buttons())
    chat.press(toggle)  # a toggle pressed again unticks
    assert "☐ 技术创新目标" in str(chat.buttons())
    for label in ("技术创新目标", "任务分工", "责任、权利"):
        chat.press(chat.button(label))
    chat.say("都有")  # text where toggles are expected
    assert "请点击下方按钮作答" in chat.text() and "☑ 任务分工" in str(chat.buttons())
    done = chat.button("完成")
    chat.press(done)
    assert chat.press(done).toast  # pressed twice: harmless
    chat.press(chat.button("是"))
    chat.press(chat.button("是"))
    for label in ("建设意义", "建设基础", "建设思路", "重点任务", "组织架构", "保障措施", "进度计划"):
        chat.press(chat.button(label))
    chat.press(chat.button("完成"))
    chat.press(chat.button("自下而上"))
    assert "属地科技行政主管部门" in chat.text() and "17/19" in chat.text()
    chat.press(chat.button("否"))
    chat.press(chat.button("是"))
    chat.press(chat.button("是"))
    result = chat.text()
    assert "不符合条件" in result
    assert "组建协议缺少：解散时的权责分配、科学技术" not in result
    assert "组建协议缺少：解散时的权责分配、科技成果和知识产权归属及收益分配、科研诚信追究方式、违约责任追究方式、解决争议方式" in result
    assert "产业领域“区块链”不在方案列明的领域中" in result
    assert "五、（五）" in result and "附件2 协议模板" in result


def test_english_dialog(app: App) -> None:
    chat = Chat(app)
    chat.say("/lang en")
    chat.say("/check lead-unit")
    assert "What kind of organisation are you?" in chat.text() and "1/10" in chat.text()
    chat.press(chat.button("University"))
    out = chat.press(chat.button("Why"))
    assert "Section 4(1) item 1" in chat.text(out)


def test_a_restart_mid_dialog_resumes_exactly(app: App, settings: Settings) -> None:
    chat = Chat(app)
    start(chat)
    chat.press(chat.button("企业"))
    chat.press(chat.button("是"))
    pending = chat.button("是")  # the button on screen when the bot restarts
    saved = state(app)
    app.db.dispose()

    second = build_app(settings)  # a new process on the same database file
    try:
        chat2 = Chat(second)
        assert state(second) == saved
        out = chat2.press(pending)
        assert "4/10" in chat2.text(out)
        out = chat2.say("/check")
        assert "未完成的自评" in chat2.text(out) and "已回答 3/10" in chat2.text(out)
        chat2.press(chat2.button("继续"))
        assert "4/10" in chat2.text() and "合作基础" in chat2.text()
        assert state(second)["answers"] == {"entity_type": "enterprise", "registered_in_yunnan": True,
                                            "industry_leader": True}
    finally:
        second.db.dispose()


def test_interceptor_leaves_other_text_alone(app: App) -> None:
    def ctx_for(text: str) -> Ctx:
        msg = Incoming(chat_id=5, user_id=5, text=text)
        return Ctx(app=app, msg=msg, now=NOW, user=app.identify(msg, NOW))

    assert feature.on_text(ctx_for("2:1 是什么意思")) is None  # no dialog
    chat = Chat(app)
    chat.say("/check")
    assert feature.on_text(ctx_for("2:1 是什么意思")) is None  # picking, not waiting for an answer
    chat.say("/check member")
    assert feature.on_text(ctx_for("2:1 是什么意思")) is not None  # waiting for an answer
    chat.press(chat.button("取消"))
    assert feature.on_text(ctx_for("2:1 是什么意思")) is None


def test_typed_navigation_words(app: App) -> None:
    chat = Chat(app)
    chat.say("/check formation")
    chat.say("1")
    assert "2/19" in chat.text()
    chat.say("上一题")
    assert "1/19" in chat.text() and "当前回答：1" in chat.text()
    chat.say("跳过")
    assert "2/19" in chat.text() and state(app)["skipped"] == ["lead_unit_count"]
    out = chat.say("为什么？")
    assert "为什么问这个" in chat.text(out) and "一、功能定位" in chat.text(out)
    chat.say("取消")
    assert "已取消" in chat.text() and state(app) == {}


def test_the_terminal_shell_runs_the_same_dialog(settings: Settings, tmp_path: object) -> None:
    import io as _io

    from bot.shell import run_shell

    shell_app = build_app(settings, shell=True)
    try:
        out = _io.StringIO()
        # in the shell a typed number is a button's number — except on typed-number questions
        script = "/check lead-unit\n1\n1\n1\n1\n2\n0\n100\n150\n2\n2025-02-30\n2001-02-03\n"
        run_shell(shell_app, user_id=77, stdin=_io.StringIO(script), out=out)
        text = out.getvalue()
        assert "6/10" in text and "（也可以输入：上一题 / 跳过 / 为什么 / 取消）" in text
        assert "按 2:1 计算：申请 100 万元，自筹经费至少需要 200 万元" in text
        assert "“2025-02-30”不是有效的日期" in text
        assert "不符合条件" in text and "自筹经费至少 200 万元（还差 50 万元）" in text
        assert "不在 3 年限制期内（2001-02-03）" in text  # the shell's own clock: long after the bar
    finally:
        shell_app.db.dispose()


def test_quick_parallel_taps_lose_nothing(app: App) -> None:
    from concurrent.futures import ThreadPoolExecutor

    chat = Chat(app)
    chat.say("/check formation")
    for n in ("1", "3", "1", "0", "0", "光伏"):
        chat.say(n)
    for _ in range(5):
        chat.press(chat.button("是"))
    toggles = [data for label, data in chat.buttons() if label.startswith("☐")]
    assert len(toggles) == 8
    with ThreadPoolExecutor(max_workers=8) as pool:  # eight toggles tapped at once
        list(pool.map(chat.press, toggles))
    assert len(state(app)["multi"]) == 8


def test_dialog_state_round_trips_on_every_database(any_db_url: str, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, database_url=any_db_url)
    first = build_app(settings)
    try:
        chat = Chat(first, user=61)
        chat.say("/check lead-unit")
        chat.press(chat.button("企业"))
        for _ in range(3):
            chat.press(chat.button("是"))
        chat.press(chat.button("国家级"))
        for typed in ("0", "100", "250.5"):
            chat.say(typed)
        chat.press(chat.button("否"))
        pending = chat.button("从未")
    finally:
        first.db.dispose()
    second = build_app(settings)
    try:
        text = Chat(second, user=61).text(Chat(second, user=61).press(pending))
        assert "结论：<b>符合条件</b>" in text
        assert "自筹 250.5 万元 : 申请 100 万元 = 2.5 : 1" in text
    finally:
        second.db.dispose()
