"""Government documents (DOCX, PDF, TXT, Markdown) → a :class:`~knowledge.corpus.Corpus` of clauses.

Pure: file bytes in, clauses out. Clause ids and labels follow the document's own numbering, the way
``knowledge.corpus`` does for the bundled scheme:

======================  ===========  ==================
the text says           id           label
======================  ===========  ==================
一、总则                 ``1``        一、总则
（二）申报条件           ``1.2``      一、（二）
3. / 3、                ``1.2.3``    一、（二）3
（4）                    ``1.2.3.4``  一、（二）3（4）
第二章 / 第五条          ``2`` / ``2.5``  第二章 … / 第五条
附件2 … its 一、         ``A2`` / ``A2.1``  附件2 … / 附件2 一、
本办法自…施行（有效期…）  ``closing``  施行与有效期
附件：1. … 2. …          ``attachments``  附件目录
======================  ===========  ==================

A document without numbered structure gets one clause per paragraph: ``p1``, ``p2`` … (第1段).
Unreadable input raises :class:`DocumentError` with a code the adapters translate and a one-line
English message.
"""

from __future__ import annotations

import contextlib
import io
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import PurePath
from typing import Any

from checks.inputs import cn_numeral, parse_date
from knowledge.corpus import Clause, Corpus, _split_title, cn

MAX_BYTES = 20 * 1024 * 1024
FORMATS = ("docx", "pdf", "txt", "md")
MIN_PDF_CHARS_PER_PAGE = 15  # fewer extracted characters per page on average: a scan without a text layer

Progress = Callable[[int, int], None]  # (done, total) — pages of a PDF, blocks of a DOCX, lines of a text


class DocumentError(Exception):
    """A file that cannot become a document. ``code`` selects the message shown to people (bot/locales
    ``docs.err.<code>``); ``params`` fill it in; ``str()`` is a one-line English message."""

    def __init__(self, code: str, message: str, **params: Any) -> None:
        super().__init__(message)
        self.code = code
        self.params = params


@dataclass
class ParsedDocument:
    corpus: Corpus
    format: str  # docx | pdf | txt | md
    pages: int = 0  # PDF pages (0 for other formats)
    title: str = ""  # the title the text itself gives ("" when none was found)
    issuer: str = ""  # the issuing body from the signature block ("" when none)
    issued: date | None = None  # the date of the signature block (落款日期), when there is one
    numbered: bool = True  # False: no numbered structure, one clause per paragraph
    warnings: list[str] = field(default_factory=list)


# -- reading the bytes ---------------------------------------------------------------------------------

def detect_format(data: bytes, filename: str) -> str:
    """docx | pdf | txt | md, by content first and the file name second."""
    ext = PurePath(filename).suffix.lower()
    if data[:5] == b"%PDF-":
        return "pdf"
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                names = set(zf.namelist())
        except zipfile.BadZipFile:
            raise DocumentError("bad_docx", f"{filename}: the file is a damaged ZIP/Word file",
                                filename=filename) from None
        if "word/document.xml" in names:
            return "docx"
        if any(n.startswith("xl/") for n in names):
            raise DocumentError("not_docx", f"{filename}: this is an Excel workbook, not a Word document "
                                "(registry files go to the registry import)", filename=filename)
        raise DocumentError("not_docx", f"{filename}: the file is a ZIP archive of something else, not a Word "
                            ".docx document", filename=filename)
    if data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise DocumentError("old_doc", f"{filename}: old Word .doc (or other Office 97) files are not read; "
                            "save it as .docx or PDF", filename=filename)
    if ext == ".docx":
        raise DocumentError("not_docx", f"{filename}: the file is not a Word .docx document", filename=filename)
    if ext == ".pdf":
        raise DocumentError("bad_pdf", f"{filename}: the file is not a PDF", filename=filename)
    if data[:8] == b"\x89PNG\r\n\x1a\n" or data[:3] == b"\xff\xd8\xff" or data[:4] in (b"GIF8", b"II*\x00"):
        raise DocumentError("unsupported", f"{filename}: an image is not a document; send DOCX, PDF, TXT or "
                            "Markdown", filename=filename)
    return "md" if ext in (".md", ".markdown") else "txt"


