"""The /check dialog end to end through ``app.handle`` (the same path Telegram and the shell take)."""

from __future__ import annotations

from pathlib import Path

from bot.app import App, build_app
from bot.config import Settings
from bot.core import Button, Ctx, Incoming, Reply
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
    assert "第 1 题，约剩 9 题" in text and "贵单位属于哪一类" in text
    assert not any("上一题" in label for label, _ in chat.buttons())  # nothing to go back to
    assert chat.last and chat.last.replies[0].edit  # the picker message is replaced
    chat.press(chat.button("企业"))
    assert "第 2 题，约剩 8 题" in chat.text() and chat.last.replies[0].edit
    assert any("上一题" in label for label, _ in chat.buttons())
    for _ in range(3):  # registered, leader, cooperation
        chat.press(chat.button("是"))
    assert "第 5 题" in chat.text()
    chat.press(chat.button("省部级"))
    assert "第 6 题，约剩 4 题" in chat.text() and "整数" in chat.text()
    assert chat.last.replies[0].typed  # waits for a typed answer
    chat.say("零")
    assert "第 7 题" in chat.text()
    chat.say("一百万")
    assert "按 2:1 计算：申请 100 万元，自筹经费至少需要 200 万元" in chat.text()  # the funding calculator
    chat.say("150万")
    assert "第 9 题" in chat.text() and "民营企业" in chat.text()
    chat.press(chat.button("是"))
    assert "第 10 题，最后一题" in chat.text()
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
    assert "当前回答：150 万元" in chat.text() and "第 8 题" in chat.text()
    chat.say("200")
    assert "结论：<b>符合条件</b>" in chat.text()
    assert state(app)["answers"]["self_raised_funds"] == 200


def test_bad_typed_answers_are_re_asked_and_nothing_is_lost(app: App) -> None:
    chat = Chat(app)
    start(chat)
    chat.press(chat.button("企业"))
    before = state(app)
    chat.say("我们是企业吧")  # text where a button is expected
    assert "请点击下方按钮作答" in chat.text() and "第 2 题" in chat.text()
    assert chat.buttons(chat.last)  # the question again, with its buttons
    assert state(app)["answers"] == before["answers"]
    chat.say("是")  # a typed yes is understood
    assert "第 3 题" in chat.text()
    for label in ("是", "是"):
        chat.press(chat.button(label))
    chat.press(chat.button("国家级"))
    for bad, words in (("abc", "“abc”不是有效的数字"), ("-3", "超出了允许的范围：应在 0 到 100 之间"),
                       ("1.5", "“1.5”不是整数"), ("1000", "超出了允许的范围：应在 0 到 100 之间")):
        chat.say(bad)
        assert words in chat.text() and "第 6 题" in chat.text(), bad
        assert "整数" in chat.text()  # the hint
    chat.say("一个")
    chat.say("1,000万")
    assert state(app)["answers"]["requested_funds"] == 1000
    chat.say("-5")
    assert "超出了允许的范围：不能小于 0 万元" in chat.text()
    chat.say("0.2亿")
    assert state(app)["answers"]["self_raised_funds"] == 2000
    chat.press(chat.button("是"))
    assert "第 10 题" in chat.text()
    for bad in ("2025-02-30", "yesterday", "45350"):
        chat.say(bad)
        assert f"“{bad}”不是有效的日期" in chat.text() and "2023年5月10日" in chat.text()
    chat.say("2024年2月29日")
    assert "2027-02-28 前不得牵头组建" in chat.text()
    assert "需说明" in chat.text()  # already leads one consortium


