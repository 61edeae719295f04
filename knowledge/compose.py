"""The answer's lead: the sentence(s) that answer the question, in the asker's language (pure).

- **From the card** of the best clause: the facet whose questions matched best (dense, else shared
  character pairs), else the gist; a yes/no question gets the facet's oriented answer first (可以 /
  原则上不行 / No …), any other question gets the answer without it.
- **Computed** where the question gives numbers or asks about dates: amounts against the 2:1 rule
  (the checklists' calculator, ``checks.inputs.funding``), days left to the annual report's 12-31 (the
  document's validity on ``today`` comes from ``knowledge.documents.validity_summary``).
- **Quotes**: the supporting sentences of the clause (the facet's, else the best-matching ones), in
  Chinese or as the card's reference translation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache

from checks.inputs import cn_numeral, find_numbers, funding
from knowledge.cards import Card, Facet

_YESNO_ZH = re.compile(r"(吗|(?<![什怎这那多要])么|嘛|不)[？?。！!\s]*$|能否|可否|是否|能不能|可不可以|是不是|要不要|需不需要|需要不需要|"
                       r"有没有|行不行|可以不|算不算|会不会|得不得|用不用|必须[^？?]{0,12}[吗么]|"
                       # A不A (在不在 / 够不够 / 属不属于) and a confirmation (够了吧 / 可以吧 / 没问题吧)
                       r"([\u4e00-\u9fff])不\2|(?:够|行|可以|对|没问题|算|是|能)了?吧[？?。！!\s]*$")
_YESNO_EN = re.compile(r"^\s*(?:and\s+|so\s+|but\s+)?(can|could|may|must|does|do|did|is|are|was|should|will|would|shall|"
                       r"has|have|need|am)\b", re.I)
_CJK = re.compile(r"[\u3400-\u9fff]")
_REQ = re.compile(r"申请|省里|省级|省财政|财政|拨款|补助|资助|支持|争取|拿到|要到|获批|给|立项|经费总额|"
                  r"request|apply|applied|asking|ask for|grant|province|provincial|government|funding from", re.I)
_RAISE = re.compile(r"自筹|自己|自有|配套|企业出|我们出|拿出|出资|投入|自掏|raise|raised|own|self|match|put in|"
                    r"contribute", re.I)
# money that is something else's: a national project's funds, a firm's revenue or capital (国家科技计划项目经费2000万
# / 营收5亿 / registered capital of 10 million): no sum under the 2:1 rule is computed from it
_OTHER_MONEY = re.compile(r"国家|国拨|中央|营收|收入|产值|注册资本|注册资金|资产|利润|纳税|税收|估值|\bnational\b|\bcentral\b|"
                          r"revenue|turnover|\bsales\b|capital|assets|profit|valuation", re.I)
_TOTAL = re.compile(r"总经费|总投入|总预算|总共|一共|合计|加起来|total|altogether|overall budget", re.I)
_MONEY_UNIT = re.compile(r"^\s*(万元|万|元|块|亿元|亿|w|W|k|K|million|mn|m\b|yuan|rmb|cny)", re.I)
_WHEN = re.compile(r"什么时候|啥时候|啥时|几时|何时|哪天|哪一天|几号|几月|截止|截至|最晚|期限|还有几天|多少天|时间|when|deadline|due|how many days|"
                   r"how long", re.I)


# a quantity asked for (not a count of named parts: 几条 / how many steps are counts, see ``asks_count``)
_ASKS_QUANTITY = re.compile(r"多少(?!部分|条|项|步|栏)|几个?(?:工作日|天|个月|年)(?!度)|比例|占比|百分之几|百分比|上限|下限|金额|额度|"
                            r"\bhow much\b|\bhow many\b(?! (?:parts|steps|sections|articles|conditions|principles|tasks|"
                            r"items|attachments|notes|boxes|fields)\b)|\bwhat (?:percentage|proportion|share)\b|\bhow long\b",
                            re.I)
_NUMBER = re.compile(r"[0-9０-９]|[一二两三四五六七八九十百千万]+\s*[个家年条项次月天万名位倍%]|每年|年度")


def asks_quantity(text: str) -> bool:
    """The question asks for a quantity (多少 / 比例 / 上限 / 几个工作日 / how much / what percentage)."""
    return bool(_ASKS_QUANTITY.search(text))


def states_number(text: str) -> bool:
    """The text says a number (3—5年, 2:1, 1—2家, 12月31日, 每年)."""
    return bool(_NUMBER.search(text))


def is_yes_no(text: str) -> bool:
    """A yes/no question: 吗 / 能不能 / 是否 …, or in English one opening with an auxiliary, also when it comes
    after a sentence saying who asks ("We're a venture capital firm. Could we be a member?")."""
    t = text.strip()
    last = re.split(r"(?<=[.!?])\s+", t)[-1]
    return bool(_YESNO_ZH.search(t) or _YESNO_EN.search(t) or _YESNO_EN.search(last))


_COUNTERS = "个条项部分步种类家方面份"
_ASKS_COUNT = re.compile(r"(?:几|多少)(部分|方面|[个条项步种类家份])|how many|number of", re.I)
_NUM = "一二两三四五六七八九十\\d"
_STATES_COUNT_EN = re.compile(r"\b(?:one|two|three|four|five|six|seven|eight|nine|ten|\d+) (?:\w+ )?(?:parts|steps|"
                              r"principles|conditions|attachments|tasks|items|sections|kinds|types|measures|articles)\b",
                              re.I)


def asks_count(text: str) -> str:
    """What the question counts: the counter of 几个 / 几条 / 多少项 (个, 条, 项), "n" for "how many", "" when
    it asks no count."""
    m = _ASKS_COUNT.search(text)
    return "" if m is None else (m.group(1) or "n")


def _states_count(text: str, counter: str) -> bool:
    """``text`` says a number of ``counter`` (三条, 六步; in English: three principles, six steps)."""
    if counter == "n" or not has_cjk(text):
        return bool(_STATES_COUNT_EN.search(text)) or bool(re.search(rf"[{_NUM}]+[{_COUNTERS}]", text))
    return bool(re.search(rf"[{_NUM}]+{counter}", text))


_HOW_MANY_EN = re.compile(r"\b(?:how many|number of)\s+([a-z]+?)(?:e?s)?\b", re.I)


def counts_whole(question: str, heading: str) -> bool:
    """A how-many question counts what ``heading`` names: the heading's last word (组建原则 → 原则, 支持措施 →
    措施) is in the question, or in English the word counted ("how many principles") is in the heading (not
    "how many consortia" against "Conditions for the lead unit")."""
    if not heading:
        return False
    if has_cjk(heading):
        head = re.sub(r"[^\u3400-\u9fff]", "", heading)[-2:]
        return len(head) == 2 and head in question
    m = _HOW_MANY_EN.search(question)
    return m is not None and len(m.group(1)) > 2 and m.group(1).lower() in heading.lower()


PHRASE_CHARS = 5  # a run of this many Chinese characters is a phrase of a text's own


def own_phrase(question: str, whole: str, part: str) -> str:
    """A phrase of the question (five Chinese characters in a row) that ``whole`` says and ``part`` does not
    (协议生效时间 is a line of the form's header, not of its note on attachments); "" when none. Not in English:
    two words the header and the question share ("lead unit") name the whole form as often as one of its lines."""
    w, p = re.sub(r"\s+", "", whole), re.sub(r"\s+", "", part)
    for run in re.findall(r"[\u3400-\u9fff]+", question):
        for i in range(len(run) - PHRASE_CHARS + 1):
            piece = run[i:i + PHRASE_CHARS]
            if piece in w and piece not in p:
                return piece
    return ""


def _grams(text: str) -> set[str]:
    """CJK character pairs and Latin words."""
    low = text.lower()
    words = set(re.findall(r"[a-z]{3,}", low))
    cjk = re.sub(r"[^\u3400-\u9fff]", "", low)
    return words | {cjk[i:i + 2] for i in range(len(cjk) - 1)}


FACET_TIE = 0.01  # cosines this close are a tie, broken by shared words
WH_TIE = 0.03  # a facet asked who yields to one this near when the question asks something else
WH_ASKED_TIE = 0.05  # a question asking who or when goes to a facet asked that way this near the nearest one
_WH = [("when", re.compile(r"什么时候|啥时候|何时|哪天|几号|几月|截止|从哪天|从什么时候|\bwhen\b|deadline|\b(?:what|which) (?:day|date)\b|"
                           r"\bsince when\b|\bfrom when\b", re.I)),
       ("who", re.compile(r"谁|哪个部门|哪些部门|哪些单位|哪个单位|哪家|\bwho\b|\bwhom\b", re.I)),
       ("where", re.compile(r"哪里|哪儿|在哪|\bwhere\b", re.I)),
       ("what", re.compile(r"什么|啥|\bwhat\b", re.I))]


def wh_kind(text: str) -> str:
    """What a question asks for: when / who / where / what (the first that fits, so 什么时候 is when), else ""."""
    return next((k for k, rx in _WH if rx.search(text)), "")


def _asked_as(facet: Facet, kind: str) -> bool:
    """Most of the facet's questions ask ``kind`` (who / when …)."""
    return sum(wh_kind(q) == kind for q in facet.q) * 2 > len(facet.q)


def pick_facet(card: Card, sims: dict[int, float], question: str) -> Facet | None:
    """The facet the question asks about: the one whose question Chroma found nearest (a near tie goes to
    the one sharing more words with the question: with its questions, and with its answer, since a question
    naming what the answer states asks about it: 「在国内得有影响力吧」 → 「…在国内具备一定的行业影响力」), else
    the one sharing the most words with its questions, else (one facet) that one."""
    if not card.facets:
        return None
    if len(card.facets) == 1:
        return card.facets[0]
    lang = "zh" if has_cjk(question) else "en"
    naming = [i for i, f in enumerate(card.facets) if listed_item(f.zh if lang == "zh" else f.en, question, lang)]
    if len(naming) == 1:  # the question names an item of one facet's list (高原特色农业算不算方向): that list answers it
        return card.facets[naming[0]]
    g, kind = _grams(question), wh_kind(question)

    def overlap(i: int) -> float:
        return max((len(g & _grams(q)) / (len(_grams(q)) or 1) for q in card.facets[i].q), default=0.0)

    def states(i: int) -> float:  # the share of the question's words the facet's answer says
        f = card.facets[i]
        return len(g & _grams(f"{f.zh} {f.en}")) / (len(g) or 1)

    valid = {i: v for i, v in sims.items() if 0 <= i < len(card.facets)}
    if valid:  # 「要报什么」 is not 「报给谁」 nor 「几号前报」: a facet asked who (when) yields to a near one when the question
        # asks something else, and a question asking who or when goes to a near facet asked that way
        first = max(valid, key=lambda i: valid[i])
        asked_so = {i: v for i, v in valid.items() if kind in ("who", "when") and not _asked_as(card.facets[first], kind)
                    and _asked_as(card.facets[i], kind) and v >= valid[first] - WH_ASKED_TIE}  # 「交给谁」 ≠ 「什么时候交」
        if asked_so:
            valid = asked_so
        else:  # and a facet asked who (or when) yields to a near one when the question asks something else
            for way in ("who", "when"):
                if kind not in (way, "") and _asked_as(card.facets[first], way):
                    other = {i: v for i, v in valid.items() if not _asked_as(card.facets[i], way)
                             and v >= valid[first] - WH_TIE}
                    valid = other or valid
                    break
        best = max(valid.values())
        near = [i for i, v in valid.items() if v >= best - FACET_TIE]
        if kind in ("who", "when"):  # a near tie goes to the facet asked the way the question asks
            near = [i for i in near if _asked_as(card.facets[i], kind)] or near
        return card.facets[max(near, key=lambda i: (overlap(i) + states(i), valid[i]))]
    asked_way = [i for i in range(len(card.facets)) if kind in ("who", "when") and _asked_as(card.facets[i], kind)]
    if asked_way and max(overlap(i) for i in asked_way) > 0:  # no dense neighbours: among the facets asked that way
        return card.facets[max(asked_way, key=lambda i: (overlap(i), -i))]
    scored = [(overlap(i), -i) for i in range(len(card.facets))]
    top, neg = max(scored)
    return card.facets[-neg] if top > 0 else None


BRANCH_TIE = 0.02  # a second facet this near the picked one is asked about as much


def rival_facet(card: Card, sims: dict[int, float], facet: Facet | None) -> Facet | None:
    """Another facet of ``card`` that Chroma found about as near the question as the picked ``facet`` (within
    ``BRANCH_TIE``), else None."""
    if facet is None or facet not in card.facets:
        return None
    i = card.facets.index(facet)
    if i not in sims:
        return None
    near = [(v, j) for j, v in sims.items() if j != i and 0 <= j < len(card.facets) and v >= sims[i] - BRANCH_TIE]
    return card.facets[max(near)[1]] if near else None


def _without(verdict: str, text: str) -> str:
    """``text`` without the ``verdict`` it opens with (and the punctuation after it); ``text`` when it does not."""
    body = text[len(verdict):] if verdict and text.lower().startswith(verdict.lower()) else text
    return body.lstrip("：:，,。.;； ")


def _sign(verdict: str) -> int:
    """+1 for a yes verdict (Yes / Yes, as a rule), -1 for a no (No / As a rule, no), 0 for another (It must)."""
    v = verdict.lower()
    return 1 if v.startswith("yes") else -1 if v.startswith("no") or v.endswith(", no") else 0


_ORIENTED = re.compile(r"(?:可以|不可以|能|不能|不行|是|不是|会|不会|原则上)[，,：:]?|(?:yes|no)\b", re.I)
# a plain yes/no opening (是，… / Yes, …): dropped when the question asked no yes/no
_VERDICT_HEAD = re.compile(r"(?:是|可以|不可以|能|不能|不是)[，,]\s*|(?:yes|no)[,:]\s+", re.I)
# an answer that already opens with its verdict (须：… / 不得… / It must …): no oriented answer goes before it
_VERDICT = re.compile(r"(?:可以|不可以|能|不能|不行|是|不是|会|不会|须|必须|无须|不得|需要|不需要|应当?)[，,：:]|"
                      r"(?:yes|no|it must|it need|it does|it is)\b", re.I)
_CONNECTIVE = re.compile(r"而且|并且|且|但|不过|and\b|but\b", re.I)
_BRANCHES = re.compile(r"；|;\s")  # a gist stating several cases of one rule (自上而下…直接申报；自下而上…先报属地)
FRAGMENT = 0.8  # a facet answer whose character pairs/words are at least this share of the gist's is a part of it


def _fragment_of(part: str, whole: str) -> bool:
    """``part`` says nothing ``whole`` does not (most of its character pairs or words are in it) and is shorter."""
    g = _grams(part)
    return len(whole) > len(part) and bool(g) and len(g & _grams(whole)) >= FRAGMENT * len(g)


# a yes/no question asking leave to do without something (可以不签协议就申报吗 / 没有平台能牵头吗 / without a signed
# agreement): a requirement answers it with no
_ACTS = r"签|盖|交|附|填|报|写|设|建|提供|出具"
# … or whether something counts while a required act is not done yet (一家还没签字，协议算生效了吗 / has not signed yet)
_OMIT = re.compile(rf"不(?:{_ACTS})|不用|不需要|无需|免于|免除|没有[^，,。？?]{{1,8}}(?:能|可以|也能|也可以|行)|"
                   rf"(?:还没|还未|尚未|没|未)有?(?:{_ACTS})|"
                   r"\bwithout\b|\bskip\b|\bno need\b|\b(?:don't|do not|didn't|did not) (?:have|sign|stamp|submit|attach|"
                   r"need|set up)\b|\b(?:hasn't|haven't|has not|have not)(?: yet)? (?:signed|stamped|submitted|attached|"
                   r"set up)\b|\bnot yet (?:signed|stamped|submitted)\b", re.I)
_COUNTS_AS = re.compile(r"算(?:是)?[^，,。？?]{0,8}(?:吗|不|了没|没有)|有效吗|生效了?吗")


# a yes/no question whether a restriction exists (牵头有限制吗 / is there a limit on …): a prohibition answers it yes
_RESTRICTION = re.compile(r"限制|上限|限定|限额|limit|restrict|a cap\b|\bcapped\b", re.I)


_LIMITS = re.compile(r"限|不得|不超过|至多|最多|不能|不可|仅|只能|\bat most\b|\bno more than\b|\blimit|\bonly\b|"
                     r"\bcannot\b|\bmay not\b|\bmust not\b|\bup to\b", re.I)  # an answer that names a limit


def asks_restriction(text: str) -> bool:
    """The question asks whether there is a limit or restriction (有限制吗 / is there a limit)."""
    return bool(_RESTRICTION.search(text))


def asks_to_omit(text: str) -> bool:
    """The question asks whether something may be left out (不签 / 没有…能 / without / skip)."""
    return bool(_OMIT.search(text))


@dataclass(frozen=True)
class Asked:
    """What shape of answer a question asks for, read once from its words (see ``asked``)."""

    yes_no: bool = False
    count: str = ""  # the counter of a how-many question (see ``asks_count``)
    place: bool = False  # where / which part (``asks_place``)
    choice: bool = False  # A还是B / A or B (``asks_choice``)
    omit: bool = False  # leave to do without something (``asks_to_omit``)
    restriction: bool = False  # whether there is a limit (``asks_restriction``)
    counts_as: bool = False  # whether something counts or holds (算生效了吗 / 有效吗): a "no" is 「不算」
    text: str = ""  # the question itself (what a yes/no question names: ``listed_item``)


def asked(text: str) -> Asked:
    return Asked(is_yes_no(text), asks_count(text), asks_place(text), asks_choice(text), asks_to_omit(text),
                 asks_restriction(text), bool(_COUNTS_AS.search(text)), text)


_LIST_ZH = re.compile(r"[\u3400-\u9fff（）]+(?:、[\u3400-\u9fff（）]+){2,}")
_LIST_EN = re.compile(r"(?:[A-Za-z][\w-]*(?: [a-z][\w-]*){0,3}, ){2,}(?:and |or )?[A-Za-z][\w-]*(?: [a-z][\w-]*){0,3}")
_ONLY = re.compile(r"只|仅|就行|就够|就可以|光(?:有|凭|靠|是)|单凭|不用|不需要|无需|(?<!在)不在|(?<!有)没有|\bonly\b|\bjust\b|\benough\b|\bnot\b|n't", re.I)


def enumerates(text: str) -> bool:
    """The text lists three or more things (A、B、C)."""
    return _LIST_ZH.search(text) is not None


_LOWER_LEVEL = re.compile(r"(?:州市|地市|市|州|县|区)级|市里|县里|\b(?:city|municipal|county|prefecture)\b", re.I)
_ENOUGH = re.compile(r"够|满足|符合|达标|\benough\b|\bqualif|\bmeets?\b", re.I)


def list_count_lead(lead: str, question: str, lang: str) -> str | None:
    """How many items the lead's enumeration names (主要目标点了几个产业 → 「列了9个：…」), when the question counts
    and the lead says no number of its own; None otherwise."""
    counter = asks_count(question)
    if not counter or _states_count(lead, counter) or re.search(r"\d|[一二两三四五六七八九十]+[个项条家种类]", lead):
        return None
    if lang == "en":
        m = _LIST_EN.search(lead)
        n = len(re.split(r",\s*(?:and\s+|or\s+)?", m.group())) if m else 0
        return f"{n} are named: {lead}" if n >= 3 else None
    z = _LIST_ZH.search(lead)
    n = len(z.group().split("、")) if z else 0
    return f"列了{n}{counter if counter in _COUNTERS else '个'}：{lead}" if n >= 3 else None


def listed_item(text: str, question: str, lang: str) -> str:
    """The item of an enumeration in ``text`` (three or more: A、B、C / A, B and C) that the question names
    (生物医药在点名的产业里吗 → 生物医药; is photovoltaics one of the sectors → photovoltaics); "" when it names
    none, or asks whether that item alone is enough or is left out (只要…就行 / only / not)."""
    if _ONLY.search(question):
        return ""
    low = question.lower()
    if lang == "en":
        for m in _LIST_EN.finditer(text):
            items = [re.sub(r"^(?:and|or) ", "", x.strip()) for x in m.group().split(",")]
            for item in items:
                if len(item) >= 4 and re.search(rf"\b{re.escape(item.lower())}\b", low):
                    return item
        return ""
    for m in _LIST_ZH.finditer(text):
        # an item with a part in brackets reads with or without it (工程（技术）研究中心); the last one ends before 等
        items = [re.sub(r"等.*$", "", x) for x in m.group().split("、")]
        items = [v for x in items for v in dict.fromkeys((x.replace("（", "").replace("）", ""),
                                                          re.sub(r"（[^）]*）", "", x)))]
        # the first item's run may begin with the words before the list (重点围绕高原特色农业): its end counts
        for i, item in enumerate(items):
            if len(item) >= 2 and item in question:
                return item
            if i == 0 and (end := next((item[k:] for k in range(1, len(item) - 2) if item[k:] in question), "")):
                return end
        for item in items:  # named short (高原特色农业 for 高原特色现代农业): its first and last characters, at most
            if _named_short(item, question):  # two left out between them
                return item
    return ""


def _named_short(item: str, question: str) -> bool:
    """The question names a long item leaving out up to two of its inner characters (高原特色农业 → 高原特色现代农业;
    at least four characters said)."""
    if len(item) < 5:
        return False
    inner = "".join(f"{re.escape(ch)}?" for ch in item[1:-1])
    return any(len(m.group()) >= max(4, len(item) - 2)
               for m in re.finditer(f"{re.escape(item[0])}{inner}{re.escape(item[-1])}", question))


_PROHIBITION = ("No", "As a rule, no")  # a facet's verdict that forbids: it answers 「有限制吗」 yes


def card_lead(card: Card, facet: Facet | None, lang: str, q: Asked, rival: Facet | None = None) -> str:
    """The facet's answer (or the gist), oriented for a yes/no question. The only facet of a card answers
    with the gist when it is a fragment of it (「写明建设基础和优势」 → 「建设方案第二部分写明建设基础和优势」:
    the gist names what the clause is about and where); a question asking how many (``count``: the counter,
    see ``asks_count``) gets the gist when the gist says the number and the facet's answer does not
    (「方案有三个附件：…」); a question asking where (``place``, see ``asks_place``) gets the gist when the gist
    names the part of the document (申请表第三栏 / Section 3) and the facet's answer does not; a question
    choosing between two (``choice``, see ``asks_choice``: 直接交省厅还是先给市科技局) that is not yes/no gets the
    gist when it says what the facet says and more (the other branch of the rule: 自上而下的直接申报；自下而上的
    先报属地…), since one facet states one branch (also when it is about as near to another facet, ``rival``: 看结果还是
    看过程 — the gist says both what is judged and what follows). A yes/no question about as near to another facet (``rival``, see
    ``rival_facet``) gets the gist when the gist states several cases (；) and the two facets' answers are two of them
    (要不要州市科技局出推荐意见: the top-down case applies directly, the bottom-up one through the local authority)
    and neither has an oriented answer: the answer depends on the case."""
    gist = card.gist.en if lang == "en" else card.gist.zh
    text = (facet.en if lang == "en" else facet.zh) if facet else gist
    if q.count and facet is not None and _states_count(gist, q.count) and not _states_count(text, q.count):
        text, facet = gist, None
    if q.place and facet is not None and _states_place(gist) and not _states_place(text):
        text, facet = gist, None
    if q.choice and not q.yes_no and facet is not None and len(card.facets) > 1 and (_fragment_of(text, gist) or
                                                                                  rival is not None):
        text, facet = gist, None
    if q.yes_no and facet is not None and facet.polar is None and rival is not None and rival.polar is None \
            and _BRANCHES.search(gist) and _fragment_of(text, gist) \
            and _fragment_of(rival.en if lang == "en" else rival.zh, gist):
        text, facet = gist, None
    polar = facet.polar if facet else None
    if q.yes_no and q.restriction and rival is not None and rival.polar is not None \
            and rival.polar.en in _PROHIBITION and (polar is None or polar.en not in _PROHIBITION):
        # whether there is a limit, between a prohibition and the same rule said as a yes: the prohibition says it
        facet, polar = rival, rival.polar
        text = facet.en if lang == "en" else facet.zh
    if q.yes_no and polar is not None and rival is not None and rival.polar is not None \
            and _sign(polar.en) * _sign(rival.polar.en) < 0 and not (q.restriction and polar.en in _PROHIBITION):
        # two near facets with opposite verdicts (能牵头两个吗 → 原则上不行; 只能牵头一个吗 → 是): which one the question
        # asks is in its framing, not its nearness; the rule without either verdict is right for both
        own = polar.en if lang == "en" else polar.zh
        body = _without(own, text) if text.lower().startswith(own.lower()) else \
            _without("", text[head.end():] if (head := _VERDICT_HEAD.match(text)) else text)
        return (body[:1].upper() + body[1:]) if lang == "en" else body
    p = (polar.en if lang == "en" else polar.zh) if polar else ""
    # whether there is a limit, answered by a prohibition (不可以 / 原则上不行 / No): there is one
    if q.yes_no and q.restriction and polar is not None and polar.en in _PROHIBITION:
        body = _without(p, text)
        if lang == "en":
            opening = "Yes, as a rule there is a limit" if "rule" in p.lower() and "rule" not in body.lower() else \
                "Yes, there is a limit"
            return f"{opening}: {body[:1].lower() + body[1:] if body[1:2].islower() else body}"
        return f"有限制：{body}"
    # leave to do without a requirement (the facet's verdict, or its answer, says 须 / must): no
    if q.yes_no and q.omit and (polar.zh.startswith("须") if polar is not None else text.startswith(("须", "必须"))):
        body = _without(p, text)
        if (verdict := re.match(r"(?:须|必须|It must)[：:，,]\s*", body)) is not None:  # 「须：…」: the rule, without it
            body = body[verdict.end():]
        if lang == "en":
            return f"No: {body[:1].lower() + body[1:]}" if body[1:2].islower() else f"No: {body}"
        return f"{'不算' if q.counts_as else '不可以'}：{body}"
    if facet is not None and len(card.facets) == 1:
        body = _without(p, text) if p and text.lower().startswith(p.lower()) else text
        if _fragment_of(body, gist) and not _ORIENTED.match(body):  # 「可以作为成员单位，但…」 answers already
            text = gist
    if not q.yes_no and (head := _VERDICT_HEAD.match(text)) and len(text) > head.end() + 4 \
            and not _CONNECTIVE.match(text[head.end():]):  # 「可以，而且受到鼓励：…」: the yes is part of the sentence
        rest = text[head.end():]  # 「是，原则上…」 for 「要满足哪几个条件」: the facts without a yes nobody asked for
        text = (rest[:1].upper() + rest[1:]) if lang == "en" else rest
        if polar is not None and not text.lower().startswith(p.lower()):
            return text
    # whether something named in the rule's list is in it / is enough (「有国家企业技术中心 平台这条够了吧」): yes — also
    # for a requirement (须建有…企业技术中心等平台), when the question asks whether what it has meets it
    enough = _ENOUGH.search(q.text)
    # 市级企业技术中心 against 省部级及以上: the level decides, not the list
    below = bool(_LOWER_LEVEL.search(q.text)) and "以上" in text
    if q.yes_no and not below and (polar is None or (enough and polar.en.startswith("It must"))) and not _ORIENTED.match(text) \
            and (item := listed_item(text, q.text, lang)):
        if lang == "en":
            return f"Yes, {item} is named{' (that qualifies)' if enough else ''}: {text}"
        return f"{'符合' if enough else '是的'}，列有{item}：{text}"
    if q.choice and lang == "zh" and (option := chosen_option_zh(q.text, text)) and not text.startswith(option):
        return f"{option}：{text}"  # 「自愿的还是强制的」: the alternative the answer says, first
    if polar is None:
        return text
    body = _without(p, text) if text.lower().startswith(p.lower()) else text
    if q.yes_no and q.choice and lang == "en" and (option := chosen_option(q.text, body)):
        # "is joining voluntary or compulsory?": the alternative the answer says, not a yes to an either-or
        return f"{option[:1].upper() + option[1:]}: {body}"
    if q.yes_no and q.restriction and polar.en not in _PROHIBITION and not _LIMITS.search(body):
        # "is there an age limit for the chief expert?" near a facet whose yes answers another question (the form
        # asks for the expert's CV) and names no limit: neither yes nor no, the rule as it stands
        return (body[:1].upper() + body[1:]) if lang == "en" else body
    starts = text.lower().startswith(p.lower())
    if q.yes_no and not starts:
        if p.lower() in text.lower() or _VERDICT.match(text):
            return text  # it says the verdict already (须：…; …变更的，须报省科技厅核准): not twice
        return f"{p}. {text}" if lang == "en" else f"{p}。{text}"
    if not q.yes_no and starts and not _CONNECTIVE.match(rest := _without(p, text)):
        return (rest[:1].upper() + rest[1:]) if lang == "en" and rest else (rest or text)
    return text


_ASKS_PLACE_ZH = re.compile(r"哪一?[个份]?(?:部分|栏|条|块|项|节|页|处|里)|第几|放在?哪|写在?哪|填在?哪|列在?哪|在哪")
_PLACE_ZH = re.compile(rf"第[{_NUM}]+(?:条|部分|栏|项|节)|最后一(?:部分|条|栏)")
_ASKS_PLACE_EN = re.compile(r"\bwhere\b|\bwhich\s+(?:\w+\s+)?(?:part|section|clause|article|item|box|field|number)\b|"
                            r"\bwhat\s+(?:part|section|clause|article|item|number)\b|\bsection number\b|\bat the (?:top|start|beginning|end)\b", re.I)
_PLACE_EN = re.compile(r"^((?:yes|no)[.,:]?\s+)?(Article|Part|Section|Item|Note)\s+(\d{1,2})\b(?!\s*\()")
_ORDINALS_EN = ["", "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth",
                "eleventh", "twelfth"]


_NEG_EN = re.compile(r"\b(?:not|no|never|without|only|instead)\b|n't", re.I)
_NEG_ZH = re.compile(r"不|没|无|未|非|别|免|只|仅")
_A_NOT_A = re.compile(r"([\u3400-\u9fff])[不没]\1|[不没][？?。！!\s]*$")  # 要不要 / 有没有 / 要填不: a question, not a negation
_CASE = re.compile(r"[，,。；;]|[.!?]\s|\b(?:it|that|this|they|these|those|ours)\b|"
                   r"能(?!力|源)|可以|可否|\b(?:can|could|may|might)\b", re.I)  # … or asks leave, not what it has
_LEVEL = re.compile(r"(?:国家|省部|省|州市|地市|市|州|县|区)级|\b(?:national|provincial|city|municipal|county|prefecture)\b",
                    re.I)
_POSITION = re.compile(rf"第[{_NUM}]+|最后|开头|最前|\d|\b(?:first|second|third|fourth|fifth|sixth|seventh|eighth|last|"
                       r"top|end|start|begin\w*)\b", re.I)


def case_lead(lead: str, gist: str, question: str) -> str:
    """A Chinese gist that states cases by their conditions (「自上而下…确定的联合体直接向省科技厅申报；自下而上自主申报的，
    由牵头单位报属地…」), asked by someone who names one case's condition (我们是自下而上自己报的 …): that case,
    when the lead does not already say it. A case's condition is its words up to its first 的 (two cases at least
    have one); the question must share words with exactly one condition that the rest of the gist does not have."""
    cases = [c.strip("。 ") for c in gist.split("；")]
    if len(cases) < 2 or not has_cjk(question):
        return lead
    conds = [c[:c.index("的")] if 0 < c.find("的") <= 20 else "" for c in cases]
    if sum(bool(c) for c in conds) < 2:
        return lead
    g = _grams(question)
    # words of a condition that nothing else in the gist says (申报 is in every case: it names none)
    named = [i for i, cond in enumerate(conds)
             if cond and g & (_grams(cond) - _grams(gist.replace(cond, "", 1)))]
    if len(named) != 1:
        return lead
    case = cases[named[0]]
    return lead if _fragment_of(case, lead) or case in lead else f"{case}。"


def part_verdict(lead: str, card: Card, facet: Facet | None, question: str, lang: str) -> str:
    """A yes/no question whether a document has or needs something (协议里要写任务分工吗 / Does the plan need a
    timeline?) answered by a part of that document (the card's gist names the part: 协议第三条, Part 7) says
    yes first: the part is where the document has it. Not when the facet has its own oriented answer, the
    lead opens with a verdict, or the question negates (可以不写吗 / not), names a place or a number of its own
    (放在第三部分吗 / 800字), puts a case of the asker's (我们有个市级实验室，要填吗 / Does it go in …), names a
    level the lead does not (市级的要填吗 — 省级及以上), asks leave (能 / 可以 / can) or asks for a limit the part does
    not name (is there an age limit): those the lead's own words answer."""
    if (facet is not None and facet.polar is not None) or not _states_place(card.gist.en if lang == "en" else card.gist.zh):
        return lead
    if not is_yes_no(question) or _VERDICT.match(lead) or _VERDICT_HEAD.match(lead) or _POSITION.search(question):
        return lead
    if asks_restriction(question) and not _LIMITS.search(lead):  # "is there an age limit …": a part that names none
        return lead  # is no yes
    if _CASE.search(question.strip()):  # 「我们有个市级实验室，能填吗」 / "We have a city lab. Does it go in …?": a case to judge
        return lead
    if any(lv.lower() not in lead.lower() for lv in _LEVEL.findall(question)):  # 市级的要填吗 — 省级及以上: not a yes
        return lead
    if _NEG_EN.search(question) if lang == "en" else _NEG_ZH.search(_A_NOT_A.sub("", question)):
        return lead
    return f"Yes. {lead}" if lang == "en" else f"是的。{lead}"


_CHOICE = re.compile(r"还是|抑或|\bor\b", re.I)


_EITHER_EN = re.compile(r"\b([a-z][a-z-]{2,})\s+or\s+([a-z][a-z-]{2,})\b", re.I)


def chosen_option(question: str, answer: str) -> str | None:
    """Of an English either-or (voluntary or compulsory), the one alternative whose stem the answer says
    (voluntariness); None when it says both, neither, or the question offers none."""
    m = _EITHER_EN.search(question)
    if m is None or m.group(2).lower() == "not":
        return None
    low = answer.lower()
    said = [w for w in m.groups() if w.lower()[:6] in low]
    return said[0].lower() if len(said) == 1 else None


_EITHER_ZH = re.compile(r"([\u4e00-\u9fff]{1,12})还是([\u4e00-\u9fff]{1,8})")
_OPTION_HEAD = re.compile(r"^.*?(?:是|要|得|先|就|靠|按|走)(?=[\u4e00-\u9fff]{2})")
_OPTION_TAIL = re.compile(r"(?:的|了|啊|呢|吗|呀|吧|哈)+$")


def chosen_option_zh(question: str, answer: str) -> str | None:
    """Of a Chinese either-or (是自愿的还是强制的), the one alternative the answer says (自愿): a pair of
    characters of its own (not of the other alternative) in the answer; None when both or neither are said."""
    m = _EITHER_ZH.search(question)
    if m is None:
        return None
    a, b = (_OPTION_TAIL.sub("", _OPTION_HEAD.sub("", x)) for x in m.groups())
    if _OPTION_HEAD.match(m.group(1)) is None:  # no 是 / 要 … before it: the first alternative is about as long as
        a = a[-(len(b) + 1):]  # the second (联合体的管理机构临时搭的还是常设的 → 临时搭), not the topic before it
    if len(a) < 2 or len(b) < 2:
        return None

    def own(x: str, other: str) -> bool:
        return any(x[i:i + 2] not in other and x[i:i + 2] in answer for i in range(len(x) - 1))

    said = [x for x, other in ((a, b), (b, a)) if own(x, other)]
    return said[0] if len(said) == 1 else None


def asks_choice(question: str) -> bool:
    """The question offers alternatives (交省厅还是先给市科技局 / by competition or are they assigned)."""
    return bool(_CHOICE.search(question))


def asks_place(question: str) -> bool:
    """The question asks where something goes in a document (放在哪部分 / 第几条 / where / which section)."""
    return bool(_ASKS_PLACE_EN.search(question) if not has_cjk(question) else
                _ASKS_PLACE_ZH.search(question) or _ASKS_PLACE_EN.search(question))


def _states_place(text: str) -> bool:
    """``text`` names a part of a document by its number (协议第三条, 申请表第二栏, Article 3, Part 4)."""
    return bool(_PLACE_ZH.search(text) or re.search(r"\b(?:Article|Part|Section|Item)\s+\d", text))


def place_lead(lead: str, question: str, lang: str) -> str:
    """An English lead that opens with a document part by its number (Article 2 …, Part 4 of the construction
    plan …) says the place in words too when the question asks where or which: 「Article 2 (the second
    article) …」 (people ask for the second section, the fourth part, not for a numeral). Otherwise ``lead``."""
    if lang != "en" or not asks_place(question):
        return lead
    m = _PLACE_EN.match(lead)
    if m is None or not 0 < int(m.group(3)) < len(_ORDINALS_EN):
        return lead
    label = m.group(2)
    return f"{lead[:m.end()]} (the {_ORDINALS_EN[int(m.group(3))]} {label.lower()}){lead[m.end():]}"


_ORDINAL_ZH = re.compile(rf"第[{_NUM}]+(?:条|项|部分|栏|步|个|点)")
_ORDINAL_EN = re.compile(r"\b(?:first|second|third|fourth|fifth|sixth|seventh|eighth|last|\d+(?:st|nd|rd|th))\s+(?:\w+\s+)?"
                         r"(?:principle|part|section|article|item|measure|task|step|condition)s?\b", re.I)
_WHAT_ZH = re.compile(r"(?:讲|说|写|指)的?是?(?:啥|什么)|是(?:啥|什么)|(?:什么|啥)内容|讲(?:啥|什么)")
HEADING_CHARS = 24  # a heading longer than this (a form section's full caption) is no name to open with


def heading_lead(lead: str, heading: str, question: str, lang: str) -> str:
    """A question naming a part by its ordinal and asking what it is (组建原则里第一条讲的是啥 / what is the second
    principle) hears the part's heading first (「遵循市场机制：坚持自愿原则…」): the heading is the part's name.
    Not when the lead names it already, says the place itself (协议第一条…), or the heading is a long caption."""
    if not heading or len(heading) > (3 * HEADING_CHARS if lang == "en" else HEADING_CHARS) \
            or heading.lower() in lead.lower() or _states_place(lead):
        return lead
    if lang == "en":
        if not (_ORDINAL_EN.search(question) and re.search(r"\bwhat\b", question, re.I)):
            return lead
        return f"{heading}: {lead}"
    if not (_ORDINAL_ZH.search(question) and _WHAT_ZH.search(question)):
        return lead
    return f"{heading}：{lead}"


# -- amounts ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Amount:
    wan: Decimal  # in 万元
    role: str  # requested | raised | other (a national project's funds, revenue, capital …) | ""
    text: str


# a bound, not an amount of the asker's (财政支持不到200万的项目 / 200万及以上 / projects under 2 million)
_BOUND_BEFORE = re.compile(r"(?:不到|不足|低于|少于|超过|高于|多于|未满|\b(?:under|below|over|above|less than|more than))\s*$",
                           re.I)
_BOUND_AFTER = re.compile(r"^\s*(?:万元|万|元|块|亿元|亿|million|yuan)?\s*(?:及以上|以上|以下|及以下|以内|or (?:more|less|above|below))",
                          re.I)


_SIGN_WORD = re.compile(r"(?:负|\bminus\s*|\bnegative\s*)$", re.I)  # 负100万 / minus 1 million: below zero


def amounts(question: str) -> list[Amount]:
    """Money amounts in a question (a number with a money unit), each with what it is: the provincial
    funds requested or the self-raised funds, judged by the words just before it. A bound (不到200万 / 200万及以上
    / under 2 million) is no amount: it names a class of projects, not a sum to compute with."""
    out: list[Amount] = []
    for n in find_numbers(question):
        after = question[n.end:n.end + 12]
        if _BOUND_BEFORE.search(question[max(0, n.start - 10):n.start]) or _BOUND_AFTER.match(after):
            continue
        m = _MONEY_UNIT.match(after)
        unit = n.unit
        value = n.value
        start = n.start
        if question[n.start:n.start + 1] in "-−" and n.start > 0 and question[n.start - 1].isdigit():
            continue  # 100-200万: a range, no sum to compute with
        if (sign := _SIGN_WORD.search(question[max(0, n.start - 9):n.start])) is not None:
            value, start = -abs(value), n.start - (len(question[max(0, n.start - 9):n.start]) - sign.start())
        if m:
            u = m.group(1).lower()
            if u in ("million", "mn", "m"):
                value, unit = value * 1_000_000, "million"
            elif u in ("元", "块", "yuan", "rmb", "cny") and not unit:
                unit = "元"
        elif not unit:
            continue  # a bare number (一个联合体, 3年) is no amount
        wan = value / 10_000
        before = question[max(0, n.start - (14 if _CJK.search(question) else 32)):n.start]  # English words are longer
        roles = [(mm.end(), "requested") for mm in _REQ.finditer(before)] + \
                [(mm.end(), "raised") for mm in _RAISE.finditer(before)] + \
                [(mm.end(), "other") for mm in _OTHER_MONEY.finditer(before)]
        role = max(roles)[1] if roles else ""
        if unit in ("千", "百", "k", "K") and not m and not (unit in ("k", "K") and role in ("requested", "raised")):
            continue  # 3千 / 5百 without a money unit is no sum; "provincial money is 750k" is one
        if not role:  # 「600万自筹资金」 / "6 million yuan of our own money": the words just after, up to the clause's end
            after_end = n.end + (m.end() if m else 0)
            rest = re.split(r"[，,；;。？?！!]|\.\s|\d", question[after_end:after_end + 24], maxsplit=1)[0]
            later = [(mm.start(), "requested") for mm in _REQ.finditer(rest)] + \
                    [(mm.start(), "raised") for mm in _RAISE.finditer(rest)]
            role = min(later)[1] if later else ""
        out.append(Amount(wan, role, question[start:n.end + (m.end() if m else 0)]))
    return out


@lru_cache(maxsize=512)
def writes_amount(text: str) -> bool:
    """The text (a clause) writes a sum of money (see :func:`amounts_written`); cached per text."""
    return bool(amounts_written(text))


def amounts_written(text: str) -> list[Amount]:
    """Every sum of money a text writes (bounds included: 200万元及以上 is 200万), without roles."""
    out: list[Amount] = []
    for n in find_numbers(text):
        m = _MONEY_UNIT.match(text[n.end:n.end + 4])
        if n.unit in ("万", "亿", "w", "W") or (m and m.group(1) == "元"):  # find_numbers applied 万 / 亿
            out.append(Amount(n.value / 10_000, "", text[n.start:n.end]))
    return out


def _wan(v: Decimal, lang: str) -> str:
    """150 万元 / CNY 1.5 million."""
    if lang == "en":
        yuan = v * 10_000
        if abs(yuan) >= 1_000_000:
            return f"CNY {_num(yuan / 1_000_000)} million"
        return f"CNY {int(yuan):,}" if yuan == int(yuan) else f"CNY {_num(yuan)}"
    return f"{_num(v)}万元"


def _num(d: Decimal) -> str:
    q = d.quantize(Decimal("0.0001"))
    text = format(q, "f").rstrip("0").rstrip(".")
    return text or "0"


MAX_WAN = Decimal(10_000_000)  # 1,000 亿元: anything above is not a plausible amount


def funding_lead(question: str, lang: str, ratio: str = "2:1") -> str | None:
    """The computed answer when the question gives amounts (None when it gives none)."""
    found = [a for a in amounts(question) if a.role != "other"]  # a national project's funds, revenue …
    if not found:
        return None
    bad = [a for a in found if a.wan <= 0 or a.wan > MAX_WAN]
    if bad:
        a = bad[0]
        if lang == "en":
            return (f"I read the amount “{a.text}” but cannot use it (it must be above zero and realistic). "
                    f"Please give the provincial funds you are requesting, e.g. “we request 1.5 million yuan”.")
        return f"我理解到的金额是“{a.text}”，无法据此计算（金额须大于0且在合理范围内）。请告诉我申请的省级经费，例如“申请150万元”。"
    k = Decimal(ratio.split(":")[0]) / Decimal(ratio.split(":")[1])
    req = next((a for a in found if a.role == "requested"), None)
    raised = next((a for a in found if a.role == "raised"), None)
    if req is None and raised is None:
        req = found[0]
        if len(found) > 1:
            raised = found[1]
    if req is not None and raised is not None:
        f = funding(req.wan, raised.wan, k)
        if f.holds and raised.wan == f.min_required:  # 自筹3000万、申请1500万: the minimum itself
            return (f"Yes, exactly enough: {_wan(raised.wan, lang)} self-raised against {_wan(req.wan, lang)} "
                    f"requested is exactly the required {ratio}." if lang == "en" else
                    f"够，刚好达标：自筹{_wan(raised.wan, lang)}、申请{_wan(req.wan, lang)}，比例正好是{ratio}（不低于{ratio}）。")
        if f.holds:
            return (f"Yes, that is enough: {_wan(raised.wan, lang)} self-raised against {_wan(req.wan, lang)} requested "
                    f"is {f.ratio}:1, at least the required {ratio} (minimum {_wan(f.min_required, lang)})."
                    if lang == "en" else
                    f"够：自筹{_wan(raised.wan, lang)}、申请{_wan(req.wan, lang)}，比例为{f.ratio}:1，不低于{ratio}（至少需{_wan(f.min_required, lang)}）。")
        assert f.shortfall is not None
        return (f"No, not enough: requesting {_wan(req.wan, lang)} needs at least {_wan(f.min_required, lang)} "
                f"self-raised ({ratio}); {_wan(raised.wan, lang)} is {_wan(f.shortfall, lang)} short."
                if lang == "en" else
                f"不够：申请{_wan(req.wan, lang)}，按不低于{ratio}的要求自筹至少需{_wan(f.min_required, lang)}，"
                f"目前{_wan(raised.wan, lang)}，还差{_wan(f.shortfall, lang)}。")
    if req is not None:
        f = funding(req.wan, None, k)
        total = ""
        if _TOTAL.search(question):  # 总经费 / total budget: the provincial funds and the self-raised together
            total = (f" In total at least {_wan(req.wan + f.min_required, lang)}." if lang == "en" else
                     f"总经费至少{_wan(req.wan + f.min_required, lang)}。")
        return (f"Requesting {_wan(req.wan, lang)} of provincial funds, the enterprises must raise at least "
                f"{_wan(f.min_required, lang)} themselves (at least {ratio}).{total}"
                if lang == "en" else
                f"申请省级经费{_wan(req.wan, lang)}，按不低于{ratio}的要求，企业自筹经费至少需{_wan(f.min_required, lang)}。{total}")
    assert raised is not None
    most = raised.wan / k
    return (f"With {_wan(raised.wan, lang)} self-raised, the {ratio} rule allows requesting at most {_wan(most, lang)}."
            if lang == "en" else
            f"自筹{_wan(raised.wan, lang)}，按不低于{ratio}的要求，对应申请的省级经费最多{_wan(most, lang)}。")


_UNITS_ZH = re.compile(r"(\d{1,3}|[一两二三四五六七八九十]{1,3})\s*(?:家|所|个)(?!月|年|万|亿|元|工作日|小时)")
_UNITS_EN = re.compile(r"\b(\d{1,3})\s*(?:\+\s*)?(?:lead|leads|members?|compan(?:y|ies)|firms?|universit(?:y|ies)|"
                       r"institut(?:e|es|ions?)|units?|partners?|organi[sz]ations?)\b", re.I)


def small_int(s: str) -> int:
    """A count as typed: 12, 十二, 两 → its value; 0 when it is not one (the checklists' numeral parser)."""
    return int(s) if s.isdigit() else int(cn_numeral(s) or 0)


# a lead unit listed without a number beside the counted members (a lead plus 9 partners / 牵头单位加7家成员): one
_ONE_LEAD_EN = re.compile(r"(?:^|\b(?:a|an|one|the|our)\s+)lead(?:\s+(?:unit|company|firm|enterprise|organi[sz]ation))?"
                          r"\s*(?:\+|\bplus\b|\band\b|,|with\b)", re.I)
_ONE_LEAD_ZH = re.compile(r"(?<![家个所\d一两二三四五六七八九十])牵头(?:单位|企业|公司)?(?:加|\+|和|，|,|带)")


def members_lead(question: str, lang: str) -> str | None:
    """The form's member total when the question counts the units (1家牵头 + 7家成员 → 8): the total includes
    the lead unit(s) and the member units. None unless the question gives at least two counts of units (a lead
    unit listed without a number counts one)."""
    found = [m.group(1) for m in (_UNITS_EN if lang == "en" else _UNITS_ZH).finditer(question)]
    if lang != "en" and len(found) < 2:
        found = [m.group(1) for m in _UNITS_EN.finditer(question)] or found
    if found and (_ONE_LEAD_EN if lang == "en" else _ONE_LEAD_ZH).search(question):
        found.insert(0, "1")
    counts = [small_int(x) for x in found]
    if len(counts) < 2 or not all(0 < c <= 200 for c in counts):
        return None
    total, expr = sum(counts), "+".join(str(c) for c in counts)
    if lang == "en":
        return f"{total}: the total number of members counts the lead unit(s) and the member units ({expr} = {total})."
    return f"填{total}：成员总数包括牵头单位和成员单位（{expr}={total}）。"


# the form's count lines (企业数量 / 高等学校数量 / 研究机构数量) and the words that name each kind of unit
_KINDS = {"企业": (r"企业|公司|厂", r"compan(?:y|ies)|firms?|enterprises?", "companies"),
          "高等学校": (r"高等学校|高校|大学|学院", r"universit(?:y|ies)|colleges?", "universities"),
          "研究机构": (r"研究机构|研究所|研究院|科研院所|院所", r"research institut(?:e|es|ions?)|institut(?:e|es|ions?)",
                   "research institutes")}


def field_count_lead(question: str, lang: str) -> str | None:
    """The number for one of the form's count lines when the question asks that line (高校数量那格填几 / number of
    universities) and counts those units (3家企业、2所高校 → 高等学校数量填2). None otherwise."""
    for name, (zh, en, en_name) in _KINDS.items():
        if lang == "en":
            if not re.search(rf"\bnumber of (?:{en})", question, re.I):
                continue
            found = re.findall(rf"\b(\d{{1,3}})\s+(?:\w+\s+)?(?:{en})\b", question, re.I)
        else:
            if not re.search(rf"(?:{zh})(?:的)?(?:数量|数目|个数)", question):
                continue
            found = re.findall(rf"(\d{{1,3}}|[一两二三四五六七八九十]{{1,3}})\s*(?:家|所|个)\s*(?:{zh})", question)
        counts = [small_int(x) for x in found]
        if not counts or not all(0 < c <= 200 for c in counts):
            return None
        n = sum(counts)
        return f"{n}: the number of {en_name} on the form is {n}." if lang == "en" else f"{name}数量填{n}。"
    return None


def deadline_lead(card: Card, question: str, lang: str, today: date | None) -> str | None:
    """Days left to this year's annual report (card fact ``annual_report_due``: MM-DD)."""
    due_md = card.facts.get("annual_report_due")
    if not due_md or today is None or not _WHEN.search(question):
        return None
    month, day = (int(x) for x in str(due_md).split("-"))
    due = date(today.year, month, day)
    days = (due - today).days
    if lang == "en":
        return f"This year's report is due by {due.isoformat()}: {days} day{'' if days == 1 else 's'} left." if days >= 0 else None
    return f"今年（{today.year}年）应在{due.month}月{due.day}日前报送，还有{days}天。" if days >= 0 else None


# a date the asker gives (12月28日 / 1月5号 / 28 December / Dec 28) and whether it is in time (算按时吗 / too late?)
_MD_ZH = re.compile(r"(?<!\d)(1[0-2]|0?[1-9]|十[一二]?|[一二三四五六七八九])\s*月\s*(3[01]|[12]\d|0?[1-9]|[一二三]?十[一二三四五六七八九]?|[一二三四五六七八九])\s*[日号]")
_MONTHS_EN = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_MD_EN = re.compile(r"\b(?:(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?(" + "|".join(_MONTHS_EN) + r")[a-z]*|(" + "|".join(_MONTHS_EN)
                    + r")[a-z]*\.?\s+(\d{1,2})(?:st|nd|rd|th)?)\b", re.I)
_IN_TIME = re.compile(r"按时|准时|来得及|赶得上|赶得及|算晚|晚了|迟了|逾期|超期|过期|算迟|延期|in time|on time|too late|\blate\b|overdue|"
                      r"\bmiss(?:ed)? the deadline", re.I)


def report_date_lead(card: Card, question: str, lang: str) -> str | None:
    """Whether a report sent on the date the question gives is in time for the card's yearly deadline
    (``annual_report_due``: MM-DD): a December date before it is in time; a January or February date is after the
    year it reports on ended, so late. Other months, or no date, or no question of timing: None."""
    due_md = card.facts.get("annual_report_due")
    if not due_md or not _IN_TIME.search(question) or not _REPORT.search(question):
        return None
    dm, dd = (int(x) for x in str(due_md).split("-"))
    if (m := _MD_ZH.search(question)) is not None:
        month, day = small_int(m.group(1)), small_int(m.group(2))
    elif (e := _MD_EN.search(question)) is not None:
        mon = (e.group(2) or e.group(3) or "")[:3].lower()
        month, day = _MONTHS_EN.index(mon) + 1, int(e.group(1) or e.group(4))
    else:
        return None
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    if lang == "en":
        given, deadline = f"{day} {_MONTHS_FULL[month - 1]}", f"{dd} {_MONTHS_FULL[dm - 1]}"
        if month == dm and day <= dd:
            return f"In time: {given} is before the {deadline} deadline (the report is due by {deadline} each year)."
        if month <= 2:
            return (f"Late: {given} is after the {deadline} deadline of the year the report covers (it is due by "
                    f"{deadline} each year).")
        return None
    if month == dm and day <= dd:
        return f"按时：{month}月{day}日在{dm}月{dd}日的截止日之前（每年{dm}月{dd}日前报送）。"
    if month <= 2:
        return f"晚了：{month}月{day}日已过所报年度{dm}月{dd}日的截止日（每年{dm}月{dd}日前报送）。"
    return None


_EFFECTIVE = re.compile(r"生效|effective|take[sn]? effect|came into force|comes? into force|in force", re.I)
_YMD_ZH = re.compile(r"(?<!\d)(20\d\d)\s*年\s*(1[0-2]|0?[1-9])\s*月\s*(3[01]|[12]\d|0?[1-9])\s*[日号]")
_YMD_ISO = re.compile(r"(?<!\d)(20\d\d)[-/.](1[0-2]|0?[1-9])[-/.](3[01]|[12]\d|0?[1-9])(?!\d)")
_YMD_EN = re.compile(r"\b(?:(\d{1,2})(?:st|nd|rd|th)?\s+(" + "|".join(_MONTHS_EN) + r")[a-z]*\.?|(" + "|".join(_MONTHS_EN)
                     + r")[a-z]*\.?\s+(\d{1,2})(?:st|nd|rd|th)?),?\s+(20\d\d)\b", re.I)


_FILL_WHICH = re.compile(r"填(?:哪|什么|啥|几)|写(?:哪|什么|啥)|\bwhat date\b|\bwhich (?:date|day)\b", re.I)


def _full_dates(question: str) -> list[date]:
    """Every whole date the question writes (2025年6月10日, 2025-06-10, 10 June 2025, June 10, 2025)."""
    out: list[date] = []
    for y, m, d in [*_YMD_ZH.findall(question), *_YMD_ISO.findall(question)]:
        try:
            out.append(date(int(y), int(m), int(d)))
        except ValueError:
            continue
    for d1, m1, m2, d2, y in _YMD_EN.findall(question):
        try:
            out.append(date(int(y), _MONTHS_EN.index((m1 or m2).lower()[:3]) + 1, int(d1 or d2)))
        except ValueError:
            continue
    return out


def effective_day(card: Card, question: str) -> date | None:
    """When the agreement took effect, for a question that asks it and gives the signing date(s) (申请表协议生效时间填
    哪天 — 最后一家2025年6月10日签章): it takes effect once every member unit's legal representative has signed and
    stamped it (the card's ``effective_when``), so on the latest date given. None without a date or a when."""
    asks = _WHEN.search(question) or _FILL_WHICH.search(question)
    if not card.facts.get("effective_when") or not _EFFECTIVE.search(question) or not asks:
        return None
    dates = _full_dates(question)
    return max(dates) if dates else None


def effective_date_lead(card: Card, question: str, lang: str) -> str | None:
    """The lead for :func:`effective_day` (None when it gives none)."""
    day = effective_day(card, question)
    if day is None:
        return None
    if lang == "en":
        return (f"{day.day} {_MONTHS_FULL[day.month - 1]} {day.year}: the agreement takes effect once the legal "
                f"representatives of all member units have signed and stamped it, so on the day the last one did.")
    return (f"{day.year}年{day.month}月{day.day}日：协议须由全部成员单位法定代表人签署、盖章后生效，"
            f"即最后一家签章之日。")


_REPORT = re.compile(r"总结|年报|报告|报送|工作计划|\breport|\bsummary\b|\bwork plan\b", re.I)
_DISQUALIFIED = re.compile(r"取消|撤销|摘牌|摘了牌|资格|禁入|disqualif|\blos(?:t|e|ing)\b.{0,25}\bstatus\b|"
                           r"revoked|stripped|\bbann?ed\b|\bbar(?:red)?\b", re.I)
_MONTHS_FULL = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
                "November", "December"]
