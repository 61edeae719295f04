"""Documents in chat through app.handle (what Telegram and the shell both drive): upload → preview →
publish or cancel, /docs with withdraw buttons, /diff, refusals, and the hook into the Q&A service."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.app import App, build_app
from bot.core import Document, Incoming, Outcome
from bot.documents_io import build_kwargs
from knowledge.corpus import Corpus
from knowledge.documents import DocumentMeta
from storage import registry_repo as rr
from storage.documents_repo import DocumentStore
from tests.conftest import make_settings
from tests.deadlines_helpers import csv_bytes
from tests.docs_helpers import (
    NOTICE_LINES,
    docx_bytes,
    encrypted_pdf_bytes,
    notice_text,
    scanned_pdf_bytes,
    zip_of_something_else,
)
from tests.fakebotapi import FakeBotAPI
from tests.telegram_helpers import running_bot
from tests.test_deadlines_telegram import TOKEN, reply_to
from tests.test_documents_meta import revised_scheme_text

NOW = datetime(2026, 12, 1, 2, tzinfo=UTC)
OFFICER, APPLICANT = 901, 5555


def say(app: App, chat: int, text: str, lang: str = "zh-hans") -> Outcome:
    return app.handle(Incoming(chat_id=chat, user_id=chat, text=text, language_code=lang), NOW)


def press(app: App, chat: int, data: str) -> Outcome:
    return app.handle(Incoming(chat_id=chat, user_id=chat, callback_data=data, kind="callback"), NOW)


def upload(app: App, chat: int, name: str, content: bytes, caption: str = "", lang: str = "zh-hans") -> Outcome:
    return app.handle(Incoming(chat_id=chat, user_id=chat, document=Document(name, content, caption),
                               kind="document", language_code=lang), NOW)


def text_of(out: Outcome) -> str:
    return "\n".join(r.text for r in out.replies)


def buttons(out: Outcome) -> dict[str, str]:
    return {b.label: b.data for r in out.replies for row in r.buttons for b in row}


def published(app: App) -> list[str]:
    return [m.id for m in DocumentStore(app.db).list()]


class FakeQA:
    """Stands in for the lead's Q&A service: records the documents it is given."""

    def __init__(self) -> None:
        self.documents: list[tuple[DocumentMeta, Corpus]] | None = None

    def set_documents(self, documents: list[tuple[DocumentMeta, Corpus]]) -> None:
        self.documents = documents


def test_officer_uploads_previews_and_publishes(app: App) -> None:
    fake = FakeQA()
    app.provide("qa", lambda _a: fake)
    app.service("qa")  # a running service
    out = upload(app, OFFICER, "2027通知.docx", docx_bytes(), caption="2027年度申报通知")
    text = text_of(out)
    assert "文件预览（尚未发布）" in text and "《2027年度申报通知》" in text
    assert "2027年2月20日" in text and "2028年2月19日" in text and "条款：9 条（DOCX）" in text
    assert "一、申报条件" in text and "一、（一） 牵头单位" in text
    b = buttons(out)
    assert set(b) >= {"✅ 发布", "✖️ 取消", "🔁 取代 scheme"}
    assert published(app) == ["scheme"]  # nothing is published before the officer confirms

    out = press(app, OFFICER, b["🔁 取代 scheme"])
    assert "取代：scheme" in text_of(out) and out.replies[0].edit
    out = press(app, OFFICER, buttons(out)["✅ 发布"])
    assert "已发布《2027年度申报通知》（编号 notice-2027，9 条）" in text_of(out)
    assert "该通知自2027年2月20日起施行" in text_of(out)
    assert published(app) == ["scheme", "notice-2027"]
    assert fake.documents is not None and [m.id for m, _ in fake.documents] == ["scheme", "notice-2027"]

    out = say(app, OFFICER, "/docs")
    assert "scheme" in text_of(out) and "已失效" in text_of(out) and "notice-2027" in text_of(out)
    assert "取代 scheme" in text_of(out)
    wd = buttons(out)["🗑 撤回 notice-2027"]
    assert "🗑 撤回 scheme" not in buttons(out)
    out = press(app, OFFICER, wd)
    assert "确认撤回《2027年度申报通知》" in text_of(out)
    out = press(app, OFFICER, buttons(out)["🗑 确认撤回"])
    assert "已撤回《2027年度申报通知》（notice-2027）" in text_of(out)
    assert published(app) == ["scheme"] and [m.id for m, _ in fake.documents] == ["scheme"]
    assert "scheme" in text_of(press(app, OFFICER, "docs:wd:scheme"))  # the bundled scheme: explained, kept
    assert published(app) == ["scheme"]


