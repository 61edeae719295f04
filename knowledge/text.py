"""Tokenising questions and clauses: jieba with the scheme's terms, plus the lexicon.

The lexicon (``data/lexicon.yaml``) maps colloquial Chinese and English phrasings to the
scheme's own words; an analysed question carries its tokens, the lexicon's expansions, any
out-of-scope topic it names and its term classes (for follow-ups).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import yaml

DATA = Path(__file__).parent / "data"
LEXICON_FILE = DATA / "lexicon.yaml"
TERMS_FILE = DATA / "terms.txt"
STOPWORDS_FILE = DATA / "stopwords.yaml"

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[a-z][a-z0-9'\-]*")
_NUMERIC = re.compile(r"\d+\s*[:：]\s*\d+|\d+\s*[—\-–~]\s*\d+\s*[年家个]?|\d+月\d+日|\d+年")
HIT_WEIGHT = 1.0
_KEEP = re.compile(r"[\w\u3400-\u9fff]")


_AMOUNT = re.compile(r"(\d[\d,，.]*|[一二两三四五六七八九十百千]+)\s*(万元|万|亿元|亿|元|块|w\b|million|yuan|rmb)", re.I)


def has_amounts(text: str) -> bool:
    return bool(_AMOUNT.search(text))


def has_cjk(text: str) -> bool:
    return bool(_CJK.search(text))


def detect_lang(text: str) -> str:
    """English when English words carry the question (a Chinese term inside an English sentence stays English:
    "What must the 组建协议 specify?"); else Chinese."""
    words = re.findall(r"[A-Za-z]{2,}", text)
    if not words:
        return "zh"
    cjk = len(_CJK.findall(text))
    return "en" if not cjk or (len(words) >= 3 and len(words) * 2 > cjk) else "zh"


def _norm_num(tok: str) -> str:
    return re.sub(r"\s+", "", tok).replace("：", ":").replace("-", "—").replace("–", "—").replace("~", "—")


@dataclass
class Lexicon:
    zh: dict[str, list[str]]
    en: dict[str, list[str]]
    slots: dict[str, list[str]]
    oos_zh: list[str]
    oos_en: list[str]
    attachment_cues: list[str] = field(default_factory=list)
    oos_patterns_zh: list[re.Pattern[str]] = field(default_factory=list)
    oos_patterns_en: list[re.Pattern[str]] = field(default_factory=list)
    # contact details and lists: shapes waived when the question is about the attachments, whose fields they are
    oos_fields_zh: list[re.Pattern[str]] = field(default_factory=list)
    oos_fields_en: list[re.Pattern[str]] = field(default_factory=list)
    # numbers the scheme does not give (how long the review takes, at most how many members …)
    oos_numbers: list[re.Pattern[str]] = field(default_factory=list)
    oos_writing: list[re.Pattern[str]] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)
    partial: list[tuple[str, re.Pattern[str], list[str]]] = field(default_factory=list)
    place_targets: list[str] = field(default_factory=list)  # the rule places outside Yunnan are read against

    def places_for_members(self, text: str, pairs: list[tuple[str, list[str]]]) -> list[tuple[str, list[str]]]:
        """The registration rule binds the lead unit (四、（一）1): a question about taking part as a member
        (成员单位 named, by its words or the lexicon's, and 牵头单位 not: 「外省企业可以加入联合体吗」, "can a company from
        outside Yunnan be a member") keeps its place words but not their mapping to that rule."""
        if not self.place_targets or len(self.roles) < 2 or not any(ts == self.place_targets for _, ts in pairs):
            return pairs
        lead, member = (r[:2] for r in self.roles[:2])
        said = text + " " + " ".join(t for _, ts in pairs if ts != self.place_targets for t in ts)
        if member in said and lead not in said:
            return [(h, ts) for h, ts in pairs if ts != self.place_targets]
        return pairs

    def partial_topics(self, text: str) -> tuple[str, list[str]] | None:
        """A topic the scheme covers only in part (funding amounts → the support measures): (key, clause ids)."""
        low = text.lower()
        for key, pattern, see in self.partial:
            if pattern.search(low):
                return key, see
        return None

    @classmethod
    def load(cls, path: Path = LEXICON_FILE) -> Lexicon:
        d: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
        oos = d.get("out_of_scope", {})
        pats = d.get("out_of_scope_patterns", {})
        fields = d.get("out_of_scope_fields", {})
        numbers = d.get("out_of_scope_numbers", {})
        writing = d.get("out_of_scope_writing", {})
        places, abroad = d.get("other_places", {}), d.get("other_countries", {})
        to = [str(x) for x in places.get("targets", [])]
        to_abroad = [str(x) for x in abroad.get("targets", [])]
        zh = {str(p): to_abroad for p in abroad.get("zh", [])} | {str(p): to for p in places.get("zh", [])}
        zh |= {str(k): [str(x) for x in v] for k, v in d["zh"].items()}
        en = {str(p).lower(): to_abroad for p in abroad.get("en", [])} | {str(p).lower(): to for p in places.get("en", [])}
        en |= {str(k).lower(): [str(x) for x in v] for k, v in d["en"].items()}
        # another country's own policy is not this scheme's (an entity *from* there, under this scheme, is)
        country_policy_zh = [re.compile("(" + "|".join(map(re.escape, map(str, abroad["zh"]))) + ")(的|那边|当地|国家)?"
                                        "(创新联合体|联合体|科技|创新|产业)?(政策|办法|法律|法规|规定|做法|计划|项目)")] \
            if abroad.get("zh") else []
        country_policy_en = [re.compile(r"\b(" + "|".join(map(re.escape, (str(x).lower() for x in abroad["en"]))) +
                                        r")('s)?\b.{0,30}\b(polic(y|ies)|laws?|rules|regulations?|programmes?|programs?|"
                                        r"grants?)\b")] if abroad.get("en") else []
        return cls(
            zh=zh,
            en=en,
            slots={str(k): [str(x) for x in v] for k, v in d.get("slots", {}).items()},
            oos_zh=[str(x) for x in oos.get("zh", [])],
            oos_en=[str(x).lower() for x in oos.get("en", [])],
            attachment_cues=[str(x).lower() for x in d.get("attachment_cues", [])],
            oos_patterns_zh=[re.compile(str(x)) for x in pats.get("zh", [])] + country_policy_zh,
            oos_patterns_en=[re.compile(str(x)) for x in pats.get("en", [])] + country_policy_en,
            oos_fields_zh=[re.compile(str(x)) for x in fields.get("zh", [])],
            oos_fields_en=[re.compile(str(x)) for x in fields.get("en", [])],
            oos_numbers=[re.compile(str(x)) for x in (*numbers.get("zh", []), *numbers.get("en", []))],
            oos_writing=[re.compile(str(x)) for x in (*writing.get("zh", []), *writing.get("en", []))],
            roles=[str(x) for x in d.get("roles", [])],
            partial=[(str(p["key"]), re.compile(str(p["pattern"])), [str(x) for x in p["see"]])
                     for p in d.get("partial_topics", [])],
            place_targets=to,
        )

    def targets(self) -> set[str]:
        return {t for v in (*self.zh.values(), *self.en.values()) for t in v}

    @cached_property
    def _zh_re(self) -> re.Pattern[str]:
        """Longest key first at each position; matches do not overlap."""
        return re.compile("|".join(re.escape(k) for k in sorted(self.zh, key=len, reverse=True)))

    @cached_property
    def _en_re(self) -> re.Pattern[str]:
        keys = sorted(self.en, key=len, reverse=True)
        return re.compile(r"\b(" + "|".join(re.escape(k) for k in keys) + r")(?:e?s)?\b")

    @cached_property
    def _oos_en_re(self) -> re.Pattern[str]:
        """A topic word in the singular or plural (visa, visas; flight, flights)."""
        return re.compile(r"\b(" + "|".join(re.escape(k) for k in self.oos_en) + r")(?:e?s)?\b")

    def expand(self, text: str) -> tuple[list[str], list[str]]:
        """(matched phrases, scheme words they map to) for a question."""
        pairs = self.matches(text)
        return [h for h, _ in pairs], [t for _, ts in pairs for t in ts]

    def matches(self, text: str) -> list[tuple[str, list[str]]]:
        """Each matched phrase with the scheme words it maps to."""
        low = text.lower()
        out: list[tuple[str, list[str]]] = [(m.group(0), self.zh[m.group(0)]) for m in self._zh_re.finditer(text)]
        for m in self._en_re.finditer(low):
            out.append((m.group(1), self.en[m.group(1)]))
        return out

    def out_of_scope(self, text: str) -> list[str]:
        low = text.lower()
        found = [w for w in self.oos_zh if w in text]
        found += [m.group(1) for m in self._oos_en_re.finditer(low)]
        return found + self.out_of_scope_shapes(text)

    def number_not_given(self, text: str) -> bool:
        """The question asks a number the scheme does not give (how long the review takes, at most how many
        members, the document number …): one of the out-of-scope shapes, refused as such."""
        return _any_match(self.oos_numbers, text)

    def writing_request(self, text: str) -> bool:
        """The question asks the assistant to write or fill in something (帮我写 / 帮我把目标写好 / fill in the form for
        us): one of the out-of-scope shapes, refused with the clauses that say what the scheme asks for there."""
        return _any_match(self.oos_writing, text)

    def out_of_scope_shapes(self, text: str) -> list[str]:
        """Question shapes the scheme cannot answer (about the assistant, another jurisdiction's
        policy, application dates, funding amounts, facts it does not contain): the matched pieces. Contact
        details and lists count only when the question is not about the application form or the agreement
        template, which have such fields (「申请表上的联系电话写谁的」, 「协议里要列成员名单吗」)."""
        low = text.lower()
        pats = [*self.oos_patterns_zh, *self.oos_patterns_en, *self.oos_numbers, *self.oos_writing]
        if not any(c in low for c in self.attachment_cues):
            pats += [*self.oos_fields_zh, *self.oos_fields_en]
        return [m.group(0) for p in pats if (m := p.search(low))]


def _any_match(patterns: list[re.Pattern[str]], text: str) -> bool:
    """One of ``patterns`` is in the lower-cased ``text`` (the shapes are written for lower case)."""
    low = text.lower()
    return any(p.search(low) for p in patterns)


@dataclass
class Query:
    text: str
    tokens: list[str]  # the question's own tokens (stopwords removed)
    expansions: list[str]  # tokens of the scheme words the lexicon mapped the question to
    lexicon_hits: list[str]
    oos: list[str]
    english: bool
    slot_terms: dict[str, list[str]] = field(default_factory=dict)
    about_attachments: bool = False
    hit_targets: dict[str, list[str]] = field(default_factory=dict)
    oos_shapes: list[str] = field(default_factory=list)  # refused even when a clause is named
    amounts: bool = False  # the question gives money amounts (150万, 1,500,000元, 3 million yuan)

    def weighted(self, expansion_weight: float = 0.6, hit_weight: float = HIT_WEIGHT) -> dict[str, float]:
        """Term weights: the question's own words 1.0, words the lexicon rewrote lower, their mapping lower."""
        w: dict[str, float] = {}
        hits = set(self.lexicon_hits)
        for t in self.tokens:
            w[t] = max(w.get(t, 0.0), hit_weight if t in hits else 1.0)
        for t in self.expansions:
            w[t] = max(w.get(t, 0.0), expansion_weight)
        return w


COMMON_CHAR_COUNT = 100_000  # jieba's dictionary count above which a single character is a function word


class Analyzer:
    """Tokeniser shared by the index (clauses) and the retriever (questions)."""

    def __init__(self, lexicon: Lexicon | None = None) -> None:
        import jieba

        jieba.setLogLevel(logging.WARNING)
        self.lexicon = lexicon or Lexicon.load()
        self._jieba = jieba.Tokenizer()
        for line in TERMS_FILE.read_text(encoding="utf-8").splitlines():
            parts = line.split()
            if parts:
                self._jieba.add_word(parts[0], int(parts[1]) if len(parts) > 1 else None)
        for word in self.lexicon.targets() | set(self.lexicon.zh):
            if has_cjk(word) and len(word) >= 2:
                self._jieba.add_word(word, 20000)
        self._cache: dict[str, tuple[str, ...]] = {}
        self._nouns: tuple[str, dict[str, tuple[int, int]]] | None = None  # the dictionary's nouns (``is_noun``)
        sw = yaml.safe_load(STOPWORDS_FILE.read_text(encoding="utf-8"))
        self.stopwords: set[str] = {str(x) for x in sw["zh"]} | {str(x).lower() for x in sw["en"]}

    def is_word(self, text: str) -> bool:
        """A word of the tokenizer's dictionary (jieba's, plus the scheme's terms)."""
        self._jieba.check_initialized()
        return self._jieba.FREQ.get(text, 0) > 0

    def common_char(self, ch: str) -> bool:
        """One of the few dozen most frequent characters of written Chinese (是, 的, 要, 个 …) by the
        dictionary's counts: such a character is never read as a typo."""
        self._jieba.check_initialized()
        return self._jieba.FREQ.get(ch, 0) > COMMON_CHAR_COUNT

    def content_words(self, text: str, words: list[str]) -> list[str]:
        """Those of ``words`` (tokens of ``text``) that name a thing rather than carry the talk: a Chinese
        word jieba's dictionary tags as a noun (津贴, 仪式, 导游; not 弄, 不能, 一下), a Latin word that is no
        stopword and holds no digit (ceremony, insurance; not 150w)."""
        latin = [w for w in words if w.isascii()]
        cjk = {w for w in words if not w.isascii() and len(w) >= 2}
        out = [w for w in latin if len(w) >= 3 and w not in self.stopwords and not any(ch.isdigit() for ch in w)]
        out += [w for w in words if w in cjk and self.is_noun(w)]
        return list(dict.fromkeys(out))

    def is_noun(self, word: str) -> bool:
        """A noun by the tag jieba's dictionary gives it (a word it does not hold is none)."""
        if self._nouns is None:
            self._nouns = self._noun_table()
        text, groups = self._nouns
        span = groups.get(word[:1])
        return span is not None and text.find(f"\n{word}\n", span[0], span[1]) >= 0

    def _noun_table(self) -> tuple[str, dict[str, tuple[int, int]]]:
        """The dictionary's nouns, sorted, as one string of lines, and where each first character's group lies in
        it: about 6 MB of the process, where jieba's part-of-speech tagger (its HMM tables) took 96 MB and a
        table of one string per group, built from per-line strings, 21 MB; a lookup searches one short group."""
        with self._jieba.get_dict_file() as f:
            data = f.read()
        # jieba's noun tags: n, nr, ns, nt, nz (names, places, bodies, other), vn (verbal nouns), ng
        words = re.findall(rb"^(\S+) \d+ (?:n|vn|ng)\S*\r?$", data, re.M)
        del data
        words.sort()  # UTF-8 order keeps each first character's words together
        text = (b"\n" + b"\n".join(words) + b"\n").decode("utf-8")
        del words
        groups: dict[str, tuple[int, int]] = {}
        pos = 1
        while pos < len(text):
            ch, end = text[pos], pos
            while (nl := text.find("\n", end)) + 1 < len(text) and text[nl + 1] == ch:
                end = nl + 1
            groups[ch] = (pos - 1, nl + 1)
            pos = nl + 1
        return text, groups

    @cached_property
    def terms(self) -> list[str]:
        return [ln.split()[0] for ln in TERMS_FILE.read_text(encoding="utf-8").splitlines() if ln.strip()]

    def tokens(self, text: str) -> list[str]:
        cached = self._cache.get(text)
        if cached is not None:
            return list(cached)
        out = self._tokens(text)
        if len(self._cache) < 8192:
            self._cache[text] = tuple(out)
        return out

    def _tokens(self, text: str) -> list[str]:
        out: list[str] = []
        low = text.lower()
        for m in _NUMERIC.finditer(low):
            out.append(_norm_num(m.group(0)))
        for tok in self._jieba.lcut_for_search(low):
            tok = tok.strip()
            if not tok or not _KEEP.search(tok) or tok in self.stopwords or (tok.isdigit() and len(tok) == 1):
                continue
            if _LATIN_WORD.fullmatch(tok):
                tok = re.sub(r"(?<=[a-z]{3})s$", "", tok)
                if tok in self.stopwords or len(tok) < 2:
                    continue
            out.append(tok)
        return out

    def analyze(self, text: str) -> Query:
        pairs = self.lexicon.places_for_members(text, self.lexicon.matches(text))
        hits, targets = [h for h, _ in pairs], [t for _, ts in pairs for t in ts]
        expansions: list[str] = []
        for target in targets:
            expansions.extend(self.tokens(target) if has_cjk(target) else [_norm_num(target)])
        toks = self.tokens(text)
        english = not has_cjk(text) and bool(_LATIN_WORD.search(text.lower()))
        slot_terms: dict[str, list[str]] = {}
        seen = text + " " + " ".join(targets)
        for slot, words in self.lexicon.slots.items():
            found = [w for w in words if w in seen]
            # keep the most specific words: drop a word contained in another one found
            found = [w for w in found if not any(w != o and w in o for o in found)]
            if found:
                slot_terms[slot] = found
        low = text.lower()
        about_att = any(c in low for c in self.lexicon.attachment_cues)
        return Query(text, toks, expansions, hits, self.lexicon.out_of_scope(text), english, slot_terms, about_att,
                     {h: ts for h, ts in pairs}, self.lexicon.out_of_scope_shapes(text), has_amounts(text))

    def follow_up(self, current: Query, previous: str) -> Query:
        """``current`` read in the topic of ``previous``: a term of the same class (actor, document …)
        in the new question replaces the old one; the rest of the old topic is kept at low weight."""
        prev = self.analyze(previous)
        replaced = [w for slot, words in current.slot_terms.items()
                    for w in prev.slot_terms.get(slot, []) if w not in words]
        drop: set[str] = set()
        for w in replaced:
            drop |= set(self.tokens(w))
            for hit, targets in prev.hit_targets.items():
                if w in targets:
                    drop |= set(self.tokens(hit)) | {hit}
        hit_words = {t for h in prev.lexicon_hits for t in self.tokens(h)}
        kept = [t for t in prev.tokens if t not in drop and t not in hit_words]
        kept += [t for t in prev.expansions if t not in drop]
        return Query(
            _restate(current, prev, previous), current.tokens, current.expansions + kept,
            current.lexicon_hits + [h for h in prev.lexicon_hits if h not in drop], current.oos,
            current.english, {**prev.slot_terms, **current.slot_terms},
            current.about_attachments or prev.about_attachments, {**prev.hit_targets, **current.hit_targets},
            current.oos_shapes, current.amounts,
        )


def _restate(current: Query, prev: Query, previous: str) -> str:
    """The previous question restated with the new term of the same class (那高校呢 after 牵头单位应具备哪些
    条件 → 高等学校应具备哪些条件), so the dense search reads one question; else both texts."""
    text = previous
    for slot, words in current.slot_terms.items():
        for old in (w for w in prev.slot_terms.get(slot, []) if w not in words):
            said = [old, *(h for h, ts in prev.hit_targets.items() if old in ts)]
            for phrase in sorted(said, key=len, reverse=True):
                if phrase in text:
                    text = text.replace(phrase, words[0])
                    break
    return text if text != previous else f"{current.text} {previous}"


@lru_cache(maxsize=1)
def default_analyzer() -> Analyzer:
    return Analyzer()