def decode_text(data: bytes, filename: str) -> str:
    """UTF-8 (with or without BOM), UTF-16 with BOM, or GB18030/GBK as Chinese Windows saves it."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            pass
    elif b"\x00" not in data:
        for enc in ("utf-8-sig", "gb18030"):
            try:
                return data.decode(enc)
            except UnicodeDecodeError:
                continue
    raise DocumentError("not_text", f"{filename}: not a text file (send DOCX, PDF, TXT or Markdown)",
                        filename=filename)


_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_FULLWIDTH_DIGITS = str.maketrans("0123456789", "０１２３４５６７８９")


def _fmt_number(n: int, fmt: str) -> str:
    """A list counter in Word's number format (numFmt)."""
    if fmt in ("chineseCounting", "chineseCountingThousand", "japaneseCounting", "taiwaneseCounting",
               "ideographDigital", "chineseLegalSimplified"):
        return cn(n) if n < 100 else str(n)
    if fmt == "decimalFullWidth":
        return str(n).translate(_FULLWIDTH_DIGITS)
    if fmt == "decimalEnclosedCircle" and 1 <= n <= 20:
        return chr(0x2460 + n - 1)
    if fmt in ("lowerLetter", "upperLetter") and 1 <= n <= 26:
        return chr((0x61 if fmt == "lowerLetter" else 0x41) + n - 1)
    return str(n)


class _WordNumbering:
    """Word's automatic list numbers (numbering.xml): they are not in the paragraph text, so a heading
    numbered by Word (一、 （一） 1.) is given its number back the way Word would print it."""

    def __init__(self, document: Any) -> None:
        self.levels: dict[str, dict[int, tuple[int, str, str]]] = {}  # numId -> ilvl -> (start, fmt, text)
        self.counters: dict[str, dict[int, int]] = {}
        try:
            root = document.part.numbering_part.element
        except (NotImplementedError, KeyError, AttributeError):
            return
        abstract: dict[str, dict[int, tuple[int, str, str]]] = {}
        for an in root.findall(f"{_W}abstractNum"):
            levels: dict[int, tuple[int, str, str]] = {}
            for lvl in an.findall(f"{_W}lvl"):
                levels[int(lvl.get(f"{_W}ilvl", "0"))] = self._level(lvl, (1, "decimal", ""))
            abstract[an.get(f"{_W}abstractNumId", "")] = levels
        for num in root.findall(f"{_W}num"):
            ref = num.find(f"{_W}abstractNumId")
            if ref is None:
                continue
            levels = dict(abstract.get(ref.get(f"{_W}val", ""), {}))
            for ov in num.findall(f"{_W}lvlOverride"):
                ilvl = int(ov.get(f"{_W}ilvl", "0"))
                base = levels.get(ilvl, (1, "decimal", ""))
                start = ov.find(f"{_W}startOverride")
                if start is not None:
                    base = (int(start.get(f"{_W}val", "1")), base[1], base[2])
                lvl = ov.find(f"{_W}lvl")
                levels[ilvl] = self._level(lvl, base) if lvl is not None else base
            self.levels[num.get(f"{_W}numId", "")] = levels

    @staticmethod
    def _level(lvl: Any, base: tuple[int, str, str]) -> tuple[int, str, str]:
        start_el, fmt_el, text_el = lvl.find(f"{_W}start"), lvl.find(f"{_W}numFmt"), lvl.find(f"{_W}lvlText")
        return (int(start_el.get(f"{_W}val", "1")) if start_el is not None else base[0],
                fmt_el.get(f"{_W}val", "decimal") if fmt_el is not None else base[1],
                text_el.get(f"{_W}val", "") if text_el is not None else base[2])

    def prefix(self, paragraph: Any) -> str:
        """The number Word shows before this paragraph ("" when it has none)."""
        if not self.levels:
            return ""
        num_pr = None
        ppr = paragraph._p.pPr
        if ppr is not None and ppr.numPr is not None:
            num_pr = ppr.numPr
        else:
            style = paragraph.style
            while style is not None and num_pr is None:
                sppr = style.element.pPr
                if sppr is not None and sppr.numPr is not None:
                    num_pr = sppr.numPr
                style = style.base_style
        if num_pr is None or num_pr.numId is None:
            return ""
        num_id = str(num_pr.numId.val)
        ilvl = int(num_pr.ilvl.val) if num_pr.ilvl is not None else 0
        levels = self.levels.get(num_id)
        if not levels or ilvl not in levels:
            return ""
        start, fmt, text = levels[ilvl]
        if fmt in ("bullet", "none") or not text:
            return ""
        counters = self.counters.setdefault(num_id, {})
        counters[ilvl] = counters.get(ilvl, start - 1) + 1
        for deeper in [k for k in counters if k > ilvl]:
            del counters[deeper]

        def value(m: re.Match[str]) -> str:
            k = int(m.group(1)) - 1
            lvl_start, lvl_fmt, _ = levels.get(k, (1, "decimal", ""))
            return _fmt_number(counters.get(k, lvl_start), lvl_fmt)

        return re.sub(r"%([1-9])", value, text)


