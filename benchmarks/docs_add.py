"""How long does adding a 20-page DOCX notice take (parse + store)? Prints figures; asserts nothing.

    python -m benchmarks.docs_add [--rounds N] [--pages 20] [--database-url URL]

Generates a notice with python-docx (一、/（一）/1./（1） numbering, a table per section, a page break
after every page's worth of text), then times, per round: reading the DOCX into clauses
(``knowledge.docparse.read_document``), storing it with all its clauses in one transaction
(``DocumentStore.add``, SQLite in a temporary directory unless --database-url), and loading every
published document back (``DocumentStore.load_published``, what a replica does on start). The Q&A
index over the new clauses is the Q&A service's part and is measured there.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CN = "一二三四五六七八九十"
SENTENCE = ("申报单位应按照本通知要求，如实填写申报材料，对材料的真实性、完整性负责，并在规定时间内通过云南省科技管理"
            "信息系统提交，逾期不予受理。")


def notice_docx(pages: int) -> tuple[bytes, int]:
    """A notice of about ``pages`` A4 pages (≈ 800 Chinese characters each); returns (bytes, characters)."""
    import docx

    d = docx.Document()
    d.add_paragraph("云南省科学技术厅关于组织申报2027年度云南省创新联合体的通知")
    d.add_paragraph("各州（市）科技局，各有关单位：")
    d.add_paragraph("为贯彻落实《云南省创新联合体建设管理工作方案（试行）》，现将有关事项通知如下。")
    chars, page_chars, section = 0, 0, 0
    target = pages * 800
    while chars < target:
        section += 1
        d.add_paragraph(f"{CN[(section - 1) % 10] if section <= 10 else '十' + CN[(section - 11) % 10]}、"
                        f"第{section}部分要求")
        for sub in range(1, 6):
            d.add_paragraph(f"（{CN[sub - 1]}）事项{sub}。{SENTENCE}")
            for item in range(1, 4):
                d.add_paragraph(f"{item}. 第{section}部分第{sub}项第{item}条：{SENTENCE}")
                d.add_paragraph(f"（1）细则：{SENTENCE[:40]}")
                chars += len(SENTENCE) * 2 + 60
                page_chars += len(SENTENCE) * 2 + 60
            chars += len(SENTENCE)
            page_chars += len(SENTENCE)
            if page_chars >= 800:
                d.add_page_break()
                page_chars = 0
        table = d.add_table(rows=4, cols=3)
        for r, row in enumerate([["序号", "材料名称", "份数"], ["1", "申报书", "2"], ["2", "承诺书", "1"],
                                 ["3", "合作协议", "1"]]):
            for c, value in enumerate(row):
                table.cell(r, c).text = value
        if section >= 10:
            break
    d.add_paragraph("本通知自印发之日起施行，有效期1年。")
    d.add_paragraph("云南省科学技术厅")
    d.add_paragraph("2027年2月20日")
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue(), chars


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temporary directory")
    args = parser.parse_args()

    from knowledge.docparse import read_document
    from storage.db import Database
    from storage.documents_repo import DocumentStore, NewDocument

    data, chars = notice_docx(args.pages)
    print(f"generated DOCX notice: {len(data) / 1024:.0f} KB, ~{chars:,} characters (~{args.pages} pages)")
    parse_ms: list[float] = []
    store_ms: list[float] = []
    load_ms: list[float] = []
    clauses = 0
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        db = Database.from_url(url)
        store = DocumentStore(db)
        store.load_published()  # the bundled scheme parsed once, as in a running process
        now = datetime.now(UTC)
        for i in range(args.rounds):
            t0 = time.perf_counter()
            parsed = read_document(data, "notice.docx")
            t1 = time.perf_counter()
            store.add(NewDocument(title=f"2027年度申报通知（基准{i}-{now.timestamp():.0f}）", issued=date(2027, 2, 20),
                                  format="docx", filename="notice.docx"), parsed.corpus, now)
            t2 = time.perf_counter()
            store.load_published()
            t3 = time.perf_counter()
            clauses = len(parsed.corpus.clauses)
            parse_ms.append((t1 - t0) * 1000)
            store_ms.append((t2 - t1) * 1000)
            load_ms.append((t3 - t2) * 1000)
        db.dispose()

    def fig(xs: list[float]) -> str:
        return f"median {statistics.median(xs):.0f} ms (min {min(xs):.0f}, max {max(xs):.0f})"

    print(f"clauses: {clauses}; rounds: {args.rounds}; database: {url.split(':', 1)[0]}")
    print(f"parse DOCX → clauses:        {fig(parse_ms)}")
    print(f"store (one transaction):     {fig(store_ms)}")
    print(f"parse + store:               median {statistics.median(p + s for p, s in zip(parse_ms, store_ms, strict=True)):.0f} ms")
    print(f"load all published back:     {fig(load_ms)} (grows with each round's added document)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
