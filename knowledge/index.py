"""The dense index: one Chroma collection of clause, sentence and question vectors, searched by Chroma.

Every *unit* is one vector with metadata ``{doc, clause, kind, facet}``:

- ``clause``: a clause's heading path and words (e5 ``passage:``);
- ``sent``: one sentence of a clause (a long clause is also found by its best sentence);
- ``card``: a question the clause's answer card says it answers (e5 ``query:``: question ↔ question);
- ``faq``: a question an officer answered with this clause (the knowledge-gaps loop).

``clause`` is the unit's key in the combined corpus (``4.4`` for the bundled scheme, ``doc:4.4`` for an
added document), so one search serves every published document. The collection is reached through
LangChain's vector-store interface (``langchain_chroma.Chroma``) and queried with Chroma's own nearest-
neighbour search. Each *part* (one document's units, the cards, the FAQ) is stored as a *version* named by
its content hash (the hash prefixes its units' ids and is listed in the collection's metadata): an unchanged
part is never re-embedded, a changed one is added as a new version and the version it replaces deleted.

The client is embedded (``chroma_client``: a directory of its own; one that cannot be opened is derived
data: it is moved aside and rebuilt, logged once) or given by the caller (a Chroma server several replicas
share). On a shared server a replica deletes only the versions *it* held and dropped, never one it did not
hold (another replica, perhaps not yet refreshed, may still search it): searches keep only the units of
the versions the service holds, so versions side by side do not mix.
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from knowledge.corpus import Corpus
from knowledge.embeddings import NamedEmbeddings
from knowledge.vectors import shipped, unit_key

log = logging.getLogger(__name__)

CHUNKING_VERSION = "units-v8"
PASSAGES = "scheme_passages"
QUESTIONS = "scheme_questions"
ANCHORS = "scheme_anchors"
# out-of-scope anchors have a collection of their own: their nearest one is always found (the gate reads it)
COLLECTIONS = {PASSAGES: ("clause", "sent"), QUESTIONS: ("card", "faq"), ANCHORS: ("oos",)}
COLLECTION = PASSAGES
SEARCH_K = 100  # nearest units asked of each collection per question
# the graph is built on one thread (the same graph for the same units) and searched wide enough that the 100
# nearest are found exactly in collections of a few thousand units, whatever versions were added and dropped
HNSW_EF = 400
KINDS = ("clause", "sent", "card", "faq")
QUERY_BATCH = 8
SELF_MATCH = 0.9999  # an anchor this near a question is the question itself (the same text, the same vector)
HITS_CACHE_SIZE = 512  # a repeated question (same vector) skips Chroma until the units change


def search_text(corpus: Corpus, cid: str) -> str:
    """What a clause is found by: its heading path and its own words (children are found themselves)."""
    c = corpus.clauses[cid]
    return "\n".join(p for p in (*c.path, c.title, c.text) if p)


def sentences(text: str) -> list[str]:
    """A clause's own text cut into sentences (。；！？ and line breaks)."""
    return [s for s in re.split(r"(?<=[。；！？])|\n", text) if s.strip()]


@dataclass(frozen=True)
class Unit:
    """One vector of the index."""

    key: str  # Chroma id, unique
    part: str  # which part it belongs to (replaced together): "doc:<id>", "cards", "faq"
    clause: str  # key of the clause in the combined corpus
    kind: str  # clause | sent | card | faq
    text: str
    facet: int = -1  # card facet index (kind card), else -1
    query_like: bool = False  # embedded as a query (questions), not a passage


def corpus_units(corpus: Corpus, part: str = "doc:scheme") -> list[Unit]:
    """Clause and sentence units of one document (clause keys as in ``corpus``)."""
    out: list[Unit] = []
    for cid in corpus.ids:
        c = corpus.clauses[cid]
        out.append(Unit(f"{part}|c|{cid}", part, cid, "clause", search_text(corpus, cid)))
        sents = sentences(c.text)
        if len(sents) > 1:  # a one-sentence clause is its own sentence unit
            head = " ".join(p for p in (*c.path[-1:], c.title) if p)
            for i, s in enumerate(sents):
                if len(s.strip()) >= 6:
                    out.append(Unit(f"{part}|s|{cid}|{i}", part, cid, "sent", f"{head} {s}".strip()))
    return out


def question_units(items: Iterable[tuple[str, int, str]], part: str, kind: str) -> list[Unit]:
    """(clause key, facet, question) → question units (deduplicated per clause)."""
    seen: set[tuple[str, str]] = set()
    out: list[Unit] = []
    for n, (clause, facet, q) in enumerate(items):
        q = q.strip()
        if not q or (clause, q) in seen:
            continue
        seen.add((clause, q))
        out.append(Unit(f"{part}|{kind[0]}|{clause}|{n}", part, clause, kind, q, facet, True))
    return out