def docx_lines(data: bytes, filename: str, progress: Progress | None = None) -> list[str]:
    """Paragraphs (with Word's automatic list numbers) and table rows of the body, in document order
    (a row: its cells joined by ' | ')."""
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises KeyError, ValueError, lxml errors … on damaged files
        raise DocumentError("bad_docx", f"{filename}: the Word document cannot be read ({type(exc).__name__})",
                            filename=filename) from None
    numbering = _WordNumbering(document)
    body = document.element.body
    blocks = [el for el in body.iterchildren() if el.tag.endswith(("}p", "}tbl"))]
    out: list[str] = []
    for n, el in enumerate(blocks, 1):
        if el.tag.endswith("}p"):
            paragraph = Paragraph(el, document)
            text = paragraph.text
            if text.strip():
                with contextlib.suppress(AttributeError, ValueError, KeyError):  # odd markup: the text as it is
                    text = numbering.prefix(paragraph) + text
            out.extend(text.split("\n"))
        else:
            for row in Table(el, document).rows:
                cells: list[str] = []
                for cell in row.cells:
                    text = re.sub(r"\s+", " ", cell.text).strip()
                    if not cells or text != cells[-1]:  # a merged cell repeats in every column it spans
                        cells.append(text)
                if any(cells):
                    out.append(" | ".join(cells))
        if progress is not None and (n % 200 == 0 or n == len(blocks)):
            progress(n, len(blocks))
    return out


_PAGE_NUMBER = re.compile(r"^[-—–－\s]*(?:第\s*)?\d{1,4}(?:\s*页)?(?:\s*/\s*\d{1,4})?[-—–－\s]*$")


def pdf_lines(data: bytes, filename: str, progress: Progress | None = None) -> tuple[list[str], int]:
    """The text layer of every page (page numbers dropped, wrapped lines of a paragraph joined)."""
    try:
        from pypdf import PdfReader
        from pypdf.errors import PdfReadError
    except ImportError:  # pragma: no cover - pypdf is a dependency; guarded so the rest still works
        raise DocumentError("no_pdf", "PDF support is not installed (pip install pypdf)") from None
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                opened = bool(reader.decrypt(""))  # only an owner password: anyone may read it
            except Exception:
                opened = False
            if not opened:
                raise DocumentError("encrypted_pdf", f"{filename}: the PDF is password-protected; send an "
                                    "unprotected copy", filename=filename)
        pages = list(reader.pages)
    except DocumentError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise DocumentError("bad_pdf", f"{filename}: the PDF cannot be read ({type(exc).__name__})",
                            filename=filename) from None
    raw: list[str] = []
    chars = 0
    for n, page in enumerate(pages, 1):
        try:
            text = page.extract_text() or ""
        except Exception as exc:  # a damaged content stream on one page
            raise DocumentError("bad_pdf", f"{filename}: page {n} of the PDF cannot be read "
                                f"({type(exc).__name__})", filename=filename) from None
        page_lines = [ln for ln in text.splitlines() if not _PAGE_NUMBER.match(ln)]
        chars += sum(len(re.sub(r"\s+", "", ln)) for ln in page_lines)
        raw.extend(page_lines)
        if progress is not None:
            progress(n, len(pages))
    if not pages:
        raise DocumentError("empty", f"{filename}: the PDF has no pages", filename=filename)
    if chars < MIN_PDF_CHARS_PER_PAGE * len(pages):
        raise DocumentError("scanned_pdf", f"{filename}: the PDF has no text layer (a scanned image?); "
                            "send the DOCX or a PDF with text", filename=filename)
    return join_wrapped(raw), len(pages)


