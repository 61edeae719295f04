"""Ranking as stages over plain data: signals → features → learned fusion → references and grouping.

1. **Signals** (one array per clause each): BM25 over jieba tokens per clause and per sentence, BM25 over
   character bigrams (robust to one-character typos: 牵投单位 still shares 单位, 头单…), dense cosine per
   clause, per sentence and per card/FAQ question (Chroma's search, see ``knowledge.index``), heading
   coverage, the asked role, an explicit clause reference, structure (parent, attachment).
2. **Features**: each signal as a share of its best and as a reciprocal rank, plus the structure flags.
3. **Fusion**: a logistic model fitted on the train questions (``knowledge/data/ranker.yaml``, written by
   ``python -m knowledge.fit``; its report says how it was fitted). No hand-set multipliers.
4. **References and grouping**: a clause the question names by number comes first; a clause and its
   parent/children are one answer.

The question-level features the gate uses (``Retrieval.features``) come from the same signals.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from knowledge.compose import small_int
from knowledge.corpus import CN_NUM, Corpus
from knowledge.index import DenseHits, search_text, sentences
from knowledge.text import Analyzer, Query, has_cjk
from knowledge.typos import TypoRepairer

log = logging.getLogger(__name__)
RANKER_FILE = Path(__file__).parent / "data" / "ranker.yaml"
RARE_PHRASE_CLAUSES = 2  # a phrase of the question found in at most this many clauses' own words names them
RARE_PHRASE_WORD = 3  # … holding a word of the question that at most this many clauses use
RARE_PHRASE_MAX = 6  # characters: a longer shared phrase counts as this long
HEADING_GROUP = 5  # a label word naming at most this many clauses (填表说明: 5 notes) is indexed for each
_REF_SUB = re.compile(rf"([{CN_NUM}])[、.]?\s*[（(]([{CN_NUM}])[)）]\s*(\d{{1,2}})?")
_REF_NUM = re.compile(r"(?<![\d:：.])([1-8])\.([1-9])(?:\.([1-9]))?(?![\d:])")
_REF_SECTION = re.compile(rf"第([{CN_NUM}])(?:部分|条|章|节)|(?:^|[^（(])([{CN_NUM}])、")
# "section 4", "section 4(2)" of the scheme itself (not "section 2 of the construction plan"; one-letter typos)
_REF_SECTION_EN = re.compile(r"\bsect?[il]?on?\s+([1-8])\b(?:\s*\(([1-9])\))?(?!\s*(?:of|in)\s+(?:the\s+|our\s+)?"
                             r"(?:construction|plan|agreement|form|application|template|outline|attachment))", re.I)
_REF_ATTACH = re.compile(r"附件\s*([123一二三])|attachment\s*([123])", re.I)
_CJK_RUN = re.compile(r"[\u3400-\u9fff]+")
_EN_WORD = re.compile(r"[a-z]+(?:-[a-z]+)*")
# a part named by its place in a named whole (建设方案的第二部分 / 协议模板第五条 / 组建程序的第一步)
_ORDINAL = re.compile(rf"第([{CN_NUM}\d]{{1,2}})(?:个)?(部分|条|栏|步|项|点|节|款)")
_WHOLE = re.compile(r"[\u4e00-\u9fffA-Za-z0-9]{1,10}$")
# the first or the last part of a named whole (协议模板最后那条 / 建设方案最开头那部分): 1 or -1
_END_PLACE = re.compile(r"(最后|最末|末尾|收尾|结尾|最开头|开头|最前面|打头)(?:的)?(?:那|这)?(?:一)?(?:个)?(部分|条|栏|步|项|点|节|款)")
_LAST = ("最后", "最末", "末尾", "收尾", "结尾")
_COUNT_OF = re.compile(r"(?:一共|总共|共)?(?:有|分)?(?<!第)几(?:个)?(部分|条|栏|步|项|点|节|款)")
_EN_ORDS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth")
_EN_NUMS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
_EN_PART = r"section|article|part|step|item|box|field|note|clause|point"
_EN_NUM = rf"\d{{1,2}}|{'|'.join(_EN_NUMS)}"
_ORDINAL_EN = re.compile(rf"\b(?:(?P<unit>{_EN_PART})\s+(?P<num>{_EN_NUM})|"
                         rf"(?:the\s+)?(?P<word>{'|'.join(_EN_ORDS)}|last|final)\s+(?P<unit2>section|article|part|step|item|box|"
                         rf"field|note|clause|point|condition|principle|task|measure|requirement))\s+(?:of|in|for)\s+(?:the\s+|our\s+|a\s+)?(?P<whole>[a-z][a-z \-]{{2,50}})",
                         re.I)
# the whole named first, its place after ("Agreement template, item seven: what is it for?" / "the agreement's last
# article"): the words up to a comma, colon or possessive, then the place
_PLACE_AFTER_EN = re.compile(rf"^\W*(?:(?:in|on|for|about)\s+)?(?:the\s+|our\s+)?(?P<whole>[a-z][a-z \-]{{2,50}}?)"
                             rf"(?:\s*[,:;\u2013\u2014]\s*|'s\s+|\s+-\s+)(?:.*?\b)?(?:(?P<unit>{_EN_PART})\s+(?P<num>{_EN_NUM})|"
                             rf"(?:the\s+)?(?P<word>{'|'.join(_EN_ORDS)}|last|final)\s+(?P<unit2>{_EN_PART}))\b", re.I)
_STEPPED = {"procedure", "process", "step"}  # heading words of a whole made of steps
_EN_GENERIC = {"consortium", "consortia", "innovation", "yunnan", "province", "provincial", "scheme"}
# the word an English label uses for a counted part ("Attachment 1, form part 3", "filling note 2")
_EN_UNIT = {"box": "part", "field": "part", "section": "part", "part": "part", "note": "note", "article": "article",
            "clause": "article", "item": "item", "point": "item", "step": "", "condition": "", "principle": "", "task": "",
            "measure": "", "requirement": ""}
# a question about the part that follows the one it names (重点任务写完了，下一部分写啥 / what comes after article 2)
_NEXT = re.compile(r"下一(?:个)?(?:部分|条|项|栏|步|节)|(?:后面|之后|接下来|接着|再往下)+(?:一?(?:部分|条|项|栏|步))?"
                   r"(?:该|要|应该|还)?(?:写|填|是|做)(?:啥|什么|哪)|\bnext (?:section|part|article|step|item|box)\b|"
                   r"\bwhat comes (?:after|next)\b|\bwhat (?:do|should|must) (?:we|i) do (?:after|once)\b|"
                   r"\bnext step after\b", re.I)

# the features the fusion model weighs, in order (the ranker file names them too)
FEATURES = (
    "bm25", "bm25_rr", "sent", "sent_rr", "char", "char_rr", "en", "en_rr",
    "d_clause", "d_clause_rr", "d_sent", "d_sent_rr", "d_card", "d_card_rr", "d_faq",
    "head_cover", "head_full", "own_role", "other_role", "heading_phrase", "explicit",
    "parent", "parent_cover", "attach_off", "attach_on", "amount_rule", "rare_phrase", "rare_en",
)
# the fast path's fusion: the same features without the dense ones (a question whose lexical ranking is
# decisive skips the query embedding and Chroma; see ``Retriever.decisive`` and ``knowledge.fit``)
LEX_FEATURES = tuple(f for f in FEATURES if not f.startswith("d_"))
_LEX_COLS = [FEATURES.index(f) for f in LEX_FEATURES]
# the gate sees evidence that does not depend on how well the lexicon covers a wording (the lexicon was
# tuned on the train questions: counts of known/unknown words and lexicon hits flatter them and trip on
# filler words and typos), so it weighs dense neighbours, the fused ranking and the out-of-scope topics, and of
# the words no document uses only those that name a thing (``unk_content``: 津贴 in 首席专家有津贴吗, not 咋整)
GATE_FEATURES = (
    "p_top", "margin", "d_card_top", "d_clause_top", "d_sent_top", "d_oos_top", "d_card_vs_oos", "char_top",
    "oos", "english", "explicit", "amounts", "d_near_card_vs_oos", "unk_content",
)


@dataclass
class Hit:
    clause: str
    score: float  # fused logit
    prob: float = 0.0  # fused probability that this clause answers the question
    lexical: float = 0.0  # best of clause/sentence BM25, relative to the best clause
    dense: float = 0.0  # best cosine of any of its units
    explicit: bool = False
    facet: int = -1  # the card facet whose question matched best (-1: none among the nearest)
    facet_sim: float = 0.0
    facet_sims: dict[int, float] = field(default_factory=dict)  # every facet Chroma returned → cosine


@dataclass
class Retrieval:
    query: Query
    hits: list[Hit]  # grouped by clause, best first
    features: dict[str, float] = field(default_factory=dict)  # question-level, for the gate
    unknown: list[str] = field(default_factory=list)  # question words no document uses
    fast: bool = False  # ranked by the lexical fusion alone (no query embedding): decisive, answered
    # 「协议第九条」 of an agreement with eight: (the whole, the place asked, its counter); the whole is ranked first
    beyond: tuple[str, int, str] | None = None


@dataclass(frozen=True)
class Linear:
    """A fitted logistic model over standardised features."""

    names: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: float

    def logit(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(((x - self.mean) / self.scale) @ self.weights + self.bias)

    @classmethod
    def from_dict(cls, d: dict[str, Any], expected: Sequence[str]) -> Linear:
        names = tuple(str(n) for n in d["features"])
        if names != tuple(expected):
            raise ValueError(f"ranker file features {names} do not match the code's {tuple(expected)}: refit")
        return cls(names, np.asarray(d["mean"], dtype=np.float64), np.asarray(d["scale"], dtype=np.float64),
                   np.asarray(d["weights"], dtype=np.float64), float(d["bias"]))

    def to_dict(self) -> dict[str, Any]:
        """What ``from_dict`` reads (the ranker file's form)."""
        return {"features": list(self.names), "mean": self.mean.round(6).tolist(), "scale": self.scale.round(6).tolist(),
                "weights": self.weights.round(6).tolist(), "bias": round(self.bias, 6)}

    @classmethod
    def neutral(cls, names: Sequence[str], weights: dict[str, float], bias: float = 0.0) -> Linear:
        n = len(names)
        return cls(tuple(names), np.zeros(n), np.ones(n), np.array([weights.get(x, 0.0) for x in names]), bias)


@dataclass(frozen=True)
class RankModel:
    fusion: Linear
    gate: Linear
    thresholds: dict[str, float]  # answer / refuse on the gate probability; clarify between; fast (see below)
    lexical: Linear | None = None  # fusion over LEX_FEATURES: the fast path's ranking (None: no fast path)


# before any fit: reciprocal ranks summed (plain RRF), a gate that trusts lexical evidence
_NEUTRAL = RankModel(
    Linear.neutral(FEATURES, {"bm25_rr": 1.0, "sent_rr": 1.0, "d_clause_rr": 1.0, "d_card_rr": 1.0, "explicit": 5.0}),
    Linear.neutral(GATE_FEATURES, {"bm25_top": 1.0, "known": 0.5, "unknown": -0.5, "oos": -3.0}, -1.0),
    {"answer": 0.5, "refuse": 0.3},
)


@lru_cache(maxsize=4)
def load_model(path: Path = RANKER_FILE) -> RankModel:
    if not path.exists():
        return _NEUTRAL
    d: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    try:
        lexical = Linear.from_dict(d["lexical"], LEX_FEATURES) if "lexical" in d else None
        return RankModel(Linear.from_dict(d["fusion"], FEATURES), Linear.from_dict(d["gate"], GATE_FEATURES),
                         {str(k): float(v) for k, v in d["thresholds"].items()}, lexical)
    except (KeyError, ValueError) as exc:  # a stale file (a test keeps the shipped one in step)
        log.warning("ranking model %s does not fit this code (%s); using plain rank fusion until refitted", path, exc)
        return _NEUTRAL


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
        if not re.search(r"construction|plan|agreement|form|template|outline|attachment", text, re.I):
            for m in _REF_SECTION_EN.finditer(text):
                refs.append(".".join(g for g in m.groups() if g))
    return [r for r in dict.fromkeys(refs) if r in corpus.clauses]


def _put_first(hits: list[Hit], cid: str) -> list[Hit]:
    """``cid`` first (its hit, or a new one at the best hit's score when it was not among them), then the rest."""
    if hits[0].clause == cid:
        return hits
    same = next((h for h in hits if h.clause == cid), None)
    moved = same or Hit(cid, hits[0].score, hits[0].prob)
    return [moved, *(h for h in hits if h is not same)]


def _common_run(a: str, b: str) -> int:
    """The length of the longest run of characters ``a`` and ``b`` share."""
    best = 0
    for i in range(len(a)):
        for j in range(i + best + 1, len(a) + 1):
            if a[i:j] in b:
                best = j - i
            else:
                break
    return best


def _shared_run(a: str, labels: list[str], n: int) -> str:
    """The longest run of ``a`` found in at least ``n`` of ``labels`` ("" when none of two characters is)."""
    best = ""
    for i in range(len(a)):
        for j in range(i + max(2, len(best) + 1), len(a) + 1):
            if sum(a[i:j] in lab for lab in labels) >= n:
                best = a[i:j]
            else:
                break
    return best


def en_words(text: str, stopwords: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """English content words, crudely stemmed (consortia → consorti-, applies → apply, signed → sign)."""
    out = []
    for w in _EN_WORD.findall(text.lower()):
        if w in stopwords or len(w) < 3:
            continue
        for suf, rep in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
            if w.endswith(suf) and len(w) - len(suf) >= 4 and not w.endswith("ss"):
                w = w[: len(w) - len(suf)] + rep
                break
        out.append(w)
    return out


def char_grams(text: str) -> list[str]:
    """CJK character bigrams (and single characters of one-character runs) plus Latin words."""
    low = text.lower()
    out: list[str] = []
    for run in _CJK_RUN.findall(low):
        out.extend(run[i:i + 2] for i in range(len(run) - 1)) if len(run) > 1 else out.append(run)
    out.extend(w for w in re.findall(r"[a-z]{3,}", low))
    return out


def _doc_freq(docs: Sequence[Sequence[str]]) -> dict[str, int]:
    """How many of ``docs`` use each word."""
    return dict(Counter(t for d in docs for t in set(d)))


def reciprocal_rank(scores: np.ndarray, k: float = 1.0) -> np.ndarray:
    """1 / (k + rank) for clauses with a positive score, 0 for the rest (rank 0 = best)."""
    out = np.zeros(len(scores))
    order = np.argsort(-scores, kind="stable")
    ranks = np.empty(len(scores), dtype=np.int64)
    ranks[order] = np.arange(len(scores))
    pos = scores > 0
    out[pos] = 1.0 / (k + ranks[pos])
    return out


def share_of_best(scores: np.ndarray) -> np.ndarray:
    best = float(scores.max()) if len(scores) else 0.0
    return scores / best if best > 0 else np.zeros(len(scores))


class Retriever:
    """Lexical indexes and structure of the combined corpus; ``retrieve`` runs the stages."""

    def __init__(self, corpus: Corpus, analyzer: Analyzer, model: RankModel | None = None,
                 rule_clauses: Sequence[str] = (), english: dict[str, str] | None = None,
                 headings_en: dict[str, str] | None = None) -> None:
        """``rule_clauses``: clauses stating a rule over amounts (cards with a ``ratio`` fact): a question
        giving money amounts is evidence for them. ``english``: each clause's English text (its card's gist,
        reference translation, facet answers and English questions): an English question's words are matched
        against it (BM25), as a Chinese question's are against the clause."""
        from rank_bm25 import BM25Okapi

        self.corpus = corpus
        self.analyzer = analyzer
        self.model = model or load_model()
        self.ids = corpus.ids
        self.pos = {cid: i for i, cid in enumerate(self.ids)}
        groups = self._label_groups(corpus)
        texts = ["\n".join((*groups[cid], search_text(corpus, cid))) for cid in self.ids]
        self.docs = [analyzer.tokens(t) for t in texts]
        self.bm25 = BM25Okapi(self.docs, k1=1.2, b=0.5)
        self.char_bm25 = BM25Okapi([char_grams(t) or ["∅"] for t in texts], k1=1.2, b=0.5)
        self.sent_owner: list[int] = []
        sent_docs: list[list[str]] = []
        for i, cid in enumerate(self.ids):
            c = corpus.clauses[cid]
            head = analyzer.tokens(" ".join(p for p in (*groups[cid], *c.path[-1:], c.title) if p))
            for sent in sentences(c.text) or [c.title or c.label]:
                sent_docs.append(head + analyzer.tokens(sent))
                self.sent_owner.append(i)
        self.sent_bm25 = BM25Okapi(sent_docs, k1=1.2, b=0.75)
        self._owner = np.asarray(self.sent_owner)
        self.head_tokens = [set(analyzer.tokens(" ".join((*groups[cid], *corpus.clauses[cid].path,
                                                          corpus.clauses[cid].title)))) for cid in self.ids]
        self.heads_text = [" ".join((*corpus.clauses[cid].path, corpus.clauses[cid].title)) for cid in self.ids]
        self.is_attachment = np.array([cid.split(":")[-1].startswith("A") for cid in self.ids])
        self.is_parent = np.array([bool(corpus.clauses[cid].children) for cid in self.ids])
        self.vocab: set[str] = {t for d in self.docs for t in d}
        self.char_vocab: set[str] = {g for t in texts for g in char_grams(t)}
        n = len(self.docs)
        self.df = _doc_freq(self.docs)
        self.idf = {t: math.log(1 + n / c) for t, c in self.df.items()}
        self.max_idf = math.log(1 + n)
        self._term_cache: dict[str, np.ndarray] = {}
        self._heads = self._heading_phrases()
        rules = set(rule_clauses)
        self.rule_clauses = np.array([cid in rules for cid in self.ids], dtype=float)
        self.typos = TypoRepairer(texts, analyzer.is_word, analyzer.common_char)
        en_docs = [en_words((english or {}).get(cid, ""), analyzer.stopwords) or ["∅"] for cid in self.ids]
        # English heading words of each clause (its English label and card title): an English question naming a
        # whole ("section 2 of the construction plan") is matched on them
        self.head_en = {cid: set(en_words(f"{corpus.clauses[cid].label_en} {(headings_en or {}).get(cid, '')}",
                                          analyzer.stopwords)) for cid in self.ids}
        self.en_bm25 = BM25Okapi(en_docs, k1=1.2, b=0.5)
        self.en_vocab: set[str] = {t for d in en_docs for t in d}
        self._en_sets = [set(d) for d in en_docs]
        self.en_df = _doc_freq(en_docs)
        # each clause's own words (title and text, no heading path), and which clauses use each CJK character pair
        self._own = [re.sub(r"\s+", "", f"{corpus.clauses[cid].title}{corpus.clauses[cid].text}") for cid in self.ids]
        pairs: dict[str, set[int]] = {}
        for i, t in enumerate(self._own):
            for j in range(len(t) - 1):
                if has_cjk(t[j]) and has_cjk(t[j + 1]):
                    pairs.setdefault(t[j:j + 2], set()).add(i)
        self._pairs = {g: frozenset(v) for g, v in pairs.items()}

    # -- index-time helpers ---------------------------------------------------------------------
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

    def _heading_phrases(self) -> list[set[str]]:
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
        return [{p for p in parts if shared[p] <= HEADING_GROUP} for parts in heads]

    # -- stage 1: signals -----------------------------------------------------------------------------
    def _bm25(self, weights: dict[str, float], model: Any, key: str, vocab: set[str]) -> np.ndarray:
        total = np.zeros(len(model.doc_len))
        for term, w in weights.items():
            if term not in vocab:
                continue
            vec = self._term_cache.get(key + term)
            if vec is None:
                vec = self._term_cache[key + term] = np.asarray(model.get_scores([term]))
            total += w * vec
        return total

    def lexical_signals(self, q: Query) -> dict[str, np.ndarray]:
        weights = q.weighted()
        per_sent = self._bm25(weights, self.sent_bm25, "s:", self.vocab)
        sent = np.zeros(len(self.ids))
        np.maximum.at(sent, self._owner, per_sent)
        grams: dict[str, float] = {}
        for g in char_grams(q.text):
            grams[g] = 1.0
        en = dict.fromkeys(en_words(q.text, self.analyzer.stopwords), 1.0) if q.english else {}
        return {"bm25": self._bm25(weights, self.bm25, "c:", self.vocab), "sent": sent,
                "char": self._bm25(grams, self.char_bm25, "g:", self.char_vocab),
                "en": self._bm25(en, self.en_bm25, "e:", self.en_vocab)}

    def rare_phrase(self, text: str, words: Sequence[str]) -> np.ndarray:
        """Per clause, the longest phrase of the question (two or more Chinese characters) that the clause's own
        words say and at most ``RARE_PHRASE_CLAUSES`` clauses say, as a share of ``RARE_PHRASE_MAX`` characters:
        a named thing only one clause lists (数字经济 in 三、's list of industries, 法定代表人 in 五、（三）) is evidence
        for it that words shared with many clauses (重点产业) are not. The phrase must hold one of the question's
        words (``words``) that few clauses use: 「对联合体」 is rare as a string but says nothing."""
        out = np.zeros(len(self.ids))
        rare = [w for w in words if len(w) >= 2 and has_cjk(w) and 0 < self.df.get(w, 0) <= RARE_PHRASE_WORD]
        if not rare:
            return out
        for run in re.findall(r"[\u3400-\u9fff]{2,}", text):
            for i in range(len(run) - 1):
                cand = self._pairs.get(run[i:i + 2])
                for end in range(i + 2, len(run) + 1):
                    more = self._pairs.get(run[end - 2:end])
                    if not cand or not more:
                        break
                    piece = run[i:end]
                    cand = frozenset(c for c in cand & more if piece in self._own[c])
                    if not cand:
                        break
                    if len(cand) <= RARE_PHRASE_CLAUSES and any(w in piece for w in rare):
                        for c in cand:
                            out[c] = max(out[c], min(len(piece), RARE_PHRASE_MAX))
        return out / RARE_PHRASE_MAX

    def rare_en(self, q: Query) -> np.ndarray:
        """Per clause, how many of an English question's words (up to two, as a share of two) its reference
        translation uses and at most ``RARE_PHRASE_CLAUSES`` clauses' translations use ("biomedicine" names 三、)."""
        out = np.zeros(len(self.ids))
        if not q.english:
            return out
        rare = {w for w in en_words(q.text, self.analyzer.stopwords) if 0 < self.en_df.get(w, 0) <= RARE_PHRASE_CLAUSES}
        for i, words in enumerate(self._en_sets):
            if rare:
                out[i] = min(2, len(rare & words)) / 2
        return out

    def dense_signals(self, dense: DenseHits | None) -> dict[str, np.ndarray]:
        n = len(self.ids)
        if dense is None:
            return {k: np.zeros(n) for k in ("d_clause", "d_sent", "d_card", "d_faq")}
        by = dense.by_kind
        # an officer's FAQ question answered with a clause is the same evidence as a card question of it
        return {"d_clause": by["clause"].astype(np.float64), "d_sent": np.maximum(by["sent"], by["clause"]).astype(np.float64),
                "d_card": np.maximum(by["card"], by["faq"]).astype(np.float64), "d_faq": by["faq"].astype(np.float64)}

    def structure_signals(self, q: Query, refs: Sequence[str]) -> dict[str, np.ndarray]:
        n = len(self.ids)
        cw = self._cover_weights(q)
        cover = self._cover(cw) if len(cw) >= 2 else np.zeros(n)
        asked = [role_stem(r) for r in self._asked_roles(q)]  # stems once per question, not once per clause
        roles = [role_stem(r) for r in self.analyzer.lexicon.roles] if asked else []
        own = np.array([any(r in h for r in asked) for h in self.heads_text], dtype=float)
        other = np.array([bool(asked) and any(r in h for r in roles)
                          and not any(r in h for r in asked) for h in self.heads_text], dtype=float)
        best = max((len(p) for parts in self._heads for p in parts if p in q.text), default=0)
        heading = np.array([any(len(p) == best and p in q.text for p in parts) for parts in self._heads], dtype=float) \
            if best else np.zeros(n)
        explicit = np.zeros(n)
        for j, cid in enumerate(refs):
            explicit[self.pos[cid]] = 1.0 - 0.01 * j
        about = q.about_attachments
        amount_rule = self.rule_clauses * float(bool(q.amounts))
        return {"rare_phrase": self.rare_phrase(q.text, q.tokens), "rare_en": self.rare_en(q), "amount_rule": amount_rule, "head_cover": cover, "head_full": (cover >= 0.9).astype(float), "own_role": own, "other_role": other,
                "heading_phrase": heading, "explicit": explicit, "parent": self.is_parent.astype(float),
                "parent_cover": self.is_parent * cover,
                "attach_off": (self.is_attachment & (not about)).astype(float),
                "attach_on": (self.is_attachment & about).astype(float)}

    # -- stage 2: features ------------------------------------------------------------------------------
    @staticmethod
    def feature_matrix(sig: dict[str, np.ndarray]) -> np.ndarray:
        cols: dict[str, np.ndarray] = {}
        for name in ("bm25", "sent", "char", "en"):
            cols[name] = share_of_best(sig[name])
            cols[name + "_rr"] = reciprocal_rank(sig[name])
        for name in ("d_clause", "d_sent", "d_card"):
            s = sig[name]
            top = float(s.max()) if len(s) else 0.0
            cols[name] = np.where(s > 0, s - top, -0.3) if top > 0 else np.zeros(len(s))
            cols[name + "_rr"] = reciprocal_rank(s)
        faq = sig["d_faq"]
        cols["d_faq"] = faq
        for name in ("head_cover", "head_full", "own_role", "other_role", "heading_phrase", "explicit", "parent",
                     "parent_cover", "attach_off", "attach_on", "amount_rule", "rare_phrase", "rare_en"):
            cols[name] = sig[name]
        return np.stack([cols[f] for f in FEATURES], axis=1)

    def signals(self, q: Query, dense: DenseHits | None) -> tuple[dict[str, np.ndarray], list[str]]:
        refs = explicit_refs(q.text, self.corpus)
        return {**self.lexical_signals(q), **self.dense_signals(dense), **self.structure_signals(q, refs)}, refs

    # -- stages 3 and 4 ----------------------------------------------------------------------------------
    def retrieve(self, q: Query, dense: DenseHits | None, k: int = 6) -> Retrieval:
        sig, refs = self.signals(q, dense)
        return self.rank(q, sig, refs, dense, k)

    def rank(self, q: Query, sig: dict[str, np.ndarray], refs: Sequence[str], dense: DenseHits | None,
             k: int = 6, lexical: bool = False) -> Retrieval:
        """Stages 2–4 over computed signals; ``lexical``: by the fast path's fusion (no dense features)."""
        x = self.feature_matrix(sig)
        lex_model = self.model.lexical if lexical else None
        logit = lex_model.logit(x[:, _LEX_COLS]) if lex_model is not None else self.model.fusion.logit(x)
        logit = self._sub_of_named(logit, sig, refs)
        order = [int(i) for i in np.argsort(-logit, kind="stable")]
        prob = 1.0 / (1.0 + np.exp(-logit))
        lex = np.maximum(share_of_best(sig["bm25"]), share_of_best(sig["sent"]))
        dmax = np.maximum.reduce([sig["d_clause"], sig["d_sent"], sig["d_card"], sig["d_faq"]])
        hits: list[Hit] = []
        for i in order:
            cid = self.ids[i]
            if any(self.corpus.is_under(cid, h.clause) or self.corpus.is_under(h.clause, cid) for h in hits):
                continue  # grouped: a clause and its parent/children are one answer
            f, fs = dense.facet.get(cid, (-1, 0.0)) if dense is not None else (-1, 0.0)
            hits.append(Hit(cid, float(logit[i]), float(prob[i]), float(lex[i]), float(dmax[i]), cid in refs, f, fs,
                            dense.facets.get(cid, {}) if dense is not None else {}))
            if len(hits) >= k:
                break
        feats, unknown = self.gate_features(q, sig, hits, refs, dense.oos_top if dense is not None else 0.0,
                                            dense.card_near - dense.oos_near if dense is not None and dense.oos_near else 0.0)
        named = _REF_SECTION_EN.search(q.text) if q.english and not q.about_attachments else None
        if named and refs and hits and not any(self.corpus.is_under(hits[0].clause, r) for r in refs):
            hits = _put_first(hits, refs[0])  # "section 4 of the scheme": the section it names, first
        hits, beyond = self._nth_of_named(q, hits)
        return Retrieval(q, self._next_of_named(q, hits), feats, unknown, fast=lex_model is not None, beyond=beyond)

    @staticmethod
    def fast_eligible(q: Query) -> bool:
        """Whether a question may take the fast path at all: nothing in it points out of scope (those always see
        the gate) and it is not English (see ``decisive``)."""
        return not (q.oos_shapes or q.oos or q.english)

    def decisive(self, ret: Retrieval) -> bool:
        """The lexical ranking settles the question: the fitted fast-path threshold on its top probability
        and margin (fit on the train questions so that none is answered worse there; see ``knowledge.fit``),
        every word of the question is a word of the documents (or of the lexicon), nothing in it points out
        of scope (those always see the gate), and it is not English: English words are matched through the lexicon
        and the cards' English, whose everyday words (bank, loan, deadline) questions from elsewhere share — the
        lexical fusion was as sure of three English out-of-scope train questions (p ≥ 0.92) as of its answers."""
        th = self.model.thresholds
        if not ret.fast or not ret.hits or "fast" not in th or ret.unknown or not self.fast_eligible(ret.query):
            return False
        return ret.hits[0].prob >= th["fast"] and ret.features["margin"] >= th.get("fast_margin", 0.0)

    def _nth_of_named(self, q: Query, hits: list[Hit]) -> tuple[list[Hit], tuple[str, int, str] | None]:
        """「建设方案的第二部分写什么」: the second part of the clause whose heading the words before 第二部分 name
        best (at least two characters in common; 附件3 names attachment 3), first; the rest as ranked. Parts
        whose labels carry the counter (申请表 第三栏) are counted among themselves. A place the named whole does not
        have (协议第九条 of eight articles, "step 8 of the formation procedure" of six) puts the whole first and is
        returned beside the hits — (the whole, the place, its counter) — so the answer says there is no such part."""
        if not hits:
            return hits, None
        if q.english:
            return self._nth_of_named_en(q, hits)
        m = _ORDINAL.search(q.text)
        end = _END_PLACE.search(q.text) if m is None else None
        if end is not None:  # 协议模板最后那条: the whole's last (or first) part
            found = self._named_whole(q.text[:end.start()], 1, end.group(2))
            return (_put_first(hits, found[1][-1 if end.group(1) in _LAST else 0]) if found
                    else hits), None
        if m is not None:
            n, unit, before = small_int(m.group(1)), m.group(2), q.text[:m.start()]
            found = self._named_whole(before, max(n, 1), unit)
            if found and n >= 1:
                return _put_first(hits, found[1][n - 1]), None
            whole = self._named_whole(before, 1, unit) if n >= 2 else None
            if whole is not None and whole[2] and len(whole[1]) < n:
                return _put_first(hits, whole[0]), (whole[0], n, unit)
            return hits, None
        m = _COUNT_OF.search(q.text)  # 「协议模板一共有几条」: the whole it counts, first (its lead counts the parts)
        found = self._named_whole(q.text[:m.start()], 2, m.group(1)) if m is not None else None
        return (_put_first(hits, found[0]) if found and found[2] else hits), None

    def _named_whole(self, before: str, n: int, unit: str) -> tuple[str, list[str], bool] | None:
        """The clause (with at least ``n`` parts) that the words just before an ordinal or a count name: its heading
        shares most with them (at least two characters; 附件3 / 四（一） name one by number), or they name a group
        of its parts (填表说明: the notes among the form's parts). Its id, its parts as counted (those whose labels
        carry the counter ``unit`` when some do: 申请表 第三栏), and whether the parts counted are all of them."""
        before = re.sub(r"(?:的|里的?|中的?|里面的?|一共|总共|共|有|一共有|总共有)+$", "", before.rstrip(" "))
        whole = _WHOLE.search(before)
        named = [c for c in explicit_refs(before[-12:], self.corpus) if len(self.corpus.clauses[c].children) >= n]
        if whole is None and not named:
            return None
        # words every heading shares (创新联合体) name no whole
        x = re.sub(r"创新联合体|联合体|创新|云南省?", "", whole.group(0)) if whole is not None else ""
        best: tuple[str, list[str], bool] | None = None
        best_len, tied = 1, False
        for cid, c in self.corpus.clauses.items():
            if len(c.children) < n:
                continue
            labels = {k: self.corpus.clauses[k].label for k in c.children}
            common = 99 if cid in named[-1:] else _common_run(x, f"{c.title} {c.label}")
            counted = self.corpus.counted_parts(cid, unit)
            run = _shared_run(x, list(labels.values()), n)
            whole_named = True
            if len(run) > common:
                common, counted, whole_named = len(run), [k for k in c.children if run in labels[k]], False
            if common > best_len and len(counted) >= n:
                best, best_len, tied = (cid, counted, whole_named), common, False
            elif common == best_len and best is not None and len(counted) >= n:
                tied = True  # 「组建…」 names 组建原则, 组建条件 and 组建程序 alike: none
        return None if tied else best

    def _nth_of_named_en(self, q: Query, hits: list[Hit]) -> tuple[list[Hit], tuple[str, int, str] | None]:
        """The English form: "section 2 of the construction plan", "the first step of the formation procedure":
        the whole is the clause sharing most heading words with the words after "of"; a place it does not have
        ("article 9 of the agreement") puts the whole first, as in Chinese."""
        place = self._place_en(q.text)
        if place is None:
            return hits, None
        n, unit, (whole, parts) = place
        if n == -1:  # the last one
            return _put_first(hits, parts[-1]), None
        if n > len(parts):
            return _put_first(hits, whole), (whole, n, unit)
        return (_put_first(hits, parts[n - 1]) if n >= 1 else hits), None

    def _place_en(self, text: str) -> tuple[int, str, tuple[str, list[str]]] | None:
        """An English place in a named whole ("article 9 of the agreement", "the first step in forming …"): the
        place, its unit word and the whole (its id and its parts as counted); None when none is asked or named."""
        for pattern in (_ORDINAL_EN, _PLACE_AFTER_EN):
            m = pattern.search(text)
            if m is None:
                continue
            num, word = (m.group("num") or "").lower(), (m.group("word") or "").lower()
            n = (int(num) if num.isdigit() else _EN_NUMS.index(num) + 1 if num else
                 -1 if word in ("last", "final") else _EN_ORDS.index(word) + 1)
            unit = (m.group("unit") or m.group("unit2")).lower()
            found = self._whole_en(m.group("whole"), unit)
            if found:
                return n, unit, found
        return None

    def _whole_en(self, named: str, unit: str) -> tuple[str, list[str]] | None:
        """The clause made of parts whose heading shares most words with ``named`` (the words after
        "of"); a procedure's parts are its steps ("the first step in forming a consortium": the formation
        procedure, not the application form). Its id and its parts as counted (those whose English labels carry
        the unit's word when some do)."""
        label_unit = _EN_UNIT[unit]
        words = set(en_words(named, self.analyzer.stopwords)) - _EN_GENERIC
        best: tuple[str, list[str]] | None = None
        best_n = 0
        for cid, c in self.corpus.clauses.items():
            if len(c.children) < 2:
                continue
            head = self.head_en.get(cid, set())
            shared = len(words & head) + (2 if unit == "step" and head & _STEPPED else 0)
            counted = [k for k in c.children
                       if label_unit and label_unit in self.corpus.clauses[k].label_en.lower()] or c.children
            if shared > best_n:
                best, best_n = (cid, list(counted)), shared
        return best

    def _next_of_named(self, q: Query, hits: list[Hit]) -> list[Hit]:
        """A question about the part after the one it names (「重点任务写完了，下一部分写啥」) is answered by the next
        clause of the same parent; the named one follows it. The gate has judged the question as asked."""
        if not hits or not _NEXT.search(q.text):
            return hits
        c = self.corpus.clauses[hits[0].clause]
        sibs = self.corpus.clauses[c.parent].children if c.parent in self.corpus.clauses else []
        i = sibs.index(c.id) if c.id in sibs else -1
        if i < 0 or i + 1 >= len(sibs):
            return hits
        return _put_first(hits, sibs[i + 1])

    def _sub_of_named(self, logit: np.ndarray, sig: dict[str, np.ndarray], refs: Sequence[str]) -> np.ndarray:
        """A question naming a clause ("附件1 … 需附哪些材料") is answered by the part of it that matches the
        rest of the question best, when that part is the best lexical match overall."""
        if not refs:
            return logit
        out = logit.copy()
        bm = sig["bm25"]
        best_all = int(np.argmax(bm)) if bm.max() > 0 else -1
        for cid in refs:
            sub = [self.pos[x] for x in self.corpus.descendants(cid)]
            if best_all in sub and bm[best_all] > bm[self.pos[cid]]:
                out[best_all] = max(out[best_all], out[self.pos[cid]] + 1e-3)
        return out

    def gate_features(self, q: Query, sig: dict[str, np.ndarray], hits: Sequence[Hit],
                      refs: Sequence[str], oos_top: float = 0.0, near_vs_oos: float = 0.0
                      ) -> tuple[dict[str, float], list[str]]:
        """Question-level evidence that the documents speak to the question."""
        words = [t for t in dict.fromkeys(q.tokens) if len(t) >= 2 or not t.isascii()]
        lex_hits = " ".join(q.lexicon_hits).lower()
        known = [t for t in words if t in self.vocab or (lex_hits and t in lex_hits)]
        covered = "".join(known) + lex_hits
        grams_known = {g for g in char_grams(q.text) if g in self.char_vocab}
        unknown = [t for t in words if t not in known and not (len(t) > 1 and all(ch in covered for ch in t))
                   and not (has_cjk(t) and any(t[i:i + 2] in grams_known for i in range(len(t) - 1)))
                   and not (t.isascii() and (ws := en_words(t)) and all(w in self.en_vocab for w in ws))]
        top = hits[0] if hits else None
        second = hits[1].score if len(hits) > 1 else (top.score - 5.0 if top else 0.0)
        nk, nu = float(len(known)), float(len(unknown))
        feats = {
            "p_top": top.prob if top else 0.0,
            "margin": (top.score - second) if top else 0.0,
            "d_card_top": float(sig["d_card"].max()),
            "d_clause_top": float(sig["d_clause"].max()),
            "d_sent_top": float(sig["d_sent"].max()),
            "d_oos_top": oos_top,
            "d_card_vs_oos": float(sig["d_card"].max()) - oos_top if oos_top else 0.0,
            # the three nearest card questions against the three nearest anchors: a vote, not one neighbour
            "d_near_card_vs_oos": near_vs_oos,
            "bm25_top": math.log1p(float(sig["bm25"].max())),
            "char_top": math.log1p(float(sig["char"].max())),
            "known": nk,
            "unknown": nu,
            "unknown_share": nu / (nk + nu) if nk + nu else 1.0,
            # unknown words that name a thing (津贴, ceremony): what the question asks may be a fact the documents
            # lack; unknown filler and verbs (弄, 咋整, actually) are not counted
            "unk_content": float(len(self.analyzer.content_words(q.text, unknown))) if unknown else 0.0,
            "oos": float(len(q.oos)),
            "lex_hits": float(len(q.lexicon_hits)),
            "english": float(q.english),
            "explicit": float(bool(refs)),
            "amounts": float(bool(q.amounts)),
        }
        feats["dense_top"] = max(feats["d_card_top"], feats["d_clause_top"], feats["d_sent_top"])
        return feats, unknown

    def gate(self, feats: dict[str, float]) -> float:
        """Probability that the documents answer the question (the gate model)."""
        x = np.array([[feats[f] for f in GATE_FEATURES]])
        return float(1.0 / (1.0 + math.exp(-float(self.model.gate.logit(x)[0]))))

    # -- helpers ----------------------------------------------------------------------------------------
    def _asked_roles(self, q: Query) -> list[str]:
        roles = self.analyzer.lexicon.roles
        # the role as an actor, in the question's words, or as the lexicon's rendering of them ("be a member" → 成员)
        return [r for r in roles if r in q.slot_terms.get("actor", []) or role_stem(r) in q.text
                or role_stem(r) in q.expansions]

    def _cover_weights(self, q: Query) -> dict[str, float]:
        """The question's content terms for heading coverage, idf-weighted: its own words that no lexicon
        phrase rewrote, and the scheme words the lexicon mapped it to; pieces of a longer term dropped."""
        hits = [h.lower() for h in q.lexicon_hits]
        own = {t for t in q.tokens if not any(t in h for h in hits)} | set(q.expansions)
        own = {t for t in own if not any(t != o and t in o for o in own)}
        known = "".join(t for t in own if t in self.idf)
        return {t: self.idf.get(t, 0.5 * self.max_idf) for t in own
                if t in self.idf or not all(ch in known for ch in t)}

    def _cover(self, weight: dict[str, float]) -> np.ndarray:
        """``_covered`` for every clause's heading tokens (the question's terms and their stems once)."""
        mass = sum(weight.values())
        if not mass:
            return np.zeros(len(self.head_tokens))
        terms = [(t, role_stem(t), w) for t, w in weight.items()]
        return np.array([sum(w for t, st, w in terms if t in doc or st in doc) for doc in self.head_tokens]) / mass

    @staticmethod
    def _covered(weight: dict[str, float], doc: set[str]) -> float:
        mass = sum(weight.values())
        if not mass:
            return 0.0
        return sum(w for t, w in weight.items() if t in doc or role_stem(t) in doc) / mass

    def term_weights(self, q: Query) -> dict[str, float]:
        """idf weight of each question/expansion term (for picking the sentences to quote)."""
        return {t: qw * self.idf[t] for t, qw in q.weighted().items() if t in self.idf}


def as_array(vectors: Any) -> np.ndarray:
    arr = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(arr, axis=-1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.asarray(arr / norms)
