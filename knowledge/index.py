"""The dense index: one Chroma document per clause, persisted under the data directory.

Reached through LangChain's vector-store interface (``langchain_chroma.Chroma``). The
collection carries a content hash of (corpus text, embedding model, chunking version): the
index is reused while it matches and rebuilt when any of them changes, never re-embedded
on an ordinary start. Chroma's telemetry is off.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from knowledge.corpus import Corpus
from knowledge.embeddings import NamedEmbeddings

CHUNKING_VERSION = "clause-v3"
COLLECTION = "scheme_clauses"


def search_text(corpus: Corpus, cid: str) -> str:
    """What a clause is found by: its heading path and its own words (children are found themselves)."""
    c = corpus.clauses[cid]
    return "\n".join(p for p in (*c.path, c.title, c.text) if p)


def sentences(text: str) -> list[str]:
    """A clause's own text cut into sentences (。；！？ and line breaks)."""
    return [s for s in re.split(r"(?<=[。；！？])|\n", text) if s.strip()]


def content_hash(corpus: Corpus, model_id: str) -> str:
    h = hashlib.sha256()
    for part in (corpus.digest, model_id, CHUNKING_VERSION):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


@dataclass
class IndexInfo:
    action: str  # "reused" | "built" | "rebuilt"
    path: Path
    count: int
    content_hash: str
    model_id: str


def chroma_client(path: Path) -> Any:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=ChromaSettings(anonymized_telemetry=False))


def open_index(path: Path, corpus: Corpus, embeddings: NamedEmbeddings, *, force: bool = False) -> tuple[Any, IndexInfo]:
    """The LangChain Chroma store for the corpus, built only when missing or stale."""
    from langchain_chroma import Chroma

    client = chroma_client(path)
    digest = content_hash(corpus, embeddings.model_id)
    ids = corpus.ids
    names = {getattr(c, "name", c) for c in client.list_collections()}
    action = "built"
    if COLLECTION in names:
        col = client.get_collection(COLLECTION)
        meta = col.metadata or {}
        if not force and meta.get("content_hash") == digest and col.count() == len(ids):
            store = Chroma(collection_name=COLLECTION, embedding_function=embeddings, client=client,
                           create_collection_if_not_exists=False)
            return store, IndexInfo("reused", path, len(ids), digest, embeddings.model_id)
        client.delete_collection(COLLECTION)
        action = "rebuilt"
    store = Chroma(
        collection_name=COLLECTION, embedding_function=embeddings, client=client,
        collection_metadata={"content_hash": digest, "model_id": embeddings.model_id[:200],
                             "chunking": CHUNKING_VERSION},
        collection_configuration={"hnsw": {"space": "cosine"}},
    )
    texts = [search_text(corpus, cid) for cid in ids]
    metas = [{"clause": cid, "label": corpus.clauses[cid].label} for cid in ids]
    store.add_texts(texts, metadatas=metas, ids=ids)
    return store, IndexInfo(action, path, len(ids), digest, embeddings.model_id)