_SENTENCE_END = tuple("。！？；：:;!?”」』）)】|")


def join_wrapped(lines: list[str]) -> list[str]:
    """PDF text comes one printed line at a time: join a line to the previous one unless that one ended
    a sentence or this one starts a numbered heading."""
    out: list[str] = []
    for line in lines:
        s = line.strip()
        if not s:
            continue
        if out and not out[-1].endswith(_SENTENCE_END) and not _starts_structure(s) \
                and not _starts_structure(out[-1]) and len(out[-1]) >= 20:
            sep = " " if re.search(r"[A-Za-z0-9,]$", out[-1]) and re.match(r"[A-Za-z0-9]", s) else ""
            out[-1] = out[-1] + sep + s
        else:
            out.append(s)
    return out


_MD_FENCE = re.compile(r"^\s*(```|~~~)")


def markdown_lines(text: str) -> list[str]:
    """Markdown to plain lines: headings, emphasis, links, list bullets and table pipes removed."""
    out: list[str] = []
    fenced = False
    for line in text.splitlines():
        if _MD_FENCE.match(line):
            fenced = not fenced
            continue
        s = line.strip()
        if re.fullmatch(r"\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?", s) or re.fullmatch(r"[-*_]{3,}", s):
            continue  # table rule or horizontal rule
        s = re.sub(r"^#{1,6}\s*", "", s)
        s = re.sub(r"^>\s?", "", s)
        s = re.sub(r"^[-*+]\s+", "", s)
        s = re.sub(r"!\[([^\]]*)\]\([^)]*\)", r"\1", s)
        s = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", s)
        s = re.sub(r"(\*\*|__)(.+?)\1", r"\2", s)
        s = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"\1", s)
        s = re.sub(r"`([^`]*)`", r"\1", s)
        s = re.sub(r"<[^>]+>", "", s)
        if s.startswith("|") and s.endswith("|"):
            s = " | ".join(c.strip() for c in s.strip("|").split("|"))
        out.append(s)
    return out


# -- numbering ---------------------------------------------------------------------------------

_CN = "一二三四五六七八九十百零〇两"
_CHAPTER = re.compile(rf"^第([{_CN}\d]{{1,4}})章\s*(.*)$")
_ARTICLE = re.compile(rf"^第([{_CN}\d]{{1,5}})条\s*(.*)$")
_SECTION = re.compile(rf"^([{_CN}]{{1,3}})\s*[、，,．.]\s*(.*)$")
_SUB = re.compile(rf"^[（(]\s*([{_CN}]{{1,3}})\s*[）)]\s*(.*)$")
_ITEM = re.compile(r"^(\d{1,2})\s*(?:[.．](?!\d)|、)\s*(.*)$")
_PITEM = re.compile(r"^[（(]\s*(\d{1,2})\s*[）)]\s*(.*)$")
_ATTACH_HEAD = re.compile(rf"^附\s*件\s*(\d{{1,2}}|[{_CN}]{{1,3}})?\s*[:：]?\s*$")
_ATTACH_TITLED = re.compile(rf"^附\s*件\s*(\d{{1,2}}|[{_CN}]{{1,3}})\s*[:：]\s*(.{{2,40}})$")
_ATTACH_LIST = re.compile(r"^附\s*件\s*[:：]\s*(.+)$")
_CLOSING = re.compile(r"^本(?:方案|办法|通知|细则|规定|意见|指南|实施细则|管理办法)[^。]{0,30}(?:施行|有效期|起执行|负责解释)")
_DATE_LINE = re.compile(r"^\d{4}\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日$")
_ISSUER_LINE = re.compile(r"^[\u4e00-\u9fff（）()]{3,30}(?:厅|局|委员会|委|政府|办公室|办公厅|部|中心|协会)$")
_DOC_NUMBER = re.compile(r"^[\u4e00-\u9fff]{1,8}[〔\[【(（]\d{4}[〕\]】)）]\s*\d{1,4}\s*号$")

CHAPTER, ARTICLE, SECTION, SUB, ITEM, PITEM = range(6)
_MARKERS = ((CHAPTER, _CHAPTER), (ARTICLE, _ARTICLE), (SECTION, _SECTION), (SUB, _SUB), (ITEM, _ITEM),
            (PITEM, _PITEM))