def test_missing_issue_date_is_asked_for_and_typed_edits_apply(app: App) -> None:
    lines = [ln for ln in NOTICE_LINES if ln not in ("云南省科学技术厅", "2027年2月20日")]
    out = upload(app, OFFICER, "notice.txt", notice_text(lines))
    assert "未能从文中识别印发日期" in text_of(out)
    pub = buttons(out)["✅ 发布"]
    assert press(app, OFFICER, pub).toast == "请先回复印发日期"
    assert published(app) == ["scheme"]
    out = say(app, OFFICER, "印发日期：2027年3月1日")
    assert "已修改" in text_of(out) and "2027年3月1日" in text_of(out) and "2028年2月29日" in text_of(out)
    out = say(app, OFFICER, "标题：2027年度第二批申报通知")
    assert "《2027年度第二批申报通知》" in text_of(out)
    assert "无法识别" in text_of(say(app, OFFICER, "有效期至：明年"))
    out = say(app, OFFICER, "有效期至：2027-12-31")
    assert "2027年12月31日" in text_of(out)
    out = press(app, OFFICER, pub)
    assert "已发布《2027年度第二批申报通知》" in text_of(out)
    meta = DocumentStore(app.db).list()[1]
    assert (str(meta.issued), str(meta.valid_until)) == ("2027-03-01", "2027-12-31")


def test_cancel_and_stale_buttons(app: App) -> None:
    out = upload(app, OFFICER, "notice.txt", notice_text())
    b = buttons(out)
    out = press(app, OFFICER, b["✖️ 取消"])
    assert "已取消，未发布任何内容" in text_of(out)
    out = press(app, OFFICER, b["✅ 发布"])
    assert published(app) == ["scheme"] and out.toast


def test_applicants_cannot_upload_publish_or_withdraw(app: App) -> None:
    out = upload(app, APPLICANT, "notice.docx", docx_bytes())
    assert "只有省科技厅工作人员可以上传政策文件" in text_of(out)
    out = upload(app, APPLICANT, "notice.pdf", b"%PDF-1.4", lang="en")
    assert "only officers" in text_of(out)
    draft = buttons(upload(app, OFFICER, "notice.txt", notice_text()))["✅ 发布"]
    assert press(app, APPLICANT, draft).toast == "仅限省科技厅工作人员操作"
    assert press(app, APPLICANT, "docs:wdy:notice-2027").toast == "仅限省科技厅工作人员操作"
    assert published(app) == ["scheme"]
    out = say(app, APPLICANT, "/docs")  # reading the list is for everyone, without buttons
    assert "scheme" in text_of(out) and not buttons(out)


def test_bad_files_get_a_clear_message_in_the_users_language(app: App) -> None:
    assert "没有文字层" in text_of(upload(app, OFFICER, "scan.pdf", scanned_pdf_bytes()))
    assert "no text layer" in text_of(upload(app, OFFICER, "scan.pdf", scanned_pdf_bytes(), lang="en"))
    assert "设有打开密码" in text_of(upload(app, OFFICER, "secret.pdf", encrypted_pdf_bytes()))
    assert "不是 Word（.docx）文档" in text_of(upload(app, OFFICER, "fake.docx", zip_of_something_else()))
    assert "已损坏" in text_of(upload(app, OFFICER, "broken.docx", b"PK\x03\x04garbage" * 3))
    assert "超过了上传大小限制" in text_of(upload(app, OFFICER, "huge.pdf", b""))  # the adapter drops > 20 MB
    assert "无法识别文件" in text_of(upload(app, OFFICER, "notes.xyz", b"hello"))
    assert published(app) == ["scheme"]