def test_back_skip_cancel_and_why(app: App) -> None:
    chat = Chat(app)
    start(chat)
    out = chat.press(f"chk:{state(app)['id']}:b:0")  # an old "back" button on the first question
    assert out.toast == "这已经是第一题了。"
    out = chat.say("上一题")
    assert "这已经是第一题了" in chat.text(out) and "第 1 题" in chat.text(out)
    chat.press(chat.button("高等学校"))
    assert "第 2 题，约剩 7 题" in chat.text()  # a university is not asked whether it is a private enterprise
    chat.press(chat.button("上一题"))
    assert "第 1 题" in chat.text() and "当前回答：高等学校" in chat.text()
    assert "✓ 高等学校" in [label for label, _ in chat.buttons()]
    chat.press(chat.button("企业"))
    chat.press(chat.button("跳过"))
    assert "第 3 题" in chat.text()
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
    assert "第 2 题，约剩 2 题" in chat.text()  # a service organisation gets 4 questions
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
    assert "第 2 题" in chat.text() and "合作基础" in chat.text()
    chat.say("/check")
    chat.press(chat.button("重新开始"))
    assert "请选择" in chat.text()
    chat.press(chat.button("组建申报"))
    assert "第 1 题，约剩 18 题" in chat.text()


def test_menu_button_and_direct_start(app: App) -> None:
    chat = Chat(app)
    out = chat.say("📋 条件自评")
    assert "请选择要自评的内容" in chat.text(out)
    out = chat.say("/check formation")
    assert "第 1 题，约剩 18 题" in chat.text(out)
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
    assert "请点击下方按钮作答" in chat.text() and "☑ 任务分工" in str(chat.buttons(chat.last))
    done = chat.button("完成")
    chat.press(done)
    assert chat.press(done).toast  # pressed twice: harmless
    chat.press(chat.button("是"))
    chat.press(chat.button("是"))
    for label in ("建设意义", "建设基础", "建设思路", "重点任务", "组织架构", "保障措施", "进度计划"):
        chat.press(chat.button(label))
    chat.press(chat.button("完成"))
    chat.press(chat.button("自下而上"))
    assert "属地科技行政主管部门" in chat.text() and "第 17 题，约剩 2 题" in chat.text()
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
    assert "What kind of organisation are you?" in chat.text() and "Question 1, about 9 left" in chat.text()
    chat.press(chat.button("Enterprise"))
    out = chat.press(chat.button("Why"))
    assert "Section 4(1) item 1" in chat.text(out)
    for _ in range(3):
        chat.press(chat.button("Yes"))
    chat.press(chat.button("National"))
    chat.say("0")
    chat.say("150")
    assert "At 2 : 1: for CNY 1.5 million requested you need at least CNY 3 million self-raised." in chat.text()
    chat.say("200万")
    assert "Question 9, about 1 left" in chat.text()
    chat.press(chat.button("No"))
    chat.press(chat.button("Never"))
    result = chat.text()
    assert "Verdict: <b>not eligible</b>" in result
    assert "Self-raised CNY 2 million : requested CNY 1.5 million = 1.33 : 1, below 2 : 1" in result
    assert "Raise at least CNY 3 million yourselves (CNY 1 million more)" in result


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
        assert "第 4 题" in chat2.text(out)
        out = chat2.say("/check")
        assert "未完成的自评" in chat2.text(out) and "已回答 3/10" in chat2.text(out)
        chat2.press(chat2.button("继续"))
        assert "第 4 题" in chat2.text() and "合作基础" in chat2.text()
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
    assert "第 2 题" in chat.text()
    chat.say("上一题")
    assert "第 1 题" in chat.text() and "当前回答：1" in chat.text()
    chat.say("跳过")
    assert "第 2 题" in chat.text() and state(app)["skipped"] == ["lead_unit_count"]
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
        # a number presses a button — except where the question waits for a typed answer: there it
        # is the answer, and "#N" presses button N
        script = ("/check lead-unit\n1\n1\n1\n1\n2\n0\n#1\n0\n100\n150\n2\n2025-02-30\n2001年2月3日\n")
        run_shell(shell_app, user_id=77, stdin=_io.StringIO(script), out=out)
        text = out.getvalue()
        assert "第 6 题，约剩 4 题" in text and "[#1] ← 上一题" in text and "按钮请输入 #编号" in text
        # answered "0", then "#1" (← 上一题 on the next question) went back to it
        assert text.count("贵单位目前已牵头组建了几个创新联合体") == 2 and "当前回答：0" in text
        assert "按 2:1 计算：申请 100 万元，自筹经费至少需要 200 万元" in text
        assert "“2025-02-30”不是有效的日期" in text
        assert "不符合条件" in text and "自筹经费至少 200 万元（还差 50 万元）" in text
        assert "不在 3 年限制期内（2001-02-03）" in text  # the shell's own clock: long after the bar
    finally:
        shell_app.db.dispose()


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