# years since something (满4年 / 过了两年 / 3年前 / four years ago / since 2021 … now 2025)
_YEARS_N = r"(?<![\d一二两三四五六七八九十])(\d{1,2}|[一二两三四五六七八九十]{1,3})(?!\d)"
_SINCE_ZH = re.compile(rf"(?:满|过了?|已经|已|快|都)\s*{_YEARS_N}\s*年|{_YEARS_N}\s*年(?:前|以前|之前|了)")
_EN_SMALL = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10}
_SINCE_EN = re.compile(r"\b(\d{1,2}|one|two|three|four|five|six|seven|eight|nine|ten)\s+years?\s+(?:ago|have passed|has passed|"
                       r"later|since|back)\b|\b(?:after|for|over)\s+(\d{1,2}|one|two|three|four|five|six|seven|eight|nine|ten)"
                       r"\s+years?\b", re.I)
_MONTH_N = r"(1[0-2]|0?[1-9]|十[一二]?|[一二三四五六七八九])"
_DATE_ZH = re.compile(rf"(?<!\d)(20\d\d)\s*年(?:\s*{_MONTH_N}\s*月)?")
_DATE_EN = re.compile(r"\b(?:(" + "|".join(_MONTHS_EN) + r")[a-z]*\.?\s+(?:\d{1,2}(?:st|nd|rd|th)?,?\s+)?)?(20\d\d)\b",
                      re.I)