def part_hash(units: Sequence[Unit], model_id: str) -> str:
    h = hashlib.sha256()
    for piece in (model_id, CHUNKING_VERSION, *(f"{u.key}\0{u.clause}\0{u.facet}\0{u.text}" for u in units)):
        h.update(piece.encode())
        h.update(b"\1")
    return h.hexdigest()[:32]


def content_hash(corpus: Corpus, model_id: str) -> str:
    """The hash of one document's units (kept for callers that key on a single corpus)."""
    return part_hash(corpus_units(corpus), model_id)


@dataclass
class IndexInfo:
    action: str  # "reused" | "built" | "rebuilt" | "updated"
    path: Path
    count: int
    content_hash: str
    model_id: str
    parts: dict[str, str] = field(default_factory=dict)  # part → reused | built
    healed: bool = False


@dataclass
class DenseHits:
    """Per question: for each clause (combined-corpus order) the best cosine of each unit kind that
    Chroma returned (0 when none was among the nearest), and the best-matching card facet."""

    by_kind: dict[str, np.ndarray]
    facet: dict[str, tuple[int, float]]  # clause → (best facet index, cosine)
    top: float  # best cosine of any unit of a clause
    oos_top: float = 0.0  # best cosine of an out-of-scope anchor question
    facets: dict[str, dict[int, float]] = field(default_factory=dict)  # clause → facet → best cosine
    oos_near: float = 0.0  # mean cosine of the three nearest out-of-scope anchors
    card_near: float = 0.0  # mean cosine of the three nearest card or FAQ questions


def _near(sims: list[float], k: int = 3) -> float:
    """Mean of the ``k`` largest of ``sims`` (0 when none)."""
    best = sorted(sims, reverse=True)[:k]
    return sum(best) / len(best) if best else 0.0


def chroma_client(path: Path) -> Any:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=ChromaSettings(anonymized_telemetry=False))


def _version_key(version: str) -> str:
    """The collection-metadata key that says a part's version is stored (its value: the part's name)."""
    return "v:" + version


def _unit_id(version: str, key: str) -> str:
    return f"{version[:16]}|{key}"


