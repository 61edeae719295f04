"""Grouping what people asked that the bot could not answer well into topics. Pure: vectors and
records in, groups out (no clock, no database, no model: the caller embeds).

* :func:`cluster` — agglomerative clustering (scikit-learn, cosine distance, average linkage,
  a distance threshold); large inputs are first reduced to micro-clusters by a greedy leader pass
  so the pairwise matrix stays small. Without scikit-learn the greedy pass alone is used.
* :func:`assign` — new vectors to the nearest existing topic centroid within the threshold.
* :func:`summarize` — per topic: label (most central question), count, distinct askers,
  first/last seen, kinds, up to five examples.
* :func:`similar_text` — the re-ask rule (character-bigram overlap).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

KINDS = ("refused", "clarify", "disliked", "reask")
THRESHOLD = 0.04  # cosine distance (average linkage) for multilingual-e5-small passages of topic_text()
MAX_DIRECT = 2500  # points clustered directly; above that, micro-clusters first
MAX_EXAMPLES = 5


_LEAD = re.compile(r"^(?:(?:你好|您好|老师好|老师|请问一下|请问|想问一下|想问下|想问|问一下|咨询一下|咨询下|麻烦问一下|麻烦问下|"
                   r"打扰一下|打扰了|hi|hello|hey|dear|please)[\s,，.。!！、:：~]*)+", re.I)
_TAIL = re.compile(r"(?:[\s,，。.!！?？~…]*(?:谢谢您|谢谢了|谢谢|多谢|感谢|thanks|thank you|thx|急急急|急|呢|啊|呀|吧|哈))+"
                   r"[\s,，。.!！?？~…]*$", re.I)
_PUNCT_END = re.compile(r"[\s,，。.!！?？~…]+$")


def topic_text(question: str) -> str:
    """The question without courtesy words (请问, 你好, 谢谢, 急 …) and end punctuation: what is embedded,
    so the same greeting does not pull different topics together."""
    q = re.sub(r"\s+", " ", question).strip()
    core_text = _PUNCT_END.sub("", _TAIL.sub("", _LEAD.sub("", q)))
    return core_text or q


def normalize(vectors: np.ndarray) -> np.ndarray:
    v = np.asarray(vectors, dtype=np.float32)
    if v.ndim != 2:
        raise ValueError("vectors must be a 2-D array")
    n = np.linalg.norm(v, axis=1, keepdims=True)
    n[n == 0] = 1.0
    return v / n


def _leaders(v: np.ndarray, radius: float, block: int = 512) -> np.ndarray:
    """Greedy leader clustering: each point joins the first leader within ``radius`` (cosine
    distance), else leads a new micro-cluster. Vectors are unit length. Returns labels."""
    n = len(v)
    labels = np.full(n, -1, dtype=np.int64)
    leaders: list[int] = []
    lead_mat = np.zeros((0, v.shape[1]), dtype=np.float32)
    for start in range(0, n, block):
        chunk = v[start:start + block]
        if len(lead_mat):
            sims = chunk @ lead_mat.T
            best = sims.argmax(axis=1)
            ok = sims[np.arange(len(chunk)), best] >= 1.0 - radius
            labels[start:start + len(chunk)][ok] = best[ok]
        pending = [i for i in range(start, start + len(chunk)) if labels[i] < 0]
        new_rows: list[np.ndarray] = []
        for i in pending:  # within the block, points that found no leader lead or follow each other
            if new_rows:
                sims_new = np.stack(new_rows) @ v[i]
                j = int(sims_new.argmax())
                if sims_new[j] >= 1.0 - radius:
                    labels[i] = len(leaders) - len(new_rows) + j
                    continue
            leaders.append(i)
            new_rows.append(v[i])
            labels[i] = len(leaders) - 1
        if new_rows:
            lead_mat = np.vstack([lead_mat, np.stack(new_rows)])
    return labels


def _agglomerative(v: np.ndarray, threshold: float, weights: np.ndarray | None = None) -> np.ndarray:
    if len(v) == 1:
        return np.zeros(1, dtype=np.int64)
    try:
        from sklearn.cluster import AgglomerativeClustering
    except ImportError:  # pragma: no cover - scikit-learn is a dependency; this keeps a bare install working
        return _leaders(v, threshold)
    del weights  # average linkage over micro-centroids; weights only matter for centroids
    model = AgglomerativeClustering(n_clusters=None, metric="cosine", linkage="average",
                                    distance_threshold=threshold)
    return np.asarray(model.fit_predict(v), dtype=np.int64)


def cluster(vectors: np.ndarray, threshold: float = THRESHOLD, max_direct: int = MAX_DIRECT) -> np.ndarray:
    """Topic labels 0..k-1 for each row (labels ordered by first appearance)."""
    v = normalize(vectors)
    n = len(v)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    # identical vectors (the same question asked again) are clustered once
    uniq, inverse, counts = np.unique(v.round(4), axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    u = normalize(uniq)
    if len(u) <= max_direct:
        top = _agglomerative(u, threshold)
    else:
        radius = threshold / 2
        micro = _leaders(u, radius)
        while micro.max() + 1 > max_direct and radius < threshold:
            radius = min(threshold, radius * 1.3)
            micro = _leaders(u, radius)
        k = int(micro.max()) + 1
        cents = np.zeros((k, u.shape[1]), dtype=np.float32)
        np.add.at(cents, micro, u * counts[:, None])
        cents = normalize(cents)
        # still too many distinct topics: the leader pass at the full threshold decides
        top = _agglomerative(cents, threshold)[micro] if k <= max_direct else micro
    labels = top[inverse]
    # renumber by first appearance, so the output is stable for equal inputs
    order: dict[int, int] = {}
    out = np.empty(n, dtype=np.int64)
    for i, lab in enumerate(labels):
        out[i] = order.setdefault(int(lab), len(order))
    return out


def centroids(vectors: np.ndarray, labels: np.ndarray) -> np.ndarray:
    v = normalize(vectors)
    k = int(labels.max()) + 1 if len(labels) else 0
    cents = np.zeros((k, v.shape[1] if v.ndim == 2 else 0), dtype=np.float32)
    np.add.at(cents, labels, v)
    return normalize(cents) if k else cents


def assign(vectors: np.ndarray, cents: np.ndarray, threshold: float = THRESHOLD) -> np.ndarray:
    """Index of the nearest centroid within ``threshold`` for each vector, or -1."""
    v = normalize(vectors)
    if len(v) == 0 or len(cents) == 0:
        return np.full(len(v), -1, dtype=np.int64)
    sims = v @ normalize(cents).T
    best = sims.argmax(axis=1)
    ok = sims[np.arange(len(v)), best] >= 1.0 - threshold
    return np.where(ok, best, -1).astype(np.int64)


def central(vectors: np.ndarray) -> int:
    """The row closest to the mean direction (the group's most central question)."""
    v = normalize(vectors)
    c = v.sum(axis=0)
    return int((v @ c).argmax())


@dataclass(frozen=True)
class Event:
    """One logged signal, as the grouping needs it."""

    id: int
    group: int
    kind: str
    question: str
    asker: str
    at: datetime


@dataclass
class Group:
    id: int
    label: str
    count: int = 0
    askers: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    kinds: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    examples: list[str] = field(default_factory=list)
    recent: int = 0  # events in the recent window (see summarize's ``since``)
    before: int = 0  # events in the window before that

    def to_json(self) -> dict[str, object]:
        """The ``consortium-bot gaps --json`` shape (interfaces.md)."""
        return {"topic": self.label, "count": self.count, "examples": list(self.examples),
                "kinds": {k: self.kinds.get(k, 0) for k in ("refused", "clarify", "disliked")}}


def _norm_text(q: str) -> str:
    return re.sub(r"\s+", " ", q).strip()


def summarize(
    events: Sequence[Event], labels: dict[int, str] | None = None, *, recent_since: datetime | None = None,
    before_since: datetime | None = None,
) -> list[Group]:
    """Groups of ``events`` by their ``group`` id, biggest first (then latest). ``labels`` gives each
    group's label (its most central question); without one, the most frequent question is used.
    Examples are distinct questions, most frequent first, the label first."""
    by: dict[int, list[Event]] = {}
    for e in events:
        by.setdefault(e.group, []).append(e)
    out: list[Group] = []
    for gid, evs in by.items():
        texts = Counter(_norm_text(e.question) for e in evs)
        label = _norm_text((labels or {}).get(gid) or texts.most_common(1)[0][0])
        g = Group(id=gid, label=label, count=len(evs), askers=len({e.asker for e in evs}),
                  first_seen=min(e.at for e in evs), last_seen=max(e.at for e in evs))
        for e in evs:
            g.kinds[e.kind] = g.kinds.get(e.kind, 0) + 1
            if recent_since is not None and e.at >= recent_since:
                g.recent += 1
            elif before_since is not None and e.at >= before_since:
                g.before += 1
        examples = [label] if label in texts else []
        examples += [q for q, _ in texts.most_common() if q != label]
        g.examples = examples[:MAX_EXAMPLES]
        out.append(g)
    out.sort(key=lambda g: (-g.count, -(g.last_seen.timestamp() if g.last_seen else 0), g.id))
    return out


def _grams(text: str) -> set[str]:
    t = re.sub(r"[\s\W_]+", "", text.lower())
    words = re.findall(r"[a-z0-9]+", text.lower())
    cjk = re.sub(r"[a-z0-9]", "", t)
    grams = {cjk[i:i + 2] for i in range(len(cjk) - 1)} | set(words)
    return grams or ({t} if t else set())


def similar_text(a: str, b: str, min_overlap: float = 0.3) -> bool:
    """The re-ask rule: the two questions share at least ``min_overlap`` of the smaller one's
    character bigrams (Chinese) or words (English). Identical questions are similar."""
    ga, gb = _grams(a), _grams(b)
    if not ga or not gb:
        return False
    return len(ga & gb) / min(len(ga), len(gb)) >= min_overlap