_NOW = re.compile(r"现在|今年|目前|如今|都|到|至今|截至|\bnow\b|\bthis year\b|\btoday\b|\bby\b|\bas of\b", re.I)


def _dates(question: str) -> list[tuple[int, int | None]]:
    """(year, month or None) of each date the question writes (2022年8月, 2023年, August 2022, 2021)."""
    out: list[tuple[int, int | None]] = []
    for m in _DATE_ZH.finditer(question):
        out.append((int(m.group(1)), small_int(m.group(2)) if m.group(2) else None))
    if not out:
        for e in _DATE_EN.finditer(question):
            out.append((int(e.group(2)), _MONTHS_EN.index(e.group(1).lower()[:3]) + 1 if e.group(1) else None))
    return out


def months_since(question: str, today: date | None) -> int | None:
    """How many months ago the question says something happened: 满4年 / 两年前 / four years ago (whole years);
    from one date to another that it calls now (2022年8月 … 到2025年10月: 38), or from one date to ``today``
    (months counted where both sides give one, else whole years); None when it says none."""
    if (m := _SINCE_ZH.search(question)) is not None:
        n = small_int(m.group(1) or m.group(2))
        return n * 12 if 0 < n < 100 else None
    if (e := _SINCE_EN.search(question)) is not None:
        w = (e.group(1) or e.group(2)).lower()
        return 12 * (int(w) if w.isdigit() else _EN_SMALL[w])
    dates = _dates(question)
    if len(dates) >= 2 and _NOW.search(question):
        (y0, m0), (y1, m1) = min(dates, key=lambda d: (d[0], d[1] or 0)), max(dates, key=lambda d: (d[0], d[1] or 0))
    elif len(dates) == 1 and today is not None and (dates[0][0], dates[0][1] or 12) < (today.year, today.month):
        (y0, m0), (y1, m1) = dates[0], (today.year, today.month)
    else:
        return None
    months = 12 * (y1 - y0) + (m1 - m0 if m0 is not None and m1 is not None else 0)
    return months if months > 0 else None