def test_registry_files_still_go_to_the_registry_import(app: App) -> None:
    out = upload(app, OFFICER, "reg.csv", csv_bytes("滇中新材料创新联合体,甲公司,新材料,top_down,,2026-03-01,"
                                                   "2028-06-30,1001"))
    assert "登记表已导入" in text_of(out)
    with app.db.session() as s:
        assert rr.count_consortia(s) == 1
    assert "只有省科技厅工作人员可以上传创新联合体登记表" in text_of(upload(app, APPLICANT, "reg.csv", b"x"))


def test_diff_in_chat(app: App) -> None:
    assert "用法" in text_of(say(app, OFFICER, "/diff"))
    assert "没有编号为 nope 的文件" in text_of(say(app, OFFICER, "/diff scheme nope"))
    out = upload(app, OFFICER, "revised.txt", revised_scheme_text().encode(), caption="云南省创新联合体建设管理办法")
    say(app, OFFICER, "印发日期：2026-06-01")
    press(app, OFFICER, "docs:sup:" + buttons(out)["✅ 发布"].split(":")[2] + ":scheme")
    out = press(app, OFFICER, buttons(out)["✅ 发布"])
    assert "已发布" in text_of(out) and "该方案已被《云南省创新联合体建设管理办法》" in text_of(out)
    out = say(app, OFFICER, "/diff scheme revised-2026")
    text = text_of(out)
    assert "✏️ 修改 四、（四）" in text and "2:1" in text and "1:1" in text
    assert "➖ 删除 四、（三）" in text and "➕ 新增 五、申报时间" in text and "仅编号变化" in text
    out = say(app, OFFICER, "/diff scheme revised-2026", lang="en")
    assert "✏️ changed 四、（四）" in text_of(out) and "only renumbered" in text_of(out)


def test_build_kwargs_hands_the_documents_to_a_service_that_takes_them(app: App) -> None:
    def build_new(data_dir: str, *, documents: list[Any] | None = None) -> None: ...

    def build_old(data_dir: str) -> None: ...

    kw = build_kwargs(build_new, app.db)
    assert [m.id for m, _ in kw["documents"]] == ["scheme"]
    assert build_kwargs(build_old, app.db) == {}


async def test_upload_preview_and_publish_over_telegram(tmp_path: Path, api: FakeBotAPI) -> None:
    settings = make_settings(tmp_path, telegram_bot_token=TOKEN, telegram_api_base_url=api.base_url,
                             officer_chat_ids=[OFFICER], reminder_tick_seconds=3600)
    tg_app = build_app(settings)
    try:
        async with running_bot(tg_app, api):
            api.send_document(APPLICANT, "notice.docx", docx_bytes())
            assert "只有省科技厅工作人员可以上传政策文件" in (await reply_to(api, APPLICANT, 0))["text"]
            api.send_document(OFFICER, "notice.docx", docx_bytes(), caption="2027年度申报通知")
            preview = await reply_to(api, OFFICER, 0)
            assert "《2027年度申报通知》" in preview["text"] and "条款：9 条（DOCX）" in preview["text"]
            typing = api.calls_of("sendChatAction", OFFICER)  # "typing…" while the file is read
            assert typing and typing[0].params["action"] == "typing"
            msg = api.last_message(OFFICER)
            publish = dict(api.buttons(msg))["✅ 发布"]
            api.press(OFFICER, msg["message_id"], publish)
            edited = await asyncio.to_thread(api.wait_reply, OFFICER, 0, "editMessageText")
            assert "已发布《2027年度申报通知》" in edited.params["text"]
            assert published(tg_app) == ["scheme", "notice-2027"]
    finally:
        tg_app.db.dispose()
