"""Hybrid retrieval: BM25 over jieba tokens + dense vectors, fused by reciprocal rank, grouped by clause.

A question may also name a clause outright (四（一）, 第五条, 8.3, 附件2): that clause is put first.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from knowledge.corpus import CN_NUM, Corpus
from knowledge.index import search_text, sentences
from knowledge.text import Analyzer, Query

RRF_K = 4
COLLAPSE_COVER = 0.75
HEAD_COVER = 0.9  # a clause whose heading path says (nearly) all the question's content terms…
HEAD_COVER_FACTOR = 1.5  # …is raised by this
ROLE_HEAD_MIN = 0.4  # a clause whose heading names the asked role and this share of the question…
ROLE_HEAD_GAIN = 0.5  # …fused × (1 + gain × share)
W_BM25 = 1.0
W_DENSE = 0.7
W_SENT = 0.7
PARENT_FACTOR = 0.8
SUB_MIN_BM25 = 4.0  # a named clause's part is preferred to it when it matches the question this well…
SUB_SHARE = 0.8  # …and nearly as well as the best clause overall
ATTACH_FACTOR = 0.8
HEADING_FACTOR = 2.0
HEADING_GROUP = 5
ROLE_FACTOR = 0.7  # clauses whose headings name only the other role (members' conditions for a lead-unit question)  # clauses whose own heading phrase (填表说明, 经费配套) the question names, longest phrase  # attachment clauses, unless the question is about the form/template/outline
_REF_SUB = re.compile(rf"([{CN_NUM}])[、.]?\s*[（(]([{CN_NUM}])[)）]\s*(\d{{1,2}})?")
_REF_NUM = re.compile(r"(?<![\d:：])([1-8])\.([1-9])(?:\.([1-9]))?(?![\d:])")
_REF_SECTION = re.compile(rf"第([{CN_NUM}])(?:部分|条|章|节)|(?:^|[^（(])([{CN_NUM}])、")
_REF_ATTACH = re.compile(r"附件\s*([123一二三])|attachment\s*([123])", re.I)


@dataclass
class Hit:
    clause: str
    score: float  # fused
    lexical: float = 0.0  # best of clause/sentence BM25, relative to the best clause
    dense: float = 0.0
    explicit: bool = False


@dataclass
class Retrieval:
    query: Query
    hits: list[Hit]  # grouped by clause, best first
    features: dict[str, float] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)  # question words the scheme never uses


def role_stem(role: str) -> str:
    """牵头单位 → 牵头, 成员单位 → 成员 (headings say 牵头单位应具备… and 成员应具备…)."""
    return role[:-2] if role.endswith("单位") and len(role) > 3 else role


def explicit_refs(text: str, corpus: Corpus) -> list[str]:
    """Clause ids the text names by number (四（一）1, 4.1, 第八条, 附件2 …)."""
    refs: list[str] = []
    for m in _REF_SUB.finditer(text):
        cid = f"{CN_NUM.index(m.group(1)) + 1}.{CN_NUM.index(m.group(2)) + 1}"
        if m.group(3):
            cid += f".{int(m.group(3))}"
        refs.append(cid)
    for m in _REF_NUM.finditer(text):
        refs.append(".".join(g for g in m.groups() if g))
    if not refs:
        for m in _REF_SECTION.finditer(text):
            refs.append(str(CN_NUM.index(m.group(1) or m.group(2)) + 1))
        for m in _REF_ATTACH.finditer(text):
            n = m.group(1) or m.group(2)
            refs.append(f"A{CN_NUM.index(n) + 1 if n in CN_NUM else n}")
    return [r for r in dict.fromkeys(refs) if r in corpus.clauses]


class Retriever:
    def __init__(self, corpus: Corpus, analyzer: Analyzer, doc_vectors: np.ndarray | None) -> None:
        from rank_bm25 import BM25Okapi

        self.corpus = corpus
        self.analyzer = analyzer
        self.ids = corpus.ids
        groups = self._label_groups(corpus)
        self.docs = [analyzer.tokens("\n".join((*groups[cid], search_text(corpus, cid)))) for cid in self.ids]
        self.bm25 = BM25Okapi(self.docs, k1=1.2, b=0.5)
        # sentence units: a long clause is also found by its single best-matching sentence
        self.sent_owner: list[int] = []
        sent_docs: list[list[str]] = []
        for i, cid in enumerate(self.ids):
            c = corpus.clauses[cid]
            head = analyzer.tokens(" ".join(p for p in (*groups[cid], *c.path[-1:], c.title) if p))
            for sent in sentences(c.text) or [c.title]:
                sent_docs.append(head + analyzer.tokens(sent))
                self.sent_owner.append(i)
        self.sent_bm25 = BM25Okapi(sent_docs, k1=1.2, b=0.75)
        self.head_tokens = [set(analyzer.tokens(" ".join((*groups[cid], *corpus.clauses[cid].path,
                                                          corpus.clauses[cid].title)))) for cid in self.ids]
        self.is_attachment = np.array([cid.startswith("A") for cid in self.ids])
        self.is_parent = np.array([bool(corpus.clauses[cid].children) for cid in self.ids])
        self.vocab: set[str] = {t for d in self.docs for t in d}
        self.vectors = doc_vectors  # (n_clauses, dim), L2-normalised, rows in corpus order
        n = len(self.docs)
        df: dict[str, int] = {}
        for d in self.docs:
            for t in set(d):
                df[t] = df.get(t, 0) + 1
        self.idf = {t: math.log(1 + n / c) for t, c in df.items()}
        self.max_idf = math.log(1 + n)
        self._term_cache: dict[str, np.ndarray] = {}

    @staticmethod
    def _label_groups(corpus: Corpus) -> dict[str, list[str]]:
        """Label words naming a small group of clauses (附件1 填表说明 一…五 → 填表说明): lexical
        evidence for each clause of the group, although the clause's own text never says it."""
        parts = {cid: [p for p in corpus.clauses[cid].label.split() if len(p) >= 3 and not re.search(r"\d", p)]
                 for cid in corpus.ids}
        count: dict[str, int] = {}
        for ps in parts.values():
            for p in ps:
                count[p] = count.get(p, 0) + 1
        return {cid: [p for p in ps if 2 <= count[p] <= HEADING_GROUP] for cid, ps in parts.items()}

    def _bm25(self, weights: dict[str, float], model: Any, key: str) -> np.ndarray:
        total = np.zeros(len(model.doc_len))
        for term, w in weights.items():
            if term not in self.vocab:
                continue
            vec = self._term_cache.get(key + term)
            if vec is None:
                vec = self._term_cache[key + term] = np.asarray(model.get_scores([term]))
            total += w * vec
        return total

    def _sentence_scores(self, weights: dict[str, float]) -> np.ndarray:
        per_sent = self._bm25(weights, self.sent_bm25, "s:")
        best = np.zeros(len(self.ids))
        np.maximum.at(best, np.asarray(self.sent_owner), per_sent)
        return best

    def features(self, q: Query, bm: np.ndarray, dense: np.ndarray | None) -> tuple[dict[str, float], list[str]]:
        """Evidence that the scheme speaks to the question (for the refusal gate)."""
        words = [t for t in dict.fromkeys(q.tokens) if len(t) >= 2 or not t.isascii()]
        hits = " ".join(q.lexicon_hits).lower()
        known = [t for t in words if t in self.vocab or (hits and t in hits)]
        covered = "".join(known) + hits
        # a token whose characters are all in known pieces (jieba's search mode) is not unknown either
        unknown = [t for t in words if t not in known and not (len(t) > 1 and all(ch in covered for ch in t))]
        idf_own = sum(self.idf.get(t, 0.0) for t in known if t in self.vocab) / self.max_idf
        top = float(bm.max()) if len(bm) else 0.0
        return {
            "bm25_top": top,
            "known": float(len(known)),
            "unknown": float(len(unknown)),
            "words": float(len(words)),
            "idf_own": idf_own,
            "lex_hits": float(len(q.lexicon_hits)),
            "oos": float(len(q.oos)),
            "dense_top": float(dense.max()) if dense is not None and len(dense) else 0.0,
        }, unknown

    def retrieve(self, q: Query, qvec: np.ndarray | None, k: int = 6) -> Retrieval:
        weights = q.weighted()
        bm = self._bm25(weights, self.bm25, "c:")
        sent = self._sentence_scores(weights)
        dense = self.vectors @ qvec if (self.vectors is not None and qvec is not None) else None
        fused = np.zeros(len(self.ids))
        for scores, weight in ((bm, W_BM25), (sent, W_SENT)):
            for rank, i in enumerate(np.argsort(-scores, kind="stable")):
                if scores[i] > 0:
                    fused[i] += weight / (RRF_K + rank + 1)
        if dense is not None:
            for rank, i in enumerate(np.argsort(-dense, kind="stable")):
                fused[i] += W_DENSE / (RRF_K + rank + 1)
        fused[self.is_parent] *= PARENT_FACTOR
        cw = self._cover_weights(q)
        if len(cw) >= 2:  # a heading saying a single word is no evidence of being about the question
            share = np.array([self._covered(cw, h) for h in self.head_tokens])
            share[self.is_attachment & (not q.about_attachments)] = 0.0
            fused[share >= HEAD_COVER] *= HEAD_COVER_FACTOR
            own = self._own_role(q) & (share >= ROLE_HEAD_MIN) & (share < HEAD_COVER)
            fused[own] *= 1.0 + ROLE_HEAD_GAIN * share[own]
        fused[self._other_role(q)] *= ROLE_FACTOR
        heading = self._heading_prior(q.text)  # the question's own words (lexicon targets are too loose here)
        if heading is not None:
            fused[heading] *= HEADING_FACTOR
        if not q.about_attachments:
            fused[self.is_attachment] *= ATTACH_FACTOR
        refs = explicit_refs(q.text, self.corpus)
        for j, cid in enumerate(refs):
            fused[self.ids.index(cid)] += 1.0 - 0.01 * j
            # "附件1 … 需要附哪些材料": a part of the named clause that matches the rest of the question better
            sub = [i for i, x in enumerate(self.ids) if x != cid and self.corpus.is_under(x, cid)]
            if sub:
                best = max(sub, key=lambda i: bm[i])
                if bm[best] > bm[self.ids.index(cid)] and bm[best] >= max(SUB_MIN_BM25, SUB_SHARE * bm.max()):
                    fused[best] += 1.0 - 0.01 * j + 0.005
        order = [int(i) for i in np.argsort(-fused, kind="stable")]
        parent = self._collapse(q, [self.ids[i] for i in order[:3]])
        if parent is not None:  # siblings at the top and the question is about their parent: answer with it
            j = self.ids.index(parent)
            fused[j] = fused[order[0]] + 1e-6
            order.remove(j)
            order.insert(0, j)
        lex = np.maximum(bm / (bm.max() or 1.0), sent / (sent.max() or 1.0))
        hits: list[Hit] = []
        for i in order:
            cid = self.ids[i]
            if fused[i] <= 0:
                break
            if any(self.corpus.is_under(cid, h.clause) or self.corpus.is_under(h.clause, cid) for h in hits):
                continue  # grouped: a clause and its parent/children are one answer
            hits.append(Hit(cid, float(fused[i]), float(lex[i]), float(dense[i]) if dense is not None else 0.0,
                            cid in refs))
            if len(hits) >= k:
                break
        feats, unknown = self.features(q, bm, dense)
        feats["explicit"] = float(bool(refs))
        return Retrieval(q, hits, feats, unknown)

    def _other_role(self, q: Query) -> np.ndarray:
        """Clauses whose headings name a role (牵头单位/成员单位) but not the one the question asks about."""
        roles = self.analyzer.lexicon.roles
        asked = [r for r in roles if r in q.slot_terms.get("actor", []) or role_stem(r) in q.text]
        out = np.zeros(len(self.ids), dtype=bool)
        if not asked:
            return out
        for i, cid in enumerate(self.ids):
            c = self.corpus.clauses[cid]
            heads = " ".join((*c.path, c.title))
            named = [r for r in roles if role_stem(r) in heads]
            out[i] = bool(named) and not any(role_stem(r) in heads for r in asked)
        return out

    def _own_role(self, q: Query) -> np.ndarray:
        """Clauses whose headings name the role the question asks about (四（一）牵头单位应具备的条件 for
        外省公司能牵头吗)."""
        roles = self.analyzer.lexicon.roles
        asked = [r for r in roles if r in q.slot_terms.get("actor", []) or role_stem(r) in q.text]
        return np.array([any(role_stem(r) in " ".join((*self.corpus.clauses[cid].path, self.corpus.clauses[cid].title))
                             for r in asked) for cid in self.ids], dtype=bool)

    def _heading_prior(self, text: str) -> np.ndarray | None:
        """Clauses whose own heading phrase (a label part such as 填表说明, or a title) the question
        contains; when several phrases occur, those of the longest one."""
        if not hasattr(self, "_heads"):
            heads: list[set[str]] = []
            for cid in self.ids:
                c = self.corpus.clauses[cid]
                parts = {p for p in c.label.split() if len(p) >= 3 and not re.search(r"\d", p)}
                if c.title and 3 <= len(c.title) <= 12:
                    parts.add(c.title)
                heads.append(parts)
            shared: dict[str, int] = {}
            for parts in heads:
                for p in parts:
                    shared[p] = shared.get(p, 0) + 1
            # a phrase naming a small group (填表说明: 5 notes), not a whole attachment (申请表: 8 parts)
            self._heads = [{p for p in parts if shared[p] <= HEADING_GROUP} for parts in heads]
        best = max((len(p) for parts in self._heads for p in parts if p in text), default=0)
        if not best:
            return None
        return np.array([any(len(p) == best and p in text for p in parts) for parts in self._heads])

    def _cover_weights(self, q: Query) -> dict[str, float]:
        """The question's content terms for heading coverage, idf-weighted: its own words that no lexicon
        phrase rewrote, and the scheme words the lexicon mapped it to; pieces of a longer term dropped
        (成员单位, not also 成员 and 单位)."""
        hits = [h.lower() for h in q.lexicon_hits]
        own = {t for t in q.tokens if not any(t in h for h in hits)} | set(q.expansions)
        own = {t for t in own if not any(t != o and t in o for o in own)}
        known = "".join(t for t in own if t in self.idf)
        return {t: self.idf.get(t, 0.5 * self.max_idf) for t in own
                if t in self.idf or not all(ch in known for ch in t)}

    @staticmethod
    def _covered(weight: dict[str, float], doc: set[str]) -> float:
        """Share of the weight whose terms the heading says (a role by its stem: 成员单位 ~ 成员应具备…)."""
        mass = sum(weight.values())
        if not mass:
            return 0.0
        return sum(w for t, w in weight.items() if t in doc or role_stem(t) in doc) / mass

    def _collapse(self, q: Query, top: list[str]) -> str | None:
        """The parent of ≥ 2 of the top clauses when its own heading covers the question."""
        parents = [self.corpus.clauses[c].parent for c in top]
        weight = self._cover_weights(q)
        for p in dict.fromkeys(x for x in parents if x):
            if parents.count(p) < 2:
                continue
            if self._covered(weight, self.head_tokens[self.ids.index(p)]) >= COLLAPSE_COVER:
                return p
        return None

    def term_weights(self, q: Query) -> dict[str, float]:
        """idf weight of each question/expansion term (for picking the sentences to quote)."""
        w: dict[str, float] = {}
        for t, qw in q.weighted().items():
            if t in self.idf:
                w[t] = qw * self.idf[t]
        return w


def as_array(vectors: Any) -> np.ndarray:
    arr = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(arr, axis=-1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.asarray(arr / norms)