def _starts_structure(line: str) -> bool:
    return any(rx.match(line) for _, rx in _MARKERS) or bool(
        _ATTACH_HEAD.match(line) or _ATTACH_LIST.match(line) or _DATE_LINE.match(line))


def _num(raw: str) -> int | None:
    raw = raw.strip()
    if raw.isdigit():
        return int(raw)
    value = cn_numeral(raw)
    return int(value) if value is not None and value == int(value) and value > 0 else None


@dataclass
class _Open:
    rank: int
    clause: Clause
    zh: str  # the number part of the label: 一、 / 一、（二） / 第五条
    en: str
    last_child: dict[int, int] = field(default_factory=dict)  # rank -> number of the last child


class _Structurer:
    """The numbering state machine: a stack of open clauses by rank (章 > 条 > 一、 > （一） > 1. > （1）)."""

    def __init__(self) -> None:
        self.clauses: dict[str, Clause] = {}
        self.stack: list[_Open] = []
        self.root = _Open(-1, Clause("", "", "", "", ""), "", "")
        self.attachment: _Open | None = None
        self.last_article = 0
        self.current: Clause | None = None
        self.listing = False  # inside 附件：1. … 2. …
        self.numbered = 0

    # the container numbering restarts in: the document, or the current attachment
    def _base(self) -> _Open:
        return self.attachment or self.root

    def add(self, cid: str, label: str, label_en: str, title: str, text: str, parent: Clause | None,
            sep: str = "\n", num: str | None = "") -> Clause:
        path: list[str] = []
        if parent is not None and parent.id:
            path = [*parent.path, parent.title or parent.label]
            parent.children.append(cid)
        c = Clause(cid, label, label_en, title.strip(), text.strip(), parent.id if parent and parent.id else None,
                   [], path, sep, num)
        self.clauses[cid] = c
        self.current = c
        return c

    def text(self, line: str) -> None:
        if self.current is None:
            return
        c = self.current
        c.text = f"{c.text}\n{line}".strip() if c.text else line

    def marker(self, rank: int, n: int, rest: str, printed: str) -> bool:
        """Open a numbered clause; False when the number does not follow on (then the line is text)."""
        while self.stack and self.stack[-1].rank >= rank:
            self.stack.pop()
        parent = self.stack[-1] if self.stack else self._base()
        expected = self.last_article + 1 if rank == ARTICLE else parent.last_child.get(rank, 0) + 1
        if not expected <= n <= expected + 1:
            return False
        cid = f"{parent.clause.id}.{n}" if parent.clause.id else str(n)
        if cid in self.clauses:
            return False
        zh_own, en_own = _own_labels(rank, n)
        if rank == ARTICLE or parent is self.root:
            zh_num, en_num = zh_own, en_own.strip()
        elif parent is self.attachment:
            zh_num, en_num = f"{parent.zh} {zh_own}", f"{parent.en}, {en_own.strip()}"
        else:
            zh_num, en_num = parent.zh + zh_own, parent.en + en_own
        title, sep, text = _title_text(rank, rest)
        label = zh_num
        if rank in (CHAPTER, SECTION) and title:
            label = f"{zh_num} {title}" if rank == CHAPTER else f"{zh_num}{title}"
        c = self.add(cid, label, en_num, title, text, parent.clause if parent.clause.id else None, sep, printed)
        parent.last_child[rank] = n
        if rank == ARTICLE:
            self.last_article = n
        self.stack.append(_Open(rank, c, zh_num, en_num))
        self.numbered += 1
        return True

    def attachment_head(self, n: int, title: str) -> bool:
        cid = f"A{n}"
        if cid in self.clauses:
            return False
        self.stack.clear()
        zh, en = f"附件{n}", f"Attachment {n}"
        label = f"{zh} {_short(title)}" if title else zh
        c = self.add(cid, label, f"{en} ({_short(title, 40)})" if title else en, title, "", None, "\n", "")
        self.attachment = _Open(-1, c, zh, en)
        self.listing = False
        self.numbered += 1
        return True


