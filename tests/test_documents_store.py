"""The documents repository on SQLite and PostgreSQL: all-or-nothing adds, titles, supersession, withdrawal."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy.exc import IntegrityError

from knowledge.corpus import Clause, Corpus
from knowledge.docparse import read_document
from knowledge.documents import status_on
from storage.db import Database
from storage.documents_repo import DocumentConflict, DocumentStore, NewDocument
from tests.docs_helpers import notice_text
from tests.test_documents_meta import revised_scheme_text

NOW = datetime(2026, 12, 1, 2, tzinfo=UTC)
TITLE = "关于组织申报2027年度云南省创新联合体的通知"


def notice(title: str = TITLE, **kw: object) -> tuple[NewDocument, Corpus]:
    values: dict[str, object] = {"title": title, "issued": date(2027, 2, 20), "filename": "n.txt", "format": "txt"}
    values.update(kw)
    return NewDocument(**values), read_document(notice_text(), "n.txt").corpus  # type: ignore[arg-type]


def test_add_list_get_and_load_published(db: Database) -> None:
    store = DocumentStore(db)
    assert [m.id for m in store.list()] == ["scheme"]
    new, corpus = notice()
    meta = store.add(new, corpus, NOW, by=901)
    assert (meta.id, meta.kind, meta.title) == ("notice-2027", "notice", TITLE)
    second = store.add(*notice("第二批申报通知"), NOW)
    assert second.id == "notice-2027-2"
    assert [m.id for m in store.list()] == ["scheme", "notice-2027", "notice-2027-2"]
    got = store.get("notice-2027")
    assert got is not None
    m, c = got
    assert m == meta and c.ids == corpus.ids and c.text == corpus.text
    assert c.clauses["1.1"].children == ["1.1.1", "1.1.2"] and c.clauses["1.1.2"].path == ["申报条件", "牵头单位"]
    assert c.clauses["1.2"].sep == "。" and c.digest == corpus.digest
    loaded = store.load_published()
    assert [x[0].id for x in loaded] == ["scheme", "notice-2027", "notice-2027-2"]
    assert loaded[0][1].clauses["4.4"].title == "经费配套"
    # another process (a replica) on the same database sees the same documents
    other = Database.from_url(str(db.engine.url.render_as_string(hide_password=False)))
    try:
        assert [x[0].id for x in DocumentStore(other).load_published()] == ["scheme", "notice-2027", "notice-2027-2"]
    finally:
        other.dispose()


def test_bad_adds_change_nothing(db: Database) -> None:
    store = DocumentStore(db)
    store.add(*notice(), NOW)
    before = store.fingerprint()
    with pytest.raises(DocumentConflict) as err:
        store.add(*notice(), NOW)
    assert err.value.code == "title_exists" and "notice-2027" in str(err.value)
    with pytest.raises(DocumentConflict) as err:
        store.add(*notice("云南省创新联合体建设管理工作方案（试行）"), NOW)
    assert err.value.code == "title_exists"
    with pytest.raises(DocumentConflict) as err:
        store.add(*notice("新通知", supersedes="no-such-doc"), NOW)
    assert err.value.code == "supersedes_missing"
    with pytest.raises(DocumentConflict) as err:
        store.add(*notice("新通知", valid_until=date(2026, 1, 1)), NOW)
    assert err.value.code == "bad_dates"
    with pytest.raises(DocumentConflict) as err:
        store.add(*notice("新通知", doc_id="scheme"), NOW)
    assert err.value.code == "bad_id"
    # a failure while writing the clauses (two clauses with one id) leaves no half document behind
    a = Clause("x", "x", "x", "", "one")
    b = Clause("x", "x", "x", "", "two")
    broken = Corpus("t", "", "", "", "t", {"a": a, "b": b})
    with pytest.raises(IntegrityError):
        store.add(NewDocument(title="坏文件", issued=date(2027, 1, 1)), broken, NOW)
    assert store.fingerprint() == before and [m.id for m in store.list()] == ["scheme", "notice-2027"]


def test_supersede_withdraw_and_the_bundled_scheme(db: Database) -> None:
    store = DocumentStore(db)
    revised = read_document(revised_scheme_text().encode(), "r.txt").corpus
    meta = store.add(NewDocument(title="云南省创新联合体建设管理办法", issued=date(2026, 6, 1), supersedes="scheme"),
                     revised, NOW)
    assert (meta.id, meta.kind, meta.supersedes) == ("revised-2026", "revised", "scheme")
    metas = store.list()
    assert status_on(metas[0], date(2026, 12, 1), metas) == "superseded"
    with pytest.raises(DocumentConflict) as err:
        store.withdraw("scheme", NOW)
    assert err.value.code == "bundled"
    with pytest.raises(DocumentConflict) as err:
        store.withdraw("nope", NOW)
    assert err.value.code == "not_found"
    fp = store.fingerprint()
    gone = store.withdraw("revised-2026", NOW, by=901)
    assert gone.withdrawn and store.fingerprint() != fp
    assert [m.id for m in store.list()] == ["scheme"]
    assert [m.id for m in store.list(include_withdrawn=True)] == ["scheme", "revised-2026"]
    assert [x[0].id for x in store.load_published()] == ["scheme"]
    metas = store.list()
    assert status_on(metas[0], date(2026, 12, 1), metas) == "lapsed"
    with pytest.raises(DocumentConflict) as err:
        store.withdraw("revised-2026", NOW)
    assert err.value.code == "already_withdrawn"
    with pytest.raises(DocumentConflict) as err:  # supersedes must name a published document
        store.add(*notice("新通知", supersedes="revised-2026"), NOW)
    assert err.value.code == "supersedes_missing"
    # a withdrawn document's title is free again
    again = store.add(NewDocument(title="云南省创新联合体建设管理办法", issued=date(2026, 6, 1)), revised, NOW)
    assert again.id == "revised-2026-2"


def test_drafts_are_invisible_until_published(db: Database) -> None:
    store = DocumentStore(db)
    draft = store.add(*notice(), NOW, by=901, publish=False)
    assert [m.id for m in store.list()] == ["scheme"] and store.get(draft.id) is None
    assert store.get(draft.id, drafts=True) is not None
    store.add(*notice(), NOW)  # someone published the same title meanwhile
    with pytest.raises(DocumentConflict) as err:
        store.publish(draft.id, NOW)
    assert err.value.code == "title_exists"
    store.update_draft(draft.id, title="改过的标题", supersedes="scheme")
    published = store.publish(draft.id, NOW)
    assert (published.title, published.supersedes) == ("改过的标题", "scheme")
    with pytest.raises(DocumentConflict):
        store.publish(draft.id, NOW)
    other = store.add(*notice("草稿"), NOW, publish=False)
    assert store.discard(other.id) and not store.discard(other.id)
    assert [m.id for m in store.list()] == ["scheme", "notice-2027", "notice-2027-2"]