# -- no dead ends ---------------------------------------------------------------------------------

def _fake_qa(app: App) -> list[str]:
    """A stand-in for the Q&A on the router's free-text path: records what it was asked."""
    asked: list[str] = []

    def fallback(ctx: Ctx) -> Reply:
        asked.append(ctx.msg.text or "")
        return Reply(f"QA-ANSWER: {ctx.msg.text}", buttons=[[Button("👍", "qa:up:1")]])

    app.router.fallback = fallback
    return asked


def test_a_question_typed_mid_checklist_is_answered_and_the_question_comes_back(app: App) -> None:
    asked = _fake_qa(app)
    chat = Chat(app)
    chat.say("/check lead-unit")
    chat.press(chat.button("企业"))
    before = state(app)
    for question in ("2:1 是什么意思？", "牵头单位可以同时牵头两个联合体吗", "请问牵头单位要具备哪些条件"):
        out = chat.say(question)
        assert next(r.text.split("\n")[0] for r in out.replies) == f"QA-ANSWER: {question}"
        ours = out.replies[-1]
        assert ours.text.startswith("↩️ 继续自评") and "第 2 题" in ours.text and "云南省内注册" in ours.text
        assert any(b.label == "是" for row in ours.buttons for b in row)  # with its buttons
        assert state(app) == before  # nothing answered, nothing lost
    assert len(asked) == 3
    chat.press(chat.button("是", out))  # the re-shown buttons work
    assert "第 3 题" in chat.text()
    for _ in range(2):
        chat.press(chat.button("是"))
    chat.press(chat.button("国家级"))
    out = chat.say("自筹经费的比例是多少？")  # at a number question
    assert out.replies[0].text.startswith("QA-ANSWER") and "第 6 题" in out.replies[-1].text
    chat.say("2")  # a typed answer is still an answer
    assert state(app)["answers"]["consortia_already_led"] == 2 and len(asked) == 4


def test_menu_buttons_work_at_any_point_and_cancel_always_leaves(app: App) -> None:
    asked = _fake_qa(app)
    chat = Chat(app)
    chat.say("/check lead-unit")
    chat.press(chat.button("企业"))
    out = chat.say("❓ 政策问答")
    assert "问题" in chat.text(out)  # the Q&A's own prompt
    out = chat.say("牵头单位条件")  # short, no question mark: after the menu button it is a question
    assert asked == ["牵头单位条件"] and "第 2 题" in out.replies[-1].text
    chat.say("是")
    assert "第 3 题" in chat.text() and state(app)["aside"] is False
    out = chat.say("牵头单位条件")  # now it is a (short) answer that is not one: say so
    assert "请点击下方按钮作答" in chat.text(out) and len(asked) == 1
    out = chat.say("ℹ️ 帮助")
    assert "/check" in chat.text(out)
    out = chat.say("📋 条件自评")
    assert "未完成的自评" in chat.text(out)
    out = chat.say("取消")
    assert "已取消" in chat.text(out) and state(app) == {}
    out = chat.say("/cancel")
    assert "没有进行中的自评" in chat.text(out)
    chat.say("/check member")
    out = chat.say("/cancel")
    assert "已取消" in chat.text(out) and state(app) == {}


def test_cancel_from_the_picker_and_after_the_verdict(app: App) -> None:
    chat = Chat(app)
    chat.say("/check")
    out = chat.say("取消")
    assert "已取消" in chat.text(out) and state(app) == {}
    chat.say("/check member")
    chat.press(chat.button("科技服务"))
    for _ in range(3):
        chat.press(chat.button("跳过"))
    assert state(app)["stage"] == "done"
    out = chat.say("退出")
    assert "已取消" in chat.text(out) and state(app) == {}