def _short(text: str, n: int = 20) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _own_labels(rank: int, n: int) -> tuple[str, str]:
    if rank == CHAPTER:
        return f"第{cn(n)}章", f"Chapter {n}"
    if rank == ARTICLE:
        return f"第{cn(n)}条", f"Article {n}"
    if rank == SECTION:
        return f"{cn(n)}、", f"Section {n}"
    if rank == SUB:
        return f"（{cn(n)}）", f"({n})"
    if rank == ITEM:
        return str(n), f" item {n}"
    return f"（{n}）", f"({n})"


def _title_text(rank: int, rest: str) -> tuple[str, str, str]:
    rest = rest.strip()
    if not rest:
        return "", "\n", ""
    if rank in (CHAPTER, SECTION):
        if len(rest) <= 30 and "。" not in rest[:-1]:
            return rest.rstrip("：:。"), "\n", ""
        return _split_title(rest)
    if rank == SUB:
        return _split_title(rest)
    if rank == ITEM:
        t, sep, txt = _split_title(rest)
        return ("", "\n", rest) if not txt and sep == "。" else (t, sep, txt)  # 1.一句话。 is text, not a heading
    return "", "\n", rest


def _printed(rank: int, n_raw: str, line: str, rest: str) -> str:
    """The number as the document prints it, e.g. ``（二）``, ``3.``, ``第五条 ``."""
    head = line[: len(line) - len(rest)] if rest and line.endswith(rest) else line
    head = head.strip()
    return head + (" " if rank in (CHAPTER, ARTICLE) else "")


def structure(lines: list[str], title: str = "", source_text: str | None = None) -> ParsedDocument:
    """Lines of a document → clauses by its own numbering (or paragraphs when it has none)."""
    lines = [re.sub(r"[ \t\u3000\xa0]{2,}", " ", ln.replace("\u3000", " ").strip()) for ln in lines]
    lines = [ln for ln in lines if ln]
    text = source_text if source_text is not None else "\n".join(lines)
    if not lines:
        raise DocumentError("empty", "the document has no text")

    # the signature block (issuer line + date line, or a date line that ends the text or precedes the
    # attachments) is metadata, not clause text; a date alone inside the body stays text
    issuer, issued = "", None
    signature: set[int] = set()
    for i, ln in enumerate(lines):
        if not _DATE_LINE.match(ln):
            continue
        by_issuer = i > 0 and bool(_ISSUER_LINE.match(lines[i - 1])) and not _starts_structure(lines[i - 1])
        at_end = i == len(lines) - 1 or bool(_ATTACH_HEAD.match(lines[i + 1]) or _ATTACH_TITLED.match(lines[i + 1]))
        if not (by_issuer or at_end):
            continue
        try:
            d = parse_date(re.sub(r"\s+", "", ln))
        except ValueError:
            continue
        signature.add(i)
        if issued is None:
            issued = d
        if by_issuer:
            signature.add(i - 1)
            issuer = issuer or lines[i - 1]

    # the title: leading short lines (a title often wraps over two or three)
    i = 0
    title_parts: list[str] = []
    while i < len(lines) and len(title_parts) < 3 and i not in signature:
        ln = lines[i]
        if _starts_structure(ln) or len(ln) > 40 or re.search(r"[。；;]", ln) or ln.endswith(("：", ":")):
            break
        if _DOC_NUMBER.match(ln):
            break
        title_parts.append(ln)
        i += 1
    found_title = "".join(title_parts)

    s = _Structurer()
    pre: list[str] = []
    started = False
    expect_att_title = False
    for k in range(i, len(lines)):
        if k in signature:
            continue
        ln = lines[k]
        if expect_att_title:
            expect_att_title = False
            att = s.attachment
            if att is not None and not att.clause.title and len(ln) <= 60 and not _starts_structure(ln):
                att.clause.title = ln
                att.clause.label = f"{att.zh} {_short(ln)}"
                att.clause.label_en = f"{att.en} ({_short(ln, 40)})"
                continue
        m = _ATTACH_HEAD.match(ln)
        if m and (started or m.group(1)):
            n = _num(m.group(1)) if m.group(1) else 1
            if n is not None and s.attachment_head(n, ""):
                started = True
                expect_att_title = True
                continue
        m = _ATTACH_TITLED.match(ln)
        if m and not s.listing and started:
            n = _num(m.group(1))
            expected = int(s.attachment.clause.id[1:]) + 1 if s.attachment else 1
            if n == expected and s.attachment_head(n, m.group(2).strip()):
                continue
        m = _ATTACH_LIST.match(ln)
        if m and started and s.attachment is None and "attachments" not in s.clauses:
            s.stack.clear()
            s.add("attachments", "附件目录", "List of attachments", "附件", m.group(1), None, "：", "")
            s.listing = True
            continue
        if s.listing:
            if _ITEM.match(ln) or not _starts_structure(ln):
                s.text(ln)
                continue
            s.listing = False
        if _CLOSING.match(ln) and s.attachment is None and "closing" not in s.clauses and started:
            s.stack.clear()
            s.add("closing", "施行与有效期", "Entry into force and validity", "", ln, None, "\n", "")
            continue
        handled = False
        for rank, rx in _MARKERS:
            mm = rx.match(ln)
            if not mm:
                continue
            n = _num(mm.group(1))
            if n is None:
                break
            if s.marker(rank, n, mm.group(2), _printed(rank, mm.group(1), ln, mm.group(2))):
                handled = started = True
            break
        if handled:
            continue
        if not started:
            pre.append(ln)
        else:
            s.text(ln)

    doc_title = title.strip() or found_title
    warnings: list[str] = []
    if s.numbered >= 2:
        clauses: dict[str, Clause] = {}
        if pre or found_title:
            clauses["preamble"] = Clause("preamble", "前言", "Preamble", found_title or doc_title, "\n".join(pre),
                                         None, [], [], "\n", "")
        clauses.update(s.clauses)
        numbered = True
    else:
        body = [ln for k, ln in enumerate(lines) if k >= i and k not in signature]
        if not body:  # only a title
            body = lines[:i]
        clauses = {}
        for n, para in enumerate(body, 1):
            clauses[f"p{n}"] = Clause(f"p{n}", f"第{n}段", f"Paragraph {n}", "", para, None, [], [], "\n", "")
        numbered = False
        warnings.append("no_structure")
    version_m = re.search(r"（(试行|暂行)）", doc_title)
    corpus = Corpus(title=doc_title, version=version_m.group(1) if version_m else "", issuer=issuer,
                    year=str(issued.year) if issued else "", text=text, clauses=clauses)
    return ParsedDocument(corpus=corpus, format="txt", title=found_title, issuer=issuer, issued=issued,
                          numbered=numbered, warnings=warnings)