def _span(months: int, lang: str) -> str:
    years, rest = divmod(months, 12)
    if lang == "en":
        y = f"{years} year{'s' if years != 1 else ''}" if years else ""
        r = f"{rest} month{'s' if rest != 1 else ''}" if rest else ""
        return " and ".join(x for x in (y, r) if x)
    return (f"{years}年" if years else "") + (f"{rest}个月" if rest else "")


def bar_lead(card: Card, question: str, lang: str, today: date | None) -> str | None:
    """Whether the card's bar (``bar_years``: no leading or core membership for N years after disqualification)
    still holds, given how long ago the question says the disqualification was. None without such a number."""
    bar = card.facts.get("bar_years")
    if not bar or not _DISQUALIFIED.search(question):
        return None
    months = months_since(question, today)
    if months is None:
        return None
    bar = int(bar)
    span = _span(months, lang)
    if lang == "en":
        rule = (f"a unit whose consortium lost its status may not lead or be a core member of another consortium for "
                f"{bar} years")
        if months > bar * 12:
            return f"No longer barred: {rule}, and {span} have passed."
        if months < bar * 12:
            return f"Still barred: {rule}; only {span} {'has' if span in ('1 year', '1 month') else 'have'} passed."
        return f"Just {bar} years: {rule}; count from the date the status was cancelled."
    rule = f"取消创新联合体资格后{bar}年内不得牵头组建或作为核心成员参与其他创新联合体"
    if months > bar * 12:
        return f"已超过{bar}年：{rule}，已过{span}。"
    if months < bar * 12:
        return f"仍在{bar}年内：{rule}，才过{span}。"
    return f"正好{bar}年：{rule}，以取消资格之日起算。"


