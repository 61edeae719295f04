"""Answers across documents: a published notice is searched and cited by its document; a replica that did
not publish it follows the database's published set; the bundled scheme's notice is judged on today."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from bot.app import build_app
from bot.documents_io import new_document, refresh_if_changed
from knowledge.docparse import read_document
from storage.documents_repo import DocumentStore
from tests.conftest import make_settings

NOTICE = ("2027年度云南省创新联合体申报通知\n一、申报时间\n2027年度创新联合体申报截止时间为2027年3月31日。\n"
          "二、支持额度\n每个创新联合体省级财政支持不超过500万元。\n").encode()
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


def test_a_document_published_on_one_replica_is_answered_on_the_other(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    one, two = build_app(settings), build_app(settings)
    try:
        qa_two = two.service("qa")
        assert not any(":" in k for k in qa_two.corpus.ids)
        assert refresh_if_changed(two) is False  # nothing changed yet
        parsed = read_document(NOTICE, "notice.txt")
        store = DocumentStore(one.db)
        store.add(new_document(parsed, title="2027年度创新联合体申报通知", issued=date(2026, 11, 20)), parsed.corpus, NOW)
        assert refresh_if_changed(two) is True
        doc_ids = {k.split(":", 1)[0] for k in qa_two.corpus.ids if ":" in k}
        assert len(doc_ids) == 1
        # the notice answers what the scheme cannot (the shape "application dates" is refused without it)
        ans = qa_two.answer("2027年度申报截止时间是哪天", today=date(2026, 12, 1))
        assert ans.kind == "answer", (ans.kind, ans.ranked)
        c = ans.citations[0]
        assert c.document == doc_ids.pop() and "2027年3月31日" in c.quote and c.label.startswith("《")
        # a notice has no answer card: its lead is the sentence that states the fact, not the clause's label
        assert "截止时间为2027年3月31日" in ans.lead and not ans.lead.startswith("《"), ans.lead
        assert one.service("qa").answer("2027年度申报截止时间是哪天").kind == "answer"  # built after: loads it
    finally:
        one.db.dispose()
        two.db.dispose()