class DenseIndex:
    """The Chroma collections of units, kept in step with the parts they are given.

    ``connect``: a function returning the Chroma client to use (a server shared by several replicas);
    default: an embedded client on the directory ``path``. A client the caller gives is never "healed":
    its failures are the caller's to report."""

    def __init__(self, path: Path, embeddings: NamedEmbeddings, connect: Callable[[], Any] | None = None) -> None:
        self.path = path
        self.embeddings = embeddings
        self.healed = False
        self.skip_self_anchors = False  # the fit's view: an anchor never matches its own question (see fit)
        self.shared = connect is not None
        self.client = connect() if connect is not None else self._open_client()
        self.store: Any = None
        self.collections: dict[str, Any] = {}
        self.part_hashes: dict[str, str] = {}  # the parts this service holds: part → version (content hash)
        self.units: dict[str, tuple[str, str, int]] = {}  # the ids of the units it holds → (clause, kind, facet)
        self.held: set[str] = set()  # the versions this index synced: on a shared server, the ones it may delete
        self.counts: dict[str, int] = {}  # units per collection, as synced (no count() per question)
        self.clause_pos: dict[str, int] = {}
        self._swap = threading.Lock()
        self._hits: OrderedDict[bytes, DenseHits] = OrderedDict()  # query vector → its hits (LRU; read-only)

    def _open_client(self) -> Any:
        try:
            client = chroma_client(self.path)
            client.list_collections()
            return client
        except Exception as exc:  # any failure to open derived data: rebuild it
            if isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError):
                raise  # read-only or full disk: not the index's fault (one line from the CLI)
            return self._heal(exc)

    def _heal(self, exc: BaseException) -> Any:
        """Move the broken directory aside (it is derived from the documents) and start a new one."""
        from chromadb.api.shared_system_client import SharedSystemClient

        aside = self.path.with_name(f"{self.path.name}.broken-{time.strftime('%Y%m%d%H%M%S')}")
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        log.warning("the Chroma index at %s cannot be opened (%s); moved aside to %s and rebuilt", self.path, reason,
                    aside)
        SharedSystemClient.clear_system_cache()  # forget the cached handle of the broken directory
        try:
            shutil.move(str(self.path), str(aside))
        except OSError:
            shutil.rmtree(self.path, ignore_errors=True)
        self.healed = True
        return chroma_client(self.path)

    def close(self) -> None:
        """Let go of the client; a server client's HTTP connections are closed (Chroma's own ``close`` only
        releases its system, and each server client has one of its own, and one for its admin client)."""
        sessions: list[Any] = []
        for c in (self.client, getattr(self.client, "_admin_client", None)):
            try:
                system = c._system if c is not None else None
            except (AttributeError, KeyError):  # released already
                continue
            if system is not None:
                sessions += [x._session for x in system.components() if hasattr(getattr(x, "_session", None), "close")]
        close = getattr(self.client, "close", None)
        if callable(close):
            close()
        for session in sessions:
            session.close()
        self.collections = {}

    def sync(self, parts: dict[str, list[Unit]], clause_order: Sequence[str], *, force: bool = False) -> IndexInfo:
        """Make the collections hold ``parts``; embed only the parts whose version is not stored yet. An
        embedded index that fails while being read is rebuilt once (a shared server's failure is raised)."""
        try:
            return self._sync(parts, clause_order, force)
        except Exception as exc:
            if isinstance(exc, OSError) or self.healed or self.shared:
                raise
            self.client = self._heal(exc)
            return self._sync(parts, clause_order, True)

    def _sync(self, parts: dict[str, list[Unit]], clause_order: Sequence[str], force: bool) -> IndexInfo:
        model_id = self.embeddings.model_id
        hashes = {p: part_hash(us, model_id) for p, us in parts.items()}
        actions: list[str] = []
        done: dict[str, str] = {}
        collections: dict[str, Any] = {}
        for name, kinds in COLLECTIONS.items():
            split = {p: [u for u in us if u.kind in kinds] for p, us in parts.items()}
            store, act = self._sync_one(name, split, hashes, done, force)
            actions.append(act)
            collections[name] = store._collection
            self.counts[name] = store._collection.count()
            if name == PASSAGES:
                self.store = store
        units = {_unit_id(hashes[p], u.key): (u.clause, u.kind, u.facet) for p, us in parts.items() for u in us}
        with self._swap:  # a search running meanwhile sees the old parts or the new ones, never half
            self.collections, self.part_hashes, self.units = collections, hashes, units
            self.clause_pos = {cid: i for i, cid in enumerate(clause_order)}
            self._hits = OrderedDict()  # hits of the old units are stale
        self.held = set(hashes.values())
        action = "built" if self.healed else next((a for a in ("rebuilt", "built", "updated") if a in actions), "reused")
        total = sum(len(u) for u in parts.values())
        digest = hashlib.sha256("".join(sorted(hashes.values())).encode()).hexdigest()[:32]
        return IndexInfo(action, self.path, total, digest, model_id, done, self.healed)

    def _sync_one(self, name: str, parts: dict[str, list[Unit]], hashes: dict[str, str], done: dict[str, str],
                  force: bool) -> tuple[Any, str]:
        from langchain_chroma import Chroma

        model_id = self.embeddings.model_id
        names = {getattr(c, "name", c) for c in self.client.list_collections()}
        action = "built"
        meta: dict[str, Any] = {}
        if name in names:
            old = self.client.get_collection(name)
            meta = dict(old.metadata or {})
            if force or meta.get("model_id") != model_id[:200] or meta.get("chunking") != CHUNKING_VERSION:
                self.client.delete_collection(name)
                meta, action = {}, "rebuilt"
            else:
                action = "reused"
        store = Chroma(
            collection_name=name, embedding_function=self.embeddings, client=self.client,
            collection_metadata={"model_id": model_id[:200], "chunking": CHUNKING_VERSION},
            collection_configuration={"hnsw": {"space": "cosine", "num_threads": 1, "ef_search": HNSW_EF}},
        )
        col = store._collection
        stored = {k[2:] for k in meta if k.startswith("v:")}
        mine = set(hashes.values())
        # embedded: whatever this set does not hold is garbage; shared: only what this index held and dropped
        dropped = stored - mine if not self.shared else (self.held & stored) - mine
        for version in sorted(dropped):
            col.delete(where={"h": version})
            action = "updated" if action == "reused" else action
        added: dict[str, str] = {}
        for part, units in parts.items():
            version = hashes[part]
            if version in stored:
                done.setdefault(part, "reused")
                continue
            self._add(col, units, version)  # upsert: a replica adding the same version meanwhile is harmless
            added[_version_key(version)] = part
            done[part] = "built"
            if action == "reused":
                action = "updated"
        if added or dropped or not meta:
            # read the metadata again just before writing it: another replica may have changed it meanwhile
            fresh = dict(self.client.get_collection(name).metadata or {}) if self.shared else meta
            fresh = {k: v for k, v in fresh.items()
                     if k != "hnsw:space" and not (k.startswith("v:") and k[2:] in dropped)}
            fresh.update(added)
            fresh.update({"model_id": model_id[:200], "chunking": CHUNKING_VERSION})
            col.modify(metadata=fresh)
        return store, action

    def _add(self, col: Any, units: Sequence[Unit], version: str) -> None:
        if not units:
            return
        # the bundled units' vectors ship with the package (knowledge.vectors); only the rest is embedded
        ready = shipped(self.embeddings.model_id)
        vecs: dict[str, Any] = {u.key: v for u in units if (v := ready.get(unit_key(u.query_like, u.text))) is not None}
        passages = [u for u in units if not u.query_like and u.key not in vecs]
        questions = [u for u in units if u.query_like and u.key not in vecs]
        if passages:
            vecs.update(zip([u.key for u in passages], self.embeddings.embed_documents([u.text for u in passages]),
                            strict=True))
        if questions:
            vecs.update(zip([u.key for u in questions], self.embeddings.embed_queries([u.text for u in questions]),
                            strict=True))
        for start in range(0, len(units), 1000):
            chunk = units[start:start + 1000]
            col.upsert(ids=[_unit_id(version, u.key) for u in chunk],
                       embeddings=[np.asarray(vecs[u.key], dtype=np.float32) for u in chunk],
                       documents=[u.text for u in chunk],
                       metadatas=[{"part": u.part, "clause": u.clause, "kind": u.kind, "facet": u.facet, "h": version}
                                  for u in chunk])

    def search(self, qvecs: Sequence[np.ndarray | None], k: int = SEARCH_K) -> list[DenseHits | None]:
        """Chroma's nearest units for each query vector, folded per clause and kind."""
        out: list[DenseHits | None] = [None] * len(qvecs)
        with self._swap:
            collections, units, clause_pos, cache = self.collections, self.units, self.clause_pos, self._hits
            keys = [np.asarray(v, dtype=np.float32).tobytes() if v is not None else b"" for v in qvecs]
            for i, key in enumerate(keys):
                if key and (hit := cache.get(key)) is not None:
                    cache.move_to_end(key)
                    out[i] = hit
        todo = [i for i, v in enumerate(qvecs) if v is not None and out[i] is None]
        if not todo or not collections:
            return out
        n = len(clause_pos)
        # ids and distances only: what a unit is (clause, kind, facet) is known from the units this service
        # holds (fetching Chroma's metadata cost more than the search); an id it does not hold is another version
        res: dict[str, list[Any]] = {"distances": [[] for _ in todo], "ids": [[] for _ in todo]}
        for name, col in collections.items():
            kk = min(k, self.counts.get(name, 0))
            if not kk:
                continue
            for start in range(0, len(todo), QUERY_BATCH):
                part = col.query(
                    query_embeddings=[np.asarray(qvecs[i], dtype=np.float32) for i in todo[start:start + QUERY_BATCH]],
                    n_results=kk, include=["distances"])
                for j, (d, ids) in enumerate(zip(part["distances"], part["ids"], strict=True)):
                    res["distances"][start + j] += d
                    res["ids"][start + j] += ids
        for row, i in enumerate(todo):
            by_kind = {kind: np.zeros(n, dtype=np.float32) for kind in KINDS}
            facet: dict[str, tuple[int, float]] = {}
            facets: dict[str, dict[int, float]] = {}
            top = oos = 0.0
            oos_sims: list[float] = []
            card_sims: list[float] = []
            for dist, uid in zip(res["distances"][row], res["ids"][row], strict=True):
                what = units.get(uid)
                if what is None:
                    continue  # a version this service does not hold (another replica's, not yet refreshed here)
                clause, kind, f = what
                sim = 1.0 - float(dist)
                if kind == "oos":
                    if sim >= SELF_MATCH and self.skip_self_anchors:
                        continue  # the fit asks an anchor's own question: it must not see its own copy
                    oos = max(oos, sim)
                    oos_sims.append(sim)
                    continue
                if kind in ("card", "faq"):
                    card_sims.append(sim)
                pos = clause_pos.get(clause)
                if pos is None:
                    continue
                top = max(top, sim)
                arr = by_kind[kind]
                if sim > arr[pos]:
                    arr[pos] = sim
                if f >= 0:
                    per = facets.setdefault(clause, {})
                    per[f] = max(per.get(f, -1.0), sim)
                    if sim > facet.get(clause, (-1, -1.0))[1]:
                        facet[clause] = (f, sim)
            out[i] = DenseHits(by_kind, facet, top, oos, facets, _near(oos_sims), _near(card_sims))
        with self._swap:
            if cache is self._hits:  # not when the units changed meanwhile
                for i in todo:
                    if (hit := out[i]) is not None:
                        cache[keys[i]] = hit
                while len(cache) > HITS_CACHE_SIZE:
                    cache.popitem(last=False)
        return out


def open_index(path: Path, corpus: Corpus, embeddings: NamedEmbeddings, *, force: bool = False) -> tuple[Any, IndexInfo]:
    """The LangChain Chroma store for one corpus (its clause and sentence units), built only when missing or stale."""
    idx = DenseIndex(path, embeddings)
    info = idx.sync({"doc:scheme": corpus_units(corpus)}, corpus.ids, force=force)
    return idx.store, info