_CN_DIGITS = "零一二三四五六七八九十"


def count_lead(counter: str, lead: str, heading: str, parts: list[str], lang: str) -> str | None:
    """A how-many question about a clause made of parts (组建条件一共几条 → 「组建条件共五条：…」) whose lead
    does not say the number: the number of its sub-clauses and what each is about. None when the question
    counts nothing, the lead already says a number, the clause has fewer than two parts or a part is unnamed."""
    if not counter or _states_count(lead, counter) or len(parts) < 2 or not all(p.strip() for p in parts):
        return None
    n = len(parts)
    if lang == "en":
        return f"{n} parts{f' ({heading})' if heading else ''}: " + "; ".join(parts) + "."
    num = _CN_DIGITS[n] if n <= 10 else str(n)
    unit = counter if counter != "n" else "项"
    return f"{heading}共{num}{unit}：" + "；".join(parts) + "。"


def beyond_lead(n: int, unit: str, heading: str, parts: list[str], lang: str) -> str | None:
    """The n-th part of a whole that has fewer (协议第九条 of eight): 「协议模板共八条，没有第九条：…」 / "There is no
    article 9: the agreement has 8 articles: …". None when a part is unnamed."""
    if not parts or not all(p.strip() for p in parts) or n <= len(parts):
        return None
    k = len(parts)
    if lang == "en":
        word = unit if unit and unit != "n" else "part"
        return (f"There is no {word} {n}: {heading or 'it'} has {k} {word}{'s' if k > 1 else ''}: "
                + "; ".join(parts) + ".")
    num = _CN_DIGITS[k] if k <= 10 else str(k)
    place = _CN_DIGITS[n] if n <= 10 else (f"十{_CN_DIGITS[n - 10]}" if n < 20 else str(n))
    return f"{heading}共{num}{unit}，没有第{place}{unit}：" + "；".join(parts) + "。"