# -- the entry point ---------------------------------------------------------------------------------

def read_document(data: bytes, filename: str, *, title: str = "", max_bytes: int = MAX_BYTES,
                  progress: Progress | None = None) -> ParsedDocument:
    """Parse a DOCX, PDF, TXT or Markdown file; :class:`DocumentError` when it cannot be used."""
    if len(data) > max_bytes:
        raise DocumentError("too_large", f"{filename}: the file is too large ({len(data) / 1024 / 1024:.1f} MB; "
                            f"the limit is {max_bytes / 1024 / 1024:g} MB)", filename=filename,
                            size_mb=f"{len(data) / 1024 / 1024:.1f}", limit_mb=f"{max_bytes / 1024 / 1024:g}")
    if not data.strip():
        raise DocumentError("empty", f"{filename}: the file is empty", filename=filename)
    fmt = detect_format(data, filename)
    pages = 0
    if fmt == "docx":
        lines = docx_lines(data, filename, progress)
    elif fmt == "pdf":
        lines, pages = pdf_lines(data, filename, progress)
    else:
        text = decode_text(data, filename)
        lines = markdown_lines(text) if fmt == "md" else text.splitlines()
        if progress is not None:
            progress(len(lines), len(lines))
    if not any(ln.strip() for ln in lines):
        raise DocumentError("empty", f"{filename}: the document has no text", filename=filename)
    parsed = structure(lines, title)
    parsed.format, parsed.pages = fmt, pages
    return parsed


def parse_document(data: bytes, filename: str, *, title: str = "", max_bytes: int = MAX_BYTES,
                   progress: Progress | None = None) -> Corpus:
    """The document's clauses (see :func:`read_document`)."""
    return read_document(data, filename, title=title, max_bytes=max_bytes, progress=progress).corpus


__all__ = ["FORMATS", "MAX_BYTES", "DocumentError", "ParsedDocument", "parse_document", "read_document",
           "structure"]