# -- bad input ------------------------------------------------------------------------------------

def test_buttons_of_a_finished_or_cancelled_dialog(app: App) -> None:
    chat = Chat(app)
    chat.say("/check member")
    chat.press(chat.button("科技服务"))
    pending = chat.button("是")
    for _ in range(3):
        chat.press(chat.button("跳过"))
    verdict = state(app)
    out = chat.press(pending)  # a question's button after the verdict
    assert out.toast and "已经完成" in out.toast and not out.replies and state(app) == verdict
    again = chat.button("重新自评")
    report = chat.button("Markdown")
    chat.press(again)
    for old in (pending, report, again):  # the finished dialog was replaced by a new one
        out = chat.press(old)
        assert out.toast and "已经结束" in out.toast and not out.replies
    chat.press(chat.button("牵头单位"))
    button = chat.button("企业")
    chat.press(chat.button("取消"))
    out = chat.press(button)
    assert out.toast and "已经结束" in out.toast and state(app) == {}


def test_a_stored_dialog_of_the_first_shape_carries_on(app: App) -> None:
    from storage import repo

    with app.db.session() as s:  # as the first version stored it
        repo.put_state(s, 5, "check", {"id": "OLDid1", "list": "lead-unit", "stage": "ask", "lang": "zh",
                                       "answers": {"entity_type": "enterprise"}, "skipped": [],
                                       "current": "registered_in_yunnan", "multi": None}, NOW)
    chat = Chat(app)
    out = chat.press("chk:OLDid1:a:1:1")  # a button on the old message
    assert "第 3 题" in chat.text(out)
    assert state(app)["answers"] == {"entity_type": "enterprise", "registered_in_yunnan": True}
    assert state(app)["checklist"] == "lead-unit"


def test_a_stored_dialog_that_no_longer_loads_is_restarted_with_a_message(app: App) -> None:
    from storage import repo

    with app.db.session() as s:
        repo.put_state(s, 5, "check", {"id": "X", "stage": "interview", "questions": [1, 2]}, NOW)
    chat = Chat(app)
    out = chat.say("100")
    assert "无法恢复" in chat.text(out) and "请选择要自评的内容" in chat.text(out)
    assert state(app)["stage"] == "pick"
    with app.db.session() as s:
        repo.put_state(s, 5, "check", {"id": "X", "stage": "ask"}, NOW)
    out = chat.press("chk:X:a:1:1")
    assert out.toast and "无法恢复" in chat.text(out) and state(app)["stage"] == "pick"


def test_dates_in_every_form_people_type(app: App) -> None:
    chat = Chat(app)
    for typed in ("2024-05-10", "2024/5/10", "2024.5.10", "2024年5月10日", " 2024 年 5 月 10 日。"):
        chat.say("/check member")
        chat.press(chat.button("高等学校"))
        for _ in range(4):
            chat.press(chat.button("是"))
        chat.say(typed)
        assert state(app)["answers"]["disqualified_on"] == "2024-05-10", typed
        assert "2027-05-10" in chat.text(), typed  # barred for 3 years from that date


def test_the_real_qa_answers_mid_checklist(app: App) -> None:
    from tests.qa_helpers import service

    app.provide("qa", lambda _a: service())  # the session's Q&A service (its index is built once)
    chat = Chat(app)
    chat.say("/check lead-unit")
    chat.press(chat.button("企业"))
    out = chat.say("企业自筹经费要按什么比例？")
    assert len(out.replies) == 2
    answer, ours = out.replies
    assert "四、（四）" in answer.text and "2:1" in answer.text
    assert any(b.data.startswith("qa:") for row in answer.buttons for b in row)  # the answer's own buttons
    assert "第 2 题" in ours.text and chat.buttons(out)[-1][1].startswith("chk:")