def has_cjk(text: str) -> bool:
    return bool(_CJK.search(text))


_SEP = re.compile(r"[？?；;]|(?<=[\u3400-\u9fff])。|，?(?:另外|还有|以及|此外|再问一下|顺便问一下)|,?\s+(?:and also|also,)\s+|,\s*plus\s+",
                  re.I)  # "plus" joins questions only after a comma: 「a lead plus 9 partners」 is one thing
_EACH = re.compile(r"各|分别|各自|respectively|each", re.I)


def split_parts(text: str, actors: list[str]) -> list[str]:
    """The parts of a multi-part question: its sentences/clauses joined by 另外/还有/；/？, or one part per
    actor when it asks about several actors "each" (牵头和成员各要什么条件). One part: [] (not multi-part)."""
    pieces = [p.strip(" ，,。.") for p in _SEP.split(text)]
    pieces = [p for p in pieces if len(p) >= 4]
    if len(pieces) >= 2:
        return pieces[:3]
    found = [a for a in actors if a in text]
    if len(found) >= 2 and _EACH.search(text):
        out = []
        for a in found[:3]:
            t = text
            for other in found:
                if other != a:
                    t = t.replace(other, "")
            out.append(re.sub(r"^[和与及、,，\s]+|[和与及、]+(?=[各分])", "", t))
        return out
    return []
