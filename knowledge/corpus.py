"""The scheme text parsed into clauses with the canonical ids of ``clause-ids.md``.

The parser follows the scheme's own numbering (一、 / （一） / 1. / 附件N) with a small
state machine; nothing is hand-typed. Pure: text in, :class:`Corpus` out.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data"
SCHEME_FILE = DATA / "scheme.txt"

CN_NUM = "一二三四五六七八九十"
_SECTION = re.compile(rf"^([{CN_NUM}])、\s*(.*)$")
_SUB = re.compile(rf"^（([{CN_NUM}])）\s*(.*)$")
_ITEM = re.compile(r"^(\d{1,2})[.．]\s*(.+)$")
_ATTACH_HEAD = re.compile(r"^附件([1-9])$")
_FILLER = re.compile(r"^(\d{1,2}|……|…|年\s*月\s*日|（盖章）)$")


def cn(n: int) -> str:
    """1 → 一, 10 → 十, 12 → 十二, 20 → 二十, 35 → 三十五 (1–99)."""
    if n <= 10:
        return CN_NUM[n - 1]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else CN_NUM[tens - 1]) + "十" + (CN_NUM[ones - 1] if ones else "")


@dataclass
class Clause:
    id: str
    label: str  # Chinese label shown to people (clause-ids.md)
    label_en: str
    title: str  # the clause's own heading words ("" when it has none)
    text: str  # the clause's own text (without its children)
    parent: str | None = None
    children: list[str] = field(default_factory=list)
    path: list[str] = field(default_factory=list)  # ancestor titles, outermost first
    sep: str = "\n"  # what stands between title and text in the scheme ("。" for （三）鼓励民营企业参与。…)
    num: str | None = None  # the number as the document prints it (其他文件: "（二）", "第五条 "); None: from the id

    def shown_label(self, lang: str) -> str:
        """The label people read: 四、（四）, or for an English reader "Section 4(4) · 四、（四）"."""
        return f"{self.label_en} · {self.label}" if lang == "en" else self.label

    @property
    def depth(self) -> int:
        return self.id.count(".") + (0 if self.id[0].isdigit() else 1)


@dataclass
class Corpus:
    title: str
    version: str
    issuer: str
    year: str
    text: str
    clauses: dict[str, Clause]

    @property
    def ids(self) -> list[str]:
        return list(self.clauses)

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    def get(self, cid: str) -> Clause | None:
        return self.clauses.get(cid)

    def descendants(self, cid: str) -> list[str]:
        out: list[str] = []
        for child in self.clauses[cid].children:
            out.append(child)
            out.extend(self.descendants(child))
        return out

    def ancestors(self, cid: str) -> list[str]:
        out: list[str] = []
        parent = self.clauses[cid].parent
        while parent:
            out.append(parent)
            parent = self.clauses[parent].parent
        return out

    def counted_parts(self, cid: str, counter: str) -> list[str]:
        """The parts of ``cid`` a count or an ordinal with ``counter`` (条, 栏, 部分 …) goes over: those whose labels
        carry the counter when some do (申请表 第三栏: the form's sections, not its notes), else all of them."""
        kids = self.clauses[cid].children
        return [k for k in kids if counter in self.clauses[k].label] or list(kids)

    def is_under(self, cid: str, ancestor: str) -> bool:
        """True when ``cid`` is ``ancestor`` or lies under it."""
        return cid == ancestor or ancestor in self.ancestors(cid)

    def full_text(self, cid: str) -> str:
        """The clause with all its children, one line each, as it reads in the scheme."""
        c = self.clauses[cid]
        lines = [heading_line(c)]
        for child in c.children:
            lines.append(self.full_text(child))
        return "\n".join(x for x in lines if x)


def heading_line(c: Clause) -> str:
    """The clause's own text as the scheme prints it, e.g. ``（三）鼓励民营企业参与。鼓励…``."""
    num = _number_prefix(c.id) if c.num is None else c.num
    if not c.title:
        return f"{num}{c.text}"
    if not c.text:
        return f"{num}{c.title}{c.sep if c.sep != chr(10) else ''}"
    return f"{num}{c.title}{c.sep}{c.text}"


def _number_prefix(cid: str) -> str:
    parts = cid.split(".")
    if cid[0].isdigit():
        if len(parts) == 1:
            return f"{cn(int(parts[0]))}、"
        if len(parts) == 2:
            return f"（{cn(int(parts[1]))}）"
        return f"{parts[2]}."
    if len(parts) >= 2 and parts[-1].isdigit():
        return f"{cn(int(parts[-1]))}、"
    return ""


def _labels(cid: str, title: str = "") -> tuple[str, str]:
    fixed = {
        "preamble": ("前言", "Preamble"),
        "closing": ("施行与有效期", "Entry into force and validity"),
        "attachments": ("附件目录", "List of attachments"),
        "A1": ("附件1 申请表", "Attachment 1 (application form)"),
        "A2": ("附件2 协议模板", "Attachment 2 (agreement template)"),
        "A3": ("附件3 建设方案提纲", "Attachment 3 (construction plan outline)"),
    }
    if cid in fixed:
        return fixed[cid]
    p = cid.split(".")
    if cid.startswith("A1.note."):
        return f"附件1 填表说明 {cn(int(p[2]))}", f"Attachment 1, filling note {p[2]}"
    if cid.startswith("A1.form."):
        return f"附件1 申请表 第{cn(int(p[2]))}栏", f"Attachment 1, form part {p[2]}"
    if cid.startswith("A2."):
        return f"附件2 协议模板 第{cn(int(p[1]))}条", f"Attachment 2, article {p[1]}"
    if cid.startswith("A3."):
        return f"附件3 建设方案提纲 {cn(int(p[1]))}", f"Attachment 3, item {p[1]}"
    zh = f"{cn(int(p[0]))}、"
    en = f"Section {p[0]}"
    if len(p) == 1:
        return zh + (title or ""), en
    if len(p) >= 2:
        zh += f"（{cn(int(p[1]))}）"
        en += f"({p[1]})"
    if len(p) >= 3:
        zh += p[2]
        en += f" item {p[2]}"
    return zh, en


def _split_title(rest: str) -> tuple[str, str, str]:
    """``确定组建领域。创新联合体…`` → (title, separator, text); a long first sentence is not a title."""
    rest = rest.strip()
    if len(rest) <= 20 and not re.search(r"[。，；]", rest[:-1]):
        sep = rest[-1] if rest[-1] in "：:。" else "\n"
        return rest.rstrip("：:。"), sep, ""
    m = re.match(r"^([^。，：；]{2,14})([。：:])\s*(.*)$", rest)
    if m and m.group(3):
        return m.group(1), m.group(2), m.group(3).strip()
    return "", "\n", rest


class _Builder:
    def __init__(self) -> None:
        self.clauses: dict[str, Clause] = {}

    def add(self, cid: str, title: str, text: str, parent: str | None, sep: str = "\n") -> Clause:
        zh, en = _labels(cid, title.strip())
        path = []
        if parent:
            pc = self.clauses[parent]
            path = [*pc.path, pc.title or pc.label]
            pc.children.append(cid)
        c = Clause(cid, zh, en, title.strip(), text.strip(), parent, [], path, sep)
        self.clauses[cid] = c
        return c

    @staticmethod
    def append(c: Clause, line: str) -> None:
        c.text = f"{c.text}\n{line}".strip() if c.text else line


def parse(text: str) -> Corpus:
    lines = [re.sub(r"\s{2,}", " ", ln.strip()) for ln in text.splitlines()]
    b = _Builder()
    i = 0
    while i < len(lines) and not lines[i]:
        i += 1
    # title: the lines before the opening paragraph (为…特制定本工作方案)
    title_parts: list[str] = []
    while i < len(lines) and not lines[i].startswith("为"):
        if lines[i]:
            title_parts.append(lines[i])
        i += 1
    title = "".join(title_parts)
    version_m = re.search(r"（(试行|暂行)）", title)
    pre = b.add("preamble", title, lines[i], None)
    i += 1

    mode = "body"  # body | attachments | A1 | A1.note | A1.form | A2 | A3
    current: Clause = pre
    section: Clause | None = None
    sub: Clause | None = None
    att: Clause | None = None
    issuer = year = ""
    for line in lines[i:]:
        if not line or (_FILLER.match(line) and mode not in ("body", "attachments")):
            continue
        am = _ATTACH_HEAD.match(line)
        if am:
            n = am.group(1)
            mode = f"A{n}"
            att = current = b.add(f"A{n}", "", "", None)
            continue
        if mode == "body":
            if line.startswith("本方案自") and "施行" in line:
                current = b.add("closing", "", line, None)
                mode = "closing"
                continue
            sm = _SECTION.match(line)
            if sm:
                n = CN_NUM.index(sm.group(1)) + 1
                section = current = b.add(str(n), sm.group(2), "", None)
                sub = None
                continue
            um = _SUB.match(line)
            if um and section is not None:
                n = CN_NUM.index(um.group(1)) + 1
                t, sep, rest = _split_title(um.group(2))
                sub = current = b.add(f"{section.id}.{n}", t, rest, section.id, sep)
                continue
            im = _ITEM.match(line)
            if im and sub is not None:
                current = b.add(f"{sub.id}.{int(im.group(1))}", "", im.group(2), sub.id)
                continue
            b.append(current, line)
            continue
        if mode in ("closing", "attachments"):
            if line.startswith("附件："):
                current = b.add("attachments", "附件", line.removeprefix("附件：").strip(), None, "：")
                mode = "attachments"
            else:
                b.append(current, line)
            continue
        assert att is not None
        if mode.startswith("A1"):
            if line == "填表说明":
                mode = "A1.note"
                continue
            if re.match(r"^\d{4}年制$", line):
                year = line[:4]
            if line.startswith("云南省科学技术厅") and not issuer:
                issuer = line.removesuffix("制")
            sm = _SECTION.match(line)
            if mode == "A1.note" and line == att.title:
                mode, current = "A1.form", att  # the form proper starts with its title again
                continue
            if sm and mode in ("A1.note", "A1.form"):
                kind = "note" if mode == "A1.note" else "form"
                n = CN_NUM.index(sm.group(1)) + 1
                t, rest = (sm.group(2), "") if kind == "form" else ("", sm.group(2))
                current = b.add(f"A1.{kind}.{n}", t, rest, "A1")
                continue
            if mode == "A1.form" and line.endswith("意见") and current.id.startswith("A1.form."):
                current = att  # the signature blocks after the last form part belong to the form
            if not att.title and mode == "A1":
                att.title = line
                continue
            if line not in current.text.split("\n")[-1:]:
                b.append(current, line)
            continue
        # A2 and A3: a title, boilerplate, then numbered sections (headings only)
        sm = _SECTION.match(line)
        if sm:
            n = CN_NUM.index(sm.group(1)) + 1
            current = b.add(f"{att.id}.{n}", sm.group(2), "", att.id)
            continue
        if not att.title:
            att.title = line
            continue
        if line.startswith("（") and line.endswith("）") and not att.text:
            att.title += line  # （参考提纲）
            continue
        b.append(current, line)
    version = version_m.group(1) if version_m else ""
    return Corpus(title=title, version=version, issuer=issuer or "云南省科学技术厅", year=year, text=text,
                  clauses=b.clauses)


@lru_cache(maxsize=4)
def load(path: str | None = None) -> Corpus:
    """The scheme bundled with the package (or another copy of it)."""
    p = Path(path) if path else SCHEME_FILE
    return parse(p.read_text(encoding="utf-8"))


def clause_key(doc: str, cid: str) -> str:
    """A clause's key in the combined corpus: the bundled scheme's own id, ``doc:id`` for other documents."""
    return cid if doc == "scheme" else f"{doc}:{cid}"


def combine(documents: list[tuple[Any, Corpus]]) -> tuple[Corpus, dict[str, str], dict[str, Corpus]]:
    """One corpus over several documents ((meta with ``.id``, corpus) pairs, the bundled scheme first):
    the combined corpus, key → document id, and each document's corpus under its keys."""
    from dataclasses import replace

    clauses: dict[str, Clause] = {}
    doc_of: dict[str, str] = {}
    parts: dict[str, Corpus] = {}
    for meta, c in documents:
        doc = str(meta.id)

        def k(cid: str | None, doc: str = doc) -> str | None:
            return None if cid is None else clause_key(doc, cid)

        own: dict[str, Clause] = {}
        for cid, cl in c.clauses.items():
            key = clause_key(doc, cid)
            own[key] = replace(cl, id=key, parent=k(cl.parent), children=[clause_key(doc, x) for x in cl.children])
            doc_of[key] = doc
        clauses.update(own)
        parts[doc] = Corpus(c.title, c.version, c.issuer, c.year, c.text, own)
    first = documents[0][1]
    text = "\n".join(c.text for _, c in documents)
    return Corpus(first.title, first.version, first.issuer, first.year, text, clauses), doc_of, parts
